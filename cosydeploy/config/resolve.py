"""Layering in one place: project defaults -> tier preset -> client -> environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cosydeploy.config.models import (
    DEFAULT_SECRETS,
    AtlasDb,
    ClientManifest,
    ReleaseSpec,
    check_fargate,
)

if TYPE_CHECKING:
    from cosydeploy.config.project import Project

DEFAULT_RETENTION = {"dev": 7, "staging": 30, "prod": 90}
# Bake by environment when no layer sets one: short where people iterate, longer where
# users are (the first environment, the last one, those in between).
DEFAULT_BAKE = {"first": 30, "between": 120, "last": 300}
DEFAULT_SMOKE_TIMEOUT = 120
# Strategy by environment when no layer sets one: blue/green where users are, once the
# project lets its test listener be reached (release.test_listener_cidrs); rolling else.
DEFAULT_STRATEGY = {"first": "rolling", "between": "rolling", "last": "blue_green"}
# ECS native strategies: what runs beside the current version and shifts traffic.
TRAFFIC_SHIFTING = ("blue_green", "canary", "linear")


@dataclass(frozen=True)
class ReleasePolicy:
    """How one client/env is released and watched after its rollout.

    ``alarms`` None: the stack's critical alarms (its ``alarm_names`` output)."""

    strategy: str = "rolling"
    bake: int = 0
    alarms: tuple[str, ...] | None = None
    verify_version: bool = False
    smoke: str | None = None
    smoke_timeout: int = DEFAULT_SMOKE_TIMEOUT
    canary_percent: float = 10.0
    canary_bake: int = 300
    linear_step_percent: float = 20.0
    linear_bake: int = 60
    # How long ECS holds the new version on test traffic for cosydeploy's verdict.
    pause_timeout: int = 1800

    @property
    def shifts_traffic(self) -> bool:
        """Run by ECS beside the current version, verified on the test listener first."""
        return self.strategy in TRAFFIC_SHIFTING

    @property
    def ecs_strategy(self) -> str:
        return self.strategy.upper()

    def strategy_text(self) -> str:
        if self.strategy == "canary":
            return f"canary {self.canary_percent:g}% for {self.canary_bake // 60}m, then the rest"
        if self.strategy == "linear":
            return f"linear {self.linear_step_percent:g}% steps, {self.linear_bake // 60}m each"
        return self.strategy

    def describe(self, health_path: str) -> dict[str, Any]:
        """As ``clients show`` displays it."""
        checks = [f"health {health_path}"] + ["version /version"] * self.verify_version
        if self.smoke:
            checks.append(f"smoke {self.smoke!r} (timeout {self.smoke_timeout}s)")
        if self.shifts_traffic:
            checks = [f"{c} on the test listener" for c in checks[:1]] + checks[1:]
        return {
            "strategy": self.strategy_text(),
            "bake": f"{self.bake}s",
            "alarms": list(self.alarms)
            if self.alarms is not None
            else "the stack's critical alarms",
            "verify": ", ".join(checks),
        }


def release_policy(
    env_position: str, *layers: ReleaseSpec | None, test_listener: bool = True
) -> ReleasePolicy:
    """Layer release specs, lowest first (tier preset, client, environment): each field
    set in a higher layer wins; ``verify`` merges field by field. ``test_listener``: the
    project lets someone reach the test listener; without it the default strategy is
    rolling everywhere (a traffic-shifting one could never be verified)."""
    default = DEFAULT_STRATEGY[env_position]
    if default in TRAFFIC_SHIFTING and not test_listener:
        default = "rolling"
    values: dict[str, Any] = {"bake": DEFAULT_BAKE[env_position], "strategy": default}
    for spec in layers:
        if spec is None:
            continue
        if spec.strategy is not None:
            values["strategy"] = spec.strategy
        if spec.pause_timeout is not None:
            values["pause_timeout"] = spec.pause_timeout
        for sub, fields_ in (
            (spec.canary, (("percent", "canary_percent"), ("bake", "canary_bake"))),
            (spec.linear, (("step", "linear_step_percent"), ("bake", "linear_bake"))),
        ):
            for src, dst in fields_ if sub is not None else ():
                if getattr(sub, src) is not None:
                    values[dst] = getattr(sub, src)
        if spec.bake is not None:
            values["bake"] = spec.bake
        if spec.alarms is not None:
            values["alarms"] = tuple(spec.alarms)
        v = spec.verify
        if v is not None:
            if v.version is not None:
                values["verify_version"] = v.version
            if v.smoke is not None:
                values["smoke"] = v.smoke
            if v.smoke_timeout is not None:
                values["smoke_timeout"] = v.smoke_timeout
    return ReleasePolicy(**values)


@dataclass(frozen=True)
class DatabaseConfig:
    engine: str
    atlas_tier: str | None = None
    uri_secret: str | None = None
    documentdb_instance_class: str | None = None
    documentdb_instances: int | None = None
    documentdb_backup_retention_days: int | None = None


@dataclass(frozen=True)
class ClientEnv:
    """Everything cosydeploy knows about one client in one environment, fully resolved."""

    project: str
    client: str
    name: str
    contact: str
    env: str
    tier: str
    account_id: str
    region: str
    role_arn: str | None
    profile: str | None
    zone_name: str
    hostname: str
    cpu: int
    memory: int
    desired_count: int
    min_tasks: int
    max_tasks: int
    port: int
    health_path: str
    environment: dict[str, str]
    feature_flags: dict[str, bool]
    secrets: tuple[str, ...]
    mongo_db_name: str
    database: DatabaseConfig
    redis_node_type: str
    redis_nodes: int
    log_retention_days: int
    single_nat_gateway: bool
    deletion_protection: bool
    stop_timeout: int
    health_check_grace_period: int
    tags: dict[str, str] = field(default_factory=dict)
    redis_snapshot: bool = False  # a Redis snapshot before each release
    release: ReleasePolicy = field(default_factory=ReleasePolicy)
    old_origin: str | None = None  # the app's old home, for `cosydeploy cutover`

    @property
    def workspace(self) -> str:
        """The Terraform workspace of this client/env."""
        return f"{self.client}-{self.env}"

    @property
    def target(self) -> str:
        return f"{self.client}/{self.env}"

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        d = asdict(self)
        d["workspace"] = self.workspace
        d["release"] = self.release.describe(self.health_path)
        return d


class LayeringError(ValueError):
    """The layers of one environment clash: ``field`` is the path under the environment."""

    def __init__(self, field: tuple[str, ...], message: str) -> None:
        super().__init__(f"{'.'.join(field)}: {message}" if field else message)
        self.field = field
        self.message = message


def resolve(project: Project, m: ClientManifest, env: str) -> ClientEnv:
    """Resolve one client/env. Raises LayeringError (naming the field) when the layers clash."""
    cfg = project.config
    spec = m.environments.get(env)
    if env not in m.environments:
        raise LayeringError((), f"the client has no environment {env!r}")
    tier_name = (spec.tier if spec and spec.tier else None) or m.tier
    tier = cfg.tiers[tier_name]

    cpu = spec.cpu if spec and spec.cpu is not None else tier.cpu
    memory = spec.memory if spec and spec.memory is not None else tier.memory
    if spec and (spec.cpu is not None or spec.memory is not None):
        try:
            check_fargate(cpu, memory)
        except ValueError as exc:
            key = "memory" if spec.memory is not None else "cpu"
            raise LayeringError((key,), str(exc)) from None

    min_tasks = tier.min_tasks
    max_tasks = tier.max_tasks
    if spec and spec.scaling:
        min_tasks = spec.scaling.min if spec.scaling.min is not None else min_tasks
        max_tasks = spec.scaling.max if spec.scaling.max is not None else max_tasks
    if min_tasks > max_tasks:
        raise LayeringError(("scaling",), f"min {min_tasks} is greater than max {max_tasks}")
    desired = spec.desired_count if spec and spec.desired_count is not None else min_tasks
    if not min_tasks <= desired <= max_tasks:
        raise LayeringError(
            ("desired_count",), f"{desired} is outside the scaling bounds {min_tasks}-{max_tasks}"
        )

    aws_o = spec.aws if spec and spec.aws else None
    account_id = (aws_o.account_id if aws_o and aws_o.account_id else None) or m.aws.account_id
    region = (
        (aws_o.region if aws_o and aws_o.region else None) or m.aws.region or cfg.default_region
    )
    role_arn = (aws_o.role_arn if aws_o and aws_o.role_arn else None) or m.aws.role_arn
    profile = (aws_o.profile if aws_o and aws_o.profile else None) or m.aws.profile

    zone = m.domain or cfg.zone_name
    hostname = f"{m.client}.{zone}" if env == cfg.environments[-1] else f"{m.client}-{env}.{zone}"

    environment = {"NODE_ENV": "development" if env == cfg.environments[0] else "production"}
    environment.update(m.app.environment)
    if spec:
        environment.update(spec.environment)
    flags = dict(m.app.feature_flags)
    if spec:
        flags.update(spec.feature_flags)

    db = m.database
    if isinstance(db, AtlasDb):
        database = DatabaseConfig(
            engine="atlas",
            atlas_tier=db.tier or tier.database.atlas_tier or "M10",
            uri_secret=db.uri_secret,
        )
    else:
        database = DatabaseConfig(
            engine="documentdb",
            documentdb_instance_class=db.instance_class,
            documentdb_instances=db.instances,
            documentdb_backup_retention_days=db.backup_retention_days,
        )
    secrets = list(DEFAULT_SECRETS)
    for s in m.app.secrets:
        if s not in secrets:
            secrets.append(s)
    if database.uri_secret and database.uri_secret not in secrets:
        secrets.append(database.uri_secret)

    redis_o = spec.redis if spec and spec.redis else None
    redis_node_type = (
        (redis_o.node_type if redis_o else None) or m.redis.node_type or tier.redis.node_type
    )
    redis_nodes = (
        (redis_o.num_nodes if redis_o else None) or m.redis.num_nodes or tier.redis.num_nodes
    )

    # environment > client > tier preset > the production environment (the last) only
    snapshot = next(
        (
            x.snapshot_before_release
            for x in (redis_o, m.redis, tier.redis)
            if x is not None and x.snapshot_before_release is not None
        ),
        env == cfg.environments[-1],
    )

    retention = cfg.log_retention_days.get(env) or DEFAULT_RETENTION.get(env, 30)
    first_env = cfg.environments[0]
    tags = {
        "Project": cfg.project,
        "Client": m.client,
        "Environment": env,
        "ManagedBy": "cosydeploy",
    }
    tags.update(m.tags)
    envs = cfg.environments
    position = "first" if env == envs[0] else "last" if env == envs[-1] else "between"
    policy = release_policy(
        position,
        tier.release,
        m.release,
        spec.release if spec else None,
        test_listener=bool(cfg.release.test_listener_cidrs),
    )
    old_origin = spec.old_origin if spec else None
    if old_origin and old_origin.split(":")[0] == hostname:
        raise LayeringError(
            ("old_origin",), f"{old_origin} is the client's own hostname, not an old home"
        )

    return ClientEnv(
        project=cfg.project,
        client=m.client,
        name=m.name,
        contact=m.contact,
        env=env,
        tier=tier_name,
        account_id=account_id,
        region=region,
        role_arn=role_arn,
        profile=profile,
        zone_name=zone,
        hostname=hostname,
        cpu=cpu,
        memory=memory,
        desired_count=desired,
        min_tasks=min_tasks,
        max_tasks=max_tasks,
        port=m.app.port,
        health_path=m.app.health_path,
        environment=dict(sorted(environment.items())),
        feature_flags=dict(sorted(flags.items())),
        secrets=tuple(sorted(secrets)),
        mongo_db_name=m.app.mongo_db_name,
        database=database,
        redis_node_type=redis_node_type,
        redis_nodes=redis_nodes,
        log_retention_days=retention,
        single_nat_gateway=env == first_env,
        deletion_protection=env == cfg.environments[-1],
        stop_timeout=cfg.release.stop_timeout,
        health_check_grace_period=cfg.release.health_check_grace_period,
        tags=dict(sorted(tags.items())),
        redis_snapshot=snapshot,
        release=policy,
        old_origin=old_origin,
    )
