"""ECS's BLUE_GREEN, CANARY and LINEAR deployments in the sandbox, stage by stage.

On a new task definition of a service whose deployment configuration names one of
these strategies (and whose load balancer has ``advancedConfiguration``), the rollout
driver hands the deployment to a :class:`Stager`, which runs ECS's lifecycle stages:

    PRE_SCALE_UP -> SCALE_UP -> POST_SCALE_UP -> TEST_TRAFFIC_SHIFT
    -> POST_TEST_TRAFFIC_SHIFT -> PRODUCTION_TRAFFIC_SHIFT
    -> POST_PRODUCTION_TRAFFIC_SHIFT -> BAKE_TIME -> CLEAN_UP

- SCALE_UP starts the new ("green") tasks, registered in the target group that has
  production weight 0 (blue keeps serving from the other);
- TEST_TRAFFIC_SHIFT sends the test listener rule to green (weight 100);
- PRODUCTION_TRAFFIC_SHIFT moves the production rule: BLUE_GREEN all at once; CANARY
  ``canaryPercent``, then after ``canaryBakeTimeInMinutes`` the rest; LINEAR
  ``stepPercent`` more every ``stepBakeTimeInMinutes``;
- BAKE_TIME waits ``bakeTimeInMinutes`` with blue still running; CLEAN_UP stops blue.

The rules' weights are changed with ``ModifyRule`` as ECS does, with the
``advancedConfiguration.roleArn`` role's credentials (a listener ARN in place of a rule:
``ModifyListener``). A PAUSE lifecycle hook holds the deployment at the end of its stage
(``AWAITING_ACTION``) until ``ContinueServiceDeployment`` or its timeout. Before CLEAN_UP
ends, a rollback (ContinueServiceDeployment or StopServiceDeployment ROLLBACK, an alarm
of ``deploymentConfiguration.alarms`` in ALARM, the circuit breaker on green's failed
tasks, a hook timeout with action ROLLBACK) puts both rules back on blue at once and
stops green. Minutes are the sandbox's (``COSY_SANDBOX_MINUTE`` seconds each).

AWS_LAMBDA hooks are not invoked in the sandbox: such a hook fails, and the
deployment rolls back saying so.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cosydeploy.sandbox import deployments as sd

log = logging.getLogger("cosydeploy.sandbox.strategies")

STRATEGIES = ("BLUE_GREEN", "CANARY", "LINEAR")
STAGES = (
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)


def staged_strategy(config: dict[str, Any], load_balancers: list[dict[str, Any]]) -> str | None:
    """The strategy the stager runs for this configuration, or None (a rolling one)."""
    strategy = str((config or {}).get("strategy") or "ROLLING")
    if strategy not in STRATEGIES:
        return None
    if advanced(load_balancers) is None:
        return None
    return strategy


def advanced(load_balancers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first load balancer with an advancedConfiguration naming a production rule."""
    for lb in load_balancers or []:
        adv = lb.get("advancedConfiguration") or {}
        if adv.get("productionListenerRule") and adv.get("alternateTargetGroupArn"):
            return {"targetGroupArn": lb.get("targetGroupArn"), **adv}
    return None


def production_steps(strategy: str, config: dict[str, Any]) -> list[tuple[float, float]]:
    """The production traffic shift as (percent to green, minutes to wait after it)."""
    if strategy == "CANARY":
        canary = config.get("canaryConfiguration") or {}
        percent = float(canary.get("canaryPercent") or 10.0)
        bake = float(canary.get("canaryBakeTimeInMinutes") or 0)
        return [(percent, bake), (100.0, 0.0)] if percent < 100 else [(100.0, 0.0)]
    if strategy == "LINEAR":
        linear = config.get("linearConfiguration") or {}
        percent = float(linear.get("stepPercent") or 10.0)
        bake = float(linear.get("stepBakeTimeInMinutes") or 0)
        steps = [(min(100.0, percent * i), bake) for i in range(1, math.ceil(100 / percent) + 1)]
        steps[-1] = (100.0, 0.0)
        return steps
    return [(100.0, 0.0)]


def split(percent: float) -> tuple[int, int]:
    """(green, blue) rule weights for ``percent`` of the traffic to green."""
    green = max(0, min(100, round(percent)))
    return green, 100 - green


def hooks_of(config: dict[str, Any], stage: str) -> list[dict[str, Any]]:
    """The lifecycle hooks of ``config`` that run at ``stage``."""
    return [
        h for h in config.get("lifecycleHooks") or [] if stage in (h.get("lifecycleStages") or [])
    ]


def green_group(weights: dict[str, int], primary: str, alternate: str) -> tuple[str, str]:
    """(green, blue) target groups: green is the one production sends nothing to."""
    if not weights:
        return alternate, primary
    if weights.get(primary, 0) <= weights.get(alternate, 0):
        return primary, alternate
    return alternate, primary


class RuleError(Exception):
    """A listener rule could not be moved (the deployment rolls back saying why)."""


@dataclass
class Staged:
    """A staged deployment's own state (the Deployment it belongs to holds it)."""

    strategy: str
    config: dict[str, Any]
    green_tg: str
    blue_tg: str
    prod_rule: str
    test_rule: str | None
    role_arn: str | None
    steps: list[tuple[float, float]]
    stage: int = -1
    step: int = 0
    wait_until: float = 0.0
    hooks: list[dict[str, Any]] = field(default_factory=list)  # the current stage's
    hooks_open: bool = False
    rolled_back: bool = False


class Stager:
    """Runs staged deployments for a RolloutDriver (its tasks, events, clients)."""

    def __init__(self, driver: Any, minute: float) -> None:
        self.driver = driver
        self.minute = minute
        self._infra: dict[tuple[str, str], Any] = {}

    # -- planning ------------------------------------------------------------------------

    def plan(self, svc: Any, strategy: str, config: dict[str, Any]) -> Staged:
        """The stages of a new deployment: which group is green, which rules move."""
        adv = advanced(svc.load_balancers) or {}
        primary, alternate = adv["targetGroupArn"], adv["alternateTargetGroupArn"]
        weights = self.weights(svc, adv["productionListenerRule"], adv.get("roleArn"))
        green, blue = green_group(weights, primary, alternate)
        return Staged(
            strategy=strategy,
            config=config,
            green_tg=green,
            blue_tg=blue,
            prod_rule=adv["productionListenerRule"],
            test_rule=adv.get("testListenerRule"),
            role_arn=adv.get("roleArn"),
            steps=production_steps(strategy, config),
        )

    def production_group(self, svc: Any) -> str | None:
        """The target group production sends most to (None: no rules to say)."""
        adv = advanced(svc.load_balancers)
        if adv is None:
            return None
        try:
            weights = self.weights(svc, adv["productionListenerRule"], adv.get("roleArn"))
        except Exception:
            log.debug("could not read %s", adv["productionListenerRule"], exc_info=True)
            return None
        if not weights:
            return None
        return max(weights, key=lambda arn: weights[arn])

    # -- the listener rules ----------------------------------------------------------------

    def _elbv2(self, role_arn: str | None) -> Any:
        """An ELBv2 client as ECS acts: with the infrastructure role's credentials."""
        if not role_arn:
            return self.driver._client("elbv2")
        key = (self.driver._account, role_arn)
        if key not in self._infra:
            import boto3

            sts = self.driver._client("sts")
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="ecs-blue-green")[
                "Credentials"
            ]
            self._infra[key] = boto3.client(
                "elbv2",
                endpoint_url=self.driver.endpoint_url,
                region_name=self.driver.region,
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
        return self._infra[key]

    def _actions(self, elb: Any, arn: str) -> list[dict[str, Any]]:
        if ":listener-rule/" in arn:
            return elb.describe_rules(RuleArns=[arn])["Rules"][0]["Actions"]
        return elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]["DefaultActions"]

    def weights(self, svc: Any, arn: str, role_arn: str | None) -> dict[str, int]:
        return sd.rule_weights(self._actions(self._elbv2(role_arn), arn))

    def set_weights(self, svc: Any, dep: Any, arn: str | None, green: float, what: str) -> None:
        """Send ``green`` percent of the rule's traffic to green, the rest to blue (a rule
        that already does is left alone)."""
        s: Staged = dep.staged
        if not arn:
            return
        elb = self._elbv2(s.role_arn)
        g, b = split(green)
        current = self._actions(elb, arn)
        wanted = {s.blue_tg: b, s.green_tg: g}
        if sd.rule_weights(current) == wanted:
            return
        actions = sd.forward_actions(current, wanted)
        if ":listener-rule/" in arn:
            elb.modify_rule(RuleArn=arn, Actions=actions)
        else:
            elb.modify_listener(ListenerArn=arn, DefaultActions=actions)
        self.driver._event(
            svc,
            f"(service {svc.name}) (deployment {dep.id}) modified {what} traffic of "
            f"({arn.rsplit(':', 1)[-1]}): "
            f"{g}% to (target-group {s.green_tg}), {b}% to (target-group {s.blue_tg}).",
        )

    # -- one tick ------------------------------------------------------------------------

    def advance(self, backend: Any, svc: Any, state: Any, dep: Any) -> None:
        """Move a staged deployment on, or roll it back."""
        s: Staged = dep.staged
        record = dep.record
        with self.driver.book.lock:
            request, record.request = record.request, None
        if request is not None:
            kind, why = request
            self.rollback(svc, state, dep, why, abort=(kind == "ABORT"))
            return
        breaker = s.config.get("deploymentCircuitBreaker") or {}
        threshold = self.driver.breaker_threshold(dep)
        if breaker.get("enable") and dep.failed >= threshold:
            self.rollback(
                svc,
                state,
                dep,
                f"ECS deployment circuit breaker: {dep.failed} tasks failed "
                f"(threshold {threshold}).",
                abort=not breaker.get("rollback"),
                trigger="breaker",
            )
            return
        alarms = s.config.get("alarms") or {}
        if alarms.get("enable"):
            firing = self.driver.alarms_firing(alarms.get("alarmNames") or [])
            if firing:
                self.rollback(
                    svc,
                    state,
                    dep,
                    f"CloudWatch alarm(s) {', '.join(firing)} in ALARM.",
                    abort=not alarms.get("rollback"),
                    trigger="alarms",
                    firing=firing,
                )
                return
        try:
            self._stages(backend, svc, state, dep)
        except RuleError as exc:
            self.rollback(svc, state, dep, str(exc))

    def _stages(self, backend: Any, svc: Any, state: Any, dep: Any) -> None:
        s: Staged = dep.staged
        now = time.monotonic()
        if s.stage < 0:
            self._enter(svc, state, dep, 0, now)
        if s.stage > STAGES.index("SCALE_UP"):
            # Until CLEAN_UP the scheduler keeps both revisions at their counts: a green
            # task that dies is replaced (and counts for the circuit breaker), so is blue's.
            self.driver._converge(backend, svc, state, dep)
            blue = state.last_completed
            if blue is not None and blue is not dep and not blue.placeholder:
                self.driver._converge(backend, svc, state, blue)
        while True:
            stage = STAGES[s.stage]
            if not self._work(backend, svc, state, dep, stage, now):
                return
            verdict = self._hooks(svc, dep, stage)
            if verdict == "wait":
                return
            if verdict is not None:
                self.rollback(svc, state, dep, verdict)
                return
            if stage == "CLEAN_UP":
                self._finish(svc, state, dep)
                return
            self._enter(svc, state, dep, s.stage + 1, now)

    def _enter(self, svc: Any, state: Any, dep: Any, index: int, now: float) -> None:
        s: Staged = dep.staged
        s.stage, s.hooks, s.hooks_open = index, [], False
        stage = STAGES[index]
        with self.driver.book.lock:
            dep.record.lifecycle_stage = stage
            dep.record.updated_at = datetime.now(UTC)
        self.driver._event(
            svc, f"(service {svc.name}) (deployment {dep.id}) entered lifecycle stage {stage}."
        )
        if stage == "TEST_TRAFFIC_SHIFT":
            self._shift(svc, state, dep, s.test_rule, 100.0, "test")
        elif stage == "PRODUCTION_TRAFFIC_SHIFT":
            s.step = 0
            self._production_step(svc, state, dep, now)
        elif stage == "BAKE_TIME":
            s.wait_until = now + float(s.config.get("bakeTimeInMinutes") or 0) * self.minute
        elif stage == "CLEAN_UP":
            self.driver._complete(svc, state, dep)

    def _production_step(self, svc: Any, state: Any, dep: Any, now: float) -> None:
        s: Staged = dep.staged
        percent, bake = s.steps[s.step]
        self._shift(svc, state, dep, s.prod_rule, percent, "production")
        s.wait_until = now + bake * self.minute

    def _shift(self, svc: Any, state: Any, dep: Any, rule: str | None, percent: float, what: str):
        try:
            self.set_weights(svc, dep, rule, percent, what)
        except Exception as exc:
            raise RuleError(f"ECS could not modify the {what} listener rule {rule}: {exc}") from exc
        key = "requestedTestTrafficWeight" if what == "test" else "requestedProductionTrafficWeight"
        with self.driver.book.lock:
            dep.record.target[key] = float(percent)
            for source in dep.record.sources:
                source[key] = float(100 - percent)
            dep.record.updated_at = datetime.now(UTC)

    def _work(self, backend, svc, state, dep, stage: str, now: float) -> bool:
        """Do the stage's work; True once it is done."""
        s: Staged = dep.staged
        if stage == "SCALE_UP":
            self.driver._converge(backend, svc, state, dep)
            live = dep.live()
            return len(live) == dep.desired and all(r.healthy and r.registered_in for r in live)
        if stage == "PRODUCTION_TRAFFIC_SHIFT":
            if now < s.wait_until:
                return False
            if s.step + 1 < len(s.steps):
                s.step += 1
                self._production_step(svc, state, dep, now)
                return False
            return True
        if stage == "BAKE_TIME":
            return now >= s.wait_until
        return True

    def _hooks(self, svc: Any, dep: Any, stage: str) -> str | None:
        """None: the stage's hooks are done; "wait"; or why the deployment rolls back."""
        s: Staged = dep.staged
        book = self.driver.book
        if not s.hooks_open:
            s.hooks_open = True
            for hook in hooks_of(s.config, stage):
                timeout = hook.get("timeoutConfiguration") or {}
                detail: dict[str, Any] = {
                    "hookId": uuid.uuid4().hex,
                    "targetType": hook.get("targetType", "PAUSE"),
                    "status": sd.AWAITING_ACTION,
                    "timeoutAction": timeout.get("action", "ROLLBACK"),
                }
                if hook.get("hookTargetArn"):
                    detail["targetArn"] = hook["hookTargetArn"]
                if timeout.get("timeoutInMinutes") is not None:
                    detail["expiresAt"] = datetime.now(UTC) + timedelta(
                        seconds=float(timeout["timeoutInMinutes"]) * self.minute
                    )
                if detail["targetType"] != "PAUSE":
                    detail["status"] = sd.FAILED
                    detail.pop("expiresAt", None)
                with book.lock:
                    dep.record.hooks.append(detail)
                s.hooks.append(detail)
                if detail["status"] == sd.AWAITING_ACTION:
                    self.driver._event(
                        svc,
                        f"(service {svc.name}) (deployment {dep.id}) is paused at "
                        f"{stage}: lifecycle hook {detail['hookId']} awaits action.",
                    )
        with book.lock:
            for hook in s.hooks:
                if hook["status"] == sd.FAILED:
                    if hook["targetType"] != "PAUSE":
                        return (
                            f"lifecycle hook {hook['hookId']} ({hook['targetType']}) failed: "
                            "the sandbox does not invoke AWS_LAMBDA hooks."
                        )
                    return f"lifecycle hook {hook['hookId']} answered ROLLBACK at {stage}."
                expires = hook.get("expiresAt")
                if (
                    hook["status"] == sd.AWAITING_ACTION
                    and expires
                    and datetime.now(UTC) >= expires
                ):
                    hook["status"] = sd.TIMED_OUT
                    if hook["timeoutAction"] == "ROLLBACK":
                        return f"lifecycle hook {hook['hookId']} timed out at {stage}."
            if any(h["status"] == sd.AWAITING_ACTION for h in s.hooks):
                return "wait"
        return None

    # -- the end -------------------------------------------------------------------------

    def _finish(self, svc: Any, state: Any, dep: Any) -> None:
        dep.staged = None  # _complete (at CLEAN_UP) closed the record

    def rollback(
        self,
        svc: Any,
        state: Any,
        dep: Any,
        reason: str,
        *,
        abort: bool = False,
        trigger: str = "",
        firing: list[str] | None = None,
    ) -> None:
        """Both rules back to blue at once, green stopped; the record says why. With
        ``abort`` (StopServiceDeployment ABORT, a trigger whose rollback is off) the record
        ends STOPPED rather than rolled back."""
        s: Staged = dep.staged
        record = dep.record
        blue = state.last_completed
        failed_rules = []
        for rule, what in ((s.prod_rule, "production"), (s.test_rule, "test")):
            try:
                self.set_weights(svc, dep, rule, 0.0, what)
            except Exception as exc:
                failed_rules.append(f"{rule}: {exc}")
        for run in dep.live():
            self.driver._stop_run(
                svc, run, f"Deployment {dep.id} rolled back", stop_code="ServiceSchedulerInitiated"
            )
        dep.rollout_state = "FAILED"
        dep.reason = reason
        dep.status = "ACTIVE"
        dep.touch()
        s.rolled_back = True
        if blue is not None and blue is not dep:
            blue.status = "PRIMARY"
            blue.touch()
            state.deployments = [blue] + [d for d in state.deployments if d is not blue]
            svc.task_definition = blue.task_definition
        self.driver._event(
            svc, f"(service {svc.name}) (deployment {dep.id}) deployment failed: {reason}"
        )
        with self.driver.book.lock:
            if trigger == "breaker" and record.circuit_breaker:
                record.circuit_breaker["status"] = "TRIGGERED"
            if trigger == "alarms" and record.alarms:
                record.alarms["status"] = "TRIGGERED"
                record.alarms["triggeredAlarmNames"] = list(firing or [])
            record.target["requestedProductionTrafficWeight"] = 0.0
            record.target["requestedTestTrafficWeight"] = 0.0
            for source in record.sources:
                source["requestedProductionTrafficWeight"] = 100.0
                source["requestedTestTrafficWeight"] = 100.0
            if failed_rules:
                record.set(
                    sd.ROLLBACK_FAILED,
                    "could not move the listener rules back: " + "; ".join(failed_rules),
                )
            elif abort:
                record.set(sd.STOPPED, reason)
            else:
                record.rollback = {
                    "reason": reason,
                    "startedAt": datetime.now(UTC),
                    "serviceRevisionArn": blue.revision if blue is not None else "",
                }
                record.set(sd.ROLLBACK_IN_PROGRESS, reason)
        if not abort and blue is not None:
            self.driver._event(svc, f"(service {svc.name}) rolling back to deployment {blue.id}.")

    def settle(self, svc: Any, state: Any) -> None:
        """A rolled-back deployment whose tasks are all stopped: ROLLBACK_SUCCESSFUL."""
        keep = []
        for dep in state.deployments:
            s = dep.staged
            if (
                s is not None
                and s.rolled_back
                and dep is not state.deployments[0]
                and not dep.live()
            ):
                with self.driver.book.lock:
                    if dep.record.status == sd.ROLLBACK_IN_PROGRESS:
                        dep.record.set(sd.ROLLBACK_SUCCESSFUL)
                self.driver._event(
                    svc, f"(service {svc.name}) (deployment {dep.id}) rollback completed."
                )
                continue
            keep.append(dep)
        state.deployments = keep

    def abandon(self, svc: Any, state: Any, dep: Any, by: str) -> None:
        """A new deployment supersedes this one before it ended: traffic back to blue,
        green stopped, the record STOPPED."""
        wanted = svc.task_definition  # what the new deployment runs, not blue's
        self.rollback(svc, state, dep, f"superseded by deployment {by}.", abort=True)
        svc.task_definition = wanted
        state.deployments = [d for d in state.deployments if d is not dep]
