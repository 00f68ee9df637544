"""`sandbox up --detach | status | env | down` and bad input, through Typer's runner."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from cosydeploy.errors import EXIT_USAGE, SandboxError
from cosydeploy.sandbox.state import pid_alive


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("COSYDEPLOY_SANDBOX_STATE", raising=False)
    return CliRunner()


def test_detached_sandbox_lifecycle(runner, tmp_path, docker_client):
    from cosydeploy.cli.sandbox import app

    state = str(tmp_path / "state.json")
    up = runner.invoke(app, ["up", "--detach", "--state-file", state])
    assert up.exit_code == 0, up.output
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:" in up.stdout
    try:
        status = runner.invoke(app, ["status", "--state-file", state])
        assert status.exit_code == 0, status.output
        assert '"account_id": "123456789012"' in status.stdout
        env = runner.invoke(app, ["env", "--state-file", state])
        assert f"export COSYDEPLOY_SANDBOX_STATE={state}" in env.stdout
        pid = int(status.stdout.split('"pid": ')[1].split(",")[0])
        assert pid_alive(pid) and pid != os.getpid()
    finally:
        down = runner.invoke(app, ["down", "--state-file", state])
    assert down.exit_code == 0, down.output
    assert not pid_alive(pid)
    after = runner.invoke(app, ["status", "--state-file", state])
    assert after.exit_code == EXIT_USAGE
    assert "no sandbox is running" in after.output


def test_docker_unreachable_is_a_clear_error(tmp_path, monkeypatch):
    from cosydeploy.sandbox.server import Sandbox

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    with pytest.raises(SandboxError) as err:
        Sandbox(state_dir=tmp_path).start()
    assert "Docker engine is not reachable" in err.value.message
    assert "services" in err.value.hint
    assert not (tmp_path / "state.json").exists()


def test_missing_registry_program_is_a_clear_error(tmp_path, monkeypatch, docker_client):
    from cosydeploy.sandbox.server import Sandbox

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError) as err:
        Sandbox(state_dir=tmp_path).start()
    assert "docker-registry" in err.value.message
    assert "apt-get install docker-registry" in err.value.hint
    assert err.value.exit_code == EXIT_USAGE
