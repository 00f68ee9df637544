"""THE poller: one thread following every deployment in flight, for a release of one
client or of a fleet.

Each round makes one ``describe_services`` call per batch (same group, ECS client and
cluster, at most 10 services), judges every deployment with the pure
``cosydeploy.ecs.watch.evaluate``, reads target health only once a rollout says
COMPLETED, backs off from ``initial_interval`` to ``max_interval``, never sleeps past
the nearest deadline, and starts a fresh round soon after a new deployment joins.
A release thread calls ``watch`` and blocks until its deployment's verdict.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cosydeploy.ecs.watch import (
    MAX_SERVICES_PER_CALL,
    Verdict,
    Watch,
    _ts,
    evaluate,
    new_events,
)

OnUpdate = Callable[[Watch], None]
OnEvents = Callable[[Watch, list[dict[str, Any]]], None]


@dataclass
class _Entry:
    watch: Watch
    on_update: OnUpdate | None
    on_events: OnEvents | None
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    cancelled: bool = False


class Poller:
    """Follow deployments to their verdicts with batched, backed-off polling.

    ``sleep`` is for tests with a fake clock; by default the poller waits on its own
    condition, so a deployment that joins wakes it at once.
    """

    def __init__(
        self,
        *,
        initial_interval: float = 1.0,
        max_interval: float = 3.0,
        backoff: float = 1.5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.initial_interval = initial_interval
        self.max_interval = max_interval
        self.backoff = backoff
        self.clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._entries: dict[int, _Entry] = {}
        self._joined = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.describe_calls = 0
        # Per round: {"group|cluster": describe_services calls}.
        self.rounds: list[dict[str, int]] = []

    # ------------------------------------------------------------------ public

    def watch(
        self,
        watch: Watch,
        *,
        on_update: OnUpdate | None = None,
        on_events: OnEvents | None = None,
    ) -> Verdict:
        """Follow ``watch`` to its verdict (blocks this thread). KeyboardInterrupt when
        the poller is cancelled; a polling error is raised here, in the waiting thread."""
        (entry,) = self._join([_Entry(watch, on_update, on_events)])
        try:
            while not entry.done.wait(0.25):
                pass
        finally:
            with self._cond:
                self._entries.pop(id(watch), None)
        if entry.cancelled:
            raise KeyboardInterrupt
        if entry.error is not None:
            raise entry.error
        return watch.verdict

    def follow(self, watches: Iterable[Watch]) -> dict[str, Verdict]:
        """Follow several deployments together; ``{key: verdict}`` once all are done."""
        entries = self._join([_Entry(w, None, None) for w in watches])
        for e in entries:
            e.done.wait()
        with self._cond:
            for e in entries:
                self._entries.pop(id(e.watch), None)
        for e in entries:
            if e.error is not None:
                raise e.error
        return {e.watch.key: e.watch.verdict for e in entries}

    def cancel(self) -> None:
        """Wake every waiter with KeyboardInterrupt (their releases record interrupted)."""
        with self._cond:
            for e in self._entries.values():
                e.cancelled = True
                e.done.set()
            self._cond.notify_all()

    def close(self) -> None:
        """Stop the poller thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def calls_per_round(self) -> dict[str, float]:
        """Average describe_services calls per round: overall, and per cluster."""
        rounds = [r for r in self.rounds if r]
        if not rounds:
            return {"per_round": 0.0, "per_round_per_cluster": 0.0}
        per_cluster = [n for r in rounds for n in r.values()]
        return {
            "per_round": sum(sum(r.values()) for r in rounds) / len(rounds),
            "per_round_per_cluster": sum(per_cluster) / len(per_cluster),
            "rounds": float(len(rounds)),
        }

    # ------------------------------------------------------------------ the loop

    def _join(self, entries: list[_Entry]) -> list[_Entry]:
        with self._cond:
            if self._closed:
                raise RuntimeError("the poller is closed")
            for entry in entries:
                self._entries[id(entry.watch)] = entry
            self._joined = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="cosydeploy-poller", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        return entries

    def _pause(self, timeout: float) -> None:
        """Wait up to ``timeout`` (called with the condition held)."""
        if self._sleep is None:
            self._cond.wait(timeout=timeout)
        elif timeout > 0:
            self._cond.release()
            try:
                self._sleep(timeout)
            finally:
                self._cond.acquire()

    def _loop(self) -> None:
        interval = self.initial_interval
        while True:
            with self._cond:
                while not self._closed and not any(
                    not e.done.is_set() for e in self._entries.values()
                ):
                    self._cond.wait()
                if self._closed:
                    return
                if self._joined:
                    interval, self._joined = self.initial_interval, False
                entries = [e for e in self._entries.values() if not e.done.is_set()]
            calls: dict[str, int] = {}
            for batch in self._batches([e.watch for e in entries]):
                key = f"{batch[0].group}|{batch[0].cluster}"
                calls[key] = calls.get(key, 0) + 1
                try:
                    self._poll_batch(batch, entries)
                except Exception as exc:  # delivered to the releases that wait on it
                    for e in entries:
                        if e.watch in batch:
                            e.error = exc
                            e.done.set()
            self.rounds.append(calls)
            for e in entries:
                if e.watch.verdict.phase.done:
                    e.done.set()
            pending = [e.watch for e in entries if not e.done.is_set()]
            with self._cond:
                if pending and not self._joined and not self._closed:
                    nearest = min(w.deadline for w in pending)
                    # Never sleep past the deadline: the poll at the deadline decides TIMED_OUT.
                    self._pause(max(0.0, min(interval, nearest - self.clock())))
            interval = min(self.max_interval, interval * self.backoff)

    @staticmethod
    def _batches(pending: list[Watch]) -> list[list[Watch]]:
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

    def _poll_batch(self, batch: list[Watch], entries: list[_Entry]) -> None:
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
        callbacks = {id(e.watch): e for e in entries}
        for w in batch:
            self._judge(w, by_name.get(w.service), now, callbacks.get(id(w)))

    @staticmethod
    def _judge(w: Watch, service: Mapping[str, Any] | None, now: float, e: _Entry | None) -> None:
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
                ev
                for ev in service.get("events") or []
                if w.ignore_events_before is None
                or _ts(ev.get("createdAt")) >= w.ignore_events_before
            ]
            fresh = new_events(events, w.seen_events)
            if fresh and e is not None and e.on_events:
                e.on_events(w, fresh)
        if e is not None and e.on_update:
            e.on_update(w)
