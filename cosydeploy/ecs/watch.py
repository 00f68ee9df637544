"""The rollout watcher: a pure verdict over ECS snapshots, and a poller for many deployments.

``evaluate`` looks at one ``describe_services`` snapshot of one service and decides
about ONE deployment (the one we started, by id). It succeeds only when that
deployment is PRIMARY, COMPLETED, running == desired and (with a target group) its
targets are healthy. A FAILED rollout, or our deployment replaced by another
PRIMARY (a circuit-breaker rollback), is a failure, never a success.

``cosydeploy.ecs.poller.Poller`` follows deployments with these verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

MAX_SERVICES_PER_CALL = 10


class Phase(StrEnum):
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"

    @property
    def done(self) -> bool:
        return self is not Phase.IN_PROGRESS


@dataclass(frozen=True)
class Verdict:
    """The state of our deployment after one snapshot."""

    phase: Phase
    reason: str
    deployment_id: str | None = None
    rollout_state: str = ""
    status: str = ""
    running: int = 0
    pending: int = 0
    desired: int = 0
    failed_tasks: int = 0
    needs_target_health: bool = False
    traffic: str = ""  # production/test split, for strategies that shift traffic


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return 0.0


def find_deployment(
    service: Mapping[str, Any],
    deployment_id: str | None,
    task_definition_arn: str | None = None,
    not_before: float | None = None,
    exclude_ids: frozenset[str] = frozenset(),
) -> dict[str, Any] | None:
    """Our deployment in the snapshot: by id; when the id is not known yet (the update
    response carried none), the newest deployment of our task definition created after
    ``not_before`` that is not one of ``exclude_ids`` (the deployments that existed
    before our update: an older deployment of the same revision is never ours)."""
    deployments = service.get("deployments") or []
    if deployment_id:
        for d in deployments:
            if d.get("id") == deployment_id:
                return d
        return None
    if not task_definition_arn:
        return None
    candidates = [
        d
        for d in deployments
        if d.get("taskDefinition") == task_definition_arn
        and d.get("id") not in exclude_ids
        and (not_before is None or _ts(d.get("createdAt")) >= not_before)
    ]
    return max(candidates, key=lambda d: _ts(d.get("createdAt")), default=None)


def targets_healthy(
    target_health: Sequence[Mapping[str, Any]] | None, desired: int
) -> tuple[bool, str]:
    """All non-draining targets healthy, and at least ``desired`` of them."""
    if target_health is None:
        return False, "target health not read yet"
    live = [t for t in target_health if t.get("TargetHealth", {}).get("State") != "draining"]
    bad = [t for t in live if t.get("TargetHealth", {}).get("State") != "healthy"]
    if bad:
        states = sorted({t["TargetHealth"].get("State", "?") for t in bad})
        return False, f"{len(bad)} target(s) not healthy ({', '.join(states)})"
    if len(live) < desired:
        return False, f"{len(live)}/{desired} targets registered"
    return True, "targets healthy"


def evaluate(
    service: Mapping[str, Any] | None,
    deployment_id: str | None,
    *,
    now: float,
    deadline: float,
    task_definition_arn: str | None = None,
    not_before: float | None = None,
    exclude_ids: frozenset[str] = frozenset(),
    has_target_group: bool = False,
    target_health: Sequence[Mapping[str, Any]] | None = None,
) -> Verdict:
    """Decide about our deployment from one snapshot. Pure: no I/O, no clock."""
    timed_out = now >= deadline
    if service is None:
        return Verdict(Phase.FAILED, "service not found", deployment_id)
    if service.get("status") not in (None, "ACTIVE"):
        return Verdict(Phase.FAILED, f"service is {service.get('status')}", deployment_id)
    ours = find_deployment(service, deployment_id, task_definition_arn, not_before, exclude_ids)
    primary = next(
        (d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), None
    )
    if ours is None:
        if deployment_id:
            by = f" by {primary.get('id')} ({primary.get('taskDefinition')})" if primary else ""
            return Verdict(
                Phase.FAILED, f"deployment {deployment_id} was replaced{by}", deployment_id
            )
        if timed_out:
            return Verdict(Phase.TIMED_OUT, "no deployment of our task definition appeared", None)
        return Verdict(Phase.IN_PROGRESS, "waiting for the deployment to start", None)

    base = Verdict(
        Phase.IN_PROGRESS,
        "",
        deployment_id=ours.get("id"),
        rollout_state=ours.get("rolloutState", ""),
        status=ours.get("status", ""),
        running=int(ours.get("runningCount", 0)),
        pending=int(ours.get("pendingCount", 0)),
        desired=int(ours.get("desiredCount", 0)),
        failed_tasks=int(ours.get("failedTasks", 0)),
    )
    if base.rollout_state == "FAILED":
        why = ours.get("rolloutStateReason") or "rollout failed"
        return replace(base, phase=Phase.FAILED, reason=why)
    if base.status != "PRIMARY":
        by = f" by {primary.get('id')} ({primary.get('taskDefinition')})" if primary else ""
        return replace(
            base, phase=Phase.FAILED, reason=f"deployment is {base.status or 'gone'}: replaced{by}"
        )
    if base.rollout_state == "COMPLETED" and base.running == base.desired:
        if not has_target_group:
            return replace(base, phase=Phase.SUCCEEDED, reason="rollout completed")
        ok, why = targets_healthy(target_health, base.desired)
        if ok:
            return replace(base, phase=Phase.SUCCEEDED, reason=f"rollout completed, {why}")
        if timed_out:
            return replace(base, phase=Phase.TIMED_OUT, reason=f"deadline passed: {why}")
        return replace(base, reason=why, needs_target_health=True)
    if timed_out:
        return replace(
            base,
            phase=Phase.TIMED_OUT,
            reason=f"deadline passed with rollout {base.rollout_state or 'unknown'}, "
            f"{base.running}/{base.desired} running",
        )
    return replace(base, reason=ours.get("rolloutStateReason") or base.rollout_state)


def new_events(events: Iterable[Mapping[str, Any]], seen: set[str]) -> list[dict[str, Any]]:
    """Service events not seen before, oldest first; ``seen`` is updated."""
    fresh = [dict(e) for e in events if e.get("id") not in seen]
    for e in fresh:
        seen.add(str(e.get("id")))
    return sorted(fresh, key=lambda e: _ts(e.get("createdAt")))


# ------------------------------------------------------------------------------ poller


@dataclass
class Watch:
    """One deployment to follow. ``key`` names it in callbacks (e.g. ``client/env``).

    ``group`` separates clients/accounts: watches share a describe_services call only
    when they have the same group and cluster (and ``ecs`` client).
    """

    key: str
    ecs: Any
    cluster: str
    service: str
    deployment_id: str | None
    deadline: float
    task_definition_arn: str | None = None
    not_before: float | None = None
    exclude_ids: frozenset[str] = frozenset()
    elbv2: Any = None
    target_group_arn: str = ""
    group: str = ""
    ignore_events_before: float | None = None
    started_at: float | None = None
    label: str = ""  # e.g. the version, for live views
    verdict: Verdict = field(default_factory=lambda: Verdict(Phase.IN_PROGRESS, "not polled yet"))
    seen_events: set[str] = field(default_factory=set)
    polls: int = 0
    # What the last poll read: the service, and its target health when that was read.
    last_service: Mapping[str, Any] | None = None
    last_targets: list[dict[str, Any]] | None = None
