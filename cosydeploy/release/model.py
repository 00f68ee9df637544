"""The values a release works with: what it releases to, how, and what happened."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cosydeploy import outcome as oc
from cosydeploy.config.resolve import ReleasePolicy
from cosydeploy.stack import StackOutputs


@dataclass(frozen=True)
class ReleaseTarget:
    """Everything a release knows about one client/env (resolved config + stack outputs)."""

    project: str
    client: str
    env: str
    region: str
    account_id: str
    aws: Any  # cosydeploy.adapters.aws.AwsSession: every client with the project's botocore config
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
    timeout: float = 600.0
    # The count the first release starts (the stack creates the service with no task) and
    # the scaling bounds it then registers; 0 leaves count and bounds to ECS and Terraform.
    desired_count: int = 0
    min_tasks: int = 0
    max_tasks: int = 0
    container_health_path: str = "/health/live"
    manifest: str = ""  # where the required secrets are named, for error messages
    templates: Any = None  # cosydeploy.render.Templates (None: the package's defaults)
    initial_image: str = ""  # the placeholder image of the stack's first revision
    notify: Any = None  # cosydeploy.release.notify.NotifySettings (None: no notifications)
    snapshot: Any = None  # cosydeploy.release.snapshot.SnapshotSettings (None: no snapshot)
    # Strategy, bake, alarms and checks (the default: no bake, health path only).
    release: ReleasePolicy = field(default_factory=ReleasePolicy)
    workdir: str = ""  # where the smoke command runs (the project directory)

    @property
    def alarm_names(self) -> tuple[str, ...]:
        """The alarms the bake watches: the configured ones, else the stack's critical ones."""
        if self.release.alarms is not None:
            return self.release.alarms
        return tuple(self.outputs.alarm_names)

    @property
    def key(self) -> str:
        return f"{self.client}/{self.env}"

    def secret_id(self, name: str) -> str:
        return f"{self.project}/{self.client}/{self.env}/{name}"


@dataclass(frozen=True)
class ReleaseOptions:
    """How one client's release runs (the CLI's flags, as a value)."""

    dry_run: bool = False
    timeout: float | None = None  # overrides target.timeout
    lock_wait: float = 0.0
    rollback: bool = True
    verify_attempts: int = 3  # consecutive 200s needed
    verify_interval: float = 1.0
    verify_max_tries: int = 15
    poll_initial: float = 1.0
    poll_max: float = 3.0
    reads_per_second: float = 5.0  # per account/region: the poller's token bucket
    # Seconds between two looks during the bake: one describe_services each, one more
    # call every other time, which keeps it at a rolling watch's calls per minute.
    bake_interval: float = 4.5
    actor: str | None = None


@dataclass(frozen=True)
class FleetOptions:
    """How a run over several clients goes: waves, parallelism within a wave."""

    parallel: int = 4
    waves: str | None = None  # a spec (canary,rest) or a file of waves
    infra: str = "auto"  # auto | force | skip: Terraform in step
    # No client stops another: one that cannot be prepared keeps its outcome, a failed
    # wave does not stop the later ones (a shard of the release workflow).
    keep_going: bool = False
    # Release a client only where the version (the digest) succeeded in the client's
    # previous environment; the others are skipped (the release workflow's chain).
    after_previous: bool = False

    @classmethod
    def from_flags(
        cls,
        parallel: int | None,
        waves: str | None,
        infra: bool | None,
        keep_going: bool = False,
        after_previous: bool = False,
    ) -> FleetOptions:
        """``--parallel``, ``--waves``, ``--infra/--skip-infra`` (None: not given),
        ``--keep-going`` and ``--after-previous``."""
        mode = "auto" if infra is None else ("force" if infra else "skip")
        return cls(
            parallel=parallel or 4,
            waves=waves,
            infra=mode,
            keep_going=keep_going,
            after_previous=after_previous,
        )


@dataclass
class ReleaseResult:
    """What happened to one client/env in a release, promotion or rollback."""

    client: str
    env: str
    version: str
    digest: str = ""
    outcome: str = oc.FAILED
    kind: str = "release"
    release_id: str = ""
    task_definition_arn: str = ""
    previous_task_definition_arn: str = ""
    rolled_back_to: str = ""
    diff: Any = None  # cosydeploy.ecs.taskdef.TaskDefDiff
    diagnosis: list[str] = field(default_factory=list)
    message: str = ""
    hint: str = ""
    verified: bool | None = None
    elapsed: float = 0.0
    wave: int = 0
    infra: str = ""
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # cleanup failures, after the outcome
    snapshot: str = ""  # the Redis snapshot taken before the release (rolled back from)
    strategy: str = ""
    stage: str = ""  # how far it got: rollout, verified, baking, baked
    traffic: str = ""  # the last production/test split ECS reported (traffic-shifting)
    bake: dict[str, Any] = field(default_factory=dict)  # the bake's BakeResult.as_dict()
    code: int | None = None  # an error's own exit code (outcome "error")
    error: BaseException | None = None  # what a run raised instead of an outcome

    @property
    def key(self) -> str:
        return f"{self.client}/{self.env}"

    @property
    def exit_code(self) -> int:
        return self.code if self.code is not None else oc.exit_code(self.outcome)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in {"diff", "code", "error"}}
        d["diff"] = self.diff.lines() if self.diff else []
        d["exit_code"] = self.exit_code
        d["duration"] = self.elapsed
        return d


@dataclass(frozen=True)
class Pace:
    """The ECS and ELB reads a run made in one account and region (its checks, polls,
    target health, bakes, traffic shifts, verification), every one through the token
    bucket of that account/region (``release.ecs_reads_per_second``)."""

    account: str
    region: str
    reads: int
    clients: int  # client/envs released there
    minutes: float  # the run's length
    peak_per_second: int  # the most reads in any one second
    bound_per_second: float  # the most the bucket lets through in any one second
    throttled: int  # reads AWS still refused after the SDK's retries (waited out)
    # attempts of ECS and ELB calls AWS refused for its rate (the SDK retried each)
    retried: int = 0

    @property
    def per_client_per_minute(self) -> float:
        return self.reads / self.clients / self.minutes if self.clients and self.minutes else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "per_client_per_minute": round(self.per_client_per_minute, 2)}


@dataclass
class RunResult:
    """A run over one or more clients: one result per client, the worst exit code."""

    results: list[ReleaseResult]
    waves: list[list[str]] = field(default_factory=list)
    pace: list[Pace] = field(default_factory=list)  # per account/region

    @property
    def exit_code(self) -> int:
        return oc.worst(r.exit_code for r in self.results)

    @property
    def digest(self) -> str:
        """The one image digest of the run (empty when clients ended on different ones)."""
        digests = {r.digest for r in self.results if r.digest}
        return digests.pop() if len(digests) == 1 else ""
