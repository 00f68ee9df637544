"""Pure tables for what a release observes before changing a service, and where a failed
release (or a rollback without --to) goes back to."""

from __future__ import annotations

import pytest

from cosydeploy.ledger import ReleaseRecord
from cosydeploy.release.observe import (
    Serving,
    ecs_rolled_back_to,
    health,
    released_record,
    rollback_choice,
    rollback_target,
)

ARN = "arn:aws:ecs:eu-west-1:123456789012:task-definition/cosyworld-acme-dev:"


def dep(rev: int, status: str = "PRIMARY", state: str = "COMPLETED", running: int = 2, **kw):
    return {
        "id": f"ecs-svc/{rev}{status}",
        "status": status,
        "taskDefinition": f"{ARN}{rev}",
        "rolloutState": state,
        "runningCount": running,
        "desiredCount": 2,
        **kw,
    }


def target(state: str = "healthy") -> dict:
    return {"Target": {"Id": "10.0.0.1"}, "TargetHealth": {"State": state}}


def svc(rev: int, *deployments) -> dict:
    return {"taskDefinition": f"{ARN}{rev}", "deployments": list(deployments)}


# ------------------------------------------------------------------ health


@pytest.mark.parametrize(
    ("service", "targets", "has_tg", "ok", "why"),
    [
        (svc(7, dep(7)), None, False, True, "deployment COMPLETED, 2/2 running"),
        (
            svc(7, dep(7)),
            [target(), target()],
            True,
            True,
            "deployment COMPLETED, 2/2 running, targets healthy",
        ),
        (svc(7, dep(7)), [], True, False, "0/2 targets registered"),
        (svc(7, dep(7)), [target(), target("unhealthy")], True, False, "not healthy (unhealthy)"),
        (svc(7, dep(7)), [target(), target(), target("draining")], True, True, "targets healthy"),
        (svc(7, dep(7, state="IN_PROGRESS", running=0)), None, False, False, "IN_PROGRESS, 0/2"),
        (svc(7, dep(7, running=1)), None, False, False, "1/2 running"),
        (svc(7, dep(7), dep(6, "ACTIVE")), None, False, False, "1 other deployment(s)"),
        (svc(7, dep(6)), None, False, False, "another revision (cosyworld-acme-dev:6)"),
        (svc(7), None, False, False, "no PRIMARY deployment"),
    ],
)
def test_health(service, targets, has_tg, ok, why) -> None:
    got_ok, got_why = health(service, targets, has_target_group=has_tg)
    assert got_ok is ok
    assert why in got_why


# ------------------------------------------------------------------ records


def rec(
    version: str,
    rev: int,
    outcome: str = "succeeded",
    kind: str = "release",
    digest: str = "",
    at: int = 0,
) -> ReleaseRecord:
    return ReleaseRecord(
        target="acme/dev",
        release_id=f"2025010{at}T000000.000000Z-00000000",
        client="acme",
        env="dev",
        version=version,
        digest=digest or f"sha256:{rev:064d}",
        image="",
        outcome=outcome,
        kind=kind,
        task_definition_arn=f"{ARN}{rev}" if rev else "",
        started_at=f"2025-01-0{at}T00:00:00Z",
    )


def observed(rev: int, outcome: str = "healthy", **kw) -> ReleaseRecord:
    return rec(f"cosyworld-acme-dev:{rev}", rev, outcome, kind="observed", **kw)


def test_released_record_ignores_observed_records_and_knows_failed_attempts() -> None:
    history = [observed(7), rec("v3", 5, "rolled_back"), rec("v2", 4)]
    assert released_record(history, f"{ARN}7") is None
    assert released_record(history, f"{ARN}5").version == "v3"
    assert released_record(history, "") is None
    assert observed(7).as_dict()["observed"] is True and rec("v2", 4).as_dict()["observed"] is False


# ------------------------------------------------------------------ rollback target

V1 = rec("v1", 3)


def serving(rev: int, healthy: bool, released: ReleaseRecord | None = None, image: str = "img:a"):
    return Serving(
        f"{ARN}{rev}",
        image=image,
        healthy=healthy,
        health="deployment COMPLETED, 2/2 running" if healthy else "0/2 targets registered",
        released=released,
        observed=None if released else observed(rev),
    )


@pytest.mark.parametrize(
    ("before", "last_good", "to_rev", "label", "why"),
    [
        # what served before, healthy, not cosydeploy's: back there, not to the ledger's v1
        (
            serving(7, True),
            V1,
            7,
            "cosyworld-acme-dev:7",
            "back to what served before: cosyworld-acme-dev:7, not released by cosydeploy",
        ),
        # cosydeploy's own release served before, healthy
        (serving(4, True, rec("v2", 4)), V1, 4, "v2", "back to what served before: v2 ("),
        # what served before was not healthy: the ledger's last good release, and why
        (
            serving(7, False),
            V1,
            3,
            "v1",
            "back to the last good release v1: cosyworld-acme-dev:7, which served before, "
            "was not healthy (0/2 targets registered)",
        ),
        # nothing good anywhere: the revision that served before anyway
        (serving(7, False), None, 7, "cosyworld-acme-dev:7", "no good release in the ledger"),
        (None, V1, 3, "v1", "back to the last good release v1"),
    ],
)
def test_rollback_target(before, last_good, to_rev, label, why) -> None:
    to = rollback_target(before, "img:failed", last_good)
    assert to is not None
    assert (to.task_definition_arn, to.label) == (f"{ARN}{to_rev}", label)
    assert why in to.why
    if to_rev == 7:
        assert to.record is not None and to.record.kind == "observed"


@pytest.mark.parametrize(
    "before",
    [None, serving(7, False, image="img:failed"), Serving("")],
)
def test_no_rollback_target(before) -> None:
    assert rollback_target(before, "img:failed", None) is None


# ------------------------------------------------------------------ ECS already went back


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        # the circuit breaker's rollback deployment, in progress or done: followed
        (svc(7, dep(7, state="IN_PROGRESS"), dep(9, "ACTIVE", "FAILED")), "ecs-svc/7PRIMARY"),
        (svc(7, dep(7)), "ecs-svc/7PRIMARY"),
        # still on the failed release, or back on another revision: not followed
        (svc(9, dep(9, state="FAILED")), None),
        (svc(9, dep(9, state="IN_PROGRESS")), None),
        (svc(3, dep(3)), None),
        (svc(7, dep(7, state="FAILED")), None),
        (svc(7), None),
    ],
)
def test_ecs_rolled_back_to(service, expected) -> None:
    assert ecs_rolled_back_to(service, f"{ARN}7") == expected


# ------------------------------------------------------------------ rollback without --to


@pytest.mark.parametrize(
    ("history", "serving_rev", "expected", "why"),
    [
        # v1, v2: serving v2 -> v1
        ([rec("v2", 4, at=2), rec("v1", 3, at=1)], 4, "v1", "it serves v2; the good release"),
        # v1, v2, outside :7 (observed): serving :7 -> v2
        (
            [observed(7, at=3), rec("v2", 4, at=2), rec("v1", 3, at=1)],
            7,
            "v2",
            "it serves cosyworld-acme-dev:7 (not released by cosydeploy)",
        ),
        # v1, outside :7, v2: serving v2 -> :7, counted though cosydeploy did not release it
        (
            [rec("v2", 4, at=3), observed(7, at=2), rec("v1", 3, at=1)],
            4,
            "cosyworld-acme-dev:7",
            "before that is cosyworld-acme-dev:7 (not released by cosydeploy), observed",
        ),
        # an outside revision seen unhealthy is not gone back to
        (
            [rec("v2", 4, at=3), observed(7, "unhealthy", at=2), rec("v1", 3, at=1)],
            4,
            "v1",
            "",
        ),
        # failed attempts and the same image under another revision are skipped
        (
            [
                rec("v3", 5, "rolled_back", at=4),
                rec("v2", 4, "noop", at=3),
                rec("v2", 4, at=2),
                rec("v1", 3, at=1),
            ],
            4,
            "v1",
            "",
        ),
        # after a rollback to v1, serving v1: the one before the rollback (v2)
        (
            [rec("v1", 3, kind="rollback", at=3), rec("v2", 4, at=2), rec("v1", 3, at=1)],
            3,
            "v2",
            "",
        ),
        # serving a revision in no record: the newest good one
        ([rec("v2", 4, at=2), rec("v1", 3, at=1)], 8, "v2", "the newest good release"),
        # nothing before: the newest good other one (a later release back to)
        ([rec("v1", 3, at=2), rec("v2", 4, at=1)], 4, "v1", "the newest good release"),
    ],
)
def test_rollback_choice(history, serving_rev, expected, why) -> None:
    digest = f"sha256:{serving_rev:064d}"
    got, got_why = rollback_choice(history, f"{ARN}{serving_rev}", digest)
    assert got is not None and got.version == expected
    assert why in got_why


def test_rollback_choice_without_anything_to_go_back_to() -> None:
    assert rollback_choice([rec("v1", 3)], f"{ARN}3", f"sha256:{3:064d}") == (None, "")
    assert rollback_choice([], f"{ARN}3") == (None, "")
