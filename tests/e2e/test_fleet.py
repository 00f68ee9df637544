"""Fleet releases end to end through the sandbox: waves, one image, one poller,
promotion by digest, Terraform kept in step.

Four clients (fleet1..fleet4, account 123456789012) are onboarded in dev; fleet1 also
in staging. The tests run in file order, each from the state the previous one left.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CLIENTS = ("fleet1", "fleet2", "fleet3", "fleet4")
BROKEN = "fleet2"
SECRETS = (
    "DISCORD_BOT_TOKEN",
    "ENCRYPTION_KEY",
    "GOOGLE_AI_API_KEY",
    "MONGO_URI",
    "OPENROUTER_API_KEY",
    "TELEGRAM_BOT_TOKEN",
)

MANIFEST = """\
client: {cid}
name: Fleet client {cid}
contact: ops@{cid}.example.com
tier: dev
aws:
  account_id: "123456789012"
  region: us-east-1
domain: cosyworld.ai
environments:
  dev: {{}}
  staging:
    tier: dev
app:
  port: 3000
  health_path: /health/ready
  environment:
    LOG_LEVEL: info
{extra}  feature_flags:
    discord: true
    telegram: false
  secrets: [TELEGRAM_BOT_TOKEN]
database:
  engine: atlas
tags:
  CostCenter: {cid}
"""


def write_manifest(project: Path, cid: str, *, crash: bool = False) -> None:
    extra = '    CRASH_ON_START: "1"\n' if crash else ""
    (project / "clients" / f"{cid}.yaml").write_text(MANIFEST.format(cid=cid, extra=extra))


@pytest.fixture(scope="module")
def fleet(e2e_project: Path, sandbox_env: dict[str, str], transcript) -> tuple[str, ...]:
    """fleet1..4 onboarded in dev (fleet1 also in staging), every secret set."""
    import os

    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    for cid in CLIENTS:
        write_manifest(e2e_project, cid)
    saved = dict(os.environ)
    os.environ.update(sandbox_env)
    try:
        runner = CliRunner()

        def run(*args: str, input: str | None = None) -> None:
            r = runner.invoke(app, list(args), input=input, catch_exceptions=False)
            transcript.add(r.stdout, r.stderr)
            assert r.exit_code == 0, r.stdout + r.stderr

        for cid, env in [(c, "dev") for c in CLIENTS] + [("fleet1", "staging")]:
            run("onboard", cid, "--env", env, "--yes")
            for name in SECRETS:
                run("secrets", "set", cid, "--env", env, name, input=f"{cid}-{name.lower()}")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return CLIENTS


def fleet_release(cosy, version: str, *extra: str, clients=CLIENTS):
    args = ["-o", "json", "release", version, "--env", "dev"]
    for c in clients:
        args += ["--client", c]
    return cosy(*args, *extra)


def outcomes(stdout: str) -> dict[str, str]:
    return {r["client"]: r["outcome"] for r in json.loads(stdout)}


def infra_record(sandbox_env: dict[str, str], client: str, env: str = "dev") -> dict:
    import boto3

    from cosydeploy.ledger import Ledger

    ddb = boto3.client(
        "dynamodb", endpoint_url=sandbox_env["AWS_ENDPOINT_URL"], region_name="us-east-1"
    )
    return Ledger(ddb, "cosyworld-releases").infra_state(client, env)


def history(cosy, client: str, env: str = "dev") -> list[dict]:
    r = cosy("-o", "json", "history", client, "--env", env)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_fleet_release_builds_once_and_skips_unchanged_terraform(fleet, cosy, sandbox_env):
    for cid in CLIENTS:  # onboard recorded what it applied
        assert infra_record(sandbox_env, cid).get("fingerprint"), cid
    r = fleet_release(cosy, "f1", "--parallel", "4")
    assert r.exit_code == 0, r.output
    results = json.loads(r.stdout)
    assert [x["client"] for x in results] == list(CLIENTS)
    assert {x["outcome"] for x in results} == {"succeeded"}
    assert len({x["digest"] for x in results}) == 1, "one image for every client"
    assert r.stderr.count("built and pushed") == 1, r.stderr
    for x in results:  # tfvars unchanged since onboard: no plan, in the output and the ledger
        assert x["infra"].startswith("tfvars unchanged"), x
        assert "planned_at" not in infra_record(sandbox_env, x["client"])
    assert "plan:" not in r.stderr
    for cid in CLIENTS:
        assert history(cosy, cid)[0]["outcome"] == "succeeded"


def _broken_wave_run(cosy, e2e_project, version: str, parallel: str):
    write_manifest(e2e_project, BROKEN, crash=True)
    r = fleet_release(cosy, version, "--waves", "fleet1+fleet2,rest", "--parallel", parallel)
    return r


def test_a_failed_wave_stops_the_next_and_is_rolled_back(fleet, cosy, e2e_project, sandbox_env):
    r = _broken_wave_run(cosy, e2e_project, "f2", "1")
    assert r.exit_code == 1, r.output
    got = outcomes(r.stdout)
    assert got == {
        "fleet1": "succeeded",
        "fleet2": "rolled_back",
        "fleet3": "skipped",
        "fleet4": "skipped",
    }, got
    by = {x["client"]: x for x in json.loads(r.stdout)}
    assert "exit code 3" in "\n".join(by[BROKEN]["diagnosis"]).lower(), by[BROKEN]
    assert "wave 1 failed" in by["fleet3"]["message"]
    assert [x["wave"] for x in json.loads(r.stdout)] == [1, 1, 2, 2]
    # The broken client's manifest changed: its workspace was planned first.
    assert by[BROKEN]["infra"].startswith("planned (tfvars changed"), by[BROKEN]["infra"]
    assert infra_record(sandbox_env, BROKEN).get("planned_at")
    assert by["fleet1"]["infra"].startswith("tfvars unchanged")
    # Truth in the ledger: fleet2 back on f1, fleet3 never started f2.
    assert history(cosy, BROKEN)[0]["kind"] == "rollback"
    assert (
        next(h for h in history(cosy, BROKEN) if h["version"] == "f2")["outcome"] == "rolled_back"
    )
    assert all(h["version"] != "f2" for h in history(cosy, "fleet3"))
    _SEEN["parallel 1"] = got


_SEEN: dict[str, dict[str, str]] = {}


def test_parallel_4_gives_the_same_outcomes(fleet, cosy, e2e_project):
    r = _broken_wave_run(cosy, e2e_project, "f3", "4")
    assert r.exit_code == 1, r.output
    assert outcomes(r.stdout) == _SEEN["parallel 1"]


def test_promote_reuses_the_digest_and_builds_nothing(fleet, cosy):
    dev_digest = next(h for h in history(cosy, "fleet1") if h["version"] == "f1")["digest"]
    r = cosy(
        "-o", "json", "promote", "f1", "--from", "dev", "--to", "staging", "--client", "fleet1"
    )
    assert r.exit_code == 0, r.output
    (res,) = json.loads(r.stdout)
    assert (res["outcome"], res["digest"], res["env"]) == ("succeeded", dev_digest, "staging")
    assert "build:" not in r.stderr and "built and pushed" not in r.stderr
    assert "already in ECR" not in r.stderr  # not even looked up: the ledger's digest is used
    assert history(cosy, "fleet1", "staging")[0]["digest"] == dev_digest


def test_promote_refuses_a_version_that_never_succeeded(fleet, cosy):
    before = history(cosy, "fleet1", "staging")
    r = cosy("promote", "f9", "--from", "dev", "--to", "staging", "--client", "fleet1")
    assert r.exit_code == 2, r.output
    assert "fleet1: f9 never succeeded in dev" in r.stderr
    assert history(cosy, "fleet1", "staging") == before  # nothing was attempted


def test_drift_between_terraform_and_the_service_is_warned(fleet, cosy, sandbox_env):
    import boto3

    kw = {"endpoint_url": sandbox_env["AWS_ENDPOINT_URL"], "region_name": "us-east-1"}
    ec2, ecs = boto3.client("ec2", **kw), boto3.client("ecs", **kw)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["cosyworld-fleet3-dev"]}])
    subnet = ec2.create_subnet(VpcId=vpc["Vpcs"][0]["VpcId"], CidrBlock="10.0.99.0/24")
    ecs.update_service(
        cluster="cosyworld-fleet3-dev",
        service="app",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet["Subnet"]["SubnetId"]]}},
    )
    r = fleet_release(cosy, "f1", "--dry-run", "--skip-infra", clients=("fleet3", "fleet4"))
    assert r.exit_code == 0, r.output
    by = {x["client"]: x for x in json.loads(r.stdout)}
    assert any("network" in w and "10.0.99.0/24" in w for w in by["fleet3"]["warnings"]), by
    assert "warning: fleet3/dev: network" in r.stderr
    assert by["fleet4"]["warnings"] == []
    assert by["fleet3"]["infra"] == "skipped (--skip-infra)"
