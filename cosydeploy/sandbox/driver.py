"""The rollout driver: makes ECS deployments in moto real on the local Docker engine.

moto's ECS stores a service's task definition on ``update_service`` and stops there.
This driver runs in the moto server's process, watches every service of the
sandbox's account/region and, as ECS does:

- on a new task definition (or ``forceNewDeployment``) starts a PRIMARY deployment
  (IN_PROGRESS) beside the old one (ACTIVE), runs its tasks as containers
  (``--network host``, a free PORT per task, environment and secrets resolved),
  probes the target group's health path, registers healthy tasks as targets,
  completes the deployment and then stops the old tasks;
- counts tasks that exit or stay unhealthy past the grace period as failed, trips the
  circuit breaker at ``min(200, max(3, ceil(desired / 2)))`` failures and, with
  rollback on, starts a deployment back to the last COMPLETED task definition;
- keeps the desired count (scaling in and out) once a deployment completed;
- writes the counts, deployments and events back into moto, and copies container
  output into CloudWatch Logs;
- opens a service deployment record (and a service revision) for every deployment it
  starts and moves it as ECS does (deployments.py): IN_PROGRESS -> SUCCESSFUL; circuit
  breaker, alarm or StopServiceDeployment ROLLBACK -> ROLLBACK_IN_PROGRESS ->
  ROLLBACK_SUCCESSFUL; superseded -> STOPPED;
- runs BLUE_GREEN, CANARY and LINEAR deployments stage by stage on the load balancer's
  listener rules (strategies.py) when the service's deploymentConfiguration says so.

The service's first task definition (made by provisioning, with a placeholder image)
is never run: its deployment counts as COMPLETED with no tasks.

Services a paper rule names (``sandbox up --paper``, see paper.py) go through the same
deployments, counts, circuit breaker and events, with tasks that start no container.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cosydeploy.sandbox import deployments as sd

log = logging.getLogger("cosydeploy.sandbox.driver")

IN_PROGRESS, COMPLETED, FAILED = "IN_PROGRESS", "COMPLETED", "FAILED"
EXITED = "Essential container in task exited"


def _now() -> datetime:
    return datetime.now(UTC)


def circuit_breaker_threshold(desired: int) -> int:
    """ECS's failed-task threshold: half the desired count, at least 3, at most 200."""
    return min(200, max(3, math.ceil(desired / 2)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_ECR_HOST = re.compile(r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/")


def _discard_container(future: Any) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    with contextlib.suppress(Exception):
        future.result().remove(force=True)


class _StartFailed(Exception):
    """A task's container could not be pulled or started (the message is ECS's reason)."""


def map_image(image: str, ecr_host: str, registry: str) -> str:
    """Point an ECR image reference (``<ecr_host>/<repo>@sha256:..`` or ``:tag``) at the
    registry. Every account's ECR host maps there: one registry stands in for all."""
    if image.startswith(ecr_host + "/"):
        return registry + image[len(ecr_host) :]
    m = _ECR_HOST.match(image)
    if m:
        return registry + "/" + image[m.end() :]
    return image


def split_image(ref: str) -> tuple[str, str]:
    """``host:5000/repo@sha256:x`` -> (``host:5000/repo``, ``sha256:x``); tags likewise."""
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        return repo, digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


@dataclass
class Deployment:
    id: str
    task_definition: str
    desired: int
    status: str = "PRIMARY"
    rollout_state: str = IN_PROGRESS
    reason: str = ""
    failed: int = 0
    placeholder: bool = False
    rollback: bool = False
    paper_fail: bool = False  # a paper deployment whose tasks exit at start (paper.py)
    # Its service deployment (deployments.Record); a rollback deployment's: the failed one's.
    record: Any = None
    revision: str = ""  # the ARN of the service revision it runs
    target_group: str | None = None  # where its tasks register (None: the service's first)
    staged: Any = None  # a BLUE_GREEN / CANARY / LINEAR deployment's stages (strategies.py)
    doomed: str = ""  # why it fails at once (a staged one whose rules cannot be read)
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    runs: list[TaskRun] = field(default_factory=list)

    def live(self) -> list[TaskRun]:
        return [r for r in self.runs if not r.done]

    def touch(self) -> None:
        self.updated_at = _now()


@dataclass
class TaskRun:
    task: Any
    deployment: Deployment
    port: int
    ip: str
    container_id: str | None = None
    started: float = field(default_factory=time.monotonic)
    healthy: bool = False
    registered_in: str | None = None
    done: bool = False
    log_thread: threading.Thread | None = None
    starting: Any = None  # the Future of its container start, until the driver applies it
    container_def: dict = field(default_factory=dict)
    paper: bool = False  # a paper task: no container (paper.py)

    @property
    def short_id(self) -> str:
        return self.task.id


@dataclass
class ServiceState:
    key: str
    initial_td: str | None
    desired: int
    deployments: list[Deployment] = field(default_factory=list)
    last_completed: Deployment | None = None
    steady: bool = True
    completed: int = 0  # deployments (not the placeholder) that completed
    completed_tds: set[str] = field(default_factory=set)


class RolloutDriver:
    """A thread that advances the sandbox's ECS deployments (see the module docstring)."""

    def __init__(
        self,
        *,
        sandbox_id: str,
        account_id: str,
        region: str,
        endpoint_url: str,
        ecr_host: str,
        registry: str,
        registry_auth: dict[str, str],
        docker_client: Any,
        interval: float = 0.3,
        paper: Any = None,
        book: Any = None,
        minute: float = 60.0,
    ) -> None:
        from cosydeploy.sandbox.deployments import DeploymentBook
        from cosydeploy.sandbox.strategies import Stager

        self.sandbox_id = sandbox_id
        self.account_id = account_id
        self.region = region
        self.endpoint_url = endpoint_url
        self.ecr_host = ecr_host
        self.registry = registry
        self.registry_auth = registry_auth
        self.docker = docker_client
        self.interval = interval
        # Services whose tasks run on paper (a PaperRules; see paper.py), and what each
        # paper target answers, by (ip, port), for the load balancer.
        self.paper = paper
        self.paper_apps: dict[tuple[str, int], Any] = {}
        # ECS's service deployments and revisions (deployments.py), and the staged
        # strategies (strategies.py), whose minutes last ``minute`` seconds.
        self.book = book if book is not None else DeploymentBook()
        self.stager = Stager(self, minute)
        self._paper_ip = 0
        self.states: dict[str, ServiceState] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ip_counter = 0
        self._backoff: dict[str, float] = {}
        self._pulled: set[str] = set()
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        # The account being driven in this pass of tick() (one thread drives them all).
        self._account = account_id
        # Pulls and `docker run`s go in parallel, as ECS starts tasks on many hosts; their
        # results are applied on the driver's own thread (see _apply_start).
        from concurrent.futures import ThreadPoolExecutor

        self._starts = ThreadPoolExecutor(max_workers=6, thread_name_prefix="sandbox-start")
        self._pull_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the driver thread."""
        self._thread = threading.Thread(target=self._loop, name="sandbox-driver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then every container it started."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._starts.shutdown(wait=True, cancel_futures=True)
        for state in self.states.values():
            for dep in state.deployments:
                for run in dep.live():
                    self._remove_container(run, kill=True)
                    run.done = True
        self.remove_all_containers()

    def remove_all_containers(self) -> None:
        """Remove every container labelled with this sandbox's id (a backstop for stop())."""
        try:
            for c in self.docker.containers.list(
                all=True, filters={"label": f"cosydeploy.sandbox={self.sandbox_id}"}
            ):
                c.remove(force=True)
        except Exception:  # the engine may be gone at exit
            log.debug("could not list sandbox containers", exc_info=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("driver tick failed")
            self._stop.wait(self.interval)

    # -- moto state --------------------------------------------------------------------------

    def _backend(self):
        from moto.ecs.models import ecs_backends

        return ecs_backends[self._account][self.region]

    def _elb(self):
        from moto.elbv2.models import elbv2_backends

        return elbv2_backends[self._account][self.region]

    def _client(self, name: str):
        """A boto3 client acting in the account being driven (moto tells accounts apart by
        credentials: another account's come from assuming a role in it)."""
        account = self._account
        with self._clients_lock:
            if (account, name) not in self._clients:
                import boto3

                creds: dict[str, Any] = {
                    "aws_access_key_id": "testing",
                    "aws_secret_access_key": "testing",
                }
                if account != self.account_id:
                    sts = boto3.client(
                        "sts", endpoint_url=self.endpoint_url, region_name=self.region, **creds
                    )
                    got = sts.assume_role(
                        RoleArn=f"arn:aws:iam::{account}:role/cosydeploy-sandbox-driver",
                        RoleSessionName="sandbox-driver",
                    )["Credentials"]
                    creds = {
                        "aws_access_key_id": got["AccessKeyId"],
                        "aws_secret_access_key": got["SecretAccessKey"],
                        "aws_session_token": got["SessionToken"],
                    }
                self._clients[(account, name)] = boto3.client(  # type: ignore[call-overload]
                    name, endpoint_url=self.endpoint_url, region_name=self.region, **creds
                )
            return self._clients[(account, name)]

    def _state_key(self, service_key: str) -> str:
        """``cluster:service``, prefixed with the account when it is not the sandbox's."""
        return service_key if self._account == self.account_id else f"{self._account}/{service_key}"

    def _accounts(self) -> list[str]:
        """Every account moto holds ECS state for (clients may live in their own accounts)."""
        from moto.ecs.models import ecs_backends

        return sorted({self.account_id, *list(ecs_backends.keys())})

    def tick(self) -> None:
        """One pass over every service of every account: observe tasks, advance, publish."""
        for account in self._accounts():
            self._account = account
            self._tick_account()
        self._account = self.account_id

    def _tick_account(self) -> None:
        backend = self._backend()
        containers = None
        for name, svc in list(backend.services.items()):
            key = self._state_key(name)
            if self._stop.is_set():
                return
            state = self.states.get(key)
            if svc.status != "ACTIVE":
                if state is not None:
                    for dep in state.deployments:
                        for run in dep.live():
                            self._stop_run(
                                svc, run, "Service deleted", stop_code="ServiceSchedulerInitiated"
                            )
                    del self.states[key]
                continue
            if state is None:
                state = self._adopt(key, svc)
            self._rekey_target_groups(svc)
            if containers is None:
                containers = self._container_states()
            try:
                self._tick_service(backend, svc, state, containers)
            except Exception:
                # One service's failure must not hold back every service after it.
                log.exception("driver tick of %s failed", key)
            finally:
                self._publish(svc, state)

    def _adopt(self, key: str, svc) -> ServiceState:
        """Take over a service: its current deployment counts as COMPLETED with no tasks."""
        dep_id = svc.deployments[0]["id"] if svc.deployments else self._new_id()
        dep = Deployment(
            id=dep_id,
            task_definition=svc.task_definition,
            desired=svc.desired_count,
            rollout_state=COMPLETED,
            reason=f"ECS deployment {dep_id} completed.",
            placeholder=True,
        )
        state = ServiceState(key=key, initial_td=svc.task_definition, desired=svc.desired_count)
        state.deployments = [dep]
        state.last_completed = dep
        # The service's creation was its first service deployment.
        dep.revision = self._open_revision(svc, dep)
        config = copy.deepcopy(getattr(svc, "deployment_configuration", None) or {})
        dep.record = self._open_record(svc, state, dep, config)
        with self.book.lock:
            dep.record.set(sd.SUCCESSFUL, dep.reason)
        self.states[key] = state
        return state

    def _rekey_target_groups(self, svc) -> None:
        """Give a target group the exact ARN the service names (moto picks random suffixes)."""
        elb = self._elb()
        for lb in svc.load_balancers or []:
            adv = lb.get("advancedConfiguration") or {}
            for arn in (lb.get("targetGroupArn"), adv.get("alternateTargetGroupArn")):
                if not arn or arn in elb.target_groups or "targetgroup/" not in arn:
                    continue
                name = arn.split("targetgroup/", 1)[1].split("/")[0]
                for old_arn, tg in list(elb.target_groups.items()):
                    if tg.name == name:
                        tg.arn = arn
                        elb.target_groups[arn] = tg
                        del elb.target_groups[old_arn]
                        break

    def _container_states(self) -> dict[str, tuple[str, int | None]]:
        result: dict[str, tuple[str, int | None]] = {}
        for c in self.docker.containers.list(
            all=True, filters={"label": f"cosydeploy.sandbox={self.sandbox_id}"}
        ):
            st = c.attrs.get("State", {})
            result[c.id] = (c.status, st.get("ExitCode"))
        return result

    # -- one service -------------------------------------------------------------------------

    def _tick_service(self, backend, svc, state: ServiceState, containers) -> None:
        td = svc.task_definition
        if td and not td.startswith("arn:"):
            # update_service stores the string as given ("family:3"); ECS reports the ARN.
            svc.task_definition = backend.describe_task_definition(td).arn
        primary = state.deployments[0]
        moto_id = svc.deployments[0].get("id") if svc.deployments else None
        known = {d.id for d in state.deployments}
        if svc.task_definition != primary.task_definition or (moto_id and moto_id not in known):
            primary = self._new_deployment(svc, state, svc.task_definition)
        if svc.desired_count != state.desired:
            state.desired = svc.desired_count
            primary.desired = svc.desired_count
            primary.touch()
            state.steady = False

        self._observe(svc, state, containers)
        self._advance(backend, svc, state)

    def _new_deployment(
        self,
        svc,
        state: ServiceState,
        td: str,
        *,
        rollback: bool = False,
        record: Any = None,
        revision: str = "",
    ):
        """A new PRIMARY deployment of ``td``. A rollback deployment carries the record
        and revision of what it goes back for; any other opens its own record (and ends
        the records of deployments it supersedes)."""
        dep_id = self._new_id()
        if not rollback:
            self._supersede(svc, state, dep_id)
        for dep in state.deployments:
            if dep.status == "PRIMARY":
                dep.status = "ACTIVE"
                dep.touch()
                # A superseded deployment's unready tasks will never be needed.
                for run in dep.live():
                    if not run.healthy:
                        self._stop_run(
                            svc,
                            run,
                            "Scaling activity initiated by deployment",
                            stop_code="ServiceSchedulerInitiated",
                        )
        dep = Deployment(
            id=dep_id,
            task_definition=td,
            desired=svc.desired_count,
            reason=f"ECS deployment {dep_id} in progress.",
            placeholder=(td == state.initial_td),
            rollback=rollback,
        )
        dep.paper_fail = (
            not dep.placeholder
            and not rollback
            and td not in state.completed_tds
            and self._on_paper(svc)
            and self.paper.fails(svc.cluster_name, svc.name, state.completed)
        )
        config = copy.deepcopy(getattr(svc, "deployment_configuration", None) or {})
        if not (rollback or dep.placeholder):
            self._stage(svc, dep, config)
        if dep.staged is None:
            dep.target_group = self.stager.production_group(svc)
        if rollback:
            dep.record, dep.revision = record, revision
        else:
            dep.revision = self._open_revision(svc, dep)
            dep.record = self._open_record(svc, state, dep, config)
        state.deployments.insert(0, dep)
        state.steady = False
        return dep

    def _stage(self, svc, dep: Deployment, config: dict) -> None:
        """Make ``dep`` a staged (BLUE_GREEN / CANARY / LINEAR) deployment when the
        service's configuration says so."""
        from cosydeploy.sandbox.strategies import STRATEGIES, staged_strategy

        wanted = config.get("strategy") or "ROLLING"
        strategy = staged_strategy(config, svc.load_balancers or [])
        if strategy is None:
            if wanted in STRATEGIES:
                self._event(
                    svc,
                    f"(service {svc.name}) deployment strategy {wanted} needs a load balancer "
                    "with advancedConfiguration (alternate target group, listener rules): "
                    "deploying ROLLING.",
                )
            return
        try:
            dep.staged = self.stager.plan(svc, strategy, config)
        except Exception as exc:
            dep.doomed = f"ECS could not read the listener rules of the service: {exc}"
            return
        dep.target_group = dep.staged.green_tg

    def _supersede(self, svc, state: ServiceState, by: str) -> None:
        """Deployments that had not ended when ``by`` started: their records end STOPPED
        (a staged one's traffic goes back to blue first)."""
        for dep in list(state.deployments):
            record = dep.record
            if record is None or record.ended:
                continue
            if dep.staged is not None:
                if not dep.staged.rolled_back:
                    self.stager.abandon(svc, state, dep, by)
                continue
            with self.book.lock:
                record.set(sd.STOPPED, f"ECS deployment {dep.id} was superseded by {by}.")

    def _open_revision(self, svc, dep: Deployment) -> str:
        """The service revision ``dep`` runs (its ARN ends with the deployment's number)."""
        arn = sd.revision_arn(self.region, self._account, svc.cluster_name, svc.name, dep.id)
        images = []
        with contextlib.suppress(Exception):
            td = self._backend().describe_task_definition(dep.task_definition)
            for c in td.container_definitions:
                image = c.get("image", "")
                item = {"containerName": c.get("name", ""), "image": image}
                if "@" in image:
                    item["imageDigest"] = image.split("@", 1)[1]
                images.append(item)
        self.book.add_revision(
            sd.Revision(
                arn=arn,
                service_arn=svc.arn,
                cluster_arn=svc.cluster_arn,
                task_definition=dep.task_definition,
                load_balancers=copy.deepcopy(svc.load_balancers or []),
                network_configuration=copy.deepcopy(getattr(svc, "network_configuration", None)),
                images=images,
                created_at=dep.created_at,
            )
        )
        return arn

    def _open_record(self, svc, state: ServiceState, dep: Deployment, config: dict):
        """The service deployment of ``dep`` (IN_PROGRESS), from the service's configuration
        at its start; its sources are the revisions serving then."""
        staged = dep.staged is not None
        sources = []
        for other in state.deployments:
            if other is dep or not other.revision or other.rollout_state == FAILED:
                continue
            if not other.live() and other is not state.last_completed:
                continue
            source = {
                "arn": other.revision,
                "requestedTaskCount": other.desired,
                "runningTaskCount": sum(1 for r in other.live() if r.healthy),
                "pendingTaskCount": sum(1 for r in other.live() if not r.healthy),
            }
            if staged:
                source["requestedTestTrafficWeight"] = 100.0
                source["requestedProductionTrafficWeight"] = 100.0
            sources.append(source)
        target = {
            "arn": dep.revision,
            "requestedTaskCount": dep.desired,
            "runningTaskCount": 0,
            "pendingTaskCount": 0,
        }
        if staged:
            target["requestedTestTrafficWeight"] = 0.0
            target["requestedProductionTrafficWeight"] = 0.0
        breaker = config.get("deploymentCircuitBreaker") or {}
        alarms = config.get("alarms") or {}
        record = sd.Record(
            arn=sd.record_arn(self.region, self._account, svc.cluster_name, svc.name, dep.id),
            service_arn=svc.arn,
            cluster_arn=svc.cluster_arn,
            cluster=svc.cluster_name,
            service=svc.name,
            account=self._account,
            region=self.region,
            target=target,
            deployment_configuration=config,
            sources=sources,
            created_at=dep.created_at,
            circuit_breaker={
                "status": "MONITORING" if breaker.get("enable") else "DISABLED",
                "failureCount": 0,
                "threshold": circuit_breaker_threshold(dep.desired),
            },
            alarms=(
                {"status": "MONITORING", "alarmNames": list(alarms.get("alarmNames") or [])}
                if alarms.get("enable")
                else {"status": "DISABLED"}
            ),
        )
        record.set(sd.IN_PROGRESS)
        return self.book.add_record(record)

    def breaker_threshold(self, dep: Deployment) -> int:
        return circuit_breaker_threshold(dep.desired)

    def alarms_firing(self, names: list[str]) -> list[str]:
        """Those of the named CloudWatch alarms (of the account being driven) in ALARM."""
        from moto.cloudwatch.models import cloudwatch_backends

        alarms = cloudwatch_backends[self._account][self.region].alarms
        return [n for n in names if (a := alarms.get(n)) is not None and a.state_value == "ALARM"]

    @staticmethod
    def _new_id() -> str:
        return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"

    def _grace(self, svc) -> float:
        grace = getattr(svc, "health_check_grace_period_seconds", None)
        return float(grace) if grace else 30.0

    def _target_group(self, svc):
        elb = self._elb()
        for lb in svc.load_balancers or []:
            tg = elb.target_groups.get(lb.get("targetGroupArn", ""))
            if tg is not None:
                return tg
        return None

    def _target_group_of(self, svc, dep: Deployment):
        """Where ``dep``'s tasks register: its own group (blue/green), else the service's."""
        if dep.target_group:
            tg = self._elb().target_groups.get(dep.target_group)
            if tg is not None:
                return tg
        return self._target_group(svc)

    def _observe(self, svc, state: ServiceState, containers) -> None:
        grace = self._grace(svc)
        for dep in state.deployments:
            tg = self._target_group_of(svc, dep)
            for run in dep.live():
                if run.paper:
                    self._observe_paper(svc, run, tg)
                    continue
                if run.starting is not None:
                    if not run.starting.done():
                        continue
                    self._apply_start(svc, run)
                    if run.done:
                        continue
                if run.container_id is None:
                    continue
                status, code = containers.get(run.container_id, ("removed", None))
                if status in ("exited", "dead", "removed"):
                    self._stop_run(
                        svc,
                        run,
                        EXITED,
                        exit_code=code,
                        failed=True,
                        stop_code="EssentialContainerExited",
                    )
                    continue
                if run.healthy:
                    continue
                if self._probe(run, tg):
                    if tg is not None and not self._register(svc, run, tg):
                        continue  # healthy only once its target is in the group
                    run.healthy = True
                    run.task.health_status = "HEALTHY"
                    run.task.containers[0].health_status = "HEALTHY"
                elif time.monotonic() - run.started > grace:
                    what = f"(target-group {tg.arn})" if tg is not None else "its health check"
                    self._event(
                        svc,
                        f"(service {svc.name}) (task {run.short_id}) failed ELB health "
                        f"checks in {what}.",
                    )
                    self._stop_run(
                        svc,
                        run,
                        f"Task failed ELB health checks in {what}",
                        failed=True,
                        stop_code="ServiceSchedulerInitiated",
                    )

    def _on_paper(self, svc) -> bool:
        return bool(self.paper) and self.paper.on_paper(svc.cluster_name, svc.name)

    def _observe_paper(self, svc, run: TaskRun, tg) -> None:
        """A paper task, one tick after it started: it exits (its deployment fails by
        rule), or it is healthy and serves behind the target group."""
        from cosydeploy.sandbox.paper import PaperApp

        if run.deployment.paper_fail:
            self._paper_log(run, "exited at start: a --paper-fail rule of the sandbox fails it")
            self._stop_run(
                svc, run, EXITED, exit_code=1, failed=True, stop_code="EssentialContainerExited"
            )
            return
        if run.healthy:
            return
        health = (getattr(tg, "health_check_path", None) or "/") if tg is not None else "/"
        version = self._image_version(run.container_def.get("image", ""))
        self.paper_apps[(run.ip, run.port)] = PaperApp(version, health)
        if tg is not None and not self._register(svc, run, tg):
            return  # healthy only once its target is in the group: tried again next tick
        run.healthy = True
        run.task.health_status = "HEALTHY"
        run.task.containers[0].health_status = "HEALTHY"

    def _paper_log(self, run: TaskRun, line: str) -> None:
        """One line in the task's log stream, where its container's output would go."""
        options = (run.container_def.get("logConfiguration") or {}).get("options") or {}
        group = options.get("awslogs-group")
        if not group:
            return
        prefix = options.get("awslogs-stream-prefix", "ecs")
        stream = f"{prefix}/{run.container_def.get('name', 'app')}/{run.task.id}"
        logs = self._client("logs")
        try:
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
            self._put_lines(logs, group, stream, [f"paper task: {line}".encode()])
        except Exception:
            log.debug("no log for paper task %s", run.task.id, exc_info=True)

    def _image_version(self, image: str) -> str:
        from moto.ecr.models import ecr_backends

        from cosydeploy.sandbox.paper import image_version

        def tags_of_digest(repository: str, digest: str) -> list[str]:
            # One registry stands in for every account's ECR: look in each.
            for account in list(ecr_backends.keys()):
                repo = ecr_backends[account][self.region].repositories.get(repository)
                for img in list(repo.images) if repo is not None else ():
                    if img.get_image_digest() == digest and img.image_tags:
                        return list(img.image_tags)
            return []

        return image_version(image, tags_of_digest)

    def paper_reply(self, ip: str, port: int, path: str) -> tuple[int, bytes] | None:
        """The load balancer's answer for a paper target (None: not a paper target)."""
        app = self.paper_apps.get((ip, port))
        return None if app is None else app.reply(path)

    def _next_paper_ip(self) -> str:
        # Never connected to: a paper task's address only has to be unique among the
        # targets of its group, so paper tasks count through 127.1.0.0/16 and up.
        self._paper_ip = self._paper_ip % (254 * 65536) + 1
        n = self._paper_ip
        return f"127.{1 + n // 65536}.{(n // 256) % 256}.{n % 256}"

    def _probe(self, run: TaskRun, tg) -> bool:
        path = (getattr(tg, "health_check_path", None) or "/") if tg is not None else "/"
        try:
            with urllib.request.urlopen(f"http://{run.ip}:{run.port}{path}", timeout=1) as resp:
                return 200 <= resp.status < 400
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _advance(self, backend, svc, state: ServiceState) -> None:
        self.stager.settle(svc, state)
        dep = state.deployments[0]
        if dep.rollout_state == IN_PROGRESS and dep.staged is not None:
            self.stager.advance(backend, svc, state, dep)
            return
        config = getattr(svc, "deployment_configuration", None) or {}
        breaker = config.get("deploymentCircuitBreaker") or {}
        if dep.rollout_state == IN_PROGRESS:
            if dep.placeholder:
                self._complete(svc, state, dep)
                return
            if dep.doomed:
                self._fail(svc, state, dep, rollback=True, reason=dep.doomed)
                return
            if self._stopped(svc, state, dep, config):
                return
            if breaker.get("enable") and dep.failed >= circuit_breaker_threshold(dep.desired):
                self._fail(
                    svc, state, dep, rollback=bool(breaker.get("rollback")), trigger="breaker"
                )
                return
            self._converge(backend, svc, state, dep)
            live = dep.live()
            if len(live) == dep.desired and all(r.healthy for r in live):
                self._complete(svc, state, dep)
        elif dep.rollout_state == COMPLETED and not dep.placeholder:
            self._converge(backend, svc, state, dep)
            live = dep.live()
            if len(live) == dep.desired and all(r.healthy for r in live) and not state.steady:
                state.steady = True
                self._event(svc, f"(service {svc.name}) has reached a steady state.")
        elif dep.rollout_state == COMPLETED and dep.placeholder and not state.steady:
            state.steady = True
            self._event(svc, f"(service {svc.name}) has reached a steady state.")

    def _stopped(self, svc, state: ServiceState, dep: Deployment, config: dict) -> bool:
        """A rolling deployment stopped by StopServiceDeployment or by its alarms."""
        record = dep.record
        if record is not None and not dep.rollback:
            with self.book.lock:
                request, record.request = record.request, None
            if request is not None:
                kind, why = request
                self._fail(svc, state, dep, rollback=(kind == "ROLLBACK"), reason=why)
                return True
        alarms = config.get("alarms") or {}
        if alarms.get("enable") and not dep.rollback:
            firing = self.alarms_firing(list(alarms.get("alarmNames") or []))
            if firing:
                if record is not None:
                    with self.book.lock:
                        record.alarms = {
                            "status": "TRIGGERED",
                            "alarmNames": list(alarms.get("alarmNames") or []),
                            "triggeredAlarmNames": firing,
                        }
                self._fail(
                    svc,
                    state,
                    dep,
                    rollback=bool(alarms.get("rollback")),
                    reason=f"CloudWatch alarm(s) {', '.join(firing)} in ALARM.",
                )
                return True
        return False

    def _converge(self, backend, svc, state: ServiceState, dep: Deployment) -> None:
        live = dep.live()
        backoff = self._backoff.get(state.key, 0.0)
        if len(live) < dep.desired and time.monotonic() >= backoff:
            started = []
            for _ in range(dep.desired - len(live)):
                run = self._launch(backend, svc, state, dep)
                if run is not None:
                    started.append(run)
            if started:
                ids = " ".join(f"(task {r.short_id})" for r in started)
                self._event(svc, f"(service {svc.name}) has started {len(started)} tasks: {ids}.")
        elif len(live) > dep.desired:
            extra = sorted(live, key=lambda r: r.healthy)[: len(live) - dep.desired]
            for run in extra:
                self._stop_run(
                    svc,
                    run,
                    f"Scaling activity initiated by (deployment {dep.id})",
                    stop_code="ServiceSchedulerInitiated",
                )
            ids = " ".join(f"(task {r.short_id})" for r in extra)
            self._event(svc, f"(service {svc.name}) has stopped {len(extra)} running tasks: {ids}.")

    def _complete(self, svc, state: ServiceState, dep: Deployment) -> None:
        dep.rollout_state = COMPLETED
        dep.reason = f"ECS deployment {dep.id} completed."
        dep.touch()
        old = state.deployments[1:]
        stopped = []
        for other in old:
            for run in other.live():
                self._stop_run(
                    svc,
                    run,
                    f"Scaling activity initiated by (deployment {dep.id})",
                    stop_code="ServiceSchedulerInitiated",
                )
                stopped.append(run)
        if stopped:
            ids = " ".join(f"(task {r.short_id})" for r in stopped)
            self._event(
                svc, f"(service {svc.name}) has stopped {len(stopped)} running tasks: {ids}."
            )
        state.deployments = [dep]
        state.last_completed = dep
        if not dep.placeholder:
            state.completed += 1
            state.completed_tds.add(dep.task_definition)
        record = dep.record
        if record is not None:
            with self.book.lock:
                if dep.rollback and record.status == sd.ROLLBACK_IN_PROGRESS:
                    record.set(sd.ROLLBACK_SUCCESSFUL)
                elif not dep.rollback and record.status in sd.UNDER_WAY:
                    # A stop asked for in the same pass as the completion comes too late.
                    record.request = None
                    record.set(sd.SUCCESSFUL, f"ECS deployment {dep.id} completed.")
                for watch in (record.circuit_breaker, record.alarms):
                    if watch and watch.get("status") == "MONITORING":
                        watch["status"] = "MONITORING_COMPLETE"
        self._event(svc, f"(service {svc.name}) (deployment {dep.id}) deployment completed.")
        state.steady = True
        self._event(svc, f"(service {svc.name}) has reached a steady state.")

    def _fail(
        self,
        svc,
        state: ServiceState,
        dep: Deployment,
        *,
        rollback: bool,
        reason: str | None = None,
        trigger: str = "",
    ) -> None:
        """A rolling deployment failed (the circuit breaker by default): its tasks stop and,
        with ``rollback``, a deployment goes back to the last completed one."""
        breaker = reason is None
        reason = reason or "ECS deployment circuit breaker: tasks failed to start."
        dep.rollout_state = FAILED
        dep.reason = reason
        dep.touch()
        for run in dep.live():
            self._stop_run(
                svc, run, f"Deployment {dep.id} failed", stop_code="ServiceSchedulerInitiated"
            )
        what = "tasks failed to start." if breaker else reason
        self._event(svc, f"(service {svc.name}) (deployment {dep.id}) deployment failed: {what}")
        target = state.last_completed
        back = rollback and not dep.rollback and target is not None and target is not dep
        record = dep.record
        if record is not None:
            with self.book.lock:
                if trigger == "breaker" and record.circuit_breaker:
                    record.circuit_breaker["status"] = "TRIGGERED"
                if dep.rollback:
                    record.set(sd.ROLLBACK_FAILED, f"the rollback failed: {reason}")
                elif back and target is not None:
                    record.rollback = {
                        "reason": reason,
                        "startedAt": _now(),
                        "serviceRevisionArn": target.revision,
                    }
                    record.set(sd.ROLLBACK_IN_PROGRESS, reason)
                else:
                    record.set(sd.STOPPED, reason)
        if back and target is not None:
            self._event(svc, f"(service {svc.name}) rolling back to deployment {target.id}.")
            svc.task_definition = target.task_definition
            self._new_deployment(
                svc,
                state,
                target.task_definition,
                rollback=True,
                record=record,
                revision=target.revision,
            )

    # -- tasks -------------------------------------------------------------------------------

    def _next_ip(self) -> str:
        # moto keys targets by IP alone; each task gets its own loopback address (127/8).
        self._ip_counter = self._ip_counter % 250 + 1
        return f"127.0.0.{self._ip_counter}"

    def _launch(self, backend, svc, state: ServiceState, dep: Deployment) -> TaskRun | None:
        from moto.ecs.models import Task

        td = backend.describe_task_definition(dep.task_definition)
        shim = copy.copy(td)
        shim.network_mode = "host"  # moto's awsvpc branch needs ENIs it cannot describe
        task: Any = Task(
            cluster=backend.clusters[svc.cluster_name],
            task_definition=shim,
            container_instance_arn=None,
            resource_requirements=None,
            backend=backend,
            group=f"service:{svc.name}",
            launch_type="FARGATE",
            started_by=dep.id,
        )
        task._transitions = []  # the driver owns the lifecycle, not moto's state manager
        task.last_status = "PENDING"
        task.desired_status = "RUNNING"
        task.health_status = "UNKNOWN"
        task.created_at = _now()
        task.cpu = td.cpu
        task.memory = td.memory
        task.containers[0].task_arn = task.task_arn
        task.containers[0].health_status = "UNKNOWN"
        backend.tasks.setdefault(svc.cluster_name, {})[task.task_arn] = task
        container_def = td.container_definitions[0]
        if self._on_paper(svc):
            ports = container_def.get("portMappings") or [{}]
            run = TaskRun(
                task=task,
                deployment=dep,
                port=int(ports[0].get("containerPort") or 80),
                ip=self._next_paper_ip(),
                container_def=container_def,
                paper=True,
            )
            dep.runs.append(run)
            task.last_status = "RUNNING"
            task.started_at = _now()
            task.containers[0].last_status = "RUNNING"
            return run
        run = TaskRun(task=task, deployment=dep, port=free_port(), ip=self._next_ip())
        dep.runs.append(run)
        run.container_def = container_def
        try:
            env = self._environment(container_def, run.port)
        except Exception as exc:
            self._stop_run(
                svc,
                run,
                f"ResourceInitializationError: unable to pull secrets or registry auth: {exc}",
                failed=True,
                stop_code="TaskFailedToStart",
            )
            return run
        run.starting = self._starts.submit(
            self._start_container, container_def, env, task, svc.name
        )
        return run

    def _start_container(self, container_def: dict, env: dict[str, str], task: Any, service: str):
        """Pull and run one task's container (on a pool thread). Returns the container,
        or raises; the driver's thread applies the outcome."""
        try:
            image = self._pull(container_def["image"])
        except Exception as exc:
            raise _StartFailed(f"CannotPullContainerError: {exc}") from exc
        try:
            return self.docker.containers.run(
                image,
                command=container_def.get("command") or None,
                entrypoint=container_def.get("entryPoint") or None,
                environment=env,
                network_mode="host",
                init=True,
                detach=True,
                name=f"cosydeploy-sbx-{self.sandbox_id}-{task.id[:12]}",
                labels={
                    "cosydeploy.sandbox": self.sandbox_id,
                    "cosydeploy.task": task.task_arn,
                    "cosydeploy.service": service,
                },
            )
        except Exception as exc:
            raise _StartFailed(f"CannotStartContainerError: {exc}") from exc

    def _apply_start(self, svc, run: TaskRun) -> None:
        """On the driver's thread: the task is RUNNING, or stopped as failed to start."""
        future, run.starting = run.starting, None
        try:
            container = future.result()
        except Exception as exc:
            self._stop_run(svc, run, str(exc), failed=True, stop_code="TaskFailedToStart")
            return
        run.container_id = container.id
        run.started = time.monotonic()
        run.task.last_status = "RUNNING"
        run.task.started_at = _now()
        run.task.containers[0].last_status = "RUNNING"
        run.log_thread = self._follow_logs(container, run.container_def, run.task)

    def _pull(self, image: str) -> str:
        with self._pull_lock:  # one pull per image at a time; the set is shared by pool threads
            return self._pull_locked(image)

    def _pull_locked(self, image: str) -> str:
        ref = map_image(image, self.ecr_host, self.registry)
        if ref in self._pulled:
            return ref
        repo, tag = split_image(ref)
        auth = self.registry_auth if ref.startswith(self.registry + "/") else None
        if "@" not in ref or not self._has_image(ref):
            for chunk in self.docker.api.pull(
                repo, tag=tag, auth_config=auth, stream=True, decode=True
            ):
                if "error" in chunk:
                    raise RuntimeError(f"pull {image}: {chunk['error']}")
        if "@" in ref:
            self._pulled.add(ref)
        return ref

    def _has_image(self, ref: str) -> bool:
        try:
            self.docker.images.get(ref)
            return True
        except Exception:
            return False

    def _environment(self, container_def: dict, port: int) -> dict[str, str]:
        env = {e["name"]: str(e.get("value", "")) for e in container_def.get("environment") or []}
        for secret in container_def.get("secrets") or []:
            env[secret["name"]] = self._secret_value(secret["valueFrom"])
        env["PORT"] = str(port)
        env["WEB_PORT"] = str(port)
        return env

    def _secret_value(self, value_from: str) -> str:
        """Resolve a secret's valueFrom (Secrets Manager name/ARN, optional JSON key; or SSM)."""
        import json

        if value_from.startswith("arn:") and ":ssm:" in value_from:
            name = "/" + value_from.split(":parameter/", 1)[1]
            ssm = self._client("ssm")
            return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        if value_from.startswith("/") and not value_from.startswith("arn:"):
            ssm = self._client("ssm")
            return ssm.get_parameter(Name=value_from, WithDecryption=True)["Parameter"]["Value"]
        secret_id, json_key = value_from, None
        if value_from.startswith("arn:"):
            parts = value_from.split(":")
            # arn:aws:secretsmanager:region:account:secret:name[:json-key:version-stage:version-id]
            secret_id = ":".join(parts[:7])
            if len(parts) > 7 and parts[7]:
                json_key = parts[7]
        sm = self._client("secretsmanager")
        try:
            value = sm.get_secret_value(SecretId=secret_id)["SecretString"]
        except sm.exceptions.ResourceNotFoundException:
            if not secret_id.startswith("arn:"):
                raise
            # A partial ARN (no random suffix): look it up by its name.
            value = sm.get_secret_value(SecretId=secret_id.split(":secret:", 1)[1])["SecretString"]
        if json_key:
            return str(json.loads(value)[json_key])
        return value

    def _follow_logs(self, container, container_def: dict, task) -> threading.Thread | None:
        conf = container_def.get("logConfiguration") or {}
        options = conf.get("options") or {}
        group = options.get("awslogs-group")
        if conf.get("logDriver") != "awslogs" or not group:
            return None
        prefix = options.get("awslogs-stream-prefix", "ecs")
        stream = f"{prefix}/{container_def.get('name', 'app')}/{task.id}"

        logs = self._client("logs")  # in the account of the task, taken on the driver's thread

        def follow() -> None:
            try:
                with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                    logs.create_log_group(logGroupName=group)
                with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                    logs.create_log_stream(logGroupName=group, logStreamName=stream)
                buffer = b""
                for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    self._put_lines(logs, group, stream, lines)
                if buffer:
                    self._put_lines(logs, group, stream, [buffer])
            except Exception:
                log.debug("log copy for %s ended", stream, exc_info=True)

        thread = threading.Thread(target=follow, name=f"sandbox-logs-{task.id[:8]}", daemon=True)
        thread.start()
        return thread

    @staticmethod
    def _put_lines(logs, group: str, stream: str, lines: list[bytes]) -> None:
        events = [
            {"timestamp": int(time.time() * 1000), "message": line.decode(errors="replace")}
            for line in lines
            if line.strip()
        ]
        if events:
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    def _register(self, svc, run: TaskRun, tg) -> bool:
        """Put the task's target in ``tg``; False (logged) when the call failed. A task
        counts as healthy only once registered: a task healthy without its target would
        complete a deployment whose targets never all come (a watch that never ends)."""
        try:
            self._client("elbv2").register_targets(
                TargetGroupArn=tg.arn, Targets=[{"Id": run.ip, "Port": run.port}]
            )
        except Exception:
            log.warning("registering task %s in %s failed", run.short_id, tg.arn, exc_info=True)
            return False
        run.registered_in = tg.arn
        self._event(svc, f"(service {svc.name}) registered 1 targets in (target-group {tg.arn})")
        return True

    def _remove_container(self, run: TaskRun, *, kill: bool = False) -> int | None:
        """Stop and remove the task's container; return its exit code when known."""
        if run.container_id is None:
            return None
        code = None
        try:
            container = self.docker.containers.get(run.container_id)
            if container.status == "running":
                if kill:
                    container.kill()
                else:
                    container.stop(timeout=2)
            container.reload()
            code = container.attrs.get("State", {}).get("ExitCode")
            if run.log_thread is not None:
                run.log_thread.join(timeout=2)
            container.remove(force=True)
        except Exception:
            log.debug("container %s already gone", run.container_id, exc_info=True)
        return code

    def _stop_run(
        self,
        svc,
        run: TaskRun,
        reason: str,
        *,
        exit_code: int | None = None,
        failed: bool = False,
        stop_code: str = "ServiceSchedulerInitiated",
    ) -> None:
        if run.done:
            return
        run.done = True
        if run.paper:
            self.paper_apps.pop((run.ip, run.port), None)
        if run.starting is not None:
            # Stopped before its container came up: remove that container once it does.
            pending, run.starting = run.starting, None
            pending.add_done_callback(_discard_container)
        if run.registered_in:
            try:
                self._client("elbv2").deregister_targets(
                    TargetGroupArn=run.registered_in, Targets=[{"Id": run.ip, "Port": run.port}]
                )
                self._event(
                    svc,
                    f"(service {svc.name}) deregistered 1 targets in "
                    f"(target-group {run.registered_in})",
                )
            except Exception:
                log.warning("deregistering task %s failed", run.short_id, exc_info=True)
            run.registered_in = None
        code = self._remove_container(run)
        if exit_code is None:
            exit_code = code
        task = run.task
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_reason = reason
        task.stop_code = stop_code
        task.stopped_at = _now()
        task.stopping_at = task.stopped_at
        container = task.containers[0]
        container.last_status = "STOPPED"
        container.exitCode = exit_code
        if failed and exit_code is not None and stop_code == "EssentialContainerExited":
            container.reason = f"Essential container exited with code {exit_code}"
        dep = run.deployment
        if failed and dep.rollout_state == IN_PROGRESS and dep.status == "PRIMARY":
            dep.failed += 1
            dep.touch()
        if failed:
            # Like ECS, wait a moment before replacing a failed task.
            self._backoff[self._state_key(f"{svc.cluster_name}:{svc.name}")] = (
                time.monotonic() + 0.5
            )

    # -- publishing ----------------------------------------------------------------------------

    def _event(self, svc, message: str) -> None:
        svc.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": _now(), "message": message})
        del svc.events[100:]
        log.info("%s", message)

    def _publish(self, svc, state: ServiceState) -> None:
        running_total = pending_total = 0
        deployments = []
        for dep in state.deployments:
            live = dep.live()
            running = sum(1 for r in live if r.task.last_status == "RUNNING")
            pending = len(live) - running
            running_total += running
            pending_total += pending
            item = {
                "id": dep.id,
                "status": dep.status,
                "taskDefinition": dep.task_definition,
                "desiredCount": dep.desired,
                "pendingCount": pending,
                "runningCount": running,
                "failedTasks": dep.failed,
                "createdAt": dep.created_at,
                "updatedAt": dep.updated_at,
                "launchType": "FARGATE",
                "platformVersion": "1.4.0",
                "platformFamily": "Linux",
                "rolloutState": dep.rollout_state,
                "rolloutStateReason": dep.reason,
            }
            if getattr(svc, "network_configuration", None):
                item["networkConfiguration"] = svc.network_configuration
            deployments.append(item)
        svc.deployments = deployments
        svc.running_count = running_total
        svc.pending_count = pending_total
        self._publish_records(state)

    def _publish_records(self, state: ServiceState) -> None:
        """The task counts of the records still open (target and source revisions)."""
        counts: dict[str, list[int]] = {}
        for dep in state.deployments:
            live = dep.live()
            c = counts.setdefault(dep.revision, [0, 0, 0])
            c[0] += dep.desired if dep.rollout_state != FAILED else 0
            c[1] += sum(1 for r in live if r.task.last_status == "RUNNING")
            c[2] += sum(1 for r in live if r.task.last_status != "RUNNING")
        with self.book.lock:
            for dep in state.deployments:
                record = dep.record
                if record is None or record.ended or dep.rollback:
                    continue
                for summary in [record.target, *record.sources]:
                    if summary["arn"] in counts:
                        requested, running, pending = counts[summary["arn"]]
                        summary["requestedTaskCount"] = requested
                        summary["runningTaskCount"] = running
                        summary["pendingTaskCount"] = pending
                if record.circuit_breaker:
                    record.circuit_breaker["failureCount"] = dep.failed
