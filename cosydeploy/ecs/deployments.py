"""ECS's own record of a deployment (ListServiceDeployments / DescribeServiceDeployments).

The record says what ``describe_services`` can only hint at: the lifecycle stage, the
traffic split between the running ("blue") and new ("green") revisions, a lifecycle hook
waiting for an answer, and whether ECS rolled the deployment back and why. cosydeploy
reads its verdict from here: a deployment ECS rolled back is never a success, whatever
the service's counts look like afterwards.

Pure functions over the records; the caller makes the calls (and paces them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SUCCESSFUL = "SUCCESSFUL"
ROLLBACK_SUCCESSFUL = "ROLLBACK_SUCCESSFUL"
ROLLBACK_FAILED = "ROLLBACK_FAILED"
STOPPED = "STOPPED"
ROLLING_BACK = ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
FINAL = (SUCCESSFUL, ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED, STOPPED)

# The stage at which cosydeploy's PAUSE hook holds a new revision on test traffic.
VERIFY_STAGE = "POST_TEST_TRAFFIC_SHIFT"
# Stages at which production traffic may reach the new revision.
PRODUCTION_STAGES = (
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)

# Stage names as a person reads them (the live view, history).
STAGE_WORDS = {
    "RECONCILE_SERVICE": "starting",
    "PRE_SCALE_UP": "starting",
    "SCALE_UP": "starting green",
    "POST_SCALE_UP": "green started",
    "TEST_TRAFFIC_SHIFT": "test traffic",
    "POST_TEST_TRAFFIC_SHIFT": "on test traffic",
    "PRODUCTION_TRAFFIC_SHIFT": "shifting production",
    "POST_PRODUCTION_TRAFFIC_SHIFT": "production shifted",
    "BAKE_TIME": "baking",
    "CLEAN_UP": "cleaning up",
}


@dataclass(frozen=True)
class State:
    """One look at a service deployment."""

    status: str
    stage: str
    test_weight: float | None
    production_weight: float | None
    running: int
    requested: int
    reason: str  # ECS's statusReason or rollback reason, when it gave one
    hook_id: str = ""  # a PAUSE hook awaiting an answer at this stage
    failed_tasks: int = 0  # tasks of the new revision ECS counted as failed (circuit breaker)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def rolling_back(self) -> bool:
        return self.status in ROLLING_BACK or self.status in (ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED)

    @property
    def in_production(self) -> bool:
        """Production traffic may reach the new revision."""
        return self.stage in PRODUCTION_STAGES or bool(self.production_weight)

    def traffic(self) -> str:
        """``prod 10% test 100%`` (what is known of the split)."""
        parts = []
        if self.production_weight is not None:
            parts.append(f"prod {self.production_weight:g}%")
        if self.test_weight is not None:
            parts.append(f"test {self.test_weight:g}%")
        return " ".join(parts)


def state_of(record: Mapping[str, Any]) -> State:
    """The state of one DescribeServiceDeployments record."""
    target = record.get("targetServiceRevision") or {}
    rollback = record.get("rollback") or {}
    alarms = record.get("alarms") or {}
    reason = str(record.get("statusReason") or rollback.get("reason") or "")
    if alarms.get("status") == "TRIGGERED" and alarms.get("triggeredAlarmNames"):
        names = ", ".join(alarms["triggeredAlarmNames"])
        reason = reason or f"alarm {names} went to ALARM"
    hook = awaiting_hook(record)
    return State(
        status=str(record.get("status") or ""),
        stage=str(record.get("lifecycleStage") or ""),
        test_weight=_weight(target.get("requestedTestTrafficWeight")),
        production_weight=_weight(target.get("requestedProductionTrafficWeight")),
        running=int(target.get("runningTaskCount") or 0),
        requested=int(target.get("requestedTaskCount") or 0),
        reason=reason,
        hook_id=str(hook.get("hookId") or "") if hook else "",
        failed_tasks=int((record.get("deploymentCircuitBreaker") or {}).get("failureCount") or 0),
    )


def _weight(value: Any) -> float | None:
    return None if value is None else float(value)


def awaiting_hook(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The PAUSE hook of this record waiting for ContinueServiceDeployment, if any."""
    for h in record.get("lifecycleHookDetails") or []:
        if h.get("targetType") == "PAUSE" and h.get("status") == "AWAITING_ACTION":
            return dict(h)
    return None


def is_ours(hook: Mapping[str, Any]) -> bool:
    """cosydeploy's PAUSE hook (after the test-traffic shift)."""
    return hook.get("targetType") == "PAUSE" and VERIFY_STAGE in (hook.get("lifecycleStages") or [])


def with_pause_hook(config: Mapping[str, Any] | None, timeout_seconds: int) -> dict[str, Any]:
    """The service's deployment configuration with cosydeploy's PAUSE hook after test
    traffic shifts (any other hook kept; an earlier PAUSE hook at that stage replaced).
    ECS rolls back by itself when no answer comes within ``timeout_seconds``."""
    out = {k: v for k, v in dict(config or {}).items() if v is not None}
    hooks = [dict(h) for h in out.get("lifecycleHooks") or [] if not is_ours(h)]
    hooks.append(
        {
            "targetType": "PAUSE",
            "lifecycleStages": [VERIFY_STAGE],
            "timeoutConfiguration": {
                "timeoutInMinutes": max(1, -(-int(timeout_seconds) // 60)),
                "action": "ROLLBACK",
            },
        }
    )
    out["lifecycleHooks"] = hooks
    return out


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return 0.0


def newest_for(
    briefs: Sequence[Mapping[str, Any]],
    revisions: Mapping[str, str],
    task_definition_arn: str,
    not_before: float = 0.0,
) -> Mapping[str, Any] | None:
    """The newest brief (ListServiceDeployments) whose target revision runs
    ``task_definition_arn`` (``revisions``: service revision ARN -> task definition),
    created at ``not_before`` or later (an earlier deployment of the same revision, a
    rollback's, is not ours)."""
    ours = [
        b
        for b in briefs
        if revisions.get(str(b.get("targetServiceRevisionArn") or "")) == task_definition_arn
        and _ts(b.get("createdAt")) >= not_before
    ]
    return max(ours, key=lambda b: _ts(b.get("createdAt")), default=None)


def started_at(update_response: Mapping[str, Any], task_definition_arn: str) -> float | None:
    """When ECS started the deployment an UpdateService answer shows for
    ``task_definition_arn`` (ECS's clock, so records older than it are never ours)."""
    for d in (update_response.get("service") or {}).get("deployments") or []:
        if d.get("taskDefinition") == task_definition_arn and d.get("status") == "PRIMARY":
            at = _ts(d.get("createdAt"))
            return at or None
    return None
