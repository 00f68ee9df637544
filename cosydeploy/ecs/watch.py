"""The rollout watcher: a pure verdict over ECS snapshots, and a poller for many deployments.

``evaluate`` looks at one ``describe_services`` snapshot of one service and decides
about ONE deployment (the one we started, by id). It succeeds only when that
deployment is PRIMARY, COMPLETED, running == desired and (with a target group) its
targets are healthy. A FAILED rollout, or our deployment replaced by another
PRIMARY (a circuit-breaker rollback), is a failure, never a success.

``RolloutPoller`` follows many deployments at once: one ``describe_services`` call per
(client, cluster) batch of at most 10 services, backing off from ``initial_interval``
to ``max_interval`` and never sleeping past the nearest deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
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


class RolloutPoller:
    """Follow many deployments to their verdicts with batched, backed-off polling."""

    def __init__(
        self,
        watches: Iterable[Watch],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        initial_interval: float = 1.0,
        max_interval: float = 3.0,
        backoff: float = 1.5,
        on_update: Callable[[Watch], None] | None = None,
        on_events: Callable[[Watch, list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.watches = list(watches)
        self.clock = clock
        self.sleep = sleep
        self.initial_interval = initial_interval
        self.max_interval = max_interval
        self.backoff = backoff
        self.on_update = on_update
        self.on_events = on_events
        self.describe_calls = 0

    def _batches(self, pending: list[Watch]) -> list[list[Watch]]:
        groups: dict[tuple[Any, ...], list[Watch]] = {}
        for w in pending:
            groups.setdefault((w.group, id(w.ecs), w.cluster), []).append(w)
        out: list[list[Watch]] = []
        for ws in groups.values():
            names = list(dict.fromkeys(w.service for w in ws))
            for i in range(0, len(names), MAX_SERVICES_PER_CALL):
                chunk = set(names[i : i + MAX_SERVICES_PER_CALL])
                out.append([w for w in ws if w.service in chunk])
        return out

    def poll_once(self) -> None:
        """One round: one describe_services per batch, then verdicts and callbacks."""
        pending = [w for w in self.watches if not w.verdict.phase.done]
        for batch in self._batches(pending):
            self.poll_batch(batch)

    def poll_batch(self, batch: list[Watch]) -> None:
        """One describe_services call for one batch (same group, client and cluster)."""
        first = batch[0]
        names = list(dict.fromkeys(w.service for w in batch))
        self.describe_calls += 1
        resp = first.ecs.describe_services(cluster=first.cluster, services=names)
        by_name: dict[str, Mapping[str, Any]] = {}
        for s in resp.get("services") or []:
            by_name[s.get("serviceName", "")] = s
            by_name[s.get("serviceArn", "")] = s
        now = self.clock()
        for w in batch:
            self._judge(w, by_name.get(w.service), now)

    def _judge(self, w: Watch, service: Mapping[str, Any] | None, now: float) -> None:
        w.polls += 1
        has_tg = bool(w.target_group_arn and w.elbv2 is not None)
        kwargs: dict[str, Any] = dict(
            now=now,
            deadline=w.deadline,
            task_definition_arn=w.task_definition_arn,
            not_before=w.not_before,
            exclude_ids=w.exclude_ids,
            has_target_group=has_tg,
        )
        verdict = evaluate(service, w.deployment_id, **kwargs)
        if verdict.needs_target_health:
            # Target health costs a call: read it only once the rollout says COMPLETED.
            th = w.elbv2.describe_target_health(TargetGroupArn=w.target_group_arn)
            verdict = evaluate(
                service,
                w.deployment_id,
                target_health=th.get("TargetHealthDescriptions", []),
                **kwargs,
            )
        if verdict.deployment_id and not w.deployment_id:
            w.deployment_id = verdict.deployment_id
        w.verdict = verdict
        if service is not None:
            events = [
                e
                for e in service.get("events") or []
                if w.ignore_events_before is None
                or _ts(e.get("createdAt")) >= w.ignore_events_before
            ]
            fresh = new_events(events, w.seen_events)
            if fresh and self.on_events:
                self.on_events(w, fresh)
        if self.on_update:
            self.on_update(w)

    def run(self) -> dict[str, Verdict]:
        """Poll until every watch has a verdict; returns ``{key: verdict}``."""
        interval = self.initial_interval
        while True:
            self.poll_once()
            pending = [w for w in self.watches if not w.verdict.phase.done]
            if not pending:
                return {w.key: w.verdict for w in self.watches}
            now = self.clock()
            nearest = min(w.deadline for w in pending)
            # Never sleep past the deadline; the poll at the deadline decides TIMED_OUT.
            wait = max(0.0, min(interval, nearest - now))
            if wait > 0:
                self.sleep(wait)
            interval = min(self.max_interval, interval * self.backoff)


def watch_one(watch: Watch, **kwargs: Any) -> Verdict:
    """Convenience: follow one deployment to its verdict."""
    return RolloutPoller([watch], **kwargs).run()[watch.key]
