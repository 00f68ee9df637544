"""The release of one client/env, as functions over values, an AWS session and a poller.

    lock -> observe what serves (a revision cosydeploy did not release is said and
    recorded as observed) -> render + diff (dry-run stops) -> no-op check ->
    ledger(in_progress) -> register -> update service -> watch THAT deployment ->
    verify (health path; /version and the smoke command when configured) -> bake
    (keep watching for the bake time: release/bake.py) -> ledger(succeeded)
    on failure, deadline or anything seen during the bake: diagnose -> back to what served before when it was healthy,
    else to the last good release (watched; when ECS's circuit breaker already went
    there, that deployment is followed and verified, nothing changed)
    -> ledger(rolled_back | failed)

Outcomes are returned as a ReleaseResult, never raised. Bad input raises a
CosydeployError before anything changes; a held lock raises LockHeldError;
KeyboardInterrupt leaves the ledger saying interrupted, releases the lock and
propagates. Everything the user should see is emitted as an event.

Faults: an AWS call failing before ``update_service`` raises the translated error
(nothing changed, exit 2); once a deployment may be in flight, the outcome is
``failed`` with an unknown outcome (exit 3) naming the first cause, the deployment and
the revision, and the ledger record stays in_progress for the next run to reconcile
from ECS. Cleanup (ledger writes, the lock's release) never replaces the cause: its
failures are kept in ``result.notes`` (or the error's ``also``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from cosydeploy import events as ev
from cosydeploy import outcome as oc
from cosydeploy.adapters.aws import aws_fault
from cosydeploy.ecs.diagnose import Diagnosis, diagnose
from cosydeploy.ecs.poller import Poller, buckets_at
from cosydeploy.ecs.taskdef import container_image, diff_task_definitions, render_task_definition
from cosydeploy.ecs.watch import Phase, Verdict, Watch
from cosydeploy.errors import AwsError, CosydeployError, UsageError
from cosydeploy.image import ImageRef, ResolvedImage
from cosydeploy.ledger import Ledger, ReleaseRecord, ci_run_url, current_actor
from cosydeploy.lock import DeployLock
from cosydeploy.release import bake as bk
from cosydeploy.release import notify, shift
from cosydeploy.release import observe as ob
from cosydeploy.release import snapshot as snap
from cosydeploy.release import verify as vf
from cosydeploy.release.model import ReleaseOptions, ReleaseResult, ReleaseTarget
from cosydeploy.release.observe import current_service
from cosydeploy.release.verify import verify_health

__all__ = ["preflight_secrets", "release_one", "rollback_one", "verify_health"]


# ----------------------------------------------------------------------------- steps


def preflight_secrets(secretsmanager: Any, target: ReleaseTarget) -> None:
    """Every required secret exists and has a current value; else exit 2 naming them.

    The one secrets-presence check (``cosydeploy.secrets``): metadata only, secret values
    are never fetched.
    """
    from cosydeploy.secrets import list_secrets, missing_values

    if not target.secret_names:
        return
    statuses = list_secrets(
        secretsmanager, target.project, target.client, target.env, target.secret_names
    )
    missing = missing_values(statuses)
    if missing:
        where = f"{target.manifest}: app.secrets: " if target.manifest else ""
        raise CosydeployError(
            f"{where}{target.key}: required secret(s) without a value: {', '.join(missing)}",
            hint=f"set each from stdin or a prompt: cosydeploy secrets set {target.client} "
            f"--env {target.env} {missing[0]}",
        )


def lock_ttl(target: ReleaseTarget, options: ReleaseOptions) -> int:
    """Long enough for a whole release plus its rollback, so a live lock never expires."""
    deadline = options.timeout if options.timeout is not None else target.timeout
    return int(max(3600.0, deadline + target.release.bake + target.timeout + 600))


def settled(service: Mapping[str, Any]) -> bool:
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


def first_start(service: Mapping[str, Any], target: ReleaseTarget) -> int | None:
    """The tasks a release starts on a service at 0 tasks (the client stack creates its
    service with none, since nothing can run before the first image and the secrets
    exist): the manifest's desired count. None: ECS and auto-scaling keep the count."""
    if int(service.get("desiredCount") or 0) == 0 and target.desired_count > 0:
        return target.desired_count
    return None


def _describe_taskdef(ecs: Any, arn: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    resp = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    return resp["taskDefinition"], resp.get("tags") or []


def _deployment_of(update_resp: Mapping[str, Any], taskdef_arn: str) -> str | None:
    for d in (update_resp.get("service") or {}).get("deployments") or []:
        if d.get("taskDefinition") == taskdef_arn and d.get("status") == "PRIMARY":
            return d.get("id")
    return None


class _Run:
    """One client's release or rollback: the target, its clients, the poller, the sink."""

    def __init__(
        self,
        target: ReleaseTarget,
        options: ReleaseOptions,
        emit: ev.Sink,
        poller: Poller,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.t = target
        self.options = options
        self.emit = emit
        self.poller = poller
        self.clock = clock
        self.sleep = sleep
        self.ecs = target.aws.client("ecs")
        self.warnings: list[str] = []  # said while it ran; the result carries them
        self.ledger = Ledger(target.aws.client("dynamodb"), target.ledger_table, clock=clock)
        self.doing = "ECS describe_services"  # the AWS call under way, for the error line
        self.in_flight_arn = ""  # set when update_service is called: a deployment may run
        self.watching: Watch | None = None
        self.cleanup: list[str] = []  # cleanup failures, reported after the cause
        self.rollback_rec: ReleaseRecord | None = None  # the record of a rollback under way
        self.rolled_out_at = 0.0  # when the last watched deployment was judged complete

    def quietly(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a cleanup step; its failure is kept as an extra line, never in place of the
        error that caused the failure."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self.cleanup.append(f"also: could not {what}: {exc}")
            return None

    def record(self, rec: ReleaseRecord, outcome: str, **changes: Any) -> ReleaseRecord:
        """The outcome in the ledger (the SDK retries the write); if it still fails, the
        outcome stands, is reported in full, and the next run reconciles the record."""
        done = self.quietly(
            f"record {rec.kind} {rec.release_id} as {outcome} in the release ledger "
            "(the next release, status or history reconciles it from ECS)",
            self.ledger.finish,
            rec,
            outcome,
            **changes,
        )
        return done or replace(rec, outcome=outcome, **changes)

    def step(self, text: str) -> None:
        self.emit(ev.Step(self.t.key, text))

    def info(self, text: str) -> None:
        self.emit(ev.Info(self.t.key, text))

    @contextmanager
    def lock(self, operation: str):
        self.step("lock")
        self.doing = "DynamoDB (the deploy lock)"
        lock = DeployLock(
            self.t.aws.client("dynamodb"),
            self.t.client,
            self.t.env,
            table=self.t.lock_table,
            wait=self.options.lock_wait,
            operation=operation,
            ttl_seconds=lock_ttl(self.t, self.options),
            actor=self.options.actor,
            clock=self.clock,
            sleep=self.sleep,
        )
        lock.acquire()
        self.doing = "ECS describe_services"  # the step after the lock reads the service
        try:
            yield
        finally:
            self.quietly(
                f"release the deploy lock (it expires by itself, or: cosydeploy unlock "
                f"{self.t.client} --env {self.t.env})",
                lock.release,
            )

    def roll_out(
        self,
        taskdef_arn: str,
        *,
        timeout: float | None = None,
        label: str = "",
        started_by_ecs: str | None = None,
        start_count: int | None = None,
        version: str | None = None,
        configuration: Mapping[str, Any] | None = None,
    ) -> tuple[Verdict, bool | None, str]:
        """update_service to ``taskdef_arn``, watch that deployment, verify. Returns
        (verdict, verified, message); verified is None when skipped.

        ``configuration``: the deployment configuration to deploy with (a rollback's,
        without the alarms); None keeps the service's.

        ``version``: a release's version, checked against ``/version`` and handed to the
        smoke command when the target's release policy asks for them.

        ``timeout`` defaults to the release's (``--timeout``, else the config's); a
        rollback passes the config's own, so a short release deadline never starves it.
        ``started_by_ecs``: the id of a deployment to ``taskdef_arn`` ECS already started
        (its circuit breaker's rollback): followed and verified, no update_service."""
        o = self.t.outputs
        started = self.clock()
        resp: Mapping[str, Any] = {}
        if started_by_ecs:
            self.in_flight_arn = taskdef_arn  # ECS's own deployment is in flight
            dep_id: str | None = started_by_ecs
            before: frozenset[str] = frozenset()
        else:
            self.doing = "ECS update_service"
            self.in_flight_arn = taskdef_arn  # from here on a deployment may be in flight
            count: dict[str, Any] = {} if start_count is None else {"desiredCount": start_count}
            if configuration is not None:
                count["deploymentConfiguration"] = dict(configuration)
            resp = self.ecs.update_service(
                cluster=o.cluster_name,
                service=o.service_name,
                taskDefinition=taskdef_arn,
                **count,
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
            timeout = self.options.timeout if self.options.timeout is not None else self.t.timeout
        watch = Watch(
            key=self.t.key,
            ecs=self.ecs,
            cluster=o.cluster_name,
            service=o.service_name,
            deployment_id=dep_id,
            deadline=started + timeout,
            task_definition_arn=taskdef_arn,
            not_before=started - 60 if dep_id is None else None,
            exclude_ids=before,
            elbv2=self.t.aws.client("elbv2") if o.target_group_arn else None,
            target_group_arn=o.target_group_arn,
            group=f"{self.t.account_id}|{self.t.region}",
            ignore_events_before=started - 1,
            started_at=started,
            label=" ".join(x for x in (label, taskdef_arn.rsplit("/", 1)[-1]) if x),
        )
        self.watching = watch
        self.doing = "ECS describe_services (watching the deployment)"
        verdict = self.poller.watch(
            watch,
            on_update=lambda w: self.emit(ev.Rollout(self.t.key, w)),
            on_events=lambda w, es: self.emit(ev.ServiceEvents(self.t.key, w, es)),
        )
        if verdict.phase is Phase.SUCCEEDED and not started_by_ecs:
            # The service's counts say done; ECS's own record must say so too.
            recorded, said = shift.confirmed(
                self, taskdef_arn, started, watch.deadline, update_response=resp
            )
            if recorded is False:
                verdict = replace(verdict, phase=Phase.FAILED, reason=said)
            elif recorded is None:
                self.emit(ev.Warning(self.t.key, f"{said}: the verdict rests on the service"))
        if verdict.phase is not Phase.SUCCEEDED:
            return verdict, None, verdict.reason
        self.rolled_out_at = self.clock()
        if not o.app_url:
            self.emit(ev.Verified(self.t.key, None, "the stack has no app URL"))
            return verdict, None, verdict.reason
        ok, why = verify_health(
            o.app_url.rstrip("/") + self.t.health_path,
            needed=self.options.verify_attempts,
            interval=self.options.verify_interval,
            max_tries=self.options.verify_max_tries,
            sleep=self.sleep,
        )
        self.emit(ev.Verified(self.t.key, ok, why))
        if ok and version is not None:
            ok, why = self.verify_release(version, why)
        return verdict, ok, why

    def verify_release(self, version: str, health: str, url: str = "") -> tuple[bool, str]:
        """The release policy's checks after the health path: /version, then the smoke
        command, against ``url`` (default: the app URL). (ok, what passed or what failed)."""
        policy, url = self.t.release, (url or self.t.outputs.app_url).rstrip("/")
        passed = [health]
        if policy.verify_version:
            ok, why = vf.check_version(
                f"{url}/version",
                version,
                interval=self.options.verify_interval,
                sleep=self.sleep,
            )
            self.emit(ev.Verified(self.t.key, ok, why))
            if not ok:
                return False, why
            passed.append(why)
        if policy.smoke:
            self.step(f"smoke: {policy.smoke}")
            ok, why = vf.run_smoke(
                policy.smoke,
                app_url=url,
                version=version,
                cwd=Path(self.t.workdir) if self.t.workdir else None,
                timeout=policy.smoke_timeout,
            )
            self.emit(ev.Verified(self.t.key, ok, why))
            if not ok:
                return False, why
            passed.append(why)
        return True, "; ".join(passed)

    def bake(self, taskdef_arn: str, version: str) -> bk.BakeResult | None:
        """Keep watching a verified release for the bake time (None: no bake)."""
        t, o = self.t, self.t.outputs
        seconds = t.release.bake
        if seconds <= 0:
            return None
        alarms = t.alarm_names
        watching = ["ECS tasks and events"]
        watching += ["target health"] * bool(o.target_group_arn)
        watching += ["the health path"] * bool(o.app_url)
        watching += ["/version"] * bool(o.app_url and t.release.verify_version)
        watching += [f"{len(alarms)} alarm(s)"] * bool(alarms)
        self.step(f"baking for {seconds}s: watching {', '.join(watching)}")
        self.doing = "the bake (ECS, ELB and CloudWatch reads)"
        url = o.app_url.rstrip("/")
        return bk.Bake(
            key=t.key,
            seconds=seconds,
            ecs=self.ecs,
            cluster=o.cluster_name,
            service=o.service_name,
            deployment_id=self.watching.deployment_id if self.watching else None,
            task_definition_arn=taskdef_arn,
            health_url=f"{url}{t.health_path}" if url else "",
            version_url=f"{url}/version" if url and t.release.verify_version else "",
            version=version,
            elbv2=t.aws.client("elbv2") if o.target_group_arn else None,
            target_group_arn=o.target_group_arn,
            cloudwatch=t.aws.client("cloudwatch") if alarms else None,
            alarms=alarms,
            interval=self.options.bake_interval,
            since=self.rolled_out_at,
            emit=self.emit,
            clock=self.clock,
            sleep=self.sleep,
            stop=bk.stop_event(self.poller),
            pace=self.poller.pace(f"{t.account_id}|{t.region}", t.key),
            first=self._last_look(taskdef_arn),
        ).run()

    def _last_look(self, taskdef_arn: str) -> tuple[Any, Any] | None:
        """What the watch of this rollout read as it judged it done (the service and its
        target health), for the bake's first look; None when there is no such look."""
        w = self.watching
        if w is None or w.verdict.phase is not Phase.SUCCEEDED or w.last_service is None:
            return None
        if w.task_definition_arn != taskdef_arn:
            return None
        return w.last_service, w.last_targets

    def observe(
        self, service: Mapping[str, Any], running: Mapping[str, Any], *, record: bool = True
    ) -> ob.Serving:
        """What the service serves now (``running``: its task definition). A revision
        cosydeploy did not release is said (a warning) and, with ``record``, kept in the
        ledger as observed (once per revision)."""
        t, o = self.t, self.t.outputs
        arn = service.get("taskDefinition", "")
        image = container_image(dict(running), o.container_name) or ""
        th = None
        if o.target_group_arn:
            th = (
                self.t.aws.client("elbv2")
                .describe_target_health(TargetGroupArn=o.target_group_arn)
                .get("TargetHealthDescriptions", [])
            )
        healthy, why = ob.health(service, th, has_target_group=bool(o.target_group_arn))
        history = self.ledger.history(t.client, t.env, limit=None) if arn else []
        serving = ob.Serving(
            arn,
            image,
            (ImageRef.parse(image).digest or "") if image else "",
            healthy,
            why,
            released=ob.released_record(history, arn),
            observed=ob.observed_record(history, arn),
            placeholder=bool(image) and image == t.initial_image,
        )
        if not serving.outside:
            return serving
        text = (
            f"runs {serving.describe()}, not released by cosydeploy "
            f"({'healthy' if healthy else 'not healthy'}: {why})"
        )
        self.warnings.append(text)
        self.emit(ev.Warning(t.key, text, cause=f"observed:{t.key}:{arn}"))
        if record and serving.observed is None:
            rec = self.ledger.observe(
                client=t.client,
                env=t.env,
                task_definition_arn=arn,
                image=image,
                digest=serving.digest,
                healthy=healthy,
                message=f"found serving: {why}",
                actor=str(running.get("registeredBy") or ""),
            )
            serving = replace(serving, observed=rec)
        return serving

    def raise_scaling_floor(self) -> None:
        """After a first start: register the scaling bounds Terraform keeps at [0, max]
        while the service has never run (registering [0, max] earlier kept the placeholder
        from starting); the next apply reads a started service and keeps these bounds."""
        o = self.t.outputs
        self.t.aws.client("application-autoscaling").register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=f"service/{o.cluster_name}/{o.service_name}",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=self.t.min_tasks,
            MaxCapacity=self.t.max_tasks,
        )
        self.info(f"first start: scaling bounds {self.t.min_tasks}-{self.t.max_tasks}")

    def stop_first_start(self) -> None:
        """A first start that failed goes back to no task: the revision before it is the
        placeholder, which cannot run."""
        o = self.t.outputs
        self.ecs.update_service(cluster=o.cluster_name, service=o.service_name, desiredCount=0)

    def diagnose(self, taskdef_arn: str) -> Diagnosis:
        o = self.t.outputs
        d = diagnose(
            ecs=self.ecs,
            logs=self.t.aws.client("logs"),
            elbv2=self.t.aws.client("elbv2") if o.target_group_arn else None,
            cluster=o.cluster_name,
            service=o.service_name,
            container_name=o.container_name,
            log_group=o.log_group_name,
            target_group_arn=o.target_group_arn,
            task_definition_arn=taskdef_arn,
        )
        self.emit(ev.Diagnosed(self.t.key, d))
        return d

    def rollback_to(
        self,
        *,
        to: ReleaseRecord | None,
        taskdef_arn: str,
        previous: str,
        rollback_of: str,
    ) -> ReleaseRecord:
        """Roll out a known-good revision, watched and verified; record it as kind=rollback."""
        rec = self.ledger.start(
            client=self.t.client,
            env=self.t.env,
            version=to.version if to else "previous",
            digest=to.digest if to else "",
            image=to.image if to else "",
            previous_task_definition_arn=previous,
            kind="rollback",
            rollback_of=rollback_of,
            git_sha=to.git_sha if to else "",
            actor=self.options.actor,
        )
        self.rollback_rec = rec
        rec = self.rollback_rec = self.ledger.update(rec, task_definition_arn=taskdef_arn)
        # The deployment alarms went off because of the version being left: they must not
        # make ECS undo the way back.
        with self.alarms_off() as quiet:
            return self._roll_back_to(rec, taskdef_arn, quiet)

    @contextmanager
    def alarms_off(self, really: bool = True):
        """The service's deployment configuration with its deployment alarms off, for one
        deployment (None: no alarm was on, or not ``really``); as it was afterwards."""
        if not really:
            yield None
            return
        o = self.t.outputs
        service = current_service(self.ecs, self.t)
        config = {
            k: v for k, v in (service.get("deploymentConfiguration") or {}).items() if v is not None
        }
        quiet = _alarms_off(config)
        try:
            yield quiet
        finally:
            if quiet is not None:
                self.quietly(
                    "turn the service's deployment alarms back on (cosydeploy apply does too)",
                    self.ecs.update_service,
                    cluster=o.cluster_name,
                    service=o.service_name,
                    deploymentConfiguration=config,
                )

    def _roll_back_to(
        self, rec: ReleaseRecord, taskdef_arn: str, quiet: Mapping[str, Any] | None
    ) -> ReleaseRecord:
        try:
            if self.t.release.shifts_traffic:  # the same way forward: verified on test traffic
                back = shift.shift(self, taskdef_arn, rec.version, None, configuration=quiet)
                ok, why = back.succeeded, back.why
                if not ok:
                    why = (
                        back.signal.text
                        if back.signal
                        else (back.state.reason if back.state else why)
                    )
                diag = [] if ok else self.diagnose(taskdef_arn).lines()
                return self.record(
                    rec, oc.SUCCEEDED if ok else oc.FAILED, message=why, diagnosis=diag
                )
            verdict, verified, why = self.roll_out(
                taskdef_arn,
                timeout=self.t.timeout,
                label=f"back to {rec.version}",
                configuration=quiet,
            )
        except KeyboardInterrupt:
            self.quietly(
                "record the interruption in the release ledger",
                self.ledger.finish,
                rec,
                oc.INTERRUPTED,
                message="interrupted during rollback",
            )
            raise
        ok = verdict.phase is Phase.SUCCEEDED and verified is not False
        diag = [] if ok else self.diagnose(taskdef_arn).lines()
        return self.record(rec, oc.SUCCEEDED if ok else oc.FAILED, message=why, diagnosis=diag)


def _alarms_off(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """``config`` with its deployment alarms off (None: none were on)."""
    alarms = config.get("alarms") or {}
    if not alarms.get("enable"):
        return None
    return {**config, "alarms": {**alarms, "enable": False, "rollback": False}}


def _private_poller(options: ReleaseOptions, poller: Poller | None) -> tuple[Poller, bool]:
    if poller is not None:
        return poller, False
    poller = Poller(
        initial_interval=options.poll_initial,
        max_interval=options.poll_max,
        buckets=buckets_at(options.reads_per_second),
    )
    return poller, True


# -------------------------------------------------------------------------- release


def release_one(
    target: ReleaseTarget,
    image: ResolvedImage,
    options: ReleaseOptions | None = None,
    *,
    emit: ev.Sink = ev.ignore,
    poller: Poller | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ReleaseResult:
    """Release ``image`` (by digest) to one client/env and tell the truth about it.

    Returns a ReleaseResult with outcome dry_run, noop, succeeded, rolled_back (failed
    and back on a good release: exit 1) or failed (NOT back on a good release: exit 3).
    """
    options = options or ReleaseOptions()
    if not ImageRef.parse(image.uri).digest:
        raise UsageError(f"release needs an image by digest, got {image.uri}")
    poller, own = _private_poller(options, poller)
    run = _Run(target, options, emit, poller, clock, sleep)
    t0 = clock()
    try:
        with _translated(run):
            if options.dry_run:
                result = _release(run, image)
            else:
                with run.lock(f"release {image.version}"):
                    result = _release(run, image)
    finally:
        if own:
            poller.close()
    result.elapsed = clock() - t0
    return result


def _release(run: _Run, image: ResolvedImage) -> ReleaseResult:
    t, o, options = run.t, run.t.outputs, run.options
    service = current_service(run.ecs, t)
    previous_arn = service.get("taskDefinition", "")
    running, running_tags = _describe_taskdef(run.ecs, previous_arn) if previous_arn else ({}, [])
    before = run.observe(service, running, record=not options.dry_run)
    actor = options.actor or current_actor()
    new_td = render_task_definition(
        outputs=o,
        image_uri=image.uri,
        region=t.region,
        container_port=t.container_port,
        cpu=t.cpu,
        memory=t.memory,
        environment=t.environment,
        secret_names=t.secret_names,
        stop_timeout=t.stop_timeout,
        health_check_path=t.container_health_path,
        tags={
            **t.tags,
            "cosydeploy:version": image.version,
            "cosydeploy:git-sha": image.git_sha or "unknown",
            "cosydeploy:released-by": actor,
        },
        templates=t.templates,
    )
    diff = diff_task_definitions(running or None, new_td, running_tags=running_tags)
    run.step(
        f"task definition {o.task_family} (diff against "
        f"{previous_arn.rsplit('/', 1)[-1] or 'nothing'})"
    )
    run.emit(ev.DiffShown(t.key, diff))
    result = ReleaseResult(
        t.client,
        t.env,
        image.version,
        image.digest,
        oc.DRY_RUN,
        diff=diff,
        previous_task_definition_arn=previous_arn,
        warnings=list(run.warnings),
        strategy=t.release.strategy,
    )
    result.notes = run.cleanup
    if options.dry_run:
        result.message = "dry run: nothing registered"
        return result

    def begin() -> ReleaseRecord:
        return run.ledger.start(
            client=t.client,
            env=t.env,
            version=image.version,
            digest=image.digest,
            image=image.uri,
            git_sha=image.git_sha,
            previous_task_definition_arn=previous_arn,
            actor=actor,
            strategy=t.release.strategy,
        )

    # "Already serving" is a claim too: only when that revision's deployment settled.
    same_image = container_image(running, o.container_name) == image.uri
    if same_image and diff.without("tags").empty and settled(service):
        rec = run.ledger.finish(
            begin(),
            oc.NOOP,
            task_definition_arn=previous_arn,
            message="already running this image and configuration",
        )
        result.outcome, result.release_id = oc.NOOP, rec.release_id
        result.task_definition_arn = previous_arn
        result.message = f"{t.key} already runs {image.version} ({image.digest[:19]})"
        run.info(f"{result.message}: nothing to do")
        return result

    box = [begin()]
    result.release_id = box[0].release_id
    with _announced(run, result, actor):
        try:
            _snapshot_before(run, box, image, result)
            return _deploy(run, box, new_td, before, image, result, first_start(service, t))
        except KeyboardInterrupt:
            run.quietly(
                "record the interruption in the release ledger",
                run.ledger.finish,
                box[0],
                oc.INTERRUPTED,
                message="interrupted (Ctrl-C)",
            )
            raise
        except Exception as exc:
            return _broken(run, box[0], result, exc)


def _announced(run: _Run, result: ReleaseResult, actor: str, *, started: bool = True) -> Any:
    """Notifications (release.notify): started now, the outcome at the end; a failure to
    notify is a warning of the result, never its outcome."""
    t = run.t

    def warn(text: str) -> None:
        result.warnings.append(text)
        run.emit(ev.Warning(t.key, text, cause=f"notify:{t.key}"))

    notifier = notify.Notifier(t.aws, t.notify, warn) if t.notify else None
    return notify.announced(
        notifier, result, project=t.project, actor=actor, run_url=ci_run_url(), started=started
    )


def _snapshot_before(
    run: _Run, box: list[ReleaseRecord], image: ResolvedImage, result: ReleaseResult
) -> None:
    """Where configured, a Redis snapshot named after the version, available before
    anything changes (release.snapshot), kept in the release's record."""
    if run.t.snapshot is None:
        return
    run.doing = "ElastiCache (the Redis snapshot before the release)"
    name = snap.before_release(
        run.t.aws.client("elasticache"),
        run.t.snapshot,
        image.version,
        box[0].release_id,
        step=run.step,
        clock=run.clock,
        sleep=run.sleep,
    )
    result.snapshot = name
    box[0] = run.ledger.update(box[0], snapshot=name)
    run.info(f"redis snapshot {name} is available")


@contextmanager
def _translated(run: _Run):
    """An AWS error escaping a step before anything changed: the translated error (the
    cause), with the cleanup failures after it."""
    try:
        yield
    except CosydeployError as exc:
        exc.also = run.cleanup
        raise
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(exc, BotoCoreError | ClientError):
            raise
        cause = aws_fault(exc, run.doing)
        cause.also = run.cleanup
        raise cause from exc


def _broken(run: _Run, rec: ReleaseRecord, result: ReleaseResult, exc: Exception) -> ReleaseResult:
    """A step raised. Before update_service nothing changed: the record says failed and
    the cause is raised. After it a deployment may be in flight and its outcome is
    unknown: exit 3 with the first cause, the deployment, the revision and what to run;
    the record stays in_progress, for the next run to reconcile from ECS."""
    t = run.t
    cause = aws_fault(exc, run.doing)
    if not run.in_flight_arn:
        run.quietly(
            "record the failure in the release ledger",
            run.ledger.finish,
            rec,
            oc.FAILED,
            message=f"error: {cause.message}",
        )
        cause.also = run.cleanup
        if cause is exc:
            raise exc
        raise cause from exc
    dep = (run.watching.deployment_id if run.watching else "") or "(id not known)"
    rev = run.in_flight_arn.rsplit("/", 1)[-1]
    result.outcome = oc.FAILED
    result.message = (
        f"{t.key}: outcome unknown: {cause.message}; deployment {dep} of {rev} "
        "may still be in flight"
    )
    result.hint = f"cosydeploy status {t.client} --env {t.env}"
    run.quietly(
        "note the unknown outcome in the release ledger",
        run.ledger.update,
        rec,
        message=f"outcome unknown: {cause.message} (deployment {dep} of {rev})",
    )
    return result


def _deploy(
    run: _Run,
    box: list[ReleaseRecord],
    new_td: dict[str, Any],
    before: ob.Serving,
    image: ResolvedImage,
    result: ReleaseResult,
    start_count: int | None = None,
) -> ReleaseResult:
    t = run.t
    run.doing = "ECS register_task_definition"
    arn = run.ecs.register_task_definition(**new_td)["taskDefinition"]["taskDefinitionArn"]
    rec = box[0] = run.ledger.update(box[0], task_definition_arn=arn)
    result.task_definition_arn = arn
    run.step(f"registered {arn.rsplit('/', 1)[-1]}; rolling out")
    if start_count is not None:
        run.info(f"the service has no task yet: this release starts {start_count}")
    # A first start: the alarms about healthy targets are in ALARM until the first tasks
    # are healthy, so the deployment alarms stay off for it (then as they were).
    with run.alarms_off(start_count is not None) as quiet:
        if t.release.shifts_traffic:
            return shift.deploy(
                run, box, arn, before, image.version, result, start_count, configuration=quiet
            )
        result.stage = "rollout"
        verdict, verified, why = run.roll_out(
            arn,
            label=image.version,
            start_count=start_count,
            version=image.version,
            configuration=quiet,
        )
    baked = None
    if verdict.phase is Phase.SUCCEEDED and verified is not False:
        result.stage = "verified"
        if t.release.bake > 0:
            result.stage = "baking"
            # A note on the way, not an outcome: a ledger that cannot take it does not stop
            # the bake (the outcome's own write, and the next run, settle the record).
            noted = run.quietly(
                "note the bake in the release ledger", run.ledger.update, rec, stage="baking"
            )
            if noted is not None:
                rec = box[0] = noted
            baked = run.bake(arn, image.version)
        if baked is not None:
            result.bake = baked.as_dict()
            result.stage = "baked" if baked.ok else "baking"
            result.warnings += baked.notes
    if verdict.phase is Phase.SUCCEEDED and verified is not False and (baked is None or baked.ok):
        if start_count is not None and t.min_tasks > 0:
            run.raise_scaling_floor()
        result.verified = verified
        if baked is not None:
            why = f"{why}; baked {baked.seconds:.0f}s, nothing seen"
        box[0] = run.record(rec, oc.SUCCEEDED, message=why, stage=result.stage)
        result.outcome = oc.SUCCEEDED
        result.message = f"{t.key} is serving {image.version} ({why})"
        return result

    # Failure: diagnose, then roll back.
    phase = "timed out" if verdict.phase is Phase.TIMED_OUT else "failed"
    if verified is False:
        phase = "failed verification"
        result.verified = False
    elif baked is not None and baked.signal is not None:
        phase = f"failed during the bake ({baked.elapsed:.0f}s of {baked.seconds:.0f}s)"
        why = baked.signal.text
        result.verified = verified
    run.step(f"release {phase}: {why}")
    diagnosed = run.quietly("diagnose the failed deployment", run.diagnose, arn)
    result.diagnosis = diagnosed.lines() if diagnosed else []
    if baked is not None and baked.signal is not None:
        result.diagnosis.insert(0, f"seen during the bake: {baked.signal.text}")
    rec = box[0] = run.ledger.update(
        rec,
        diagnosis=result.diagnosis,
        message=f"{phase}: {why}",
        stage=result.stage,
        rollback_reason=f"{phase}: {why}",
    )
    recovered, back, how = False, "", ""
    if run.options.rollback and start_count is not None:
        run.step("first start failed: back to no task")
        run.stop_first_start()
        result.rolled_back_to = before.task_definition_arn
    elif run.options.rollback:
        good = run.ledger.last_good(t.client, t.env, exclude_digest=image.digest)
        to = ob.rollback_target(before, image.uri, good)
        if to is not None:
            recovered, how = _back_to(run, to, failed_arn=arn, rollback_of=rec.release_id)
            back = to.label
            result.rolled_back_to = to.task_definition_arn
        else:
            run.info("nothing to roll back to")
    else:
        run.info("--no-rollback: left as it is")
    result.outcome = oc.ROLLED_BACK if recovered else oc.FAILED
    box[0] = run.record(
        rec, result.outcome, **({"message": f"{rec.message}; {how}"} if how else {})
    )
    result.message = f"{t.key}: {image.version} {phase} ({why}); " + (
        f"back on {back}{f' ({how})' if how else ''}" if recovered else "NOT back on a good release"
    )
    if not recovered:
        result.hint = f"look at the diagnosis, then: cosydeploy rollback {t.client} --env {t.env} --to VERSION"
    return result


def _back_to(run: _Run, to: ob.Target, *, failed_arn: str, rollback_of: str) -> tuple[bool, str]:
    """Go back to ``to`` after a failed release: (back on it, how). When ECS's circuit
    breaker already started a deployment back to it, follow and verify that one and change
    nothing; else roll it out (recorded as a rollback)."""
    run.info(to.why)
    run.doing = "ECS describe_services (before going back)"
    service = current_service(run.ecs, run.t)
    by_ecs = ob.ecs_rolled_back_to(service, to.task_definition_arn)
    if by_ecs is None:
        run.step(f"rolling back to {to.label}")
        rb = run.rollback_to(
            to=to.record,
            taskdef_arn=to.task_definition_arn,
            previous=failed_arn,
            rollback_of=rollback_of,
        )
        if rb.outcome == oc.SUCCEEDED:
            return True, to.note
        return False, f"the rollback to {to.label} failed"
    run.step(f"ECS already rolled back to {to.label}: verifying it, changing nothing")
    verdict, verified, why = run.roll_out(
        to.task_definition_arn,
        timeout=run.t.timeout,
        label=f"back to {to.label}",
        started_by_ecs=by_ecs,
    )
    if verdict.phase is Phase.SUCCEEDED and verified is not False:
        return True, f"{to.note}; ECS rolled back to it, verified"
    run.diagnose(to.task_definition_arn)
    return False, f"ECS rolled back to {to.label}, which did not verify: {why}"


# -------------------------------------------------------------------------- rollback


def rollback_one(
    target: ReleaseTarget,
    to_version: str | None = None,
    options: ReleaseOptions | None = None,
    *,
    emit: ev.Sink = ev.ignore,
    poller: Poller | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ReleaseResult:
    """Roll back to the previous good release (or the newest good release of
    ``to_version``), under the lock, watched and verified, recorded as kind=rollback.

    Raises UsageError when there is nothing to roll back to; a rollback that fails is a
    result with outcome failed (exit 3). An AWS fault is translated as for a release:
    before update_service it is raised (nothing changed); after it the outcome is unknown
    (failed, exit 3, the record left in_progress for the next run to reconcile).
    """
    options = options or ReleaseOptions()
    poller, own = _private_poller(options, poller)
    run = _Run(target, options, emit, poller, clock, sleep)
    t0 = clock()
    try:
        with _translated(run), run.lock("rollback"):
            result = _rollback(run, to_version)
    finally:
        if own:
            poller.close()
    result.elapsed = clock() - t0
    return result


def _rollback(run: _Run, to_version: str | None) -> ReleaseResult:
    t, o = run.t, run.t.outputs
    service = current_service(run.ecs, t)
    current_arn = service.get("taskDefinition", "")
    current_td, _ = _describe_taskdef(run.ecs, current_arn) if current_arn else ({}, [])
    serving = run.observe(service, current_td)
    run.doing = "DynamoDB (the release ledger)"
    if to_version:
        good = run.ledger.last_good(t.client, t.env, version=to_version)
        missing = f"no good release of {to_version} in the ledger"
    else:
        good, why = ob.rollback_choice(
            run.ledger.history(t.client, t.env, limit=None), current_arn, serving.digest
        )
        missing = "no earlier good release to roll back to"
        if good is not None:
            run.info(f"rolling back to {good.version}: {why}")
    if not good:
        raise UsageError(
            f"{t.key}: {missing}", hint=f"see cosydeploy history {t.client} --env {t.env}"
        )
    run.doing = "ECS describe_task_definition"
    td, _ = _describe_taskdef(run.ecs, good.task_definition_arn)
    if (
        good.digest
        and ImageRef.parse(container_image(td, o.container_name) or "x").digest != good.digest
    ):
        raise AwsError(
            f"{good.task_definition_arn} no longer runs {good.digest}",
            hint="release that version again instead",
        )
    result = ReleaseResult(
        t.client,
        t.env,
        good.version,
        good.digest,
        oc.FAILED,
        kind="rollback",
        task_definition_arn=good.task_definition_arn,
        previous_task_definition_arn=current_arn,
        rolled_back_to=good.task_definition_arn,
        warnings=list(run.warnings),
    )
    run.step(f"rolling back to {good.version} ({good.task_definition_arn.rsplit('/', 1)[-1]})")
    result.notes = run.cleanup
    rolled_from = serving.released
    if rolled_from is not None and rolled_from.snapshot:  # taken before that release
        result.snapshot = rolled_from.snapshot
        run.info(
            snap.rollback_note(
                rolled_from.snapshot, rolled_from.version, o.redis_replication_group_id, t.region
            )
        )
    with _announced(run, result, run.options.actor or current_actor(), started=False):
        return _rolled_back(run, result, good, current_arn)


def _rolled_back(
    run: _Run, result: ReleaseResult, good: ReleaseRecord, current_arn: str
) -> ReleaseResult:
    t = run.t
    try:
        rb = run.rollback_to(
            to=good, taskdef_arn=good.task_definition_arn, previous=current_arn, rollback_of=""
        )
    except Exception as exc:
        if run.rollback_rec is None:  # no record yet: nothing changed
            raise
        return _broken(run, run.rollback_rec, result, exc)
    result.release_id = rb.release_id
    result.diagnosis = rb.diagnosis
    if rb.outcome != oc.SUCCEEDED:
        result.message = f"{t.key}: rollback to {good.version} failed: {rb.message}"
        result.hint = "look at the diagnosis; a person is needed"
        return result
    result.outcome = oc.SUCCEEDED
    result.message = f"{t.key} is back on {good.version} ({rb.message})"
    return result
