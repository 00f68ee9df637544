"""THE poller: one thread following every deployment in flight, for a release of one
client or of a fleet, at a pace AWS accepts.

Each round makes one ``describe_services`` call per batch (same group, ECS client and
cluster, at most 10 services), judges every deployment with the pure
``cosydeploy.ecs.watch.evaluate``, reads target health only once a rollout says
COMPLETED, backs off from ``initial_interval`` to ``max_interval``, never sleeps past
the nearest deadline, and starts a fresh round soon after a new deployment joins.
A release thread calls ``watch`` and blocks until its deployment's verdict.

Pace. ECS throttles every account per region with token buckets; for the service read
actions (``DescribeServices``, ``ListServices``) the documented sustained rate is 20
requests a second, and the burst the page gives for its read-action example
(``DescribeClusters``) is 50. ELB's ``Describe*`` actions refill at 10 a second from a
bucket of 40. (Amazon ECS Developer Guide, "Request throttling for the Amazon ECS
API"; Elastic Load Balancing User Guide, "Request throttling for the ELB API".) Every
call the poller makes (``describe_services``, and ``describe_target_health`` once a
rollout completed) first takes a token from the bucket of its account and region: a
bucket of ``POLL_BURST`` (5) tokens refilled at ``POLL_RATE`` (5) a second, shared by
every poller of the process, and by every other ECS and ELB read of a release (its
sessions take from it: ``AwsSession.pace_reads``). So a run makes at most 10 reads in
any second and 5 a second over time in one account, whatever the fleet: half of ECS's
sustained rate in the worst second and a quarter over time, leaving the rest to
``update_service``, other runs (CI shards) and people; and never more than ELB's
refill rate.

Throttles. A throttle that outlives the SDK's (adaptive) retries is never a verdict:
that account and region backs off (``2**n`` times ``max_interval`` with jitter, at
most ``THROTTLE_MAX_INTERVAL``) and is polled again, until the deployment's own
deadline. Only what ECS reports decides success or failure; a deadline that passes
while AWS throttles the polls is a timeout that says so ("timed out while AWS
throttled us"), rolled back like any timeout.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cosydeploy.adapters.aws import read_paced, throttle_code
from cosydeploy.ecs.watch import (
    MAX_SERVICES_PER_CALL,
    Phase,
    Verdict,
    Watch,
    _ts,
    evaluate,
    new_events,
)

OnUpdate = Callable[[Watch], None]
OnEvents = Callable[[Watch, list[dict[str, Any]]], None]

# The poller's share of an account/region's ECS describe rate (see the module's text).
POLL_RATE = 5.0  # tokens added a second
POLL_BURST = 5.0  # tokens the bucket holds
# The longest a wait goes without looking for a Ctrl-C: an interruptible wait for a
# token, and the main thread's wait on a fleet's runs (release/fleet.py).
WAIT_SLICE = 0.25
# How many token grants a bucket remembers (what a run's pace is counted from).
GRANTS_KEPT = 200_000
# The longest pause between two polls of an account/region that AWS throttles.
THROTTLE_MAX_INTERVAL = 30.0


# Set by a run's Ctrl-C: its release threads waiting for a token stop waiting.
_WAITS_INTERRUPTED = threading.Event()


def interrupt_waits() -> None:
    """Ctrl-C: every interruptible wait for a token raises KeyboardInterrupt, now or as
    it begins, until ``allow_waits``."""
    _WAITS_INTERRUPTED.set()


def allow_waits() -> None:
    """A run begins: waits for tokens wait again."""
    _WAITS_INTERRUPTED.clear()


class TokenBucket:
    """A token bucket: ``capacity`` tokens, refilled at ``rate`` a second. ``take``
    blocks until a token is there, so the takers together make at most ``capacity +
    rate * t`` calls in any window of ``t`` seconds. Thread-safe.

    Two lanes: a ``priority`` taker (the poller, whose one look a round decides the
    verdicts of every deployment in flight) gets the next token before any other taker
    waiting; the others (a release's checks, bakes, shifts, fifty at a time in a fleet)
    share what is left. With one lane the poller, one call at a time, would wait behind
    every release thread's read each time: 1 token in 51 with 50 releases reading, and
    the deployments waiting on it would near their deadlines for want of a look."""

    def __init__(
        self,
        rate: float = POLL_RATE,
        capacity: float = POLL_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs rate > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self.clock = clock
        self.sleep = sleep
        self._tokens = capacity
        self._at = clock()
        self._cond = threading.Condition()
        self._waiting = [0, 0]  # takers waiting: priority, others
        self._grants: deque[float] = deque(maxlen=GRANTS_KEPT)  # when each token was taken
        self._throttles: deque[float] = deque(maxlen=GRANTS_KEPT)  # when AWS refused one

    @property
    def peak_per_second(self) -> float:
        """The most calls the takers can make in any one second."""
        return self.capacity + self.rate

    def take(self, *, interruptible: bool = False, priority: bool = False) -> float:
        """Take one token, waiting for it when the bucket is empty; the wait, in seconds.
        ``priority``: before every other taker waiting. ``interruptible`` (a release's
        thread): a Ctrl-C of the run (``interrupt_waits``) ends the wait with
        KeyboardInterrupt within ``WAIT_SLICE`` instead of letting it run its course."""
        lane = 0 if priority else 1
        real = self.sleep is time.sleep
        with self._cond:
            start = self.clock()
            self._waiting[lane] += 1
        try:
            while True:
                with self._cond:
                    now = self.clock()
                    self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
                    self._at = now
                    # (A hair under one token counts: a clock's rounding is not a wait.)
                    if self._tokens > 1.0 - 1e-9 and (priority or not self._waiting[0]):
                        self._tokens -= 1.0
                        self._grants.append(now)
                        return now - start
                    # Until the next token (a taker behind the priority lane: one token on).
                    wait = max(1.0 - self._tokens, 0.0 if self._tokens < 1.0 else 1.0) / self.rate
                    wait = max(wait, 1e-6)
                    if real:
                        self._cond.wait(min(wait, WAIT_SLICE) if interruptible else wait)
                if not real:
                    self.sleep(wait)
                if interruptible and _WAITS_INTERRUPTED.is_set():
                    raise KeyboardInterrupt
        finally:
            with self._cond:
                self._waiting[lane] -= 1
                self._cond.notify_all()

    def grants_since(self, start: float) -> list[float]:
        """When each token taken at or after ``start`` (this bucket's clock) was taken."""
        with self._cond:
            return [t for t in self._grants if t >= start]

    def throttled(self) -> None:
        """AWS refused one attempt of a call in this account/region for its rate (the
        SDK retries it): counted, so a run can say what its pace met."""
        with self._cond:
            self._throttles.append(self.clock())

    def throttled_since(self, start: float) -> int:
        with self._cond:
            return sum(1 for t in self._throttles if t >= start)


def busiest_second(times: Iterable[float]) -> int:
    """The most of ``times`` in any window of one second."""
    ordered = sorted(times)
    best, first = 0, 0
    for i, t in enumerate(ordered):
        while ordered[first] <= t - 1.0:
            first += 1
        best = max(best, i - first + 1)
    return best


class Buckets:
    """One token bucket per account and region (a watch's ``group``), made on first use."""

    def __init__(
        self,
        rate: float = POLL_RATE,
        capacity: float = POLL_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.capacity, self.clock, self.sleep = rate, capacity, clock, sleep
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def __call__(self, group: str) -> TokenBucket:
        with self._lock:
            if group not in self._buckets:
                self._buckets[group] = TokenBucket(
                    self.rate, self.capacity, clock=self.clock, sleep=self.sleep
                )
            return self._buckets[group]

    def groups(self) -> list[str]:
        with self._lock:
            return sorted(self._buckets)


# Every poller of the process shares these: one bucket per account and region.
PROCESS_BUCKETS = Buckets()
_AT_RATE: dict[float, Buckets] = {POLL_RATE: PROCESS_BUCKETS}
_AT_RATE_LOCK = threading.Lock()


def buckets_at(rate: float) -> Buckets:
    """The process's buckets refilled at ``rate`` a second (as many in burst), shared by
    every poller asking for that rate (``release.ecs_reads_per_second``)."""
    with _AT_RATE_LOCK:
        if rate not in _AT_RATE:
            _AT_RATE[rate] = Buckets(rate, max(1.0, rate))
        return _AT_RATE[rate]


@dataclass
class _Entry:
    watch: Watch
    on_update: OnUpdate | None
    on_events: OnEvents | None
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    cancelled: bool = False
    joined_at: float = 0.0
    throttled: int = 0  # polls of this deployment AWS refused (after the SDK's retries)
    throttle_code: str = ""  # the code of the last refusal; "" once a poll got through


@dataclass
class _Account:
    """What the poller knows of one account/region: its calls and its backoff."""

    calls: int = 0
    throttled: int = 0
    peak_per_second: int = 0
    recent: deque[float] = field(default_factory=deque)  # call times of the last second
    watched_seconds: float = 0.0  # summed over the deployments followed to their end
    clients: set[str] = field(default_factory=set)
    # Reads made beside the poller's own (bakes, traffic shifts): client -> first, last.
    paced: dict[str, tuple[float, float]] = field(default_factory=dict)
    backoff_level: int = 0
    hold_until: float = 0.0  # no poll of this account/region before (clock time)


class Poller:
    """Follow deployments to their verdicts with batched, backed-off, rate-limited polling.

    ``sleep`` is for tests with a fake clock; by default the poller waits on its own
    condition, so a deployment that joins wakes it at once. ``buckets`` gives the token
    bucket of an account/region (the process-wide ones by default); ``rng`` the jitter.
    """

    def __init__(
        self,
        *,
        initial_interval: float = 1.0,
        max_interval: float = 3.0,
        backoff: float = 1.5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
        buckets: Buckets | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.initial_interval = initial_interval
        self.max_interval = max_interval
        self.backoff = backoff
        self.clock = clock
        self._sleep = sleep
        self.buckets = buckets or PROCESS_BUCKETS
        self._rng = rng or random.Random()
        self._cond = threading.Condition()
        self._entries: dict[int, _Entry] = {}
        self._joined = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.describe_calls = 0
        # Per round: {"group|cluster": describe_services calls}.
        self.rounds: list[dict[str, int]] = []
        self._accounts: dict[str, _Account] = {}
        self._stats_lock = threading.Lock()

    # ------------------------------------------------------------------ public

    def watch(
        self,
        watch: Watch,
        *,
        on_update: OnUpdate | None = None,
        on_events: OnEvents | None = None,
    ) -> Verdict:
        """Follow ``watch`` to its verdict (blocks this thread). KeyboardInterrupt when
        the poller is cancelled; a polling error is raised here, in the waiting thread
        (a throttle never is: it is waited out until the deadline)."""
        (entry,) = self._join([_Entry(watch, on_update, on_events)])
        try:
            while not entry.done.wait(0.25):
                pass
        finally:
            self._leave([entry])
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
        self._leave(entries)
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

    def pace(self, group: str, key: str) -> Callable[[], float]:
        """The taker for reads made beside the poller's own in ``group`` (a bake's, a
        traffic shift's, for client/env ``key``): a token from that account/region's
        bucket, then the read is counted with the poller's, and the time between the
        client's first and last such read counts as watched. Returns the wait."""

        def take() -> float:
            waited = self.buckets(group).take(interruptible=True)
            self._count(group, key)
            read_paced()
            return waited

        return take

    def stats(self) -> dict[str, dict[str, float]]:
        """The reads of this poller per account/region (``"account|region"``), its own
        and those taken through ``pace``: ``calls``, ``throttled`` (refused after the
        SDK's retries), ``peak_per_second`` (the most calls in any one-second window),
        ``clients`` (client/envs read), ``client_minutes`` (minutes of rollout watched
        and of paced reading, summed over them) and ``calls_per_client_per_minute``; and
        ``limit_per_second``, the bucket's bound."""
        now = self.clock()
        with self._cond:
            live = [e for e in self._entries.values() if not e.done.is_set()]
        out: dict[str, dict[str, float]] = {}
        with self._stats_lock:
            for group, a in self._accounts.items():
                watched = (
                    a.watched_seconds
                    + sum(max(0.0, now - e.joined_at) for e in live if e.watch.group == group)
                    + sum(last - first for first, last in a.paced.values())
                )
                minutes = watched / 60.0
                out[group] = {
                    "calls": float(a.calls),
                    "throttled": float(a.throttled),
                    "peak_per_second": float(a.peak_per_second),
                    "clients": float(len(a.clients)),
                    "client_minutes": minutes,
                    "calls_per_client_per_minute": a.calls / minutes if minutes else 0.0,
                    "limit_per_second": self.buckets(group).peak_per_second,
                }
        return out

    # ------------------------------------------------------------------ the loop

    def _join(self, entries: list[_Entry]) -> list[_Entry]:
        now = self.clock()
        with self._cond:
            if self._closed:
                raise RuntimeError("the poller is closed")
            for entry in entries:
                entry.joined_at = now
                self._entries[id(entry.watch)] = entry
            self._joined = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="cosydeploy-poller", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        with self._stats_lock:
            for entry in entries:
                self._account(entry.watch.group).clients.add(entry.watch.key)
        return entries

    def _leave(self, entries: list[_Entry]) -> None:
        now = self.clock()
        with self._cond:
            for e in entries:
                self._entries.pop(id(e.watch), None)
        with self._stats_lock:
            for e in entries:
                self._account(e.watch.group).watched_seconds += max(0.0, now - e.joined_at)

    def _account(self, group: str) -> _Account:
        if group not in self._accounts:
            self._accounts[group] = _Account()
        return self._accounts[group]

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
            started = self.clock()  # rounds start ``interval`` apart, however long one takes
            by_watch = {id(e.watch): e for e in entries}
            calls: dict[str, int] = {}
            refused: set[str] = set()  # account/regions throttled this round
            for batch in self._batches([e.watch for e in entries]):
                group = batch[0].group
                if not self._due(group, batch, refused):
                    continue
                key = f"{group}|{batch[0].cluster}"
                calls[key] = calls.get(key, 0) + 1
                try:
                    if self._poll_batch(batch, by_watch):
                        refused.add(group)
                except Exception as exc:  # delivered to the releases that wait on it
                    for w in batch:
                        by_watch[id(w)].error = exc
                        by_watch[id(w)].done.set()
            self.rounds.append(calls)
            for e in entries:
                if e.watch.verdict.phase.done:
                    e.done.set()
            pending = [e.watch for e in entries if not e.done.is_set()]
            with self._cond:
                if pending and not self._joined and not self._closed:
                    now = self.clock()
                    # Never sleep past the deadline: the poll at the deadline decides TIMED_OUT.
                    wake = min(
                        min(w.deadline for w in pending),
                        min(max(started + interval, self._held(w.group)) for w in pending),
                    )
                    self._pause(max(0.0, wake - now))
            interval = min(self.max_interval, interval * self.backoff)

    def _held(self, group: str) -> float:
        with self._stats_lock:
            return self._account(group).hold_until

    def _due(self, group: str, batch: list[Watch], refused: set[str]) -> bool:
        """Poll this batch now? Not while its account/region backs off from a throttle
        (this round or an earlier one), unless a deadline in it has come."""
        now = self.clock()
        if any(w.deadline <= now for w in batch):
            return True
        return group not in refused and self._held(group) <= now

    def _call(self, group: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """One AWS call of the poller: a token from its account/region's bucket first;
        counted, with the most calls seen in any one second."""
        self.buckets(group).take(priority=True)
        self._count(group)
        read_paced()
        return fn(**kwargs)

    def _count(self, group: str, key: str = "") -> None:
        """Count one read in ``group`` (now), with the most seen in any one second."""
        now = self.clock()
        with self._stats_lock:
            a = self._account(group)
            if key:
                a.clients.add(key)
                a.paced[key] = (a.paced.get(key, (now, now))[0], now)
            a.calls += 1
            a.recent.append(now)
            while a.recent and a.recent[0] <= now - 1.0:
                a.recent.popleft()
            a.peak_per_second = max(a.peak_per_second, len(a.recent))

    def _throttled(
        self, group: str, watches: list[Watch], by_watch: Mapping[int, _Entry], code: str
    ) -> None:
        """AWS refused a poll: back this account/region off, and time out (saying why)
        the deployments whose deadline came while it did."""
        now = self.clock()
        with self._stats_lock:
            a = self._account(group)
            a.throttled += 1
            a.backoff_level += 1
            pause = min(THROTTLE_MAX_INTERVAL, self.max_interval * 2**a.backoff_level)
            a.hold_until = now + pause * self._rng.uniform(0.5, 1.0)
        for w in watches:
            e = by_watch.get(id(w))
            if e is not None:
                e.throttled += 1
                e.throttle_code = code
            if now >= w.deadline:
                refused = e.throttled if e is not None else 1
                w.verdict = replace(
                    w.verdict,
                    phase=Phase.TIMED_OUT,
                    reason=f"timed out while AWS throttled us ({code}; {refused} poll(s) "
                    "refused): the deployment's state at the deadline is not known",
                    needs_target_health=False,
                )
                if e is not None and e.on_update:
                    e.on_update(w)

    def _got_through(self, group: str) -> None:
        with self._stats_lock:
            a = self._account(group)
            a.backoff_level, a.hold_until = 0, 0.0

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

    def _poll_batch(self, batch: list[Watch], by_watch: Mapping[int, _Entry]) -> bool:
        """One describe_services call for one batch (same group, client and cluster).
        True when AWS throttled it (or a target health read of it)."""
        first = batch[0]
        names = list(dict.fromkeys(w.service for w in batch))
        self.describe_calls += 1
        try:
            resp = self._call(
                first.group, first.ecs.describe_services, cluster=first.cluster, services=names
            )
        except Exception as exc:
            code = throttle_code(exc)
            if not code:
                raise
            self._throttled(first.group, batch, by_watch, code)
            return True
        self._got_through(first.group)
        by_name: dict[str, Mapping[str, Any]] = {}
        for s in resp.get("services") or []:
            by_name[s.get("serviceName", "")] = s
            by_name[s.get("serviceArn", "")] = s
        throttled = False
        for w in batch:
            throttled |= self._judge(w, by_name.get(w.service), by_watch.get(id(w)))
        return throttled

    def _judge(self, w: Watch, service: Mapping[str, Any] | None, e: _Entry | None) -> bool:
        """Judge one deployment from its snapshot; True when its target health read was
        throttled (its verdict then waits for the next poll)."""
        now = self.clock()
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
        w.last_service, w.last_targets = service, None
        if verdict.needs_target_health:
            # Target health costs a call: read it only once the rollout says COMPLETED.
            try:
                th = self._call(
                    w.group, w.elbv2.describe_target_health, TargetGroupArn=w.target_group_arn
                )
            except Exception as exc:
                code = throttle_code(exc)
                if not code:
                    raise
                self._throttled(w.group, [w], {id(w): e} if e is not None else {}, code)
                return True
            w.last_targets = th.get("TargetHealthDescriptions", [])
            verdict = evaluate(service, w.deployment_id, target_health=w.last_targets, **kwargs)
        if e is not None:
            e.throttle_code = ""
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
        return False
