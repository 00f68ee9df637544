"""Clients in different AWS accounts release in one run, each as its own identity.

The sandbox's moto keeps accounts apart by credentials: a manifest's `aws.role_arn`
is assumed (as in AWS), and the account guard checks who that made us.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.slow

OTHER = "222222222222"

MANIFEST = """\
client: {cid}
name: Account client {cid}
contact: ops@{cid}.example.com
tier: dev
aws:
  account_id: "{account}"
  region: us-east-1
{role}domain: cosyworld.ai
environments:
  dev: {{}}
app:
  secrets: [TELEGRAM_BOT_TOKEN]
database:
  engine: atlas
"""


def manifest(cid: str, account: str, role_account: str | None = None) -> str:
    role = (
        f"  role_arn: arn:aws:iam::{role_account}:role/cosydeploy-deploy\n" if role_account else ""
    )
    return MANIFEST.format(cid=cid, account=account, role=role)


@pytest.fixture(scope="module")
def clients(stage) -> Iterator[tuple[str, str]]:
    """home (the sandbox's account) and away (account 222222222222 by role), onboarded.

    Only the two-account release changes what they serve."""
    stage.onboard("home", manifest=manifest("home", "123456789012"))
    stage.onboard("away", manifest=manifest("away", OTHER, OTHER))
    yield ("home", "away")
    stage.retire("home", "away")  # other modules list every client


@pytest.fixture
def solo_and_stray(stage) -> Iterator[tuple[str, str]]:
    """solo (the sandbox's account) serving x1; stray, whose role lands in another account."""
    solo = stage.new_id("solo")
    stage.onboard(solo, manifest=manifest(solo, "123456789012"))
    stage.release("x1", solo)
    stray = stage.new_id("stray")
    stage.write_manifest(stray, manifest(stray, "333333333333", OTHER))
    yield solo, stray
    stage.retire(solo, stray)


def _assumed(sandbox_env: dict[str, str], service: str, account: str):
    import boto3

    base = {
        "endpoint_url": sandbox_env["AWS_ENDPOINT_URL"],
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    creds = boto3.client("sts", **base).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/check", RoleSessionName="test"
    )["Credentials"]
    return boto3.client(
        service,
        endpoint_url=base["endpoint_url"],
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def test_two_accounts_release_in_one_run(clients, cosy, sandbox_env) -> None:
    r = cosy("-o", "json", "release", "x1", "--env", "dev", "--client", "home", "--client", "away")
    assert r.exit_code == 0, r.output
    results = {x["client"]: x for x in json.loads(r.stdout)}
    assert {c: x["outcome"] for c, x in results.items()} == {
        "home": "succeeded",
        "away": "succeeded",
    }

    # away's service, task definition and image live in its own account
    ecs = _assumed(sandbox_env, "ecs", OTHER)
    svc = ecs.describe_services(cluster="cosyworld-away-dev", services=["app"])["services"][0]
    assert svc["taskDefinition"].startswith(f"arn:aws:ecs:us-east-1:{OTHER}:task-definition/")
    td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    assert td["containerDefinitions"][0]["image"].startswith(
        f"{OTHER}.dkr.ecr.us-east-1.amazonaws.com/"
    )
    assert svc["runningCount"] == svc["desiredCount"] == 2
    # ... and the sandbox's own account has no such service
    import boto3

    home_ecs = boto3.client(
        "ecs",
        endpoint_url=sandbox_env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert not [a for a in home_ecs.list_clusters()["clusterArns"] if "cosyworld-away-dev" in a]

    for cid in ("home", "away"):
        show = cosy("-o", "json", "onboard", cid, "--env", "dev", "--yes")
        url = json.loads(show.stdout)[0]["outputs"]["app_url"]
        with urllib.request.urlopen(f"{url}/version", timeout=5) as resp:
            assert resp.read().decode().strip() == "x1"


def test_a_role_in_the_wrong_account_stops_the_run_before_anything_ships(
    solo_and_stray, cosy
) -> None:
    solo, stray = solo_and_stray
    r = cosy("-o", "json", "release", "x2", "--env", "dev", "--client", solo, "--client", stray)
    assert r.exit_code == 2, r.output
    assert "333333333333" in r.stderr and OTHER in r.stderr
    results = {x["client"]: x["outcome"] for x in json.loads(r.stdout)}
    assert results[solo] == "skipped"
    status = cosy("-o", "json", "status", solo, "--env", "dev")
    assert json.loads(status.stdout)[0]["version"] == "x1"


def test_doctor_checks_a_client_in_its_own_account(clients, cosy) -> None:
    r = cosy("-o", "json", "doctor", "away", "--env", "dev")
    rows = {row["check"]: row for row in json.loads(r.stdout)}
    assert r.exit_code == 0, r.output
    assert rows["aws account"]["status"] == "OK" and OTHER in rows["aws account"]["detail"]
    assert rows["state bucket"]["status"] == "OK"  # read as the caller, like Terraform's backend
    assert rows["secrets"]["status"] == "OK"
