"""During an incident a rollback must need only ECS and DynamoDB: no Terraform, no
provider, no state backend. status and history likewise. The stack outputs come from
the ledger, recorded when the stack was applied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CLIENT = "quiet"
SECRETS = (
    "DISCORD_BOT_TOKEN",
    "ENCRYPTION_KEY",
    "GOOGLE_AI_API_KEY",
    "MONGO_URI",
    "OPENROUTER_API_KEY",
    "TELEGRAM_BOT_TOKEN",
)


@pytest.fixture
def quiet(e2e_project: Path, cosy):
    manifest = (e2e_project / "clients" / "example.yaml").read_text()
    (e2e_project / "clients" / f"{CLIENT}.yaml").write_text(
        manifest.replace("client: example", f"client: {CLIENT}")
    )
    r = cosy("onboard", CLIENT, "--env", "dev", "--yes")
    assert r.exit_code == 0, r.output
    for name in SECRETS:
        r = cosy("secrets", "set", CLIENT, "--env", "dev", name, input=f"q-{name.lower()}")
        assert r.exit_code == 0, r.output
    return CLIENT


def aws_calls(monkeypatch) -> list[str]:
    """The AWS operations this process makes from now on, by name."""
    from botocore.client import BaseClient

    calls: list[str] = []
    real = BaseClient._make_api_call

    def record(self, operation_name, api_params):
        calls.append(operation_name)
        return real(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    return calls


def test_status_history_and_rollback_need_no_terraform(quiet, cosy, e2e_project, monkeypatch):
    # Never released: the service runs the stack's own revision, which the apply recorded,
    # so status knows its placeholder image without reading the task definition.
    with monkeypatch.context() as m:
        calls = aws_calls(m)
        r = cosy("-o", "json", "status", quiet, "--env", "dev")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert (row["version"], row["observed"]) == ("-", False), row
    assert "DescribeServices" in calls and "DescribeTaskDefinition" not in calls, calls
    for version in ("q1", "q2"):
        r = cosy("-o", "json", "release", version, "--client", quiet, "--env", "dev")
        assert r.exit_code == 0, r.output

    # Terraform is gone: its binary does not exist and the workspace's working copy too.
    monkeypatch.setenv("COSYDEPLOY_TERRAFORM", str(e2e_project / "no-such-terraform"))
    shutil.rmtree(e2e_project / ".cosydeploy" / "tf" / f"{quiet}-dev", ignore_errors=True)

    r = cosy("-o", "json", "status", quiet, "--env", "dev")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert row["version"] == "q2" and row["rollout"] == "COMPLETED"

    r = cosy("-o", "json", "rollback", quiet, "--env", "dev")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["outcome"] == "succeeded" and result["version"] == "q1"

    r = cosy("-o", "json", "history", quiet, "--env", "dev")
    assert r.exit_code == 0, r.output
    assert [(h["kind"], h["version"]) for h in json.loads(r.stdout)[:1]] == [("rollback", "q1")]
    assert not (e2e_project / ".cosydeploy" / "tf" / f"{quiet}-dev").exists()
