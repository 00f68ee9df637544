"""Cutover steps against a moto server over HTTP: Route 53's weighted records, the
release ledger and the deploy lock are real; the ALB and the hostname are GETs the test
answers (what each one serves is the scenario)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cosydeploy import cutover as cut
from cosydeploy.errors import LockHeldError, UsageError
from cosydeploy.ledger import Ledger
from cosydeploy.lock import DeployLock
from cosydeploy.stack import StackOutputs

LOCKS, RELEASES = "cosyworld-deploy-locks", "cosyworld-releases"
HOST = "example-dev.cosyworld.ai"
REPO = Path(__file__).resolve().parents[2]
TD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/cosyworld-example-dev:2"


@pytest.fixture
def env(aws_session):
    """The example client in dev with an old origin, its zone and two weighted records
    (ALB 0, origin 100), the lock and ledger tables, and a release of v1."""
    from cosydeploy.config.load import load_project
    from cosydeploy.config.targets import client_env

    db = aws_session.client("dynamodb")
    db.create_table(
        TableName=LOCKS,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "lock_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "lock_id", "KeyType": "HASH"}],
    )
    from cosydeploy.ledger import TABLE_SCHEMA

    db.create_table(TableName=RELEASES, BillingMode="PAY_PER_REQUEST", **TABLE_SCHEMA)
    ledger = Ledger(db, RELEASES)
    rec = ledger.start(client="example", env="dev", version="v1", digest="sha256:1", image="i")
    ledger.finish(rec, "succeeded", task_definition_arn=TD)
    r53 = aws_session.client("route53")
    zone = r53.create_hosted_zone(Name="cosyworld.ai", CallerReference="t")["HostedZone"]["Id"]

    def rr(sid: str, value: str, weight: int) -> dict:
        return {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": HOST,
                "Type": "CNAME",
                "TTL": 60,
                "SetIdentifier": sid,
                "Weight": weight,
                "ResourceRecords": [{"Value": value}],
            },
        }

    r53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [rr("aws", "alb.elb.amazonaws.com", 0), rr("origin", "app.example.net", 100)]
        },
    )
    c = client_env(load_project(REPO), "example", "dev")
    c = dataclasses.replace(
        c,
        old_origin="app.example.net",
        release=dataclasses.replace(c.release, verify_version=True),
    )
    outputs = StackOutputs(
        cluster_name="cosyworld-example-dev",
        service_name="app",
        container_name="app",
        task_family="cosyworld-example-dev",
        execution_role_arn="",
        task_role_arn="",
        log_group_name="",
        cutover_zone_id=zone.rsplit("/", 1)[-1],
        cutover_record_name=HOST,
        cutover_aws_set_identifier="aws",
        cutover_origin_set_identifier="origin",
    )

    def target(alb=lambda p: (200, "v1" if p == "/version" else "ok"), host=None, runs=TD, **kw):
        return cut.CutoverTarget(
            c,
            outputs,
            r53,
            ledger,
            lambda: DeployLock(db, "example", "dev", table=LOCKS, operation="cutover"),
            alb,
            host or (lambda p: (200, "ok")),
            lambda: runs,
            sleep=lambda s: None,
            **kw,
        )

    return target, r53, zone, ledger, db


def weights(r53, zone: str) -> dict[str, int]:
    sets = r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {r["SetIdentifier"]: r["Weight"] for r in sets if "SetIdentifier" in r}


def cutovers(ledger: Ledger) -> list[tuple[str, str]]:
    return [(r.stage, r.outcome) for r in ledger.history("example", "dev") if r.kind == "cutover"]


def test_a_step_moves_both_weights_and_records_it(env) -> None:
    target, r53, zone, ledger, db = env
    result = cut.step(target(), 10)
    assert (result.outcome, result.percent_before, result.percent, result.exit_code) == (
        "succeeded",
        0,
        10,
        0,
    )
    assert weights(r53, zone) == {"aws": 10, "origin": 90}
    assert cutovers(ledger) == [("10%", "succeeded")]
    assert "Item" not in db.get_item(TableName=LOCKS, Key={"lock_id": {"S": "example/dev"}})


def test_an_alb_that_does_not_serve_the_release_moves_nothing(env) -> None:
    target, r53, zone, ledger, _ = env
    old = target(alb=lambda p: (200, "v0" if p == "/version" else "ok"))
    with pytest.raises(UsageError, match=r"does not serve the current release v1.*no weight moved"):
        cut.step(old, 50)
    assert weights(r53, zone) == {"aws": 0, "origin": 100}
    assert cutovers(ledger) == []


def test_a_service_running_another_revision_moves_nothing(env) -> None:
    target, r53, zone, ledger, _ = env
    other = target(runs=TD.replace(":2", ":3"))
    with pytest.raises(UsageError, match="ECS runs cosyworld-example-dev:3, not cosyworld-exa"):
        cut.step(other, 10)
    assert weights(r53, zone) == {"aws": 0, "origin": 100} and cutovers(ledger) == []


def test_without_version_checks_the_version_is_not_asked(env) -> None:
    """A client that does not verify versions (release.verify.version off) may serve no
    /version: ECS's revision and the health path say what the ALB serves."""
    target, r53, zone, _, _ = env
    t = target(alb=lambda p: (404, "") if p == "/version" else (200, "ok"))
    t.c = dataclasses.replace(t.c, release=dataclasses.replace(t.c.release, verify_version=False))
    result = cut.step(t, 10)
    assert result.outcome == "succeeded" and weights(r53, zone) == {"aws": 10, "origin": 90}
    assert "ECS runs cosyworld-example-dev:2" in result.checks[0]


def test_a_hostname_failing_after_the_step_puts_the_weights_back(env) -> None:
    target, r53, zone, ledger, _ = env
    cut.step(target(), 10)
    result = cut.step(target(host=lambda p: (502, "")), 50)
    assert (result.outcome, result.percent, result.exit_code) == ("rolled_back", 10, 1)
    assert weights(r53, zone) == {"aws": 10, "origin": 90}
    assert cutovers(ledger) == [("10%", "rolled_back"), ("10%", "succeeded")]


def test_back_checks_nothing_first(env) -> None:
    target, r53, zone, ledger, _ = env
    cut.step(target(), 50)

    def never(path: str):
        raise AssertionError("--back checked something first")

    result = cut.back(target(alb=never, host=never))
    assert (result.outcome, result.percent_before, result.percent) == ("succeeded", 50, 0)
    assert weights(r53, zone) == {"aws": 0, "origin": 100}
    assert cutovers(ledger)[0] == ("back", "succeeded")


def test_dry_run_checks_and_moves_nothing(env) -> None:
    target, r53, zone, ledger, _ = env
    assert cut.step(target(), 50, dry_run=True).outcome == "dry_run"
    assert cut.back(target(), dry_run=True).outcome == "dry_run"
    assert weights(r53, zone) == {"aws": 0, "origin": 100} and cutovers(ledger) == []


def test_a_held_lock_moves_nothing(env) -> None:
    target, r53, zone, _, db = env
    with DeployLock(db, "example", "dev", table=LOCKS), pytest.raises(LockHeldError):
        cut.step(target(), 10)
    assert weights(r53, zone) == {"aws": 0, "origin": 100}


def test_a_client_without_an_old_origin_is_refused(env) -> None:
    target, *_ = env
    t = target()
    t.c = dataclasses.replace(t.c, old_origin=None)
    with pytest.raises(UsageError, match="has no old origin"):
        cut.step(t, 10)
