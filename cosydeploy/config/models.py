"""Strict models of the project config (cosydeploy.yaml) and client manifests.

Every model refuses unknown keys, so a typo is an error naming its line, never a
silently ignored setting.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Name rules. Every AWS name of a client's stack is built from `<project>-<client>-<env>`
# (docs/CONTRACTS.md); these rules keep each one valid where AWS is strictest, and the
# client stack's variables repeat them as Terraform validations:
# - ElastiCache and DocumentDB ids: a letter first, no two hyphens in a row, no hyphen
#   last; a replication group id is at most 40 characters and the RBAC users add "-a",
#   so `<project>-<client>-<env>` is at most STACK_NAME_MAX (38) characters;
# - an ALB name (`<client>-<env>`) must not start with "internal-";
# - S3 bucket `<project>-<client>-<env>-<account>-media`: within 63 when the above holds.
CLIENT_ID = r"^[a-z](-?[a-z0-9])+$"
CLIENT_ID_MAX = 20
ENV_NAME = r"^[a-z][a-z0-9]{1,6}$"
PROJECT_NAME = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
STACK_NAME_MAX = 38
# The only values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557}
    | {2922, 3288, 3653}
)
SECRET_NAME = r"^[A-Z][A-Z0-9_]{0,63}$"
FLAG_NAME = r"^[a-z][a-z0-9_]{0,40}$"
ACCOUNT_ID = r"^[0-9]{12}$"
ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@/_-]+$"
REGION = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"
DOMAIN = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# The old home of a client's app (a host name outside AWS; a port only for the sandbox).
ORIGIN = (
    r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(:[0-9]{1,5})?$"
)

# Fargate's valid task sizes: cpu units -> allowed memory (MiB).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}

# Names the client stack gives the container itself: the Redis password's secret and the
# settings in Parameter Store. A manifest secret of the same name would replace them.
STACK_OWNED_NAMES = frozenset(
    {"REDIS_AUTH_TOKEN", "WEB_PORT", "MONGO_DB_NAME", "NODE_ENV", "PUBLIC_URL"}
    | {"REDIS_HOST", "REDIS_PORT", "REDIS_TLS", "REDIS_USERNAME"}
)

DEFAULT_SECRETS = (
    "DISCORD_BOT_TOKEN",
    "OPENROUTER_API_KEY",
    "GOOGLE_AI_API_KEY",
    "ENCRYPTION_KEY",
    "MONGO_URI",
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def check_fargate(cpu: int | None, memory: int | None) -> None:
    """Raise ValueError unless (cpu, memory) is a size Fargate can run."""
    if cpu is None and memory is None:
        return
    if cpu is not None and cpu not in FARGATE_SIZES:
        raise ValueError(
            f"cpu {cpu} is not a Fargate size; use one of {', '.join(map(str, FARGATE_SIZES))}"
        )
    if cpu is not None and memory is not None and memory not in FARGATE_SIZES[cpu]:
        allowed = FARGATE_SIZES[cpu]
        raise ValueError(
            f"memory {memory} MiB is not valid with cpu {cpu} on Fargate "
            f"(allowed {allowed[0]}-{allowed[-1]} MiB)"
        )


# ---------------------------------------------------------------- release policy

STRATEGIES = ("rolling", "blue_green", "canary", "linear")
BAKE_MAX = 3600
PAUSE_MAX = 24 * 3600  # ECS's longest PAUSE hook timeout
_DURATION = re.compile(r"^([0-9]+)\s*(s|m)?$")


def parse_duration(value: object) -> int:
    """Seconds from ``90``, ``"90s"`` or ``"5m"`` (ValueError otherwise)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '90s' or '5m'")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (m := _DURATION.match(value.strip())):
        seconds = int(m.group(1)) * (60 if m.group(2) == "m" else 1)
    else:
        raise ValueError(
            f"{value!r} is not a duration: write seconds (90) or a string like '90s' or '5m'"
        )
    if not 0 <= seconds <= BAKE_MAX:
        raise ValueError(f"{seconds}s is outside 0s-{BAKE_MAX // 60}m")
    return seconds


def parse_minutes(value: object, *, low: int = 60, high: int = BAKE_MAX) -> int:
    """Seconds, in whole minutes (what ECS counts in), from a duration like ``parse_duration``'s."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a duration: write minutes like '5m'")
    seconds = int(value) if isinstance(value, int) else None
    if seconds is None:
        m = _DURATION.match(value.strip()) if isinstance(value, str) else None
        if not m:
            raise ValueError(f"{value!r} is not a duration: write minutes like '5m'")
        seconds = int(m.group(1)) * (60 if m.group(2) == "m" else 1)
    if seconds % 60:
        raise ValueError(f"{value!r} is not whole minutes: ECS counts this in minutes ('5m')")
    if not low <= seconds <= high:
        raise ValueError(f"{seconds // 60}m is outside {low // 60}m-{high // 60}m")
    return seconds


class VerifySpec(Strict):
    """Checks after the rollout completed and the health path answered, before the bake."""

    version: bool | None = Field(
        None, description="GET /version must answer the version being released."
    )
    smoke: str | None = Field(
        None,
        min_length=1,
        description="A command run locally (by a shell, in the project directory) with APP_URL "
        "and VERSION in its environment; a non-zero exit fails the release.",
    )
    smoke_timeout: Annotated[int, Field(ge=1, le=1800)] | None = Field(
        None, description="Seconds the smoke command may take (default 120)."
    )


class CanarySpec(Strict):
    """A canary: this share of production traffic first, for this long, then all of it."""

    percent: Annotated[float, Field(gt=0, lt=100)] | None = Field(
        None, description="Share of production traffic the new version gets first (default 10)."
    )
    bake: int | None = Field(
        None, description="How long the canary share runs before the rest moves (default '5m')."
    )

    @field_validator("bake", mode="before")
    @classmethod
    def _bake(cls, v: object) -> object:
        return None if v is None else parse_minutes(v, low=0)


class LinearSpec(Strict):
    """Linear: production traffic moves in equal steps, each held for a while."""

    step: Annotated[float, Field(ge=3, le=100)] | None = Field(
        None, description="Percent of production traffic moved at each step (default 20)."
    )
    bake: int | None = Field(
        None, description="How long each step runs before the next (default '1m')."
    )

    @field_validator("bake", mode="before")
    @classmethod
    def _bake(cls, v: object) -> object:
        return None if v is None else parse_minutes(v, low=0)


class ReleaseSpec(Strict):
    """How a release goes and what is watched after it (per tier, client or environment)."""

    strategy: str | None = Field(
        None,
        description="Deployment strategy, run by ECS: rolling (tasks replaced in place), "
        "blue_green (a full new set verified on the test listener, then all traffic at "
        "once), canary (a share first, then the rest) or linear (equal steps). Unset: "
        "rolling, but blue_green in the last environment once cosydeploy.yaml "
        "release.test_listener_cidrs lets the test listener be reached.",
    )
    canary: CanarySpec | None = None
    linear: LinearSpec | None = None
    pause_timeout: int | None = Field(
        None,
        description="How long ECS holds a new version on test traffic waiting for "
        "cosydeploy's verification before it rolls back by itself (default '30m').",
    )
    bake: int | None = Field(
        None,
        description="How long to keep watching after verification (seconds, or '90s' / '5m'); "
        "0 turns the bake off.",
    )
    alarms: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = Field(
        None,
        description="CloudWatch alarms whose ALARM state during the bake rolls back (default: "
        "the stack's critical alarms; [] for none).",
    )
    verify: VerifySpec | None = None

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, v: str | None) -> str | None:
        if v is not None and v not in STRATEGIES:
            raise ValueError(f"strategy {v!r} is not supported: use {' or '.join(STRATEGIES)}")
        return v

    @field_validator("bake", mode="before")
    @classmethod
    def _bake(cls, v: object) -> object:
        return None if v is None else parse_duration(v)

    @field_validator("pause_timeout", mode="before")
    @classmethod
    def _pause(cls, v: object) -> object:
        return None if v is None else parse_minutes(v, low=60, high=PAUSE_MAX)


# ---------------------------------------------------------------- project config


class RedisPreset(Strict):
    node_type: str
    num_nodes: Annotated[int, Field(ge=1, le=6)]
    # A snapshot of Redis before each release (unset: in the production environment only).
    snapshot_before_release: bool | None = None


class DatabasePreset(Strict):
    engine: Literal["atlas", "documentdb"] = "atlas"
    atlas_tier: str | None = None
    documentdb_instance_class: str | None = None
    documentdb_instances: int | None = None


class TierPreset(Strict):
    min_tasks: Annotated[int, Field(ge=1, le=100)]
    max_tasks: Annotated[int, Field(ge=1, le=100)]
    cpu: int
    memory: int
    redis: RedisPreset
    database: DatabasePreset
    release: ReleaseSpec | None = None

    @model_validator(mode="after")
    def _sizes(self) -> TierPreset:
        check_fargate(self.cpu, self.memory)
        if self.min_tasks > self.max_tasks:
            raise ValueError(
                f"min_tasks {self.min_tasks} is greater than max_tasks {self.max_tasks}"
            )
        return self


class StateBackend(Strict):
    bucket: str
    key_prefix: str = "clients"
    key_name: str = "terraform.tfstate"
    region: Annotated[str, Field(pattern=REGION)] = "us-east-1"
    use_lockfile: bool = True


class ImageConfig(Strict):
    repository: str = "cosyworld"
    # The account holding the ECR repository (bootstrap stack); default: each client's own.
    registry_account_id: Annotated[str, Field(pattern=ACCOUNT_ID)] | None = None
    registry_region: Annotated[str, Field(pattern=REGION)] | None = None
    context: str = "."
    dockerfile: str = "Dockerfile"
    platform: str = "linux/amd64"
    build_args: dict[str, str] = Field(default_factory=dict)


class ReleaseConfig(Strict):
    timeout: Annotated[int, Field(ge=10, le=7200)] = 900
    lock_table: str = "cosyworld-deploy-locks"
    ledger_table: str = "cosyworld-releases"
    stop_timeout: Annotated[int, Field(ge=2, le=120)] = 30
    health_check_grace_period: Annotated[int, Field(ge=0, le=3600)] = 60
    # How long a release waits for its Redis snapshot to be available (then fails, unchanged).
    snapshot_timeout: Annotated[int, Field(ge=10, le=7200)] = 1800
    # ECS/ELB reads a second one cosydeploy process makes per account and region while it
    # releases: its checks, watch, bake and verification (ECS allows about 20 for service
    # reads; runners releasing the same account at once share that: e.g. 4 shards at
    # once, 5 each).
    ecs_reads_per_second: Annotated[float, Field(gt=0, le=20)] = 5.0
    # The test listener of blue/green, canary and linear releases: ECS sends it to the new
    # version before production traffic, and `cosydeploy release` verifies through it. Only
    # these CIDRs reach it (where releases run: a runner's egress range, a VPN); [] = nobody.
    test_listener_port: Annotated[int, Field(ge=1, le=65535)] = 8443
    test_listener_cidrs: list[str] = []

    @field_validator("test_listener_port")
    @classmethod
    def _not_a_production_port(cls, v: int) -> int:
        if v in (80, 443):
            raise ValueError("must not be 80 or 443: those are the production listeners")
        return v

    @field_validator("test_listener_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        import ipaddress

        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(
                    f"{cidr!r} is not a CIDR block (e.g. 203.0.113.0/24 or 2001:db8::/56)"
                ) from None
        return v


class GithubRoles(Strict):
    """Names of the roles the GitHub workflows assume (``{env}`` is the environment)."""

    build_role: Annotated[str, Field(pattern=r"^[\w+=,.@{}-]{1,64}$")] = "cosyworld-github-build"
    release_role: Annotated[str, Field(pattern=r"^[\w+=,.@{}-]{1,64}$")] = "cosyworld-{env}-release"
    infra_role: Annotated[str, Field(pattern=r"^[\w+=,.@{}-]{1,64}$")] = "cosyworld-{env}-infra"


class CiConfig(Strict):
    """How the release workflow spreads a fleet over runners (``cosydeploy ci plan``)."""

    # Shards per group of clients sharing accounts: ceil(clients / max_clients_per_shard).
    max_clients_per_shard: Annotated[int, Field(ge=1, le=1000)] = 25
    # Shards released at once: the matrix's max-parallel.
    max_parallel_shards: Annotated[int, Field(ge=1, le=256)] = 10
    # Clients released at once within a shard: its runner's --parallel.
    parallel: Annotated[int, Field(ge=1, le=100)] = 10


class Paths(Strict):
    stack: str = "terraform/stacks/client"
    sandbox_stack: str = "terraform/stacks/sandbox"
    templates: str = "templates"
    clients: str = "clients"


class TerraformConfig(Strict):
    binary: str | None = None


PHONE = r"^\+[1-9][0-9]{6,14}$"


class AlertSubscription(Strict):
    """One subscriber of a severity's topic. email and email-json without an endpoint go
    to the client's contact; sms needs a number in E.164 form (``+15550100``). A pager
    takes alerts through its email integration address."""

    protocol: Literal["email", "email-json", "sms"]
    endpoint: str | None = None

    @model_validator(mode="after")
    def _endpoint(self) -> AlertSubscription:
        if self.protocol == "sms":
            if self.endpoint is None or not re.match(PHONE, self.endpoint):
                raise ValueError("sms needs an endpoint in E.164 form, e.g. '+15550100'")
        elif self.endpoint is not None and not re.match(EMAIL, self.endpoint):
            raise ValueError(f"{self.protocol} needs an email address, or none for the contact")
        return self


class Alerts(Strict):
    """Who gets each severity's topic (monitoring module: critical pages, warning and the
    budget notify, info carries deployment and scaling events)."""

    critical: list[AlertSubscription] = Field(
        default_factory=lambda: [AlertSubscription(protocol="email")]
    )
    warning: list[AlertSubscription] = Field(
        default_factory=lambda: [AlertSubscription(protocol="email")]
    )
    info: list[AlertSubscription] = Field(default_factory=list)

    def subscriptions(self) -> list[dict[str, str | None]]:
        """Flat and ordered, for the tfvars (a null endpoint is the client's contact)."""
        return [
            {"severity": severity, "protocol": s.protocol, "endpoint": s.endpoint}
            for severity in ("critical", "warning", "info")
            for s in getattr(self, severity)
        ]


# A Secrets Manager secret name: letters, digits and /_+=.@- (AWS's own rule), no ARN.
SECRET_ID = r"^[A-Za-z0-9/_+=.@-]{1,512}$"


class Notifications(Strict):
    """Release notifications. Every release (started, succeeded, failed, rolled back) and
    rollback is published to the environment's info topic; with ``webhook_secret`` it is
    also posted to a Slack-compatible webhook whose URL is that secret's value (read from
    Secrets Manager in the client's account and region, never shown or stored)."""

    webhook_secret: Annotated[str, Field(pattern=SECRET_ID)] | None = None
    timeout: Annotated[float, Field(gt=0, le=60)] = 5.0


class DnsAccount(Strict):
    """The account that holds the public zone, when it is not each client's own: the
    zone lookup, the certificate's validation records and the app's alias record are
    made there through this role (terraform/README.md, "Terraform")."""

    account_id: Annotated[str, Field(pattern=ACCOUNT_ID)]
    role_arn: Annotated[str, Field(pattern=ROLE_ARN)]

    @field_validator("account_id", mode="before")
    @classmethod
    def _account_text(cls, v: object) -> object:
        if isinstance(v, int):
            raise ValueError(
                "write the account id as a quoted 12-digit string, e.g. '123456789012'"
            )
        return v

    @model_validator(mode="after")
    def _role_in_account(self) -> DnsAccount:
        if self.role_arn.split(":")[4] != self.account_id:
            raise ValueError(f"role_arn {self.role_arn} is not a role of account {self.account_id}")
        return self


class ProjectConfig(Strict):
    project: Annotated[str, Field(pattern=PROJECT_NAME, max_length=STACK_NAME_MAX)]
    default_region: Annotated[str, Field(pattern=REGION)] = "us-east-1"
    zone_name: Annotated[str, Field(pattern=DOMAIN)] = "cosyworld.ai"
    dns: DnsAccount | None = None
    alerts: Alerts = Field(default_factory=Alerts)
    notifications: Notifications = Field(default_factory=Notifications)
    environments: list[Annotated[str, Field(pattern=ENV_NAME)]]
    tiers: dict[str, TierPreset]
    log_retention_days: dict[str, int] = Field(default_factory=dict)
    state: StateBackend
    image: ImageConfig = Field(default_factory=ImageConfig)
    release: ReleaseConfig = Field(default_factory=ReleaseConfig)
    github: GithubRoles = Field(default_factory=GithubRoles)
    ci: CiConfig = Field(default_factory=CiConfig)
    paths: Paths = Field(default_factory=Paths)
    terraform: TerraformConfig = Field(default_factory=TerraformConfig)

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, v: dict[str, int]) -> dict[str, int]:
        for env, days in v.items():
            if days not in LOG_RETENTION_DAYS:
                raise ValueError(
                    f"{env}: CloudWatch Logs keeps logs for one of "
                    f"{', '.join(map(str, sorted(LOG_RETENTION_DAYS)))} days, not {days}"
                )
        return v

    @model_validator(mode="after")
    def _envs(self) -> ProjectConfig:
        if len(set(self.environments)) != len(self.environments):
            raise ValueError("environments must be unique")
        if not self.environments:
            raise ValueError("at least one environment is needed")
        longest = max(self.environments, key=len)
        need = len(self.project) + 1 + CLIENT_ID_MAX + 1 + len(longest)
        if need > STACK_NAME_MAX:
            raise ValueError(
                f"project: {self.project!r} with environment {longest!r} and a "
                f"{CLIENT_ID_MAX}-character client id makes names of {need} characters; "
                f"ElastiCache allows {STACK_NAME_MAX} here: shorten the project or the "
                "environment name"
            )
        return self


# ---------------------------------------------------------------- client manifest


class AwsSpec(Strict):
    account_id: Annotated[str, Field(pattern=ACCOUNT_ID)]
    region: Annotated[str, Field(pattern=REGION)] | None = None
    role_arn: Annotated[str, Field(pattern=ROLE_ARN)] | None = None
    profile: str | None = None

    @field_validator("account_id", mode="before")
    @classmethod
    def _account_text(cls, v: object) -> object:
        if isinstance(v, int):
            raise ValueError(
                "write the account id as a quoted 12-digit string, e.g. '123456789012'"
            )
        return v


class ScalingSpec(Strict):
    min: Annotated[int, Field(ge=1, le=100)] | None = None
    max: Annotated[int, Field(ge=1, le=100)] | None = None


class AppSpec(Strict):
    port: Annotated[int, Field(ge=1, le=65535)] = 3000
    health_path: Annotated[str, Field(pattern=r"^/[\w./-]*$")] = "/health/ready"
    environment: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = Field(
        default_factory=dict
    )
    feature_flags: dict[Annotated[str, Field(pattern=FLAG_NAME)], bool] = Field(
        default_factory=dict
    )
    secrets: list[Annotated[str, Field(pattern=SECRET_NAME)]] = Field(default_factory=list)
    mongo_db_name: str = "cosyworld"

    @field_validator("secrets")
    @classmethod
    def _not_stack_owned(cls, v: list[str]) -> list[str]:
        taken = sorted(set(v) & STACK_OWNED_NAMES)
        if taken:
            raise ValueError(
                f"{', '.join(taken)}: the stack gives the container this name itself "
                "(Redis password or a setting); choose another secret name"
            )
        return v

    @field_validator("environment", mode="before")
    @classmethod
    def _env_values_text(cls, v: object) -> object:
        if isinstance(v, dict):
            for k, val in v.items():
                if not isinstance(val, str):
                    raise ValueError(f"environment value of {k} must be a quoted string")
        return v


class AtlasDb(Strict):
    engine: Literal["atlas"]
    tier: Annotated[str, Field(pattern=r"^M[0-9]{1,3}$")] | None = None
    uri_secret: Annotated[str, Field(pattern=SECRET_NAME)] = "MONGO_URI"


class DocumentDb(Strict):
    engine: Literal["documentdb"]
    instance_class: Annotated[str, Field(pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")] = "db.r6g.large"
    instances: Annotated[int, Field(ge=1, le=16)] = 2
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = 35


Database = Annotated[AtlasDb | DocumentDb, Field(discriminator="engine")]


class RedisSpec(Strict):
    node_type: Annotated[str, Field(pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")] | None = None
    num_nodes: Annotated[int, Field(ge=1, le=6)] | None = None
    snapshot_before_release: bool | None = None


class EnvironmentSpec(Strict):
    tier: str | None = None
    desired_count: Annotated[int, Field(ge=0, le=100)] | None = None
    scaling: ScalingSpec | None = None
    cpu: int | None = None
    memory: int | None = None
    aws: AwsOverride | None = None
    feature_flags: dict[Annotated[str, Field(pattern=FLAG_NAME)], bool] = Field(
        default_factory=dict
    )
    environment: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = Field(
        default_factory=dict
    )
    redis: RedisSpec | None = None
    release: ReleaseSpec | None = None
    # Where the hostname pointed before cosydeploy: `cosydeploy cutover` moves it over by
    # Route 53 weights (terraform/modules/dns makes the two weighted records).
    old_origin: Annotated[str, Field(pattern=ORIGIN, max_length=253)] | None = None


class AwsOverride(Strict):
    account_id: Annotated[str, Field(pattern=ACCOUNT_ID)] | None = None
    region: Annotated[str, Field(pattern=REGION)] | None = None
    role_arn: Annotated[str, Field(pattern=ROLE_ARN)] | None = None
    profile: str | None = None


EnvironmentSpec.model_rebuild()


class ClientManifest(Strict):
    client: Annotated[str, Field(pattern=CLIENT_ID, max_length=CLIENT_ID_MAX)]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    contact: Annotated[str, Field(pattern=EMAIL)]
    tier: str
    aws: AwsSpec
    domain: Annotated[str, Field(pattern=DOMAIN)] | None = None
    environments: dict[Annotated[str, Field(pattern=ENV_NAME)], EnvironmentSpec | None]
    app: AppSpec = Field(default_factory=AppSpec)
    database: Database = Field(default_factory=lambda: AtlasDb(engine="atlas"))
    redis: RedisSpec = Field(default_factory=RedisSpec)
    release: ReleaseSpec | None = None
    tags: dict[Annotated[str, Field(pattern=r"^[\w.:/=+@ -]{1,128}$")], str] = Field(
        default_factory=dict
    )

    @field_validator("client")
    @classmethod
    def _client_id(cls, v: str) -> str:
        if v.startswith("internal"):
            raise ValueError(
                "must not start with 'internal': AWS reserves ALB names starting with 'internal-'"
            )
        return v

    @model_validator(mode="after")
    def _check(self) -> ClientManifest:
        if not self.environments:
            raise ValueError("environments: at least one environment is needed")
        return self


_PATTERN_MEANING = {
    CLIENT_ID: "must be 2-20 characters: lowercase letters, digits and single '-', starting with a letter, not ending with '-'",
    PROJECT_NAME: "must be lowercase letters, digits and single '-', starting with a letter",
    ENV_NAME: "must be 2-7 lowercase letters and digits, like dev, staging or prod",
    SECRET_NAME: "must be UPPER_SNAKE_CASE, like DISCORD_BOT_TOKEN",
    FLAG_NAME: "must be lower_snake_case",
    ACCOUNT_ID: "must be a 12-digit AWS account id",
    ROLE_ARN: "must be an IAM role ARN like arn:aws:iam::123456789012:role/deploy",
    REGION: "must be an AWS region like us-east-1",
    DOMAIN: "must be a lowercase DNS name like cosyworld.ai",
    EMAIL: "must be an email address",
    ORIGIN: "must be a host name like app.example.net (host:port only in the sandbox)",
}


def explain_pattern(pattern: str) -> str | None:
    """A human phrase for one of our regular expressions."""
    return _PATTERN_MEANING.get(pattern)


def is_dns_label(value: str) -> bool:
    return bool(re.match(CLIENT_ID, value))
