"""The release pipeline for one client/env, as a function over plain values and clients.

    preflight secrets -> lock -> render + diff (dry-run stops) -> no-op check ->
    ledger(in_progress) -> register -> update service -> watch THAT deployment ->
    verify health -> ledger(succeeded)
    on failure or deadline: diagnose -> roll back to the last good revision (watched)
    -> ledger(rolled_back | failed) -> ReleaseFailed(recovered=...)

Every AWS client comes from ``target.session`` (a boto3 Session; the sandbox is
reached through ``AWS_ENDPOINT_URL``) or from an injected ``Clients``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cosydeploy.ecs.diagnose import Diagnosis, diagnose
from cosydeploy.ecs.taskdef import (
    TaskDefDiff,
    container_image,
    diff_task_definitions,
    render_task_definition,
)
from cosydeploy.ecs.watch import Phase, Verdict, Watch, watch_one
from cosydeploy.errors import AwsError, CosydeployError, ReleaseFailed, UsageError
from cosydeploy.image import ImageRef, ResolvedImage
from cosydeploy.ledger import Ledger, ReleaseRecord, current_actor
from cosydeploy.lock import DeployLock
from cosydeploy.stack import StackOutputs

__all__ = [
    "Clients",
    "ReleaseOptions",
    "ReleaseResult",
    "ReleaseTarget",
    "ReleaseUI",
    "ResolvedImage",
    "release",
    "rollback",
]


@dataclass(frozen=True)
class ReleaseTarget:
    """Everything the pipeline knows about one client/env (resolved config + stack outputs)."""

    project: str
    client: str
    env: str
    region: str
    account_id: str
    session: Any  # boto3.Session (or None when ``clients`` is injected)
    outputs: StackOutputs
    cpu: int = 256
    memory: int = 512
    container_port: int = 3000
    health_path: str = "/health/ready"
    environment: Mapping[str, str] = field(default_factory=dict)
    secret_names: tuple[str, ...] = ()
    stop_timeout: int = 30
    tags: Mapping[str, str] = field(default_factory=dict)
    lock_table: str = "cosyworld-deploy-locks"
    ledger_table: str = "cosyworld-releases"
    tables_region: str = ""  # region of the lock and ledger tables (default: the target's)
    timeout: float = 600.0
    container_health_path: str = "/health/live"
    manifest: str = ""  # where the required secrets are named, for error messages

    @property
    def key(self) -> str:
        return f"{self.client}/{self.env}"

    def secret_id(self, name: str) -> str:
        return f"{self.project}/{self.client}/{self.env}/{name}"


@dataclass(frozen=True)
class ReleaseOptions:
    dry_run: bool = False
    timeout: float | None = None  # overrides target.timeout
    lock_wait: float = 0.0
    rollback: bool = True
    verify_attempts: int = 3  # consecutive 200s needed
    verify_interval: float = 1.0
    verify_max_tries: int = 15
    poll_initial: float = 1.0
    poll_max: float = 3.0
    actor: str | None = None
    # The caller already checked the secrets (the CLI does, before building anything).
    secrets_checked: bool = False


@dataclass
class ReleaseUI:
    """Callbacks for the live view; defaults print through cosydeploy.ui.console."""

    step: Callable[[str], None] | None = None
    info: Callable[[str], None] | None = None
    diff: Callable[[TaskDefDiff], None] | None = None
    update: Callable[[Watch], None] | None = None
    events: Callable[[Watch, list[dict[str, Any]]], None] | None = None
    diagnosis: Callable[[Diagnosis], None] | None = None

    def _step(self, msg: str) -> None:
        if self.step:
            self.step(msg)
        else:
            from cosydeploy.ui import console

            console.step(msg)

    def _info(self, msg: str) -> None:
        if self.info:
            self.info(msg)
        else:
            from cosydeploy.ui import console

            console.info(msg)

    def _diff(self, d: TaskDefDiff) -> None:
        if self.diff:
            self.diff(d)
        else:
            for line in d.lines():
                self._info(f"  {line}")

    def _update(self, w: Watch) -> None:
        (self.update or self._plain().update)(w)

    def _events(self, w: Watch, events: list[dict[str, Any]]) -> None:
        (self.events or self._plain().events)(w, events)

    def _plain(self) -> Any:
        # Without callbacks: the live view's plain form (a line when a row changes).
        if getattr(self, "_view", None) is None:
            from cosydeploy.ui.live import RolloutView

            self._view = RolloutView(live=False)
        return self._view

    def _diagnosis(self, d: Diagnosis) -> None:
        if self.diagnosis:
            self.diagnosis(d)
        else:
            for line in d.lines():
                self._info(f"  {line}")


class Clients:
    """The boto3 clients of one target, built once and lazily from the session."""

    def __init__(
        self, session: Any, region: str, *, tables_region: str = "", **overrides: Any
    ) -> None:
        self._session = session
        self._region = region
        self._tables_region = tables_region or region
        self._made: dict[str, Any] = dict(overrides)

    def get(self, name: str) -> Any:
        if name not in self._made:
            if self._session is None:
                raise UsageError(f"no boto3 session to make a {name} client")
            region = self._tables_region if name == "dynamodb" else self._region
            self._made[name] = self._session.client(name, region_name=region)
        return self._made[name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)


@dataclass
class ReleaseResult:
    """What happened, for the CLI (text or JSON) and the Fleet layer."""

    client: str
    env: str
    version: str
    digest: str
    outcome: str  # dry_run | noop | succeeded | rolled_back | failed | interrupted
    kind: str = "release"
    release_id: str = ""
    task_definition_arn: str = ""
    previous_task_definition_arn: str = ""
    rolled_back_to: str = ""
    diff: TaskDefDiff | None = None
    diagnosis: list[str] = field(default_factory=list)
    message: str = ""
    verified: bool | None = None
    elapsed: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "diff"}
        d["diff"] = self.diff.lines() if self.diff else []
        return d


# ----------------------------------------------------------------------------- steps


def preflight_secrets(secretsmanager: Any, target: ReleaseTarget) -> None:
    """Every required secret exists and has a current value; else exit 2 naming them.

    One ``list_secrets`` call (filtered by the client's prefix) reads only metadata:
    secret values are never fetched.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    if not target.secret_names:
        return
    prefix = f"{target.project}/{target.client}/{target.env}/"
    have: set[str] = set()
    kwargs: dict[str, Any] = {"Filters": [{"Key": "name", "Values": [prefix]}], "MaxResults": 100}
    try:
        while True:
            resp = secretsmanager.list_secrets(**kwargs)
            for s in resp.get("SecretList", []):
                stages = s.get("SecretVersionsToStages") or {}
                if s.get("DeletedDate") is None and any("AWSCURRENT" in v for v in stages.values()):
                    have.add(s.get("Name", ""))
            if not resp.get("NextToken"):
                break
            kwargs["NextToken"] = resp["NextToken"]
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"could not list the secrets of {target.key}: {exc}") from exc
    missing = [n for n in target.secret_names if target.secret_id(n) not in have]
    if missing:
        where = f"{target.manifest}: app.secrets: " if target.manifest else ""
        raise CosydeployError(
            f"{where}{target.key}: required secret(s) without a value: {', '.join(missing)}",
            hint=f"set each from stdin or a prompt: cosydeploy secrets set {target.client} "
            f"--env {target.env} {missing[0]}",
        )


def _service(ecs: Any, target: ReleaseTarget) -> dict[str, Any]:
    o = target.outputs
    resp = ecs.describe_services(cluster=o.cluster_name, services=[o.service_name])
    services = resp.get("services") or []
    if not services or services[0].get("status") != "ACTIVE":
        raise AwsError(
            f"{target.key}: service {o.cluster_name}/{o.service_name} not found",
            hint="apply the client's stack first",
        )
    return services[0]


def _lock_ttl(target: ReleaseTarget, options: ReleaseOptions) -> int:
    """Long enough for a whole release plus its rollback, so a live lock never expires."""
    deadline = options.timeout if options.timeout is not None else target.timeout
    return int(max(3600.0, deadline + target.timeout + 600))


def _settled(service: Mapping[str, Any]) -> bool:
    """The PRIMARY deployment finished (COMPLETED) with every desired task running."""
    primary = next(
        (d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), None
    )
    if primary is None:
        return False
    return (
        primary.get("rolloutState") in (None, "COMPLETED")
        and primary.get("runningCount", 0) == primary.get("desiredCount", -1)
        and len(service.get("deployments") or []) == 1
    )


def _describe_taskdef(ecs: Any, arn: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    resp = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    return resp["taskDefinition"], resp.get("tags") or []


def verify_health(
    url: str,
    *,
    needed: int = 3,
    interval: float = 1.0,
    max_tries: int = 15,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 5.0,
) -> tuple[bool, str]:
    """GET ``url`` until it answers 200 ``needed`` times in a row (at most ``max_tries``)."""
    import urllib.error
    import urllib.request

    streak = 0
    last = ""
    for i in range(max_tries):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                code = resp.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except OSError as exc:
            code = 0
            last = str(getattr(exc, "reason", exc))
        if code == 200:
            streak += 1
            if streak >= needed:
                return True, f"{url} answered 200 {needed} times in a row"
        else:
            streak = 0
            last = f"HTTP {code}" if code else last
        if i + 1 < max_tries:
            sleep(interval)
    return False, f"{url} did not answer 200 {needed} times in a row (last: {last or 'n/a'})"


def _deployment_of(update_resp: Mapping[str, Any], taskdef_arn: str) -> str | None:
    for d in (update_resp.get("service") or {}).get("deployments") or []:
        if d.get("taskDefinition") == taskdef_arn and d.get("status") == "PRIMARY":
            return d.get("id")
    return None


def _roll_out(
    c: Clients,
    target: ReleaseTarget,
    options: ReleaseOptions,
    ui: ReleaseUI,
    taskdef_arn: str,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    *,
    timeout: float | None = None,
    watch_fn: Callable[..., Verdict] | None = None,
    version: str = "",
) -> tuple[Verdict, bool | None, str]:
    """update_service to ``taskdef_arn``, watch that deployment, verify. Returns
    (verdict, verified, message); verified is None when skipped.

    ``timeout`` defaults to the release's (``--timeout``, else the config's); a rollback
    passes the config's own, so a short release deadline never starves its rollback."""
    o = target.outputs
    started = clock()
    resp = c.ecs.update_service(
        cluster=o.cluster_name, service=o.service_name, taskDefinition=taskdef_arn
    )
    dep_id = _deployment_of(resp, taskdef_arn)
    # Without an id in the response, the deployments it lists existed before our update.
    before = (
        frozenset()
        if dep_id
        else frozenset(
            d.get("id", "") for d in (resp.get("service") or {}).get("deployments") or []
        )
    )
    if timeout is None:
        timeout = options.timeout if options.timeout is not None else target.timeout
    watch = Watch(
        key=target.key,
        ecs=c.ecs,
        cluster=o.cluster_name,
        service=o.service_name,
        deployment_id=dep_id,
        deadline=started + timeout,
        task_definition_arn=taskdef_arn,
        not_before=started - 60 if dep_id is None else None,
        exclude_ids=before,
        elbv2=c.elbv2 if o.target_group_arn else None,
        target_group_arn=o.target_group_arn,
        ignore_events_before=started - 1,
        started_at=started,
        label=" ".join(x for x in (version, taskdef_arn.rsplit("/", 1)[-1]) if x),
    )
    verdict = (watch_fn or watch_one)(
        watch,
        clock=clock,
        sleep=sleep,
        initial_interval=options.poll_initial,
        max_interval=options.poll_max,
        on_update=ui._update,
        on_events=ui._events,
    )
    if verdict.phase is not Phase.SUCCEEDED:
        return verdict, None, verdict.reason
    if not o.app_url:
        ui._info("  verify: SKIP (the stack has no app URL)")
        return verdict, None, verdict.reason
    ok, why = verify_health(
        o.app_url.rstrip("/") + target.health_path,
        needed=options.verify_attempts,
        interval=options.verify_interval,
        max_tries=options.verify_max_tries,
        sleep=sleep,
    )
    ui._info(f"  verify: {'OK' if ok else 'NG'} {why}")
    return verdict, ok, why


def _diagnose(c: Clients, target: ReleaseTarget, taskdef_arn: str) -> Diagnosis:
    o = target.outputs
    return diagnose(
        ecs=c.ecs,
        logs=c.logs,
        elbv2=c.elbv2 if o.target_group_arn else None,
        cluster=o.cluster_name,
        service=o.service_name,
        container_name=o.container_name,
        log_group=o.log_group_name,
        target_group_arn=o.target_group_arn,
        task_definition_arn=taskdef_arn,
    )


def _rollback_to(
    c: Clients,
    target: ReleaseTarget,
    options: ReleaseOptions,
    ui: ReleaseUI,
    ledger: Ledger,
    *,
    to: ReleaseRecord | None,
    taskdef_arn: str,
    version: str,
    digest: str,
    image: str,
    previous: str,
    rollback_of: str,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    watch_fn: Callable[..., Verdict] | None = None,
) -> ReleaseRecord:
    """Roll out a known-good revision, watched and verified; record it as kind=rollback."""
    rec = ledger.start(
        client=target.client,
        env=target.env,
        version=version,
        digest=digest,
        image=image,
        previous_task_definition_arn=previous,
        kind="rollback",
        rollback_of=rollback_of,
        git_sha=to.git_sha if to else "",
        actor=options.actor,
    )
    rec = ledger.update(rec, task_definition_arn=taskdef_arn)
    try:
        verdict, verified, why = _roll_out(
            c,
            target,
            options,
            ui,
            taskdef_arn,
            clock,
            sleep,
            timeout=target.timeout,
            watch_fn=watch_fn,
            version=f"back to {version}",
        )
    except KeyboardInterrupt:
        ledger.finish(rec, "interrupted", message="interrupted during rollback")
        raise
    ok = verdict.phase is Phase.SUCCEEDED and verified is not False
    diag: list[str] = []
    if not ok:
        d = _diagnose(c, target, taskdef_arn)
        ui._diagnosis(d)
        diag = d.lines()
    return ledger.finish(rec, "succeeded" if ok else "failed", message=why, diagnosis=diag)


# -------------------------------------------------------------------------- pipeline


def release(
    target: ReleaseTarget,
    image: ResolvedImage,
    options: ReleaseOptions | None = None,
    ui: ReleaseUI | None = None,
    *,
    clients: Clients | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    raise_on_failure: bool = True,
    watch_fn: Callable[..., Verdict] | None = None,
) -> ReleaseResult:
    """Release ``image`` (by digest) to one client/env and tell the truth about it.

    ``watch_fn`` follows a deployment to its verdict (default ``watch_one``); the Fleet
    layer passes a shared poller's ``watch`` so one poller follows every deployment.

    Returns a ReleaseResult with outcome dry_run, noop or succeeded. On failure the
    result has outcome rolled_back (ReleaseFailed recovered=True, exit 1) or failed
    (recovered=False, exit 3); the exception carries the result as ``.result``
    (or it is returned when ``raise_on_failure`` is False). KeyboardInterrupt leaves
    the ledger saying interrupted, releases the lock and propagates.
    """
    options = options or ReleaseOptions()
    ui = ui or ReleaseUI()
    c = clients or Clients(target.session, target.region, tables_region=target.tables_region)
    o = target.outputs
    t0 = clock()
    if not ImageRef.parse(image.uri).digest:
        raise UsageError(f"release needs an image by digest, got {image.uri}")

    if not options.secrets_checked:
        ui._step(f"{target.key}: preflight")
        preflight_secrets(c.secretsmanager, target)

    def run() -> ReleaseResult:
        service = _service(c.ecs, target)
        previous_arn = service.get("taskDefinition", "")
        running, running_tags = _describe_taskdef(c.ecs, previous_arn) if previous_arn else ({}, [])
        actor = options.actor or current_actor()
        new_td = render_task_definition(
            outputs=o,
            image_uri=image.uri,
            region=target.region,
            container_port=target.container_port,
            cpu=target.cpu,
            memory=target.memory,
            environment=target.environment,
            secret_names=target.secret_names,
            stop_timeout=target.stop_timeout,
            health_check_path=target.container_health_path,
            tags={
                **target.tags,
                "cosydeploy:version": image.version,
                "cosydeploy:git-sha": image.git_sha or "unknown",
                "cosydeploy:released-by": actor,
            },
        )
        diff = diff_task_definitions(running or None, new_td, running_tags=running_tags)
        ui._step(
            f"{target.key}: task definition {o.task_family} (diff against "
            f"{previous_arn.rsplit('/', 1)[-1] or 'nothing'})"
        )
        ui._diff(diff)
        result = ReleaseResult(
            target.client,
            target.env,
            image.version,
            image.digest,
            "dry_run",
            diff=diff,
            previous_task_definition_arn=previous_arn,
        )
        if options.dry_run:
            result.message = "dry run: nothing registered"
            return result

        ledger = Ledger(c.dynamodb, target.ledger_table, clock=clock)
        same_image = container_image(running, o.container_name) == image.uri

        def begin() -> ReleaseRecord:
            return ledger.start(
                client=target.client,
                env=target.env,
                version=image.version,
                digest=image.digest,
                image=image.uri,
                git_sha=image.git_sha,
                previous_task_definition_arn=previous_arn,
                actor=actor,
            )

        # "Already serving" is a claim too: only when that revision's deployment settled.
        if same_image and diff.without("tags").empty and _settled(service):
            rec = ledger.finish(
                begin(),
                "noop",
                task_definition_arn=previous_arn,
                message="already running this image and configuration",
            )
            result.outcome, result.release_id = "noop", rec.release_id
            result.task_definition_arn = previous_arn
            result.message = f"{target.key} already runs {image.version} ({image.digest[:19]})"
            ui._info(f"  {result.message}: nothing to do")
            return result

        rec = begin()
        result.release_id = rec.release_id
        box = [rec]
        try:
            return _deploy(box, new_td, previous_arn, result, ledger)
        except KeyboardInterrupt:
            ledger.finish(box[0], "interrupted", message="interrupted (Ctrl-C)")
            raise
        except Exception as exc:
            # Never leave an attempt in_progress: record what broke, then re-raise.
            if not isinstance(exc, ReleaseFailed):
                ledger.finish(box[0], "failed", message=f"error: {exc}")
            raise

    def _deploy(
        box: list[ReleaseRecord],
        new_td: dict[str, Any],
        previous_arn: str,
        result: ReleaseResult,
        ledger: Ledger,
    ) -> ReleaseResult:
        reg = c.ecs.register_task_definition(**new_td)["taskDefinition"]
        arn = reg["taskDefinitionArn"]
        rec = box[0] = ledger.update(box[0], task_definition_arn=arn)
        result.task_definition_arn = arn
        ui._step(f"{target.key}: registered {arn.rsplit('/', 1)[-1]}; rolling out")
        verdict, verified, why = _roll_out(
            c, target, options, ui, arn, clock, sleep, watch_fn=watch_fn, version=image.version
        )
        if verdict.phase is Phase.SUCCEEDED and verified is not False:
            result.verified = verified
            rec = ledger.finish(rec, "succeeded", message=why)
            result.outcome = "succeeded"
            result.message = f"{target.key} is serving {image.version} ({why})"
            return result

        # Failure: diagnose, then roll back.
        phase = "timed out" if verdict.phase is Phase.TIMED_OUT else "failed"
        if verified is False:
            phase = "failed verification"
        ui._step(f"{target.key}: release {phase}: {why}")
        d = _diagnose(c, target, arn)
        ui._diagnosis(d)
        result.diagnosis = d.lines()
        rec = box[0] = ledger.update(rec, diagnosis=result.diagnosis, message=f"{phase}: {why}")
        recovered = False
        back = ""
        if options.rollback:
            good = ledger.last_good(target.client, target.env, exclude_digest=image.digest)
            to_arn = good.task_definition_arn if good else ""
            if not to_arn and previous_arn:
                prev_td, _ = _describe_taskdef(c.ecs, previous_arn)
                if container_image(prev_td, o.container_name) != image.uri:
                    to_arn = previous_arn
                    ui._info(
                        "  no good release in the ledger: rolling back to the revision "
                        "that served before"
                    )
            if to_arn:
                ui._step(
                    f"{target.key}: rolling back to "
                    f"{good.version if good else to_arn.rsplit('/', 1)[-1]}"
                )
                rb = _rollback_to(
                    c,
                    target,
                    options,
                    ui,
                    ledger,
                    to=good,
                    taskdef_arn=to_arn,
                    version=good.version if good else "previous",
                    digest=good.digest if good else "",
                    image=good.image if good else "",
                    previous=arn,
                    rollback_of=rec.release_id,
                    clock=clock,
                    sleep=sleep,
                    watch_fn=watch_fn,
                )
                recovered = rb.outcome == "succeeded"
                back = rb.version
                result.rolled_back_to = to_arn
            else:
                ui._info("  nothing to roll back to")
        outcome = "rolled_back" if recovered else "failed"
        ledger.finish(rec, outcome)
        result.outcome = outcome
        result.message = f"{target.key}: {image.version} {phase} ({why}); " + (
            f"back on {back}" if recovered else "NOT back on a good release"
        )
        err = ReleaseFailed(
            result.message,
            recovered=recovered,
            hint=None
            if recovered
            else f"look at the diagnosis, then: cosydeploy rollback {target.client} "
            f"--env {target.env} --to VERSION",
        )
        err.result = result  # type: ignore[attr-defined]
        raise err

    try:
        if options.dry_run:
            result = run()
        else:
            ui._step(f"{target.key}: lock")
            with DeployLock(
                c.dynamodb,
                target.client,
                target.env,
                table=target.lock_table,
                wait=options.lock_wait,
                operation=f"release {image.version}",
                ttl_seconds=_lock_ttl(target, options),
                actor=options.actor,
                clock=clock,
                sleep=sleep,
            ):
                result = run()
    except ReleaseFailed as exc:
        res = getattr(exc, "result", None)
        if res is not None:
            res.elapsed = clock() - t0
        if raise_on_failure or res is None:
            raise
        return res
    result.elapsed = clock() - t0
    return result


def rollback(
    target: ReleaseTarget,
    to_version: str | None = None,
    options: ReleaseOptions | None = None,
    ui: ReleaseUI | None = None,
    *,
    clients: Clients | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ReleaseResult:
    """Roll back to the previous good release (or the newest good release of
    ``to_version``), under the lock, watched and verified, recorded as kind=rollback.

    Raises UsageError when there is nothing to roll back to, ReleaseFailed
    (recovered=False) when the rollback itself fails.
    """
    options = options or ReleaseOptions()
    ui = ui or ReleaseUI()
    c = clients or Clients(target.session, target.region, tables_region=target.tables_region)
    o = target.outputs
    t0 = clock()
    ledger = Ledger(c.dynamodb, target.ledger_table, clock=clock)
    with DeployLock(
        c.dynamodb,
        target.client,
        target.env,
        table=target.lock_table,
        wait=options.lock_wait,
        operation="rollback",
        ttl_seconds=_lock_ttl(target, options),
        actor=options.actor,
        clock=clock,
        sleep=sleep,
    ):
        service = _service(c.ecs, target)
        current_arn = service.get("taskDefinition", "")
        current_td, _ = _describe_taskdef(c.ecs, current_arn) if current_arn else ({}, [])
        current_image = container_image(current_td, o.container_name) or ""
        current_digest = ImageRef.parse(current_image).digest if current_image else ""
        if to_version:
            good = ledger.last_good(target.client, target.env, version=to_version)
            if not good:
                raise UsageError(
                    f"{target.key}: no good release of {to_version} in the ledger",
                    hint=f"see cosydeploy history {target.client} --env {target.env}",
                )
        else:
            good = ledger.last_good(target.client, target.env, exclude_digest=current_digest)
            if not good:
                raise UsageError(
                    f"{target.key}: no earlier good release to roll back to",
                    hint=f"see cosydeploy history {target.client} --env {target.env}",
                )
        td, _ = _describe_taskdef(c.ecs, good.task_definition_arn)
        if (
            good.digest
            and ImageRef.parse(container_image(td, o.container_name) or "x").digest != good.digest
        ):
            raise AwsError(
                f"{good.task_definition_arn} no longer runs {good.digest}",
                hint="release that version again instead",
            )
        result = ReleaseResult(
            target.client,
            target.env,
            good.version,
            good.digest,
            "failed",
            kind="rollback",
            task_definition_arn=good.task_definition_arn,
            previous_task_definition_arn=current_arn,
            rolled_back_to=good.task_definition_arn,
        )
        ui._step(
            f"{target.key}: rolling back to {good.version} "
            f"({good.task_definition_arn.rsplit('/', 1)[-1]})"
        )
        rb = _rollback_to(
            c,
            target,
            options,
            ui,
            ledger,
            to=good,
            taskdef_arn=good.task_definition_arn,
            version=good.version,
            digest=good.digest,
            image=good.image,
            previous=current_arn,
            rollback_of="",
            clock=clock,
            sleep=sleep,
        )
        result.release_id = rb.release_id
        result.diagnosis = rb.diagnosis
        result.elapsed = clock() - t0
        if rb.outcome != "succeeded":
            result.message = f"{target.key}: rollback to {good.version} failed: {rb.message}"
            err = ReleaseFailed(
                result.message, recovered=False, hint="look at the diagnosis; a person is needed"
            )
            err.result = result  # type: ignore[attr-defined]
            raise err
        result.outcome = "succeeded"
        result.message = f"{target.key} is back on {good.version} ({rb.message})"
        return result
