"""Runs over clients: waves, up to N clients at a time, one poller for every deployment.

A release to one client is a fleet of one: the same path, the same poller, the same
results and exit code.

    prepare every client (account guard, stack outputs, secrets, Terraform in step,
    drift) -> the image for each, before any wave -> wave by wave through
    ``pipeline.release_one`` (or ``rollback_one``) -> one ReleaseResult per client;
    the worst outcome is the exit code.

A failure in a wave stops the waves after it: clients already released stay released,
the failed one was rolled back by its own pipeline, later clients are ``skipped``.
With ``keep_going`` (a shard of the release workflow) no client stops another: one that
cannot be prepared gets its own outcome, the others go on, and so do later waves. A
``Skip`` raised while preparing passes a client over (``skipped``) and stops nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from typing import Any

from cosydeploy import events as ev
from cosydeploy import outcome as oc
from cosydeploy.adapters.aws import aws_fault
from cosydeploy.ecs.poller import (
    WAIT_SLICE,
    Poller,
    allow_waits,
    buckets_at,
    busiest_second,
    interrupt_waits,
)
from cosydeploy.errors import CosydeployError, LockHeldError
from cosydeploy.image import ResolvedImage
from cosydeploy.release import bake
from cosydeploy.release.model import (
    Pace,
    ReleaseOptions,
    ReleaseResult,
    ReleaseTarget,
    RunResult,
)


@dataclass
class Member:
    """One client/env ready to release: its target and what its preparation found."""

    client: str
    env: str
    target: ReleaseTarget
    image: ResolvedImage | None = None
    infra: str = ""
    warnings: list[str] = field(default_factory=list)
    config: Any = None  # the resolved ClientEnv


class Skip(Exception):
    """Raised by ``prepare``: this client is passed over (outcome skipped, the message
    says why); the run goes on without it."""


# What one member's run is: release_one(target, image, ...) or a rollback.
MemberRun = Callable[[Member, Poller], ReleaseResult]


def from_error(
    client: str, env: str, version: str, exc: BaseException, *, wave: int = 0, started: float = 0.0
) -> ReleaseResult:
    """The result of a client whose run raised instead of returning an outcome."""
    if isinstance(exc, KeyboardInterrupt):
        outcome, code, msg, hint = oc.INTERRUPTED, None, "interrupted", ""
    elif isinstance(exc, LockHeldError):
        outcome, code, msg, hint = oc.LOCKED, None, exc.message, exc.hint or ""
    elif isinstance(exc, CosydeployError) or _from_aws(exc):
        # An AWS fault reaching here came before anything was deployed (a release or a
        # rollback reports its own once a deployment may be in flight): translated.
        exc = aws_fault(exc, _aws_call(exc))
        outcome, code, msg, hint = oc.ERROR, exc.exit_code, exc.message, exc.hint or ""
    else:  # a bug or an unexpected AWS answer mid-release: a person must look
        outcome, code, msg, hint = (
            oc.FAILED,
            None,
            f"unexpected {type(exc).__name__}: {exc}",
            f"check cosydeploy status {client} --env {env}",
        )
    return ReleaseResult(
        client,
        env,
        version,
        outcome=outcome,
        message=msg,
        hint=hint,
        wave=wave,
        code=code,
        error=exc,
        elapsed=time.time() - started if started else 0.0,
    )


def _from_aws(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, BotoCoreError | ClientError)


def _aws_call(exc: BaseException) -> str:
    """The failed call's name as the error line gives it (e.g. "AWS GetSecretValue")."""
    op = getattr(exc, "operation_name", "")
    return f"AWS {op}" if op else "AWS"


def skipped(client: str, env: str, version: str, wave: int, why: str) -> ReleaseResult:
    return ReleaseResult(client, env, version, outcome=oc.SKIPPED, message=why, wave=wave)


def run_waves(
    waves: Sequence[Sequence[str]],
    *,
    env: str,
    version: str,
    prepare: Callable[[str], Member],
    run: MemberRun,
    image_for: Callable[[Member], ResolvedImage] | None = None,
    parallel: int = 4,
    options: ReleaseOptions | None = None,
    emit: ev.Sink = ev.ignore,
    poller: Poller | None = None,
    keep_going: bool = False,
) -> RunResult:
    """Run ``run(member, poller)`` for every client of ``waves``, wave by wave.

    ``prepare(client)`` builds a Member; every client is prepared before anything
    ships, and one that cannot be prepared stops the run (its outcome, the others
    skipped) unless ``keep_going``: then it keeps its outcome and the others go on, and
    a failed wave does not stop the later ones either. ``prepare`` raising ``Skip``
    passes that client over. ``image_for(member)`` gives the image by digest (built and
    pushed once, or a promoted digest); it is called for every client before the first
    wave.
    """
    options = options or ReleaseOptions()
    plan: list[list[str]] = [list(w) for w in waves if w]
    buckets = poller.buckets if poller is not None else buckets_at(options.reads_per_second)
    reads_from = buckets.clock()  # the run's reads are the tokens taken from now on
    allow_waits()
    clients = [c for w in plan for c in w]
    wave_of = {c: i + 1 for i, w in enumerate(plan) for c in w}
    parallel = max(1, int(parallel))

    # 1. Prepare every client (in parallel: AWS reads, maybe a Terraform plan).
    members: dict[str, Member] = {}
    failed: list[ReleaseResult] = []
    passed: list[ReleaseResult] = []  # passed over by a Skip
    started = time.time()
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="cosydeploy-prep") as ex:
        futures = {c: ex.submit(prepare, c) for c in clients}
        for c, fut in futures.items():
            try:
                members[c] = result_of(fut)
            except Skip as exc:
                passed.append(skipped(c, env, version, wave_of[c], str(exc)))
            except (Exception, KeyboardInterrupt) as exc:
                if isinstance(exc, KeyboardInterrupt):
                    interrupt_waits()  # the others waiting for a token give up too
                failed.append(from_error(c, env, version, exc, wave=wave_of[c], started=started))
    for m in members.values():
        for w in m.warnings:
            emit(ev.Warning(f"{m.client}/{m.env}", w))
    interrupted = any(r.outcome == oc.INTERRUPTED for r in failed)
    if failed and (interrupted or not keep_going):
        why = "not started: " + ", ".join(f"{r.client} could not be prepared" for r in failed)
        results = failed + passed + [skipped(c, env, version, wave_of[c], why) for c in members]
        results.sort(key=lambda r: clients.index(r.client))
        for r in results:
            emit(ev.ClientDone(r.key, r))
        return RunResult(results, plan)
    for r in failed + passed:  # keep_going, or clients passed over: the others go on
        emit(ev.ClientDone(r.key, r))
    early = failed + passed
    plan = [[c for c in w if c in members] for w in plan]

    # 2. The image, for everyone, before any wave (a refused promotion stops here).
    if image_for is not None:
        for c in members:
            members[c].image = image_for(members[c])

    # 3. Waves.
    own = poller is None
    shared = poller or Poller(
        initial_interval=options.poll_initial,
        max_interval=options.poll_max,
        buckets=buckets,
    )
    results = []
    stop_reason = ""
    try:
        for i, wave in enumerate(plan, start=1):
            if stop_reason:
                results += [skipped(c, env, version, i, stop_reason) for c in wave]
                continue
            if not wave:
                continue
            if len(plan) > 1:
                emit(ev.WaveStarted("", i, list(wave)))
            wave_results = _run_wave(wave, i, members, run, shared, emit, version, parallel)
            results += wave_results
            bad = [r for r in wave_results if r.outcome not in oc.GOOD]
            if bad and not keep_going:
                stop_reason = (
                    f"wave {i} failed ({', '.join(r.client for r in bad)}): later waves not started"
                )
    finally:
        pace = _pace(shared, reads_from)
        if own:
            shared.close()
    for r in results:
        if r.outcome == oc.SKIPPED:
            emit(ev.ClientDone(r.key, r))
    if early:
        results = sorted(results + early, key=lambda r: clients.index(r.client))
    return RunResult(results, [w for w in plan if w], pace)


def _pace(poller: Poller, start: float) -> list[Pace]:
    """What the run read in each account/region since ``start`` (its buckets' clock)."""
    buckets, stats = poller.buckets, poller.stats()
    minutes = (buckets.clock() - start) / 60.0
    out = []
    for group in buckets.groups():
        grants = buckets(group).grants_since(start)
        if not grants:
            continue
        st = stats.get(group, {})
        account, _, region = group.partition("|")
        out.append(
            Pace(
                account,
                region,
                len(grants),
                int(st.get("clients", 0)),
                minutes,
                busiest_second(grants),
                buckets(group).peak_per_second,
                int(st.get("throttled", 0)),
                buckets(group).throttled_since(start),
            )
        )
    return out


def result_of(fut: Any) -> Any:
    """``fut.result()``, waited for in short slices: a Ctrl-C the kernel handed to another
    thread (any thread may take a process's SIGINT) is raised here within a slice, not
    only once the release behind ``fut`` has ended."""
    while True:
        try:
            return fut.result(timeout=WAIT_SLICE)
        except FuturesTimeout:
            continue


def _run_wave(
    wave: list[str],
    index: int,
    members: Mapping[str, Member],
    run: MemberRun,
    poller: Poller,
    emit: ev.Sink,
    version: str,
    parallel: int,
) -> list[ReleaseResult]:
    guard = threading.Lock()
    running: set[str] = set()  # clients whose run has started and not ended
    stopping: list[bool] = []  # set once the run is interrupted: no run starts after

    def one(client: str) -> ReleaseResult:
        m = members[client]
        started = time.time()
        with guard:
            if stopping:
                return from_error(client, m.env, version, KeyboardInterrupt(), wave=index)
            running.add(client)
        try:
            r = run(m, poller)
        except (Exception, KeyboardInterrupt) as exc:
            r = from_error(client, m.env, version, exc, wave=index, started=started)
        finally:
            with guard:
                running.discard(client)
        r.wave, r.infra, r.warnings = index, m.infra, [*m.warnings, *r.warnings]
        emit(ev.ClientDone(r.key, r))
        return r

    out: dict[str, ReleaseResult] = {}
    ex = ThreadPoolExecutor(
        max_workers=min(parallel, len(wave)), thread_name_prefix=f"cosydeploy-wave{index}"
    )
    futures: dict[str, Any] = {}
    try:
        for c in wave:
            futures[c] = ex.submit(one, c)
        for c, fut in futures.items():
            out[c] = result_of(fut)
    except BaseException:
        # Ctrl-C (or anything else raised into this thread, such as a host's timeout):
        # wake every watching release with KeyboardInterrupt: each records
        # "interrupted" in its ledger and releases its lock; then stop. Again until every
        # started run has ended: one between its lock and its watch starts watching after
        # the signal (which may even land while the run is being submitted). A release
        # baking is woken the same way.
        with guard:
            stopping.append(True)
        interrupt_waits()
        while True:
            poller.cancel()
            bake.cancel(poller)
            with guard:
                if not running:
                    break
            time.sleep(0.1)
        ex.shutdown(wait=True)
        raise
    ex.shutdown(wait=True)
    return [out[c] for c in wave]
