"""What a service serves before cosydeploy changes it, and where a failed release goes back to.

A release first looks at the service: its PRIMARY revision, that revision's image, whether
its deployment settled and its targets are healthy, and whether cosydeploy released it
(a record in the ledger) or another tool did. A revision cosydeploy did not release is
recorded in the ledger as ``observed``.

The decisions are pure functions over those values:

- ``health``: is a ``describe_services`` snapshot serving, and why (not);
- ``rollback_target``: where a failed release goes back to: what served before when it
  was healthy, else the ledger's last good release;
- ``ecs_rolled_back_to``: ECS's circuit breaker already went back there (then cosydeploy
  follows and verifies that deployment, and changes nothing);
- ``rollback_choice``: ``rollback`` without ``--to``: the release before the one serving,
  observed revisions counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cosydeploy.ecs.watch import targets_healthy
from cosydeploy.errors import AwsError
from cosydeploy.ledger import OBSERVED, ReleaseRecord

__all__ = [
    "Serving",
    "Target",
    "ecs_rolled_back_to",
    "health",
    "primary_deployment",
    "released_record",
    "rollback_choice",
    "rollback_target",
]


@dataclass(frozen=True)
class Serving:
    """What a service served when cosydeploy looked (before changing it)."""

    task_definition_arn: str
    image: str = ""
    digest: str = ""
    healthy: bool = False
    health: str = ""  # why it is (not) healthy: "deployment COMPLETED, 2/2 running, ..."
    released: ReleaseRecord | None = None  # cosydeploy's record of this revision
    observed: ReleaseRecord | None = None  # the ledger's observed record of it
    placeholder: bool = False  # the stack's first revision (its placeholder image)

    @property
    def revision(self) -> str:
        return self.task_definition_arn.rsplit("/", 1)[-1]

    @property
    def outside(self) -> bool:
        """Serving a revision cosydeploy did not release (nor the stack registered)."""
        return bool(self.task_definition_arn) and self.released is None and not self.placeholder

    @property
    def record(self) -> ReleaseRecord | None:
        """The ledger's record of this revision: cosydeploy's release, else the observed one."""
        return self.released or self.observed

    @property
    def label(self) -> str:
        """Its version when cosydeploy released it, else its revision."""
        return self.released.version if self.released else self.revision

    def describe(self) -> str:
        """``cosyworld-acme-dev:7 (sha256:0123456789ab)``"""
        what = self.digest[:19] if self.digest else self.image or "no image"
        return f"{self.revision} ({what})"


@dataclass(frozen=True)
class Target:
    """Where a failed release goes back to, and why."""

    task_definition_arn: str
    label: str  # a version, or a revision not released by cosydeploy
    why: str  # said before going back
    record: ReleaseRecord | None = None  # the ledger's record of it (None: only the revision)
    note: str = ""  # why this one, short (for the result's message)


def primary_deployment(service: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), None)


def health(
    service: Mapping[str, Any],
    target_health: Sequence[Mapping[str, Any]] | None = None,
    *,
    has_target_group: bool = False,
) -> tuple[bool, str]:
    """Is the service serving its revision: its PRIMARY deployment is of that revision,
    COMPLETED, alone, every desired task running and (with a target group) its targets
    healthy. Pure."""
    primary = primary_deployment(service)
    if primary is None:
        return False, "no PRIMARY deployment"
    arn = service.get("taskDefinition")
    if arn and primary.get("taskDefinition") not in (None, arn):
        other = str(primary.get("taskDefinition")).rsplit("/", 1)[-1]
        return False, f"its PRIMARY deployment is of another revision ({other})"
    state = primary.get("rolloutState") or "COMPLETED"
    running, desired = int(primary.get("runningCount", 0)), int(primary.get("desiredCount", 0))
    counts = f"{running}/{desired} running"
    if state != "COMPLETED":
        return False, f"deployment {state}, {counts}"
    others = len(service.get("deployments") or []) - 1
    if others > 0:
        return False, f"deployment COMPLETED but {others} other deployment(s) still active"
    if running != desired:
        return False, f"deployment COMPLETED, {counts}"
    if not has_target_group:
        return True, f"deployment COMPLETED, {counts}"
    ok, why = targets_healthy(target_health, desired)
    return ok, f"deployment COMPLETED, {counts}, {why}"


def released_record(history: Sequence[ReleaseRecord], arn: str) -> ReleaseRecord | None:
    """The newest record of cosydeploy rolling out ``arn`` (a release or a rollback, any
    outcome), or None when cosydeploy never did."""
    if not arn:
        return None
    return next((r for r in history if r.task_definition_arn == arn and r.kind != OBSERVED), None)


def observed_record(history: Sequence[ReleaseRecord], arn: str) -> ReleaseRecord | None:
    """The newest observed record of ``arn``."""
    if not arn:
        return None
    return next((r for r in history if r.task_definition_arn == arn and r.kind == OBSERVED), None)


def rollback_target(
    before: Serving | None, failed_image: str, last_good: ReleaseRecord | None
) -> Target | None:
    """Where a failed release goes back to. Pure.

    What served before, when it was healthy (whoever released it); else the ledger's
    last good release; else, with no good release anywhere, the revision that served
    before even though it was not healthy (unless it runs the failed image); else None.
    """
    if before is not None and before.task_definition_arn and before.healthy:
        whose = "" if before.released else ", not released by cosydeploy"
        return Target(
            before.task_definition_arn,
            before.label,
            f"back to what served before: {before.label}{whose} ({before.health})",
            before.record,
            "what served before",
        )
    if last_good is not None:
        why = f"back to the last good release {last_good.version}"
        note = "the last good release"
        if before is not None and before.task_definition_arn:
            note = f"{before.label}, which served before, was not healthy"
            why += f": {note} ({before.health})"
        return Target(last_good.task_definition_arn, last_good.version, why, last_good, note)
    if before is not None and before.task_definition_arn and before.image != failed_image:
        return Target(
            before.task_definition_arn,
            before.label,
            "no good release in the ledger: rolling back to the revision that served before "
            f"({before.label}, {before.health})",
            before.record,
            "what served before; no good release in the ledger",
        )
    return None


def ecs_rolled_back_to(service: Mapping[str, Any], arn: str) -> str | None:
    """The id of the deployment ECS started back to ``arn`` (its circuit breaker's
    rollback), when that is the service's PRIMARY deployment and has not failed. Pure."""
    primary = primary_deployment(service)
    if primary is None or primary.get("taskDefinition") != arn:
        return None
    if primary.get("rolloutState") == "FAILED":
        return None
    return primary.get("id") or None


def _good(r: ReleaseRecord) -> bool:
    """A revision to go back to: a succeeded release/rollback, or one observed healthy."""
    if not r.task_definition_arn:
        return False
    if r.kind == OBSERVED:
        return r.outcome == "healthy"
    return r.outcome == "succeeded"


def _name(r: ReleaseRecord) -> str:
    return f"{r.version} (not released by cosydeploy)" if r.kind == OBSERVED else r.version


def rollback_choice(
    history: Sequence[ReleaseRecord], serving_arn: str, serving_digest: str = ""
) -> tuple[ReleaseRecord | None, str]:
    """``rollback`` without ``--to``: the good revision recorded before the newest record of
    the one serving (observed revisions count), with why it was picked. Pure; ``history``
    is newest first. When the serving revision is in no record, the newest good one."""

    def other(r: ReleaseRecord) -> bool:
        return r.task_definition_arn != serving_arn and not (
            serving_digest and r.digest == serving_digest
        )

    at = next((i for i, r in enumerate(history) if r.task_definition_arn == serving_arn), None)
    if at is not None:
        serving = history[at]
        for r in history[at + 1 :]:
            if _good(r) and other(r):
                return r, (
                    f"it serves {_name(serving)}; the good release before that is {_name(r)}, "
                    f"{r.kind} of {r.started_at}"
                )
    for r in history:
        if _good(r) and other(r):
            return r, f"the newest good release other than the one serving: {_name(r)}"
    return None, ""


def current_service(ecs: Any, target: Any) -> dict[str, Any]:
    o = target.outputs
    resp = ecs.describe_services(cluster=o.cluster_name, services=[o.service_name])
    services = resp.get("services") or []
    if not services or services[0].get("status") != "ACTIVE":
        raise AwsError(
            f"{target.key}: service {o.cluster_name}/{o.service_name} not found",
            hint="apply the client's stack first",
        )
    return services[0]
