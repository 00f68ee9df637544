"""A release that ECS runs beside the current version: blue/green, canary or linear.

ECS starts the new ("green") revision in full beside the running ("blue") one, points the
test listener at it and holds it there on cosydeploy's PAUSE hook. cosydeploy verifies
green through the test listener (health path, ``/version``, the smoke command) before a
single production request reaches it, then answers the hook: CONTINUE, or ROLLBACK, which
ECS carries out without registering anything new. Production traffic then moves (all at
once, a canary share first, or in linear steps) and ECS bakes with blue still running.
All the while cosydeploy watches the production URL, the alarms and ECS's own record; what
it sees ends the deployment with StopServiceDeployment(ROLLBACK), an instant return to blue.

The verdict is ECS's record (``cosydeploy.ecs.deployments``), never the service's counts:
only SUCCESSFUL, with every check passed, is a success.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cosydeploy import events as ev
from cosydeploy.ecs import deployments as sd
from cosydeploy.ecs.watch import Phase, Verdict, Watch
from cosydeploy.errors import AwsError
from cosydeploy.release import bake as bk
from cosydeploy.release.observe import current_service
from cosydeploy.release.verify import check_version, http_get, verify_health

# ``run`` is the release's cosydeploy.release.pipeline._Run (not imported: pipeline
# imports this module).
_Run = Any

FIND_TIMEOUT = 60.0  # seconds for ECS's record of a new deployment to be listed


@dataclass
class Shifted:
    """How a traffic-shifting deployment ended."""

    arn: str = ""  # the service deployment
    state: sd.State | None = None  # the last look at it
    verified: bool | None = None  # green on the test listener
    why: str = ""  # what verification said, or what went wrong
    stage: str = (
        "rollout"  # how far it got: rollout, test traffic, verified, production, baking, baked
    )
    signal: bk.Signal | None = None  # what cosydeploy saw that made it roll back
    stopped_by_us: bool = False  # cosydeploy asked ECS to roll back
    timed_out: bool = False
    bake: bk.BakeResult | None = None

    @property
    def succeeded(self) -> bool:
        return (
            self.state is not None
            and self.state.status == sd.SUCCESSFUL
            and self.verified is True
            and self.signal is None
        )

    @property
    def rolled_back(self) -> bool:
        return self.state is not None and self.state.status == sd.ROLLBACK_SUCCESSFUL


class Shift:
    """Run one traffic-shifting deployment of ``taskdef_arn`` to its end."""

    def __init__(self, run: _Run, taskdef_arn: str, version: str, start_count: int | None) -> None:
        self.run = run
        self.t = run.t
        self.o = run.t.outputs
        self.policy = run.t.release
        self.taskdef_arn = taskdef_arn
        self.version = version
        self.start_count = start_count
        self.pace: Callable[[], Any] = run.poller.pace(
            f"{self.t.account_id}|{self.t.region}", self.t.key
        )
        self.stop = bk.stop_event(run.poller)
        self.result = Shifted()
        # ECS's record of our deployment is created at or after this (ECS's clock, from
        # the UpdateService answer; else ours, a little early).
        self.not_before = 0.0
        self.calls: dict[str, int] = {}
        # Whether the previous version served before this deployment: when it did not
        # (a first release), production requests still going to it say nothing of the
        # new one, and the app URL is judged once all of production is on the new one.
        self.blue_serves = True
        # Failed tasks ECS counted before production traffic reached the new revision.
        self.failed_before = 0
        # Told each stage reached (test traffic, verified, baking): the ledger's note.
        self.on_stage: Callable[[str], None] = lambda stage: None

    def _reach(self, stage: str) -> None:
        if self.result.stage != stage:
            self.result.stage = stage
            self.on_stage(stage)

    # ------------------------------------------------------------------ AWS, paced

    def _count(self, call: str) -> None:
        self.calls[call] = self.calls.get(call, 0) + 1
        if self.result.bake is not None:  # the bake's own share, as a rolling bake reports it
            self.result.bake.calls[call] = self.result.bake.calls.get(call, 0) + 1

    def _ecs(self, name: str, **kwargs: Any) -> Any:
        self.pace()
        self._count("ecs:" + "".join(p.capitalize() for p in name.split("_")))
        return getattr(self.run.ecs, name)(**kwargs)

    def _wait(self, seconds: float) -> None:
        if self.stop.wait(max(0.0, seconds)) or self.stop.is_set():
            raise KeyboardInterrupt

    # ------------------------------------------------------------------ the run

    def start(self, service: dict[str, Any], configuration: Any = None) -> None:
        """UpdateService with cosydeploy's PAUSE hook merged into the service's deployment
        configuration (Terraform set the strategy; the hook is cosydeploy's), or into
        ``configuration`` when given (a rollback's)."""
        config = configuration or service.get("deploymentConfiguration") or {}
        running = str(config.get("strategy") or "ROLLING")
        if running != self.policy.ecs_strategy:
            raise AwsError(
                f"{self.t.key}: the service deploys {running}, the release block says "
                f"{self.policy.strategy}",
                hint=f"apply the stack first: cosydeploy apply {self.t.client} --env {self.t.env}",
            )
        if not self.o.test_url:
            raise AwsError(
                f"{self.t.key}: the stack has no test listener (output test_url), which "
                f"{self.policy.strategy} verifies the new version through",
                hint=f"apply the stack first: cosydeploy apply {self.t.client} --env {self.t.env}",
            )
        self.run.doing = "ECS update_service"
        self.run.in_flight_arn = self.taskdef_arn
        count = {} if self.start_count is None else {"desiredCount": self.start_count}
        resp = self.run.ecs.update_service(
            cluster=self.o.cluster_name,
            service=self.o.service_name,
            taskDefinition=self.taskdef_arn,
            deploymentConfiguration=sd.with_pause_hook(config, self.policy.pause_timeout),
            **count,
        )
        self.not_before = _not_before(resp, self.taskdef_arn, self.run.clock())

    def unhook(self) -> None:
        """Take cosydeploy's PAUSE hook off the service once its deployment has ended (the
        AWS provider sends hooks it reads back without their target type, so a later
        ``terraform apply`` must not find one). Best-effort: the next release sets it again."""
        if not self.result.state or not self.result.state.final:
            return  # still in flight (interrupted): the hook must stay, ECS times it out
        o = self.o

        def drop() -> None:
            service = current_service(self.run.ecs, self.t)
            config = {
                k: v
                for k, v in (service.get("deploymentConfiguration") or {}).items()
                if v is not None
            }
            hooks = config.get("lifecycleHooks") or []
            kept = [h for h in hooks if not sd.is_ours(h)]
            if len(kept) == len(hooks):
                return
            config["lifecycleHooks"] = kept
            self.run.ecs.update_service(
                cluster=o.cluster_name, service=o.service_name, deploymentConfiguration=config
            )

        self.run.quietly("take cosydeploy's pause hook off the service", drop)

    def find(
        self, since: float, revisions: dict[str, str] | None = None, *, wait: bool = True
    ) -> Any:
        """ECS's record of our deployment (the newest to our revision): its ARN, or with
        ``wait`` False its brief from the list (None when not listed)."""
        from datetime import UTC, datetime

        self.run.doing = "ECS list_service_deployments"
        deadline = self.run.clock() + FIND_TIMEOUT
        revisions = {} if revisions is None else revisions
        while True:
            briefs = self._ecs(
                "list_service_deployments",
                cluster=self.o.cluster_name,
                service=self.o.service_name,
                createdAt={"after": datetime.fromtimestamp(since - 60, UTC)},
            ).get("serviceDeployments", [])
            unknown = sorted(
                {
                    b["targetServiceRevisionArn"]
                    for b in briefs
                    if b.get("targetServiceRevisionArn")
                    and b["targetServiceRevisionArn"] not in revisions
                }
            )
            for i in range(0, len(unknown), 20):
                got = self._ecs(
                    "describe_service_revisions", serviceRevisionArns=unknown[i : i + 20]
                )
                for r in got.get("serviceRevisions", []):
                    revisions[r.get("serviceRevisionArn", "")] = r.get("taskDefinition", "")
            ours = sd.newest_for(briefs, revisions, self.taskdef_arn, self.not_before)
            if not wait:
                return ours
            if ours is not None:
                return str(ours["serviceDeploymentArn"])
            if self.run.clock() >= deadline:
                raise AwsError(
                    f"{self.t.key}: ECS lists no deployment of "
                    f"{self.taskdef_arn.rsplit('/', 1)[-1]} {FIND_TIMEOUT:.0f}s after UpdateService",
                    hint="see the service's events in the ECS console; "
                    f"cosydeploy status {self.t.client} --env {self.t.env}",
                )
            self._wait(1.0)

    def follow(self, watch: Watch, deadline: float) -> Shifted:
        """Poll ECS's record to its end, verifying green at the pause, watching production
        once it has traffic, and rolling back through ECS on anything seen."""
        r, run, policy = self.result, self.run, self.policy
        interval = max(0.5, run.options.poll_max)
        health, version = bk.Strikes(), bk.Strikes()
        bake_started: float | None = None
        ticks = 0
        alarms = self.t.alarm_names
        cloudwatch = self.t.aws.client("cloudwatch") if alarms else None
        url = self.o.app_url.rstrip("/")
        while True:
            run.doing = "ECS describe_service_deployments (following the deployment)"
            got = self._ecs("describe_service_deployments", serviceDeploymentArns=[r.arn])
            records = got.get("serviceDeployments") or []
            if not records:
                raise AwsError(f"{self.t.key}: ECS has no record of deployment {r.arn}")
            state = r.state = sd.state_of(records[0])
            self._show(watch, state)
            now = run.clock()
            if state.final:
                if state.status == sd.SUCCESSFUL and r.verified and r.signal is None:
                    # ECS may finish between two looks (no bake): production is judged
                    # once more now, on the new version alone, before success is claimed.
                    r.signal = self._production_answers(url)
                if bake_started is not None and r.bake is not None:
                    r.bake.elapsed = now - bake_started
                    if r.signal is None and state.status == sd.SUCCESSFUL:
                        r.stage = "baked"
                        run.emit(
                            ev.Baking(self.t.key, "baked", 0.0, r.bake.seconds, "nothing seen")
                        )
                return r
            busy = state.rolling_back or r.stopped_by_us
            if not busy and state.hook_id and state.stage == sd.VERIFY_STAGE and r.verified is None:
                self._reach("test traffic")
                self._verify_green(state.hook_id)
                continue
            if not busy and now >= deadline:
                r.timed_out = True
                r.why = (
                    f"not done after {deadline - watch.started_at:.0f}s"
                    if watch.started_at
                    else "timed out"
                )
                self._roll_back(f"timed out at {sd.STAGE_WORDS.get(state.stage, state.stage)}")
                deadline = now + self.t.timeout  # the rollback's own time
                continue
            if busy and now >= deadline:
                r.timed_out = True
                return r
            if not busy and state.in_production and r.verified:
                if r.stage not in ("production", "baking"):
                    self.failed_before = state.failed_tasks
                self._reach("production")
                all_in = state.stage in ("BAKE_TIME", "CLEAN_UP") or state.production_weight == 100
                if all_in and bake_started is None:
                    bake_started = now
                    r.bake = bk.BakeResult(float(policy.bake))
                    self._reach("baking")
                    run.step(
                        f"production on {self.version}: baking with the previous version "
                        "still running (a rollback is instant)"
                    )
                signal = self._look(url, health, version, state, ticks, cloudwatch, alarms)
                ticks += 1
                if bake_started is not None and r.bake is not None:
                    r.bake.elapsed = now - bake_started
                    r.bake.ticks += 1
                    left = max(0.0, r.bake.seconds - r.bake.elapsed)
                    run.emit(ev.Baking(self.t.key, "baking", left, r.bake.seconds, ""))
                if signal is not None:
                    r.signal = signal
                    if r.bake is not None:
                        r.bake.signal, r.bake.detected_at = signal, run.clock()
                        run.emit(ev.Baking(self.t.key, "failed", 0.0, r.bake.seconds, signal.text))
                    self._roll_back(signal.text)
                    continue
            # Once production is on it, a look every bake interval (one record read, and
            # every other look the alarms): a rolling bake's rate of calls, not a watch's.
            watching = state.in_production and not busy
            self._wait(max(interval, run.options.bake_interval) if watching else interval)

    # ------------------------------------------------------------------ steps

    def _verify_green(self, hook_id: str) -> None:
        """Green on the test listener: health, /version, smoke; then answer the hook."""
        r, run = self.result, self.run
        test = self.o.test_url.rstrip("/")
        run.step(f"{self.version} on the test listener only: verifying it at {test}")
        ok, why = verify_health(
            test + self.t.health_path,
            needed=run.options.verify_attempts,
            interval=run.options.verify_interval,
            max_tries=run.options.verify_max_tries,
            sleep=run.sleep,
        )
        run.emit(ev.Verified(self.t.key, ok, why))
        if ok:
            ok, why = run.verify_release(self.version, why, url=test)
        r.verified, r.why = ok, why
        action = "CONTINUE" if ok else "ROLLBACK"
        run.doing = f"ECS continue_service_deployment ({action})"
        self._ecs(
            "continue_service_deployment",
            serviceDeploymentArn=r.arn,
            hookId=hook_id,
            action=action,
        )
        if ok:
            self._reach("verified")
            run.step(
                f"verified on test traffic; ECS moves production traffic ({self.policy.strategy_text()})"
            )
        else:
            r.stopped_by_us = True
            run.step(
                "verification failed on the test listener: ECS rolls back, production never reached it"
            )

    def _production_answers(self, url: str) -> bk.Signal | None:
        """The app URL answers the health path, and ``/version`` the release where the
        policy checks versions (None: it does; else what it answered)."""
        if not url:
            return None
        opts = self.run.options
        ok, why = verify_health(
            url + self.t.health_path,
            needed=opts.verify_attempts,
            interval=opts.verify_interval,
            max_tries=opts.verify_max_tries,
            sleep=self.run.sleep,
        )
        if ok and self.policy.verify_version:
            ok, why = check_version(
                f"{url}/version", self.version, interval=opts.verify_interval, sleep=self.run.sleep
            )
        self.run.emit(ev.Verified(self.t.key, ok, f"production: {why}"))
        return None if ok else bk.Signal("health", f"after ECS finished: {why}")

    def _roll_back(self, why: str) -> None:
        r, run = self.result, self.run
        run.step(f"rolling back through ECS: {why}")
        run.doing = "ECS stop_service_deployment (ROLLBACK)"
        self._ecs("stop_service_deployment", serviceDeploymentArn=r.arn, stopType="ROLLBACK")
        r.stopped_by_us = True

    def _look(
        self,
        url: str,
        health: bk.Strikes,
        version: bk.Strikes,
        state: sd.State,
        tick: int,
        cloudwatch: Any,
        alarms: tuple[str, ...],
    ) -> bk.Signal | None:
        """One look at production while it has the new version: tasks, alarms, the
        health path, and /version once all of production is on it."""
        if state.failed_tasks > self.failed_before:
            return bk.Signal(
                "task_stopped",
                f"ECS counted {state.failed_tasks} failed task(s) of "
                f"{self.taskdef_arn.rsplit('/', 1)[-1]} with production traffic on it",
            )
        if state.requested and state.running < state.requested and state.stage != "CLEAN_UP":
            return bk.Signal(
                "task_stopped",
                f"a task of {self.taskdef_arn.rsplit('/', 1)[-1]} stopped: "
                f"{state.running}/{state.requested} running",
            )
        if cloudwatch is not None and tick % 2 == 0:
            self.run.doing = "CloudWatch describe_alarms"
            self._count("cloudwatch:DescribeAlarms")
            found = cloudwatch.describe_alarms(AlarmNames=list(alarms)).get("MetricAlarms", [])
            signal = bk.judge_alarms(found)
            if signal is not None:
                return signal
        if url and (self.blue_serves or state.production_weight == 100):
            code, body = http_get(url + self.t.health_path)
            if health.add(code != 200):
                return bk.Signal(
                    "health",
                    f"{url}{self.t.health_path} answered {f'HTTP {code}' if code else body or 'nothing'}",
                )
            if self.policy.verify_version and state.production_weight == 100:
                code, body = http_get(url + "/version")
                if version.add(code == 200 and body != self.version):
                    return bk.Signal(
                        "version", f"{url}/version answered {body!r}, not {self.version!r}"
                    )
        return None

    def _show(self, watch: Watch, state: sd.State) -> None:
        word = sd.STAGE_WORDS.get(state.stage, state.stage.lower() or "pending")
        if state.status not in ("IN_PROGRESS", "PENDING", ""):
            word = state.status.lower().replace("_", " ")
        watch.verdict = Verdict(
            Phase.IN_PROGRESS
            if not state.final
            else Phase.SUCCEEDED
            if state.status == sd.SUCCESSFUL
            else Phase.FAILED,
            state.reason or word,
            deployment_id=self.result.arn.rsplit("/", 1)[-1],
            rollout_state=word,
            status=state.status,
            running=state.running,
            desired=state.requested,
            traffic=state.traffic(),
        )
        watch.polls += 1
        self.run.emit(ev.Rollout(self.t.key, watch))


def shift(
    run: _Run,
    taskdef_arn: str,
    version: str,
    start_count: int | None,
    on_stage: Callable[[str], None] | None = None,
    blue_serves: bool = True,
    configuration: Any = None,
) -> Shifted:
    """Start and follow one traffic-shifting deployment (see the module's docstring)."""
    s = Shift(run, taskdef_arn, version, start_count)
    s.blue_serves = blue_serves
    if on_stage is not None:
        s.on_stage = on_stage
    started = run.clock()
    s.start(current_service(run.ecs, run.t), configuration)
    s.result.arn = s.find(started)
    p = run.t.release
    timeout = run.options.timeout if run.options.timeout is not None else run.t.timeout
    # ECS's own waits come on top of the rollout's: the bake (in whole minutes), and the
    # canary's or every linear step's.
    extra = 60 * math.ceil(p.bake / 60)
    if p.strategy == "canary":
        extra += p.canary_bake
    elif p.strategy == "linear":
        extra += p.linear_bake * math.ceil(100 / p.linear_step_percent)
    o = run.t.outputs
    watch = Watch(
        key=run.t.key,
        ecs=run.ecs,
        cluster=o.cluster_name,
        service=o.service_name,
        deployment_id=None,
        deadline=started + timeout + extra,
        task_definition_arn=taskdef_arn,
        started_at=started,
        label=" ".join(x for x in (version, taskdef_arn.rsplit("/", 1)[-1]) if x),
    )
    run.watching = watch
    try:
        return s.follow(watch, watch.deadline)
    finally:
        s.unhook()


def deploy(
    run: _Run,
    box: list[Any],
    arn: str,
    before: Any,
    version: str,
    result: Any,
    start_count: int | None,
    configuration: Any = None,
) -> Any:
    """A registered revision through ECS's traffic-shifting deployment, to a recorded
    outcome (``box[0]``: the release's ledger record; ``result``: its ReleaseResult).
    ``configuration``: the deployment configuration to deploy with (None: the service's)."""
    from cosydeploy import outcome as oc

    t = run.t
    result.stage = "rollout"

    def note(stage: str) -> None:
        # A note on the way, not an outcome: a ledger that cannot take it stops nothing.
        noted = run.quietly(
            f"note the stage ({stage}) in the release ledger",
            run.ledger.update,
            box[0],
            stage=stage,
        )
        if noted is not None:
            box[0] = noted

    serves = bool(before.healthy) and not before.placeholder
    s = shift(
        run,
        arn,
        version,
        start_count,
        on_stage=note,
        blue_serves=serves,
        configuration=configuration,
    )
    result.stage = s.stage
    result.traffic = s.state.traffic() if s.state else ""
    result.verified = s.verified
    if s.bake is not None:
        result.bake = s.bake.as_dict()
    if s.succeeded:
        why = s.why + (f"; baked {s.bake.elapsed:.0f}s, nothing seen" if s.bake else "")
        box[0] = run.record(box[0], oc.SUCCEEDED, message=why, stage=result.stage)
        result.outcome = oc.SUCCEEDED
        result.message = f"{t.key} is serving {version} ({why})"
        return result

    state = s.state
    if s.verified is False:
        phase, why = "failed verification on the test listener", s.why
    elif s.signal is not None:
        phase, why = f"failed in production ({s.stage})", s.signal.text
    elif s.timed_out:
        phase, why = "timed out", s.why
    else:
        phase = "was rolled back by ECS" if state and state.rolling_back else "failed"
        why = (state.reason if state else "") or (state.status.lower() if state else "no record")
    run.step(f"release {phase}: {why}")
    diagnosed = run.quietly("diagnose the failed deployment", run.diagnose, arn)
    result.diagnosis = diagnosed.lines() if diagnosed else []
    if s.signal is not None:
        result.diagnosis.insert(0, f"seen with production traffic on it: {s.signal.text}")
    if s.verified is False:
        result.diagnosis.insert(
            0, "production traffic never reached it (ECS held it on the test listener)"
        )
    box[0] = run.ledger.update(
        box[0],
        diagnosis=result.diagnosis,
        message=f"{phase}: {why}",
        stage=result.stage,
        rollback_reason=f"{phase}: {why}",
    )
    recovered = False
    back = before.released.version if before.released else before.revision
    if s.rolled_back:
        result.rolled_back_to = before.task_definition_arn
        if t.outputs.app_url and before.task_definition_arn:
            ok, said = verify_health(
                t.outputs.app_url.rstrip("/") + t.health_path,
                needed=run.options.verify_attempts,
                interval=run.options.verify_interval,
                max_tries=run.options.verify_max_tries,
                sleep=run.sleep,
            )
            run.emit(ev.Verified(t.key, ok, said))
            recovered = ok
        else:
            recovered = True
    result.outcome = oc.ROLLED_BACK if recovered else oc.FAILED
    how = (
        "ECS rolled back to blue"
        if s.rolled_back
        else f"ECS ended at {state.status if state else '?'}"
    )
    box[0] = run.record(box[0], result.outcome, message=f"{box[0].message}; {how}")
    result.message = f"{t.key}: {version} {phase} ({why}); " + (
        f"back on {back} ({how})" if recovered else f"NOT back on a good release ({how})"
    )
    if not recovered:
        result.hint = f"look at the diagnosis, then: cosydeploy rollback {t.client} --env {t.env} --to VERSION"
    elif s.verified is False:
        result.hint = (
            "if the test listener never answered: it admits only cosydeploy.yaml "
            "release.test_listener_cidrs; is the address this runs from among them?"
        )
    return result


def _not_before(update_response: Any, taskdef_arn: str, now: float) -> float:
    """Records of our deployment are created when ECS started it (less a second), or,
    when the UpdateService answer does not say, from a little before ``now``."""
    at = sd.started_at(update_response, taskdef_arn)
    return at - 1.0 if at else now - 5.0


def confirmed(
    run: _Run, taskdef_arn: str, since: float, deadline: float, update_response: Any = None
) -> tuple[bool | None, str]:
    """A rolling deployment the service's counts call done, confirmed by ECS's own record:
    (True, ...) SUCCESSFUL; (False, why) rolled back or stopped; (None, why) no record
    (the verdict then rests on the service alone, and says so). Two reads when ECS has
    already settled it: the list (its briefs carry the status) and the revision."""
    s = Shift(run, taskdef_arn, "", None)
    s.not_before = _not_before(update_response or {}, taskdef_arn, since + 5.0)
    revisions: dict[str, str] = {}
    unlisted_until = min(deadline, run.clock() + 15.0)  # ECS lists a record within seconds
    while True:
        brief = s.find(since, revisions, wait=False)
        if brief is None:
            if run.clock() >= unlisted_until:
                return None, "ECS lists no record of this deployment"
            s._wait(1.0)
            continue
        status = str(brief.get("status") or "")
        if status == sd.SUCCESSFUL:
            return True, "ECS recorded the deployment SUCCESSFUL"
        if status in sd.FINAL or status in sd.ROLLING_BACK:
            why = str(brief.get("statusReason") or "") or status.lower().replace("_", " ")
            return False, f"ECS recorded the deployment {status}: {why}"
        if run.clock() >= deadline:
            return False, f"ECS still records the deployment {status} at the deadline"
        s._wait(1.0)
