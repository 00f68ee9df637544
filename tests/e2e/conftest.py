"""End to end through the sandbox: real Docker, real registry, real Terraform, moto.

One sandbox and one onboarded client/env for the module; the CLI runs in-process
(Typer's runner) except where a real signal is needed (a subprocess).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CANARY = "canary-7f3a9d1e-never-print-me"
SECRETS = (
    "DISCORD_BOT_TOKEN",
    "ENCRYPTION_KEY",
    "GOOGLE_AI_API_KEY",
    "MONGO_URI",
    "OPENROUTER_API_KEY",
    "TELEGRAM_BOT_TOKEN",
)


@pytest.fixture(scope="session")
def e2e_project(tmp_path_factory) -> Path:
    """A private project copy with short grace periods and timeouts, so failures fail fast."""
    import shutil

    dest = tmp_path_factory.mktemp("e2e") / "project"
    dest.mkdir()
    cfg = (REPO / "cosydeploy.yaml").read_text()
    cfg = re.sub(r"health_check_grace_period: \d+", "health_check_grace_period: 6", cfg)
    cfg = re.sub(r"\n  timeout: \d+", "\n  timeout: 120", cfg)
    (dest / "cosydeploy.yaml").write_text(cfg)
    for d in ("clients", "templates", "terraform", "examples"):
        shutil.copytree(
            REPO / d,
            dest / d,
            symlinks=True,
            ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "busybox"),
        )
    return dest


@pytest.fixture(scope="session")
def sandbox(e2e_project: Path) -> Iterator[object]:
    from cosydeploy.adapters.docker import docker_client
    from cosydeploy.sandbox.server import Sandbox

    docker_client()  # fails loudly (not a skip) when the engine is missing
    box = Sandbox(state_dir=e2e_project / ".cosydeploy" / "sandbox", driver_interval=0.25)
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="session")
def sandbox_env(sandbox, e2e_project: Path) -> dict[str, str]:
    env = dict(sandbox.env())
    env["COSYDEPLOY_PROJECT_DIR"] = str(e2e_project)
    env["COSYDEPLOY_SANDBOX"] = "1"
    return env


class Result:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.exit_code = code
        self.stdout = stdout
        self.stderr = stderr

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Transcript:
    """Everything the CLI printed during the suite, to search for secret values."""

    def __init__(self) -> None:
        self.chunks: list[str] = []

    def add(self, *texts: str) -> None:
        self.chunks.extend(texts)

    def text(self) -> str:
        return "\n".join(self.chunks)


@pytest.fixture(scope="session")
def canary_value() -> str:
    return CANARY


@pytest.fixture(scope="session")
def transcript() -> Transcript:
    return Transcript()


@pytest.fixture
def cosy(sandbox_env: dict[str, str], transcript: Transcript, monkeypatch: pytest.MonkeyPatch):
    """Run `cosydeploy --sandbox ...` in-process against the session's sandbox."""
    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    for k, v in sandbox_env.items():
        monkeypatch.setenv(k, v)

    def run(*args: str, input: str | None = None) -> Result:
        r = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
        transcript.add(r.stdout, r.stderr)
        return Result(r.exit_code, r.stdout, r.stderr)

    return run


@pytest.fixture(scope="session")
def onboarded(sandbox_env: dict[str, str], transcript: Transcript) -> str:
    """The example client onboarded in dev with every required secret set (one a canary)."""
    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    saved = dict(os.environ)
    os.environ.update(sandbox_env)
    try:
        runner = CliRunner()
        r = runner.invoke(
            app, ["onboard", "example", "--env", "dev", "--yes"], catch_exceptions=False
        )
        transcript.add(r.stdout, r.stderr)
        assert r.exit_code == 0, r.stdout + r.stderr
        for name in SECRETS:
            value = CANARY if name == "DISCORD_BOT_TOKEN" else f"value-of-{name.lower()}"
            r = runner.invoke(
                app,
                ["secrets", "set", "example", "--env", "dev", name],
                input=value,
                catch_exceptions=False,
            )
            transcript.add(r.stdout, r.stderr)
            assert r.exit_code == 0, r.stdout + r.stderr
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return "example"
