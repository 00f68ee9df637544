"""The architecture's promises, each a defect once: templates from the package with the
project's taking precedence, one backend dict, every release client with the project's
botocore config, a digest output for every run, build --push never on a silent client."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cosydeploy.adapters.aws import AwsSession
from cosydeploy.adapters.platform import AwsPlatform, SandboxPlatform, platform_for
from cosydeploy.config.load import load_project
from cosydeploy.config.targets import client_env
from cosydeploy.render import PACKAGE_TEMPLATES, Templates, backend_settings, render_client

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path):
    for name in ("cosydeploy.yaml",):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "clients", tmp_path / "clients")
    shutil.copytree(REPO / "terraform", tmp_path / "terraform", symlinks=True)
    return load_project(tmp_path)


def test_templates_ship_with_the_package_and_the_project_overrides_them(project) -> None:
    for name in ("tfvars.json.j2", "backend.hcl.j2", "taskdef.json.j2", "manifest.yaml.j2"):
        assert (PACKAGE_TEMPLATES / name).is_file(), name
    c = client_env(project, "example", "dev")
    assert not project.templates_dir.exists()  # a project without templates/ renders
    plain = render_client(project, c)
    project.templates_dir.mkdir()
    (project.templates_dir / "backend.hcl.j2").write_text("# the project's own\n")
    from cosydeploy.render import templates

    templates.cache_clear()
    assert render_client(project, c).backend == "# the project's own\n"
    assert render_client(project, c).tfvars == plain.tfvars


def test_the_taskdef_template_renders_from_an_installed_package() -> None:
    """The task definition renders with no project at all (as from site-packages)."""
    from cosydeploy.ecs.taskdef import render_task_definition
    from cosydeploy.stack import StackOutputs

    outputs = StackOutputs(
        "c", "app", "app", "fam", "arn:aws:iam::1:role/e", "arn:aws:iam::1:role/t", "/ecs/x"
    )
    td = render_task_definition(
        outputs=outputs,
        image_uri="1.dkr.ecr.us-east-1.amazonaws.com/app@sha256:" + "a" * 64,
        region="us-east-1",
        container_port=3000,
        cpu=256,
        memory=512,
        environment={"NODE_ENV": "production"},
        templates=Templates(None),
    )
    assert td["family"] == "fam"


def test_backend_hcl_is_the_dict_terraform_gets(project) -> None:
    import hcl2

    c = client_env(project, "example", "dev")
    rendered = render_client(project, c)
    parsed = hcl2.loads(rendered.backend)
    as_text = {
        k: str(v).lower() if isinstance(v, bool) else str(v).strip('"') for k, v in parsed.items()
    }
    as_text.pop("__comments__", None)
    settings = backend_settings(project, c)
    assert as_text == settings
    assert settings["encrypt"] == "true"
    from cosydeploy.infra import Infra

    ws = Infra(project, AwsPlatform(project)).workspace(c)
    assert ws.backend_config == settings


def test_the_platform_is_chosen_once(project) -> None:
    assert type(platform_for(project, False)) is AwsPlatform
    sandbox = platform_for(project, True)
    assert isinstance(sandbox, SandboxPlatform) and sandbox.sandbox
    assert sandbox.stack_path().name == "sandbox"


def test_release_clients_carry_the_projects_botocore_config(project, monkeypatch) -> None:
    import boto3

    from cosydeploy import events as ev
    from cosydeploy.ecs.poller import Poller
    from cosydeploy.release.model import ReleaseOptions
    from cosydeploy.release.pipeline import _Run
    from cosydeploy.release.service import Releaser
    from cosydeploy.stack import StackOutputs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    c = client_env(project, "example", "dev")
    releaser = Releaser(project, AwsPlatform(project))
    releaser._sessions[releaser.identity(c)] = AwsSession(boto3.Session(), c.region)
    target = releaser.target(c, StackOutputs("c", "s", "app", "f", "e", "t", "l"))
    poller = Poller()
    run = _Run(target, ReleaseOptions(), ev.ignore, poller, lambda: 0.0, lambda s: None)
    poller.close()
    for client in (
        run.ecs,
        run.ledger.db if hasattr(run.ledger, "db") else target.aws.client("dynamodb"),
    ):
        cfg = client.meta.config
        assert cfg.retries["mode"] == "adaptive" and cfg.connect_timeout == 5, client


def test_every_run_writes_its_digest_output(tmp_path, monkeypatch) -> None:
    from cosydeploy.release.model import ReleaseResult, RunResult
    from cosydeploy.ui import github
    from cosydeploy.ui.present import Presenter

    out = tmp_path / "out"
    out.write_text("")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    digest = "sha256:" + "b" * 64
    run = RunResult(
        [
            ReleaseResult("a", "prod", "v1", digest, outcome="succeeded"),
            ReleaseResult("b", "prod", "v1", digest, outcome="noop"),
        ]
    )
    Presenter(json=True).run(run, single=False)
    outputs = github.parse_outputs(out.read_text())
    assert outputs["digest"] == digest and outputs["outcome"] == "succeeded"


def test_build_push_never_picks_a_client_silently(project, monkeypatch) -> None:
    """Without --client, build --push goes to the project's registry; when the clients
    span accounts and none is named, it refuses before touching AWS."""
    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    example = (project.root / "clients" / "example.yaml").read_text()
    (project.root / "clients" / "other.yaml").write_text(
        example.replace("client: example", "client: other").replace(
            'account_id: "123456789012"', 'account_id: "210987654321"'
        )
    )
    monkeypatch.setenv("COSYDEPLOY_PROJECT_DIR", str(project.root))
    r = CliRunner().invoke(app, ["build", "v9", "--push"], catch_exceptions=False)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(
        "error: cosydeploy.yaml: image.registry_account_id: no registry account is named"
    ), r.stderr
    assert "Traceback" not in r.output


def test_the_account_guard_asks_once_per_identity(project, monkeypatch) -> None:
    """Many clients on one identity cost one STS call; a client on another identity gets
    its own, and a mismatch is still refused."""
    import cosydeploy.adapters.aws as aws_mod
    from cosydeploy.errors import AccountMismatchError

    asked: list[str | None] = []

    def caller_account(session):
        asked.append(session.role)
        return "222222222222" if session.role else "123456789012"

    class FakeSession:
        def __init__(self, role):
            self.role, self.account_id, self.tables_region = role, None, None

    platform = AwsPlatform(project)
    monkeypatch.setattr(aws_mod, "caller_account", caller_account)
    monkeypatch.setattr(platform, "_open", lambda c: FakeSession(c.role_arn))
    c = client_env(project, "example", "dev")
    for env in ("dev", "staging", "prod"):
        platform.session(client_env(project, "example", env))
    assert asked == [None]
    import dataclasses

    away = dataclasses.replace(
        c, role_arn="arn:aws:iam::222222222222:role/x", account_id="222222222222"
    )
    platform.session(away)
    platform.session(away)
    assert asked == [None, "arn:aws:iam::222222222222:role/x"]
    wrong = dataclasses.replace(c, account_id="333333333333")
    with pytest.raises(AccountMismatchError, match="333333333333"):
        platform.session(wrong)
    assert len(asked) == 2
