"""The bake: after a release verified, keep watching it for a while before calling it good.

A rollout that completed and answered its health path can still fall over a minute
later (a crash on the first real request, a leak, a dependency that times out). For the
bake time the release keeps looking, and any of these ends the bake as failed:

- ECS: our deployment no longer the only, PRIMARY, COMPLETED one; fewer tasks running
  than when the bake began (and not because the desired count went down); service
  events of tasks replaced, stopped or failing health checks;
- the load balancer: a target of the service unhealthy;
- the app: the health path failing, or ``/version`` answering another version, twice
  in a row;
- CloudWatch: one of the configured alarms in ALARM.

The judges are pure functions of what was read (table-tested); ``Bake.run`` reads,
judges and waits. Its AWS calls per minute stay at a rolling watch's: one
``describe_services`` per tick, and every other tick one more call, target health and
alarms in turn; the first and the last tick read everything. The health path and
``/version`` are plain HTTP and read every tick.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cosydeploy import events as ev
from cosydeploy.ecs.watch import _ts
from cosydeploy.release.verify import Get, http_get

# How many answers in a row from the app count as failing (one lost request is not).
HTTP_STRIKES = 2
MAX_ALARMS_PER_CALL = 100

_STARTED = re.compile(r"has started (\d+) tasks?")
_STOPPED = re.compile(r"has stopped (\d+) running tasks?")
_UNHEALTHY = re.compile(r"failed (ELB|container) health checks|is unhealthy|unable to place")


@dataclass(frozen=True)
class Signal:
    """What was seen that ends a bake: ``kind`` (deployment, task_stopped, targets,
    health, version, alarm) and a sentence for people and the ledger."""

    kind: str
    text: str


@dataclass(frozen=True)
class Baseline:
    """The service as the bake began: our deployment, its tasks, the desired count."""

    deployment_id: str | None
    task_definition_arn: str
    running: int
    desired: int
    since: float  # service events from this time on are judged


def _ours(service: Mapping[str, Any], base: Baseline) -> Mapping[str, Any] | None:
    for d in service.get("deployments") or []:
        if base.deployment_id and d.get("id") == base.deployment_id:
            return d
        if not base.deployment_id and d.get("taskDefinition") == base.task_definition_arn:
            return d
    return None


def _rev(arn: str) -> str:
    return arn.rsplit("/", 1)[-1] if arn else "?"


def judge_service(service: Mapping[str, Any] | None, base: Baseline) -> Signal | None:
    """Our deployment still the only PRIMARY and COMPLETED one, with as many tasks
    running as when the bake began (unless the desired count went down)."""
    if service is None or service.get("status") not in (None, "ACTIVE"):
        return Signal("deployment", "the service is gone")
    ours = _ours(service, base)
    others = [d for d in service.get("deployments") or [] if d is not ours]
    if ours is None or ours.get("status") != "PRIMARY":
        newer = next((d for d in others if d.get("status") == "PRIMARY"), None)
        by = f" by {newer.get('id')} ({_rev(newer.get('taskDefinition', ''))})" if newer else ""
        return Signal("deployment", f"deployment {base.deployment_id or '?'} was replaced{by}")
    if ours.get("rolloutState") == "FAILED":
        why = ours.get("rolloutStateReason") or "rollout failed"
        return Signal("deployment", f"deployment {ours.get('id')} failed: {why}")
    if others:
        o = others[0]
        return Signal(
            "deployment",
            f"another deployment appeared: {o.get('id')} ({_rev(o.get('taskDefinition', ''))}, "
            f"{o.get('status')})",
        )
    running, desired = int(ours.get("runningCount", 0)), int(ours.get("desiredCount", 0))
    if running < min(desired, base.running):
        return Signal(
            "task_stopped",
            f"a task of {_rev(base.task_definition_arn)} stopped: {running}/{desired} running "
            f"(was {base.running})",
        )
    return None


def judge_events(
    events: Sequence[Mapping[str, Any]], base: Baseline, desired_now: int
) -> Signal | None:
    """Service events since the bake began: tasks failing health checks; tasks started
    or stopped while the desired count did not move that way (a task replaced)."""
    for e in sorted(events, key=lambda e: _ts(e.get("createdAt"))):
        if _ts(e.get("createdAt")) < base.since:
            continue
        message = str(e.get("message", ""))
        if _UNHEALTHY.search(message):
            return Signal("task_stopped", f"ECS: {message}")
        started = _STARTED.search(message)
        if started and desired_now <= base.desired:
            return Signal("task_stopped", f"ECS replaced a task: {message}")
        stopped = _STOPPED.search(message)
        if stopped and desired_now >= base.desired:
            return Signal("task_stopped", f"ECS stopped a task: {message}")
    return None


def judge_targets(target_health: Sequence[Mapping[str, Any]]) -> Signal | None:
    """A target of the service unhealthy (draining ones are leaving; new ones are
    ``initial`` and judged by the events that started them)."""
    bad = [t for t in target_health if t.get("TargetHealth", {}).get("State") == "unhealthy"]
    if not bad:
        return None
    first = bad[0]
    target = first.get("Target", {})
    where = f"{target.get('Id', '?')}:{target.get('Port', '?')}"
    reason = first.get("TargetHealth", {}).get("Reason") or ""
    return Signal(
        "targets",
        f"{len(bad)} target(s) unhealthy (first {where}{', ' + reason if reason else ''})",
    )


def judge_alarms(alarms: Sequence[Mapping[str, Any]]) -> Signal | None:
    """An alarm in ALARM (metric or composite)."""
    for a in alarms:
        if a.get("StateValue") == "ALARM":
            reason = str(a.get("StateReason") or "").strip()
            return Signal(
                "alarm",
                f"alarm {a.get('AlarmName')} is in ALARM" + (f": {reason[:200]}" if reason else ""),
            )
    return None


class Strikes:
    """Counts failing answers in a row; a passing one resets."""

    def __init__(self, needed: int = HTTP_STRIKES) -> None:
        self.needed = needed
        self.count = 0

    def add(self, failed: bool) -> bool:
        self.count = self.count + 1 if failed else 0
        return self.count >= self.needed


@dataclass
class BakeResult:
    """How a bake ended: ``signal`` None when it baked; the AWS calls it made by name."""

    seconds: float
    elapsed: float = 0.0
    ticks: int = 0
    signal: Signal | None = None
    calls: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    detected_at: float | None = None  # the clock when the signal was seen

    @property
    def ok(self) -> bool:
        return self.signal is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "elapsed": round(self.elapsed, 1),
            "ticks": self.ticks,
            "outcome": "baked" if self.ok else "failed",
            "seen": self.signal.text if self.signal else "",
            "kind": self.signal.kind if self.signal else "",
            "aws_calls": dict(self.calls),
        }


# ------------------------------------------------------------------ cancellation

_STOPS: weakref.WeakKeyDictionary[Any, threading.Event] = weakref.WeakKeyDictionary()
_STOPS_LOCK = threading.Lock()


def stop_event(owner: Any) -> threading.Event:
    """The event that ends every bake of ``owner``'s run (a fleet's poller) at once."""
    with _STOPS_LOCK:
        if owner not in _STOPS:
            _STOPS[owner] = threading.Event()
        return _STOPS[owner]


def cancel(owner: Any) -> None:
    """Ctrl-C: each bake of ``owner``'s run raises KeyboardInterrupt in its thread."""
    stop_event(owner).set()


# ------------------------------------------------------------------ the bake


@dataclass
class Bake:
    """Watch one released deployment for ``seconds``. ``alarms``: names to watch."""

    key: str
    seconds: float
    ecs: Any
    cluster: str
    service: str
    deployment_id: str | None
    task_definition_arn: str
    health_url: str = ""
    version_url: str = ""
    version: str = ""
    elbv2: Any = None
    target_group_arn: str = ""
    cloudwatch: Any = None
    alarms: tuple[str, ...] = ()
    interval: float = 4.5
    since: float = 0.0
    emit: ev.Sink = ev.ignore
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    stop: threading.Event | None = None
    get: Get = http_get
    # Takes a token of the account/region's bucket before each ECS or ELB read (the
    # poller's own, so a fleet's bakes and watches together keep under AWS's rate).
    pace: Callable[[], Any] | None = None
    # What the rollout's watch read last as it judged the rollout done (the service, its
    # target health): the first look of the bake instead of reading both again.
    first: tuple[Mapping[str, Any] | None, list[dict[str, Any]] | None] | None = None

    def run(self) -> BakeResult:
        """Watch until the bake time is over (ok) or something is seen (failed)."""
        result = BakeResult(self.seconds)
        start = self.clock()
        end = start + self.seconds
        base: Baseline | None = None
        health, version = Strikes(), Strikes()
        missing_said = False
        extras = [x for x in ("targets", "alarms") if self._has(x)]
        while True:
            now = self.clock()
            last = now >= end
            tick = result.ticks
            result.ticks += 1
            given = self.first if tick == 0 else None
            service = given[0] if given is not None else self._describe(result)
            if base is None:
                base = self._baseline(service, now)
            signal = judge_service(service, base)
            if signal is None and service is not None:
                desired_now = int(service.get("desiredCount") or 0)
                signal = judge_events(service.get("events") or [], base, desired_now)
            # Every other tick one more call, in turn; the first and last read everything.
            due = (
                extras
                if (tick == 0 or last)
                else ([extras[(tick // 2) % len(extras)]] if extras and tick % 2 == 0 else [])
            )
            if signal is None and "targets" in due:
                seen = given[1] if given is not None else None
                signal = judge_targets(self._targets(result) if seen is None else seen)
            if signal is None and "alarms" in due:
                try:
                    found, missing = self._alarms(result)
                except Exception as exc:  # a role without cloudwatch:DescribeAlarms, ...
                    from botocore.exceptions import BotoCoreError, ClientError

                    if not isinstance(exc, BotoCoreError | ClientError):
                        raise
                    # The alarms are one signal of several: the bake goes on without them.
                    extras.remove("alarms")
                    found, missing = [], []
                    self._say(result, f"could not read the alarms, not watched: {exc}")
                if missing and not missing_said:
                    missing_said = True
                    self._say(result, f"alarm(s) not found, not watched: {', '.join(missing)}")
                signal = judge_alarms(found)
            if signal is None and self.health_url:
                code, body = self.get(self.health_url)
                if health.add(code != 200):
                    what = f"HTTP {code}" if code else (body or "no answer")
                    signal = Signal("health", f"{self.health_url} answered {what}")
            if signal is None and self.version_url and self.version:
                code, body = self.get(self.version_url)
                if version.add(code == 200 and body != self.version):
                    signal = Signal(
                        "version", f"{self.version_url} answered {body!r}, not {self.version!r}"
                    )
            result.elapsed = self.clock() - start
            if signal is not None:
                result.signal, result.detected_at = signal, self.clock()
                self.emit(ev.Baking(self.key, "failed", 0.0, self.seconds, signal.text))
                return result
            if last:
                self.emit(ev.Baking(self.key, "baked", 0.0, self.seconds, "nothing seen"))
                return result
            remaining = end - self.clock()
            self.emit(ev.Baking(self.key, "baking", max(0.0, remaining), self.seconds, ""))
            self._wait(max(0.0, min(self.interval, remaining)))

    def _say(self, result: BakeResult, note: str) -> None:
        result.notes.append(note)
        self.emit(ev.Warning(self.key, note))

    def _has(self, what: str) -> bool:
        if what == "targets":
            return bool(self.elbv2 is not None and self.target_group_arn)
        return bool(self.cloudwatch is not None and self.alarms)

    def _wait(self, seconds: float) -> None:
        if self.stop is None:
            self.sleep(seconds)
        elif self.stop.wait(seconds):
            raise KeyboardInterrupt
        if self.stop is not None and self.stop.is_set():
            raise KeyboardInterrupt

    def _count(self, result: BakeResult, name: str) -> None:
        result.calls[name] = result.calls.get(name, 0) + 1

    def _describe(self, result: BakeResult) -> Mapping[str, Any] | None:
        self._count(result, "ecs:DescribeServices")
        if self.pace is not None:
            self.pace()
        resp = self.ecs.describe_services(cluster=self.cluster, services=[self.service])
        services = resp.get("services") or []
        return services[0] if services else None

    def _baseline(self, service: Mapping[str, Any] | None, now: float) -> Baseline:
        ours = _ours(service or {}, Baseline(self.deployment_id, self.task_definition_arn, 0, 0, 0))
        running = int((ours or {}).get("runningCount", 0))
        desired = int((service or {}).get("desiredCount") or (ours or {}).get("desiredCount", 0))
        return Baseline(
            self.deployment_id or (ours or {}).get("id"),
            self.task_definition_arn,
            running,
            desired,
            self.since or now,
        )

    def _targets(self, result: BakeResult) -> list[dict[str, Any]]:
        self._count(result, "elasticloadbalancing:DescribeTargetHealth")
        if self.pace is not None:
            self.pace()
        resp = self.elbv2.describe_target_health(TargetGroupArn=self.target_group_arn)
        return resp.get("TargetHealthDescriptions", [])

    def _alarms(self, result: BakeResult) -> tuple[list[dict[str, Any]], list[str]]:
        found: list[dict[str, Any]] = []
        names = list(self.alarms)
        for i in range(0, len(names), MAX_ALARMS_PER_CALL):
            self._count(result, "cloudwatch:DescribeAlarms")
            resp = self.cloudwatch.describe_alarms(
                AlarmNames=names[i : i + MAX_ALARMS_PER_CALL],
                AlarmTypes=["MetricAlarm", "CompositeAlarm"],
            )
            found += resp.get("MetricAlarms", []) + resp.get("CompositeAlarms", [])
        seen = {a.get("AlarmName") for a in found}
        return found, [n for n in names if n not in seen]
