"""Shared test fixtures: an isolated environment and a CLI runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No colour, a fixed width, no CI markers, no real AWS profile or endpoint."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    for var in (
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_OUTPUT",
        "CI",
        "COSYDEPLOY_SANDBOX",
        "COSYDEPLOY_PROJECT_DIR",
        "COSYDEPLOY_ENV",
        "COSYDEPLOY_OUTPUT",
        "COSYDEPLOY_TERRAFORM",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A private copy of the project (config, clients, templates, terraform)."""
    dest = tmp_path / "project"
    dest.mkdir()
    shutil.copy(REPO / "cosydeploy.yaml", dest / "cosydeploy.yaml")
    for d in ("clients", "templates", "terraform", "examples"):
        if (REPO / d).exists():
            shutil.copytree(
                REPO / d, dest / d, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*")
            )
    return dest


class Result:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.exit_code = code
        self.stdout = stdout
        self.stderr = stderr

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli():
    """Run the cosydeploy CLI in-process; returns exit code, stdout and stderr separately."""
    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        r = runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)
        return Result(r.exit_code, r.stdout, r.stderr)

    return run
