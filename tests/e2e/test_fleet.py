"""Fleet releases end to end through the sandbox: waves, one image, one poller,
promotion by digest, Terraform kept in step.

Each scenario gets fleet clients of its own (account 123456789012), onboarded in dev,
every secret set, serving the release it starts from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.slow

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


def write_manifest(stage, cid: str, *, crash: bool = False) -> None:
    extra = '    CRASH_ON_START: "1"\n' if crash else ""
    stage.write_manifest(cid, MANIFEST.format(cid=cid, extra=extra))


def onboard_fleet(stage, prefix: str, n: int = 4, envs=("dev",)) -> tuple[str, ...]:
    """n new clients onboarded in ``envs``, every secret set."""
    clients = tuple(stage.new_id(prefix) for _ in range(n))
    for cid in clients:
        stage.onboard(cid, envs=envs, manifest=MANIFEST.format(cid=cid, extra=""))
    return clients


@pytest.fixture
def fleet(stage) -> Iterator[tuple[str, ...]]:
    """Four clients onboarded in dev, nothing released."""
    clients = onboard_fleet(stage, "fleet")
    yield clients
    stage.retire(*clients)


@pytest.fixture
def serving_fleet(stage) -> Iterator[tuple[str, ...]]:
    """Four clients onboarded in dev, all serving f0."""
    clients = onboard_fleet(stage, "wave")
    stage.release("f0", *clients)
    yield clients
    stage.retire(*clients)


@pytest.fixture(scope="module")
def promotable(stage) -> Iterator[str]:
    """One client onboarded in dev and staging; p1 succeeded in dev."""
    (cid,) = onboard_fleet(stage, "promo", 1, envs=("dev", "staging"))
    stage.release("p1", cid)
    yield cid
    stage.retire(cid)
    stage.retire(cid, env="staging")


@pytest.fixture
def drifting(stage) -> Iterator[tuple[str, ...]]:
    """Two clients onboarded in dev, serving d1."""
    clients = onboard_fleet(stage, "drift", 2)
    stage.release("d1", *clients)
    yield clients
    stage.retire(*clients)


def fleet_release(cosy, version: str, *extra: str, clients):
    args = ["-o", "json", "release", version, "--env", "dev"]
    for c in clients:
        args += ["--client", c]
    return cosy(*args, *extra)


def outcomes(stdout: str) -> dict[str, str]:
    return {r["client"]: r["outcome"] for r in json.loads(stdout)}


def history(cosy, client: str, env: str = "dev") -> list[dict]:
    r = cosy("-o", "json", "history", client, "--env", env)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_fleet_release_builds_once_and_skips_unchanged_terraform(fleet, cosy, infra_record):
    for cid in fleet:  # onboard recorded what it applied
        assert infra_record(cid).get("fingerprint"), cid
    r = fleet_release(cosy, "f1", "--parallel", "4", clients=fleet)
    assert r.exit_code == 0, r.output
    results = json.loads(r.stdout)
    assert [x["client"] for x in results] == list(fleet)
    assert {x["outcome"] for x in results} == {"succeeded"}
    assert len({x["digest"] for x in results}) == 1, "one image for every client"
    assert r.stderr.count("built and pushed") == 1, r.stderr
    for x in results:  # tfvars unchanged since onboard: no plan, in the output and the ledger
        assert x["infra"].startswith("tfvars unchanged"), x
        assert "planned_at" not in infra_record(x["client"])
    assert "plan:" not in r.stderr
    for cid in fleet:
        assert history(cosy, cid)[0]["outcome"] == "succeeded"


def expected_wave_outcomes(clients: tuple[str, ...]) -> dict[str, str]:
    """Waves "first+second,rest" with the second client crashing on start."""
    first, broken, third, fourth = clients
    return {first: "succeeded", broken: "rolled_back", third: "skipped", fourth: "skipped"}


def _broken_wave_run(stage, cosy, clients, version: str, parallel: str):
    first, broken = clients[:2]
    write_manifest(stage, broken, crash=True)
    return fleet_release(
        cosy, version, "--waves", f"{first}+{broken},rest", "--parallel", parallel, clients=clients
    )


def test_a_failed_wave_stops_the_next_and_is_rolled_back(serving_fleet, stage, cosy, infra_record):
    first, broken, third, _ = serving_fleet
    r = _broken_wave_run(stage, cosy, serving_fleet, "f2", "1")
    assert r.exit_code == 1, r.output
    got = outcomes(r.stdout)
    assert got == expected_wave_outcomes(serving_fleet), got
    by = {x["client"]: x for x in json.loads(r.stdout)}
    assert "exit code 3" in "\n".join(by[broken]["diagnosis"]).lower(), by[broken]
    assert "wave 1 failed" in by[third]["message"]
    assert [x["wave"] for x in json.loads(r.stdout)] == [1, 1, 2, 2]
    # The broken client's manifest changed: its workspace was planned first.
    assert by[broken]["infra"].startswith("planned (tfvars changed"), by[broken]["infra"]
    assert infra_record(broken).get("planned_at")
    assert by[first]["infra"].startswith("tfvars unchanged")
    # Truth in the ledger: the broken client back on what served before (ECS's circuit
    # breaker went back there; cosydeploy verified it and rolled out nothing more), the
    # third never started f2.
    latest = history(cosy, broken)[0]
    assert (latest["kind"], latest["version"], latest["outcome"]) == (
        "release",
        "f2",
        "rolled_back",
    )
    assert "ECS rolled back to it, verified" in by[broken]["message"], by[broken]["message"]
    assert all(h["version"] != "f2" for h in history(cosy, third))


def test_parallel_4_gives_the_same_outcomes(serving_fleet, stage, cosy):
    r = _broken_wave_run(stage, cosy, serving_fleet, "f3", "4")
    assert r.exit_code == 1, r.output
    assert outcomes(r.stdout) == expected_wave_outcomes(serving_fleet)


def test_promote_reuses_the_digest_and_builds_nothing(promotable, cosy):
    dev_digest = next(h for h in history(cosy, promotable) if h["version"] == "p1")["digest"]
    r = cosy(
        "-o", "json", "promote", "p1", "--from", "dev", "--to", "staging", "--client", promotable
    )
    assert r.exit_code == 0, r.output
    (res,) = json.loads(r.stdout)
    assert (res["outcome"], res["digest"], res["env"]) == ("succeeded", dev_digest, "staging")
    assert "build:" not in r.stderr and "built and pushed" not in r.stderr
    assert "already in ECR" not in r.stderr  # not even looked up: the ledger's digest is used
    assert history(cosy, promotable, "staging")[0]["digest"] == dev_digest


def test_promote_refuses_a_version_that_never_succeeded(promotable, cosy):
    before = history(cosy, promotable, "staging")
    r = cosy("promote", "f9", "--from", "dev", "--to", "staging", "--client", promotable)
    assert r.exit_code == 2, r.output
    assert f"{promotable}: f9 never succeeded in dev" in r.stderr
    assert history(cosy, promotable, "staging") == before  # nothing was attempted


def test_drift_between_terraform_and_the_service_is_warned(drifting, cosy, aws):
    drifted, steady = drifting
    ec2, ecs = aws("ec2"), aws("ecs")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"cosyworld-{drifted}-dev"]}])
    subnet = ec2.create_subnet(VpcId=vpc["Vpcs"][0]["VpcId"], CidrBlock="10.0.99.0/24")
    ecs.update_service(
        cluster=f"cosyworld-{drifted}-dev",
        service="app",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet["Subnet"]["SubnetId"]]}},
    )
    r = fleet_release(cosy, "d1", "--dry-run", "--skip-infra", clients=drifting)
    assert r.exit_code == 0, r.output
    by = {x["client"]: x for x in json.loads(r.stdout)}
    assert any("network" in w and "10.0.99.0/24" in w for w in by[drifted]["warnings"]), by
    assert f"warning: {drifted}/dev: network" in r.stderr
    assert by[steady]["warnings"] == []
    assert by[drifted]["infra"] == "skipped (--skip-infra)"
