"""What ECS's own state says of a record a dead run left in_progress (pure)."""

from __future__ import annotations

import pytest

from cosydeploy.ledger import ReleaseRecord
from cosydeploy.release.reconcile import verdict

OLD, NEW, OTHER = (f"arn:aws:ecs:r:1:task-definition/app:{n}" for n in (1, 2, 3))


def rec(td: str = NEW, kind: str = "release") -> ReleaseRecord:
    return ReleaseRecord(
        "acme/dev", "20250101T000000.000000Z-0", "acme", "dev", "v2", "sha256:x", "img",
        kind=kind, task_definition_arn=td, previous_task_definition_arn=OLD,
    )  # fmt: skip


def svc(current: str, *deps: tuple[str, str, str]) -> dict:
    return {
        "taskDefinition": current,
        "deployments": [
            {"id": f"ecs-svc/{i}", "status": s, "taskDefinition": td, "rolloutState": r}
            for i, (s, td, r) in enumerate(deps)
        ],
    }


@pytest.mark.parametrize(
    ("record", "service", "outcome", "says"),
    [
        (rec(td=""), svc(OLD, ("PRIMARY", OLD, "COMPLETED")), "interrupted", "nothing changed"),
        (rec(), svc(NEW, ("PRIMARY", NEW, "COMPLETED")), "succeeded", "COMPLETED"),
        (rec(), svc(NEW, ("PRIMARY", NEW, "IN_PROGRESS")), None, ""),
        (
            rec(),
            svc(OLD, ("PRIMARY", OLD, "COMPLETED"), ("ACTIVE", NEW, "FAILED")),
            "rolled_back",
            "FAILED",
        ),
        (rec(), svc(OLD, ("PRIMARY", OLD, "COMPLETED")), "interrupted", "did not take"),
        (rec(), svc(OTHER, ("PRIMARY", OTHER, "COMPLETED")), "failed", "neither"),
        (rec(kind="rollback"), svc(OTHER, ("PRIMARY", OTHER, "COMPLETED")), "failed", "not"),
        (rec(), None, "failed", "no longer"),
    ],
)
def test_verdict(record, service, outcome, says) -> None:
    got = verdict(record, service)
    if outcome is None:
        assert got is None
    else:
        assert got is not None and got[0] == outcome and says in got[1]
