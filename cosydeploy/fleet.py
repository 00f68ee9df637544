"""Releases over a fleet: many clients in waves, one image, one poller, results per client.

    waves (pure) -> prepare every client (its own session and account guard, stack
    outputs, Terraform in step, drift warnings) -> resolve the image once per
    registry, before any wave -> wave by wave: up to N clients at a time through the
    single-client pipeline (cosydeploy.release), one SharedPoller following every
    deployment in flight -> one ClientResult per client; the worst outcome is the
    exit code.

A failure in a wave stops the waves after it: clients already released stay
released, the failed one was rolled back by the single-client pipeline, and the
clients of later waves are reported ``skipped``. Adapters (sessions, Terraform,
Docker) are built by the caller and reach this module as callables and values.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosydeploy.ecs.watch import RolloutPoller, Verdict, Watch
from cosydeploy.errors import (
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_NOT_RECOVERED,
    EXIT_OK,
    EXIT_ROLLED_BACK,
    EXIT_USAGE,
    CosydeployError,
    LockHeldError,
    UsageError,
)
from cosydeploy.image import ResolvedImage
from cosydeploy.release import ReleaseOptions, ReleaseResult, ReleaseTarget, ReleaseUI
from cosydeploy.release import release as release_one

__all__ = [
    "ClientResult",
    "FleetOptions",
    "FleetResult",
    "FleetUI",
    "InfraCheck",
    "Member",
    "SharedPoller",
    "check_infra",
    "exit_code_of",
    "parse_waves",
    "release_fleet",
    "terraform_drift",
    "waves_from_option",
]

# Outcomes that let the next wave start.
GOOD_OUTCOMES = ("succeeded", "noop", "dry_run")
EXIT_BY_OUTCOME = {
    "succeeded": EXIT_OK,
    "noop": EXIT_OK,
    "dry_run": EXIT_OK,
    "skipped": EXIT_OK,
    "rolled_back": EXIT_ROLLED_BACK,
    "failed": EXIT_NOT_RECOVERED,
    "locked": EXIT_LOCKED,
    "interrupted": EXIT_INTERRUPTED,
}
# Worst last: a client NOT back on a good release needs a person more than a held
# lock or a bad input does; an interruption trumps everything (the run did not end).
SEVERITY = (
    EXIT_OK,
    EXIT_ROLLED_BACK,
    EXIT_USAGE,
    EXIT_LOCKED,
    EXIT_NOT_RECOVERED,
    EXIT_INTERRUPTED,
)


# ------------------------------------------------------------------------------ waves


def waves_from_option(
    value: str | None, clients: Sequence[str], base: Path | None = None
) -> list[list[str]]:
    """``--waves``: a spec (``canary,rest``) or a YAML/JSON file of waves; None = one wave."""
    if value is None:
        return parse_waves(None, clients)
    path = Path(value)
    if base is not None and not path.is_absolute() and not path.exists():
        path = base / value
    if path.suffix.lower() in {".yaml", ".yml", ".json"} or path.is_file():
        if not path.is_file():
            raise UsageError(f"--waves: no file {value}", hint="give canary,rest or a file")
        import yaml

        try:
            data = yaml.safe_load(path.read_text())  # JSON is YAML
        except yaml.YAMLError as exc:
            raise UsageError(f"{value}: not YAML/JSON: {exc}".splitlines()[0]) from None
        if isinstance(data, Mapping):
            data = data.get("waves")
        if not isinstance(data, list):
            raise UsageError(
                f"{value}: waves: expected a list of waves",
                hint="e.g. waves: [[acme], rest] or [{canary: 2}, rest]",
            )
        return parse_waves(data, clients, source=value)
    return parse_waves(value, clients)


def parse_waves(
    spec: str | Sequence[Any] | None, clients: Sequence[str], *, source: str = "--waves"
) -> list[list[str]]:
    """Resolve a wave spec into lists of client ids (pure).

    Items (comma separated in a string, or list items in a file): ``rest`` (every
    client not in another wave), ``canary`` (the first remaining client),
    ``canary:N`` / ``canary=N`` (the first N), ``canary:CLIENT`` (that client), a
    number N (the next N clients), ``a+b`` or a list (those clients), a client id.
    Every client must land in exactly one wave; empty waves are dropped.
    """
    order = list(dict.fromkeys(clients))
    if spec is None or spec == "" or spec == []:
        return [order] if order else []
    items: list[Any] = spec.split(",") if isinstance(spec, str) else list(spec)
    known = set(order)
    explicit: set[str] = set()
    parsed: list[tuple[str, Any]] = []  # (kind, value)
    for raw in items:
        kind, value = _wave_item(raw, source)
        if kind == "names":
            for name in value:
                if name not in known:
                    raise UsageError(
                        f"{source}: client {name!r} is not one of this release's clients",
                        hint=f"clients: {', '.join(order)}",
                    )
                if name in explicit:
                    raise UsageError(f"{source}: client {name!r} is in two waves")
                explicit.add(name)
        parsed.append((kind, value))
    pool = [c for c in order if c not in explicit]
    waves: list[list[str]] = []
    has_rest = False
    for kind, value in parsed:
        if kind == "names":
            waves.append(list(value))
        elif kind == "count":
            waves.append(pool[:value])
            pool = pool[value:]
        elif kind == "rest":
            if has_rest:
                raise UsageError(f"{source}: 'rest' given twice")
            has_rest = True
            waves.append([])  # filled below, once every count has taken its share
    if has_rest:
        idx = next(i for i, (k, _) in enumerate(parsed) if k == "rest")
        waves[idx] = pool
        pool = []
    if pool:
        raise UsageError(
            f"{source}: client(s) in no wave: {', '.join(pool)}",
            hint="end the spec with 'rest', e.g. --waves canary,rest",
        )
    return [w for w in waves if w]


def _wave_item(raw: Any, source: str) -> tuple[str, Any]:
    if isinstance(raw, list | tuple):
        names = [str(x).strip() for x in raw]
        return "names", [n for n in names if n]
    if isinstance(raw, Mapping):
        if set(raw) != {"canary"}:
            raise UsageError(
                f"{source}: unknown wave {dict(raw)!r}",
                hint="a wave is a list of clients, rest, or {canary: N|CLIENT}",
            )
        raw = f"canary:{raw['canary']}"
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise UsageError(f"{source}: empty or unreadable wave {raw!r}")
    text = raw.strip()
    if text == "rest":
        return "rest", None
    if text == "canary":
        return "count", 1
    if text.startswith(("canary:", "canary=")):
        arg = text[7:].strip()
        if arg.isdigit():
            if int(arg) < 1:
                raise UsageError(f"{source}: canary count must be at least 1")
            return "count", int(arg)
        return "names", [arg]
    if text.isdigit():
        if int(text) < 1:
            raise UsageError(f"{source}: a wave of {text} clients is empty")
        return "count", int(text)
    return "names", [n.strip() for n in text.split("+") if n.strip()]


# ---------------------------------------------------------------------- one poller


@dataclass
class _Entry:
    watch: Watch
    on_update: Callable[[Watch], None] | None
    on_events: Callable[[Watch, list[dict[str, Any]]], None] | None
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    cancelled: bool = False


class SharedPoller:
    """One poller thread following every deployment in flight, from any release thread.

    ``watch`` has the signature of ``cosydeploy.ecs.watch.watch_one`` (pass it to
    ``cosydeploy.release.release(watch_fn=...)``): it registers the deployment and
    blocks until its verdict. Each round makes one ``describe_services`` call per
    batch (same group, ECS client and cluster, at most 10 services), backs off from
    ``initial_interval`` to ``max_interval``, never sleeps past the nearest deadline,
    and starts a fresh round soon after a new deployment joins.
    """

    def __init__(
        self,
        *,
        initial_interval: float = 1.0,
        max_interval: float = 3.0,
        backoff: float = 1.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.initial_interval = initial_interval
        self.max_interval = max_interval
        self.backoff = backoff
        self.clock = clock
        self._cond = threading.Condition()
        self._entries: dict[int, _Entry] = {}
        self._joined = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._poller = RolloutPoller(
            [], clock=clock, on_update=self._on_update, on_events=self._on_events
        )
        # Per round: {"account|region|cluster": describe_services calls}.
        self.rounds: list[dict[str, int]] = []

    @property
    def describe_calls(self) -> int:
        return self._poller.describe_calls

    def _entry(self, w: Watch) -> _Entry | None:
        return self._entries.get(id(w))

    def _on_update(self, w: Watch) -> None:
        e = self._entry(w)
        if e and e.on_update:
            e.on_update(w)

    def _on_events(self, w: Watch, events: list[dict[str, Any]]) -> None:
        e = self._entry(w)
        if e and e.on_events:
            e.on_events(w, events)

    def watch(
        self,
        watch: Watch,
        *,
        on_update: Callable[[Watch], None] | None = None,
        on_events: Callable[[Watch, list[dict[str, Any]]], None] | None = None,
        **_ignored: Any,
    ) -> Verdict:
        """Follow ``watch`` to its verdict with the shared poller (blocks this thread)."""
        entry = _Entry(watch, on_update, on_events)
        with self._cond:
            if self._closed:
                raise RuntimeError("the shared poller is closed")
            self._entries[id(watch)] = entry
            self._joined = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="cosydeploy-poller", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        try:
            while not entry.done.wait(0.5):
                pass
        finally:
            with self._cond:
                self._entries.pop(id(watch), None)
        if entry.cancelled:
            raise KeyboardInterrupt
        if entry.error is not None:
            raise entry.error
        return watch.verdict

    def cancel(self) -> None:
        """Wake every waiter with KeyboardInterrupt (their releases record interrupted)."""
        with self._cond:
            for e in self._entries.values():
                e.cancelled = True
                e.done.set()
            self._cond.notify_all()

    def close(self) -> None:
        """Stop the poller thread (after the fleet run)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @staticmethod
    def _batch_key(w: Watch) -> str:
        return f"{w.group}|{w.cluster}"

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
            for batch in self._poller._batches([e.watch for e in entries]):
                key = self._batch_key(batch[0])
                calls[key] = calls.get(key, 0) + 1
                try:
                    self._poller.poll_batch(batch)
                except Exception as exc:  # delivered to the releases that wait on it
                    for w in batch:
                        e = self._entry(w)
                        if e is not None:
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
                    self._cond.wait(timeout=max(0.0, min(interval, nearest - self.clock())))
            interval = min(self.max_interval, interval * self.backoff)

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


# ------------------------------------------------------------------ Terraform in step


@dataclass(frozen=True)
class InfraCheck:
    """What the Terraform step of one client's release did."""

    planned: bool
    reason: str
    changes: int = 0
    warning: str = ""


def check_infra(
    *,
    mode: str,
    tfvars: str,
    recorded: Mapping[str, Any] | None,
    plan: Callable[[], Any],
    record: Callable[..., object],
    now: Callable[[], float] = time.time,
    apply_hint: str = "",
) -> InfraCheck:
    """Plan the workspace only when the rendered tfvars changed since the last
    successful apply (``recorded["fingerprint"]``) or ``mode == "force"``; ``skip`` skips.

    ``plan()`` returns a PlanSummary; ``record(**fields)`` keeps the outcome in the
    ledger. A plan without changes means the state already matches these tfvars, so
    their fingerprint is recorded as applied; a plan with changes is left for
    ``cosydeploy apply`` and reported as a warning.
    """
    from cosydeploy.ledger import iso
    from cosydeploy.render import fingerprint

    fp = fingerprint(tfvars)
    if mode == "skip":
        return InfraCheck(False, "skipped (--skip-infra)")
    if mode != "force" and recorded and recorded.get("fingerprint") == fp:
        return InfraCheck(False, "tfvars unchanged since the last apply: no plan")
    why = (
        "--infra"
        if mode == "force"
        else "tfvars changed since the last apply"
        if recorded and recorded.get("fingerprint")
        else "no apply recorded yet"
    )
    summary = plan()
    n = int(summary.adds + summary.updates + summary.destroys)
    fields: dict[str, Any] = {
        "planned_at": iso(now()),
        "planned_fingerprint": fp,
        "plan_changes": n,
    }
    if not summary.has_changes:
        fields.update(
            fingerprint=fp,
            applied=_applied_view(tfvars),
            applied_at=iso(now()),
            applied_by="plan without changes",
        )
    record(**fields)
    if summary.has_changes:
        return InfraCheck(
            True,
            f"planned ({why}): {summary.adds} to add, {summary.updates} "
            f"to change, {summary.destroys} to destroy",
            n,
            warning=f"Terraform has {n} pending change(s) for this workspace: "
            f"{apply_hint or 'run cosydeploy apply'}",
        )
    return InfraCheck(True, f"planned ({why}): no changes")


def _applied_view(tfvars: str) -> str:
    """The parts of the tfvars the drift check compares, as kept in the ledger."""
    data = json.loads(tfvars)
    svc = data.get("service") or {}
    net = data.get("network") or {}
    view = {k: svc.get(k) for k in ("desired_count", "min_count", "max_count", "container_port")}
    view["private_subnet_cidrs"] = list(net.get("private_subnet_cidrs") or [])
    return json.dumps(view, sort_keys=True)


def applied_view(recorded: Mapping[str, Any] | None, tfvars: str) -> dict[str, Any]:
    """What Terraform last applied (from the ledger), else what the tfvars say now."""
    raw = (recorded or {}).get("applied") or _applied_view(tfvars)
    return json.loads(raw)


def terraform_drift(
    applied: Mapping[str, Any],
    outputs: Any,
    service: Mapping[str, Any],
    subnet_cidrs: Sequence[str] | None = None,
) -> list[str]:
    """Differences between what Terraform last applied and the running service (pure).

    Each one names what differs and what the next ``apply`` (or the autoscaling target
    Terraform owns) would do about it.
    """
    out: list[str] = []
    desired = service.get("desiredCount")
    lo, hi = applied.get("min_count"), applied.get("max_count")
    if (
        isinstance(desired, int)
        and isinstance(lo, int)
        and isinstance(hi, int)
        and not lo <= desired <= hi
    ):
        out.append(
            f"desired count: the service wants {desired} tasks, Terraform's bounds are "
            f"{lo}-{hi}: the autoscaling target it applies will pull it back"
        )
    td = str(service.get("taskDefinition") or "")
    family = td.rsplit("/", 1)[-1].rsplit(":", 1)[0] if td else ""
    if family and outputs.task_family and family != outputs.task_family:
        out.append(
            f"task definition family: the service runs {family}, Terraform's family is "
            f"{outputs.task_family}: the release registers in {outputs.task_family}"
        )
    lbs = list(service.get("loadBalancers") or [])
    if outputs.target_group_arn and lbs:
        ours = [lb for lb in lbs if lb.get("targetGroupArn") == outputs.target_group_arn]
        if not ours:
            found = ", ".join(
                str(lb.get("targetGroupArn", "?")).split("/")[-2]
                for lb in lbs
                if "/" in str(lb.get("targetGroupArn", ""))
            )
            out.append(
                f"load balancer: the service is attached to target group "
                f"{found or '?'}, Terraform to {outputs.target_group_arn}: "
                f"the next apply will attach it back"
            )
        for lb in ours:
            name, port = lb.get("containerName"), lb.get("containerPort")
            want_port = applied.get("container_port")
            if name and outputs.container_name and name != outputs.container_name:
                out.append(
                    f"load balancer: container {name} is attached, Terraform attaches "
                    f"{outputs.container_name}: the next apply will change it back"
                )
            if port is not None and want_port is not None and int(port) != int(want_port):
                out.append(
                    f"load balancer: container port {port} is attached, Terraform's "
                    f"is {want_port}: the next apply will change it back"
                )
    want_cidrs = sorted(applied.get("private_subnet_cidrs") or [])
    if subnet_cidrs is not None and want_cidrs and sorted(subnet_cidrs) != want_cidrs:
        out.append(
            f"network: the service runs in subnets {', '.join(sorted(subnet_cidrs))}, "
            f"Terraform's private subnets are {', '.join(want_cidrs)}: the next apply "
            f"will move it back"
        )
    return out


def service_subnet_cidrs(ec2: Any, service: Mapping[str, Any]) -> list[str] | None:
    """CIDR blocks of the subnets the running service is placed in (None when unknown)."""
    cfg = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    ids = list(cfg.get("subnets") or [])
    if not ids:
        return None
    resp = ec2.describe_subnets(SubnetIds=ids)
    return [s.get("CidrBlock", "?") for s in resp.get("Subnets") or []]


# ----------------------------------------------------------------------------- fleet


@dataclass
class Member:
    """One client/env ready to release: its target and what its preparation found."""

    client: str
    env: str
    target: ReleaseTarget
    image: ResolvedImage | None = None
    infra: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class ClientResult:
    """What happened to one client in a fleet run (a row of the summary)."""

    client: str
    env: str
    version: str
    outcome: str  # succeeded noop dry_run rolled_back failed locked error skipped interrupted
    duration: float = 0.0
    diagnosis: list[str] = field(default_factory=list)
    message: str = ""
    digest: str = ""
    wave: int = 0
    exit_code: int = 0
    infra: str = ""
    warnings: list[str] = field(default_factory=list)
    release: ReleaseResult | None = None

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "release"}
        d["release"] = self.release.as_dict() if self.release else None
        return d


@dataclass(frozen=True)
class FleetOptions:
    """How the fleet runs: parallelism within a wave and the per-client options."""

    parallel: int = 4
    release: ReleaseOptions = field(default_factory=ReleaseOptions)


@dataclass
class FleetUI:
    """Callbacks for the live view; every one optional."""

    release_ui: Callable[[str], ReleaseUI] | None = None  # per client id
    on_wave: Callable[[int, list[str]], None] | None = None
    on_result: Callable[[ClientResult], None] | None = None
    on_warning: Callable[[str, str], None] | None = None  # (client, message)


@dataclass
class FleetResult:
    results: list[ClientResult]
    waves: list[list[str]]
    poller: SharedPoller | None = None

    @property
    def exit_code(self) -> int:
        return exit_code_of(r.exit_code for r in self.results)


def exit_code_of(codes: Iterable[int]) -> int:
    """The worst exit code (order: 0 < 1 < 2 < 4 < 3 < 130; unknown codes count as 3)."""
    worst = EXIT_OK
    for code in codes:
        code = code if code in SEVERITY else EXIT_NOT_RECOVERED
        if SEVERITY.index(code) > SEVERITY.index(worst):
            worst = code
    return worst


def _from_release(res: ReleaseResult, wave: int, m: Member) -> ClientResult:
    return ClientResult(
        client=res.client,
        env=res.env,
        version=res.version,
        outcome=res.outcome,
        duration=res.elapsed,
        diagnosis=list(res.diagnosis),
        message=res.message,
        digest=res.digest,
        wave=wave,
        exit_code=EXIT_BY_OUTCOME.get(res.outcome, EXIT_NOT_RECOVERED),
        infra=m.infra,
        warnings=list(m.warnings),
        release=res,
    )


def _from_error(
    client: str,
    env: str,
    version: str,
    exc: BaseException,
    wave: int,
    started: float,
    m: Member | None = None,
) -> ClientResult:
    if isinstance(exc, KeyboardInterrupt):
        outcome, code, msg = "interrupted", EXIT_INTERRUPTED, "interrupted"
    elif isinstance(exc, LockHeldError):
        outcome, code, msg = "locked", EXIT_LOCKED, exc.message
    elif isinstance(exc, CosydeployError):
        outcome, code, msg = "error", exc.exit_code, exc.message
    else:  # a bug or an unexpected AWS answer mid-release: a person must look
        outcome, code, msg = "error", EXIT_NOT_RECOVERED, f"{type(exc).__name__}: {exc}"
    res = getattr(exc, "result", None)
    return ClientResult(
        client=client,
        env=env,
        version=version,
        outcome=outcome,
        duration=time.time() - started,
        diagnosis=list(getattr(res, "diagnosis", []) or []),
        message=msg,
        wave=wave,
        exit_code=code,
        infra=m.infra if m else "",
        warnings=list(m.warnings) if m else [],
        release=res,
    )


def _skipped(client: str, env: str, version: str, wave: int, why: str) -> ClientResult:
    return ClientResult(
        client=client,
        env=env,
        version=version,
        outcome="skipped",
        message=why,
        wave=wave,
        exit_code=EXIT_OK,
    )


def release_fleet(
    waves: Sequence[Sequence[str]],
    *,
    env: str,
    version: str,
    prepare: Callable[[str], Member],
    image_for: Callable[[Member], ResolvedImage],
    options: FleetOptions | None = None,
    ui: FleetUI | None = None,
    release_fn: Callable[..., ReleaseResult] = release_one,
    poller: SharedPoller | None = None,
) -> FleetResult:
    """Release ``version`` to every client of ``waves`` in ``env``, wave by wave.

    ``prepare(client)`` builds a Member (session + account guard, stack outputs,
    Terraform step, drift warnings); every client is prepared before anything ships,
    and one that cannot be prepared stops the run (its exit code, the others
    skipped). ``image_for(member)`` gives the image by digest (built and pushed once,
    or a promoted digest); it is called for every client before the first wave.
    """
    options = options or FleetOptions()
    ui = ui or FleetUI()
    plan: list[list[str]] = [list(w) for w in waves if w]
    clients = [c for w in plan for c in w]
    wave_of = {c: i + 1 for i, w in enumerate(plan) for c in w}
    parallel = max(1, int(options.parallel))

    # 1. Prepare every client (in parallel: Terraform outputs and plans take seconds).
    members: dict[str, Member] = {}
    failed: list[ClientResult] = []
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="cosydeploy-prep") as ex:
        started = time.time()
        futures = {c: ex.submit(prepare, c) for c in clients}
        for c, fut in futures.items():
            try:
                members[c] = fut.result()
            except (Exception, KeyboardInterrupt) as exc:
                failed.append(_from_error(c, env, version, exc, wave_of[c], started))
    for m in members.values():
        for w in m.warnings:
            if ui.on_warning:
                ui.on_warning(m.client, w)
    if failed:
        why = "not started: " + ", ".join(f"{r.client} could not be prepared" for r in failed)
        failed_results = failed + [
            _skipped(c, env, version, wave_of[c], why) for c in clients if c in members
        ]
        for r in failed_results:
            if ui.on_result:
                ui.on_result(r)
        return FleetResult(sorted(failed_results, key=lambda r: clients.index(r.client)), plan)

    # 2. The image, for everyone, before any wave (a refused promotion stops here).
    for c in clients:
        members[c].image = image_for(members[c])

    # 3. Waves.
    own_poller = poller is None
    shared = poller or SharedPoller(
        initial_interval=options.release.poll_initial, max_interval=options.release.poll_max
    )
    results: list[ClientResult] = []
    stop_reason = ""
    try:
        for i, wave in enumerate(plan, start=1):
            if stop_reason:
                results += [_skipped(c, env, version, i, stop_reason) for c in wave]
                continue
            if ui.on_wave:
                ui.on_wave(i, wave)
            wave_results = _run_wave(
                wave, i, members, options, ui, shared, release_fn, env, version, parallel
            )
            results += wave_results
            bad = [r for r in wave_results if r.outcome not in GOOD_OUTCOMES]
            if bad:
                stop_reason = (
                    f"wave {i} failed ({', '.join(r.client for r in bad)}): later waves not started"
                )
    finally:
        if own_poller:
            shared.close()
    for r in results:
        if r.outcome == "skipped" and ui.on_result:
            ui.on_result(r)
    return FleetResult(results, plan, shared)


def _run_wave(
    wave: list[str],
    index: int,
    members: Mapping[str, Member],
    options: FleetOptions,
    ui: FleetUI,
    poller: SharedPoller,
    release_fn: Callable[..., ReleaseResult],
    env: str,
    version: str,
    parallel: int,
) -> list[ClientResult]:
    def one(client: str) -> ClientResult:
        m = members[client]
        started = time.time()
        assert m.image is not None
        try:
            res = release_fn(
                m.target,
                m.image,
                options.release,
                ui.release_ui(client) if ui.release_ui else None,
                watch_fn=poller.watch,
                raise_on_failure=False,
            )
            r = _from_release(res, index, m)
        except (Exception, KeyboardInterrupt) as exc:
            r = _from_error(client, m.env, version, exc, index, started, m)
        if ui.on_result:
            ui.on_result(r)
        return r

    out: dict[str, ClientResult] = {}
    ex = ThreadPoolExecutor(
        max_workers=min(parallel, len(wave)), thread_name_prefix=f"cosydeploy-wave{index}"
    )
    futures = {c: ex.submit(one, c) for c in wave}
    try:
        for c, fut in futures.items():
            out[c] = fut.result()
    except KeyboardInterrupt:
        # Wake every watching release with KeyboardInterrupt: each records
        # "interrupted" in its ledger and releases its lock; then stop.
        poller.cancel()
        for fut in futures.values():
            fut.cancel()
        ex.shutdown(wait=True)
        raise
    ex.shutdown(wait=True)
    return [out[c] for c in wave]


def record_applied(
    ledger: Any,
    client: str,
    env: str,
    tfvars: str,
    *,
    by: str = "apply",
    now: Callable[[], float] = time.time,
) -> None:
    """After a successful apply: keep the tfvars fingerprint (and the drift check's view
    of them) in the ledger, so the next release skips the plan while they are unchanged."""
    from cosydeploy.ledger import iso
    from cosydeploy.render import fingerprint

    ledger.record_infra(
        client,
        env,
        fingerprint=fingerprint(tfvars),
        applied=_applied_view(tfvars),
        applied_at=iso(now()),
        applied_by=by,
    )
