"""Why a rollout failed: stopped tasks, the failing container's last log lines, target health.

Collecting a diagnosis never raises for an AWS error: what could not be read is
named in ``errors`` so the release can still roll back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StoppedContainer:
    name: str
    exit_code: int | None
    reason: str = ""


@dataclass(frozen=True)
class StoppedTask:
    task_id: str
    task_definition_arn: str
    stopped_reason: str
    stop_code: str
    containers: tuple[StoppedContainer, ...] = ()


@dataclass(frozen=True)
class TargetState:
    target: str
    state: str
    reason: str = ""
    description: str = ""


@dataclass
class Diagnosis:
    """What went wrong, as data; ``lines()`` renders it for people and the ledger."""

    stopped_tasks: list[StoppedTask] = field(default_factory=list)
    log_stream: str = ""
    log_lines: list[str] = field(default_factory=list)
    targets: list[TargetState] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out: list[str] = []
        for t in self.stopped_tasks:
            out.append(
                f"task {t.task_id} stopped: {t.stopped_reason or '?'}"
                + (f" ({t.stop_code})" if t.stop_code else "")
            )
            for c in t.containers:
                code = "?" if c.exit_code is None else str(c.exit_code)
                out.append(
                    f"  container {c.name}: exit code {code}"
                    + (f", {c.reason}" if c.reason else "")
                )
        if self.log_stream:
            out.append(f"last log lines of {self.log_stream}:")
            out.extend(f"  | {line}" for line in self.log_lines or ["(empty)"])
        for tg in self.targets:
            if tg.state != "healthy":
                why = ", ".join(x for x in (tg.reason, tg.description) if x)
                out.append(f"target {tg.target}: {tg.state}" + (f" ({why})" if why else ""))
        out.extend(f"could not read {e}" for e in self.errors)
        return out or ["no stopped tasks, logs or unhealthy targets found"]


def _task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def parse_stopped_task(task: Mapping[str, Any]) -> StoppedTask:
    """One described task as a StoppedTask."""
    return StoppedTask(
        task_id=_task_id(task.get("taskArn", "")),
        task_definition_arn=task.get("taskDefinitionArn", ""),
        stopped_reason=task.get("stoppedReason", ""),
        stop_code=task.get("stopCode", ""),
        containers=tuple(
            StoppedContainer(c.get("name", "?"), c.get("exitCode"), c.get("reason", ""))
            for c in task.get("containers") or []
        ),
    )


def diagnose(
    *,
    ecs: Any,
    logs: Any = None,
    elbv2: Any = None,
    cluster: str,
    service: str,
    container_name: str,
    log_group: str = "",
    target_group_arn: str = "",
    task_definition_arn: str | None = None,
    max_tasks: int = 5,
    log_lines: int = 20,
    log_prefix: str = "app",
) -> Diagnosis:
    """Collect stopped tasks (of ``task_definition_arn`` when given), the last log lines
    of the first failing container's stream ``<prefix>/<container>/<task-id>``, and the
    target group's unhealthy targets."""
    from botocore.exceptions import BotoCoreError, ClientError

    d = Diagnosis()
    try:
        arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED").get(
            "taskArns", []
        )
        if arns:
            tasks = ecs.describe_tasks(cluster=cluster, tasks=arns[:100]).get("tasks", [])
            if task_definition_arn:
                tasks = [t for t in tasks if t.get("taskDefinitionArn") == task_definition_arn]
            tasks.sort(
                key=lambda t: str(t.get("stoppedAt") or t.get("createdAt") or ""), reverse=True
            )
            d.stopped_tasks = [parse_stopped_task(t) for t in tasks[:max_tasks]]
    except (ClientError, BotoCoreError) as exc:
        d.errors.append(f"stopped tasks: {exc}")

    if logs is not None and log_group and d.stopped_tasks:
        failing = next(
            (
                t
                for t in d.stopped_tasks
                if any(
                    c.name == container_name and c.exit_code not in (0, None) for c in t.containers
                )
            ),
            d.stopped_tasks[0],
        )
        stream = f"{log_prefix}/{container_name}/{failing.task_id}"
        try:
            events = logs.get_log_events(
                logGroupName=log_group, logStreamName=stream, limit=log_lines, startFromHead=False
            ).get("events", [])
            d.log_stream = stream
            d.log_lines = [str(e.get("message", "")).rstrip("\n") for e in events][-log_lines:]
        except (ClientError, BotoCoreError) as exc:
            d.errors.append(f"log stream {stream}: {exc}")

    if elbv2 is not None and target_group_arn:
        try:
            th = elbv2.describe_target_health(TargetGroupArn=target_group_arn)
            d.targets = [
                TargetState(
                    f"{t['Target'].get('Id')}:{t['Target'].get('Port', '')}",
                    t.get("TargetHealth", {}).get("State", "?"),
                    t.get("TargetHealth", {}).get("Reason", ""),
                    t.get("TargetHealth", {}).get("Description", ""),
                )
                for t in th.get("TargetHealthDescriptions", [])
            ]
        except (ClientError, BotoCoreError) as exc:
            d.errors.append(f"target health: {exc}")
    return d
