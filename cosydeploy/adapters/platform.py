"""Where releases run: AWS, or the embedded sandbox. Chosen ONCE, from ``--sandbox`` /
``COSYDEPLOY_SANDBOX``; everything that differs between the two lives here.

A platform gives AWS sessions (and the account guard), the Terraform stack and its
backend settings, the registry images are pushed to, the build context, and what
happens after an apply. This is the only product module that imports
``cosydeploy.sandbox``: the sandbox is an emulator that knows nothing of the tool, and
the product knowledge it needs (what a client stack creates) comes in from here.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosydeploy.adapters.aws import AwsSession, guard_account, open_session
from cosydeploy.errors import SandboxError, UsageError

if TYPE_CHECKING:
    from cosydeploy.config.project import Project
    from cosydeploy.config.resolve import ClientEnv


class AwsPlatform:
    """The real thing: profiles and roles from the manifests, the client stack."""

    name = "aws"
    sandbox = False

    def __init__(self, project: Project | None) -> None:
        self.project = project
        # The account each identity (profile, role) was found to be: one STS call each.
        self._accounts: dict[tuple[str | None, str | None], str] = {}

    # --------------------------------------------------------------- identities

    def session(self, c: ClientEnv, *, guard: bool = True) -> AwsSession:
        """A session as the client's identity; the account guard runs before anything changes."""
        session = self._open(c)
        if self.project is not None:  # the lock and ledger tables: the bootstrap region
            session.tables_region = self.project.config.state.region
        if guard:
            from cosydeploy.config.load import manifest_path

            assert self.project is not None
            source = self.project.display(manifest_path(self.project, c.client))
            identity = (c.profile, c.role_arn)
            guard_account(session, c.account_id, source, known=self._accounts.get(identity))
            self._accounts[identity] = str(session.account_id)
        return session

    def _open(self, c: ClientEnv) -> AwsSession:
        return open_session(c.region, profile=c.profile, role_arn=c.role_arn)

    def caller_session(self, region: str) -> AwsSession:
        """The caller's own identity (the state bucket, Cost Explorer)."""
        return open_session(region)

    # --------------------------------------------------------------- Terraform

    def stack_path(self) -> Path:
        assert self.project is not None
        return self.project.path(self.project.config.paths.stack)

    def backend_settings(self, settings: dict[str, str]) -> dict[str, str]:
        """The S3 backend settings Terraform is initialised with."""
        return dict(settings)

    def terraform_vars(self) -> dict[str, str] | None:
        return None

    def after_apply(self, c: ClientEnv, outputs: dict[str, Any]) -> str | None:
        """Work after a successful apply; returns a line to show, or None."""
        return None

    # --------------------------------------------------------------- images

    def push_registry(self) -> str | None:
        """``host:port`` docker pushes to instead of the ECR host (None: ECR itself)."""
        return None

    def build_context(self, context: Path, dockerfile: str) -> Path:
        return context

    def after_push(self, ecr: Any, repository: str, tag: str, digest: str) -> None:
        """Called once a tag is pushed (ECR sees pushes at once)."""

    # --------------------------------------------------------------- cutover

    def route53(self, c: ClientEnv, session: AwsSession) -> Any:
        """Route 53 for a cutover's weights, as the client's identity; where the zone is in
        a DNS account (cosydeploy.yaml ``dns``), as that account's role, assumed from it."""
        from cosydeploy.adapters.aws import _boto3_session, botocore_config

        dns = self.project.config.dns if self.project is not None else None
        if dns is None:
            return session.client("route53")
        creds = session.client("sts").assume_role(
            RoleArn=dns.role_arn, RoleSessionName=f"cosydeploy-{c.client}-{c.env}-cutover"[:64]
        )["Credentials"]
        return _boto3_session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=c.region,
        ).client("route53", config=botocore_config())

    def cutover_probes(self, c: ClientEnv, outputs: Any) -> tuple[Any, Any]:
        """(the new ALB itself, the hostname as users resolve it): each GETs a path and
        returns (status, first line). The ALB is reached by its own DNS name with the
        client's hostname for TLS (SNI) and Host, so it is checked before DNS sends it
        anything."""
        from cosydeploy.release.verify import http_get

        return (
            lambda path: _get_via(outputs.alb_dns_name, c.hostname, path),
            lambda path: http_get(f"https://{c.hostname}{path}"),
        )

    # --------------------------------------------------------------- doctor

    def doctor_notes(self) -> dict[str, str]:
        """Checks that do not apply here, by name, with the reason (doctor prints SKIP)."""
        return {}


class SandboxPlatform(AwsPlatform):
    """The embedded sandbox: moto for AWS, a local registry for ECR, the sandbox stack."""

    name = "sandbox"
    sandbox = True

    def __init__(self, project: Project | None) -> None:
        super().__init__(project)
        self._info: Any = None  # the running sandbox, read once
        self._provisioners: dict[tuple[str, str | None], _Clients] = {}
        self._lock = threading.Lock()

    @property
    def info(self) -> Any:
        """The running sandbox; its environment (endpoint, credentials) is exported to
        this process, so every AWS SDK call goes there."""
        if self._info is None:
            from cosydeploy.sandbox.state import load_info

            info = load_info(self.state_path())
            if info is None:
                raise SandboxError(
                    "the sandbox is not running",
                    hint="start it with: cosydeploy sandbox up --detach",
                )
            env = info.env()
            if os.environ.get("AWS_SESSION_TOKEN"):
                # A role's session is already in the environment (a workflow job's, after
                # it assumed its role in the sandbox): every call runs as that role, and
                # the sandbox decides it by the role's policies.
                for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                    env.pop(key, None)
            os.environ.update(env)
            self._info = info
        return self._info

    def state_path(self) -> Path:
        explicit = os.environ.get("COSYDEPLOY_SANDBOX_STATE")
        if explicit:
            return Path(explicit)
        root = self.project.root if self.project else Path.cwd()
        return root / ".cosydeploy" / "sandbox" / "state.json"

    def _open(self, c: ClientEnv) -> AwsSession:
        self.info  # noqa: B018 - exports the sandbox's endpoint first
        # moto keeps accounts apart by credentials: a role in another account is assumed
        # as it would be in AWS (profiles do not exist there).
        return open_session(c.region, role_arn=c.role_arn)

    def caller_session(self, region: str) -> AwsSession:
        self.info  # noqa: B018
        return open_session(region)

    def stack_path(self) -> Path:
        assert self.project is not None
        return self.project.path(self.project.config.paths.sandbox_stack)

    def backend_settings(self, settings: dict[str, str]) -> dict[str, str]:
        """S3 backend settings for moto: path style, no AWS-only checks; the state bucket
        (made by the bootstrap stack on AWS) is made here."""
        endpoint = self.info.endpoint_url
        self._ensure_bucket(endpoint, settings["bucket"], settings["region"])
        return {**settings, **sandbox_backend(endpoint)}

    @staticmethod
    def _ensure_bucket(endpoint_url: str, bucket: str, region: str) -> None:
        import boto3

        # The bootstrap stack's part: done with the sandbox's own keys, whoever the caller is.
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=SANDBOX_KEY,
            aws_secret_access_key=SANDBOX_KEY,
        )
        try:
            s3.head_bucket(Bucket=bucket)
        except Exception:
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def terraform_vars(self) -> dict[str, str] | None:
        return {"sandbox_alb_url": self.info.alb_url}

    def after_apply(self, c: ClientEnv, outputs: dict[str, Any]) -> str | None:
        """Create in the sandbox what the client stack would have made."""
        from cosydeploy.sandbox.provision import provision
        from cosydeploy.stack import StackOutputs, plain_outputs

        # Every output the stack gives (the provisioning takes those it knows), in the
        # contract's shape where the contract names it.
        plain = {**plain_outputs(outputs), **StackOutputs.from_terraform(outputs).as_dict()}
        provision(self._provisioner(c.region, c.role_arn), plain, self.provision_spec(c))
        if c.old_origin and plain.get("cutover_record_name"):
            from cosydeploy.sandbox.dns import make_weighted_records

            make_weighted_records(
                self._provisioner(c.region, c.role_arn).client("route53"),
                zone_name=c.zone_name,
                hostname=c.hostname,
                alb_target_group=f"{c.client}-{c.env}",
                old_origin=c.old_origin,
            )
        return f"sandbox: resources of {c.client}/{c.env} are in place"

    def _provisioner(self, region: str, role_arn: str | None) -> _Clients:
        """What Terraform would have made is made with the sandbox's own keys (the
        emulator's part), not the caller's role; in the client's own account (moto tells
        accounts apart by credentials: a role there is assumed with those keys). One per
        account and region, its clients made once, whatever the number of clients."""
        from cosydeploy.adapters.aws import _boto3_session

        key = (region, role_arn)
        with self._lock:
            if key not in self._provisioners:
                session = _boto3_session(
                    region_name=region,
                    aws_access_key_id=SANDBOX_KEY,
                    aws_secret_access_key=SANDBOX_KEY,
                )
                if role_arn:
                    creds = session.client("sts").assume_role(
                        RoleArn=role_arn, RoleSessionName="sandbox-provision"
                    )["Credentials"]
                    session = _boto3_session(
                        region_name=region,
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"],
                    )
                self._provisioners[key] = _Clients(session)
            return self._provisioners[key]

    def provision_spec(self, c: ClientEnv) -> Any:
        """What the sandbox must create for one client/env (what the client stack would make)."""
        from cosydeploy import ledger, lock
        from cosydeploy.render import placeholder_image
        from cosydeploy.sandbox.provision import ProvisionSpec

        assert self.project is not None
        params = {
            "WEB_PORT": str(c.port),
            "MONGO_DB_NAME": c.mongo_db_name,
            "NODE_ENV": c.environment.get("NODE_ENV", "production"),
            "PUBLIC_URL": f"https://{c.hostname}",
            # The sandbox has no Redis of its own; these are what the stack's parameters hold.
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": "6379",
            "REDIS_TLS": "false",
            "REDIS_USERNAME": "app",
        }
        for flag, on in c.feature_flags.items():
            params[f"FEATURE_{flag.upper()}"] = "true" if on else "false"
        cfg = self.project.config
        return ProvisionSpec(
            project=c.project,
            client=c.client,
            environment=c.env,
            region=c.region,
            cpu=c.cpu,
            memory=c.memory,
            desired_count=c.desired_count,
            container_port=c.port,
            health_path=c.health_path,
            health_check_grace_period=c.health_check_grace_period,
            secret_names=list(c.secrets),
            parameters=params,
            ecr_repository=cfg.image.repository,
            tables=tuple(
                {"TableName": name, "Region": cfg.state.region, **schema}
                for name, schema in (
                    (cfg.release.lock_table, lock.TABLE_SCHEMA),
                    (cfg.release.ledger_table, ledger.TABLE_SCHEMA),
                )
            ),
            initial_image=placeholder_image(self.project, c),
            redis_snapshots=c.redis_snapshot,
            redis_node_type=c.redis_node_type,
            redis_nodes=c.redis_nodes,
            test_listener_cidrs=tuple(cfg.release.test_listener_cidrs),
            **deployment_settings(c.release),
        )

    def push_registry(self) -> str | None:
        return str(self.info.registry)

    def build_context(self, context: Path, dockerfile: str) -> Path:
        """Images here are FROM scratch with a static busybox: add it to a copy of the context."""
        from cosydeploy.sandbox.appcontext import needs_busybox, prepare_app_context

        if not needs_busybox(context, dockerfile):
            return context
        assert self.project is not None
        dest = self.project.root / ".cosydeploy" / "build" / context.name
        return prepare_app_context(dest, source=context)

    def after_push(self, ecr: Any, repository: str, tag: str, digest: str) -> None:
        """The registry tells moto's ECR of each push (a notification, delivered a moment
        later); wait until ECR names the tag, as it would at once on AWS."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                found = ecr.describe_images(
                    repositoryName=repository, imageIds=[{"imageTag": tag}]
                )["imageDetails"]
            except Exception:
                found = []
            if found and found[0].get("imageDigest") == digest:
                return
            time.sleep(0.1)
        raise SandboxError(
            f"the sandbox's ECR never saw {repository}:{tag} ({digest[:19]})",
            hint="is the sandbox's registry listener running? cosydeploy sandbox status",
        )

    def route53(self, c: ClientEnv, session: AwsSession) -> Any:
        """The sandbox's Route 53 in the client's account (no DNS account roles here)."""
        return session.client("route53")

    def cutover_probes(self, c: ClientEnv, outputs: Any) -> tuple[Any, Any]:
        """The ALB stand-in at the client's app_url; the hostname through the sandbox's
        resolution by weights (sandbox/dns.py)."""
        from cosydeploy.release.verify import http_get

        dns_url = self.info.dns_url
        return (
            lambda path: http_get(f"{outputs.app_url}{path}"),
            lambda path: http_get(f"{dns_url}/{c.hostname}{path}"),
        )

    def doctor_notes(self) -> dict[str, str]:
        return {"dns": "the sandbox has no Route 53: its stack makes no DNS record"}


class _Clients:
    """A boto3 session whose clients are made once each (boto3 clients are thread-safe)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._made: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def client(self, name: str, region_name: str | None = None) -> Any:
        key = (name, region_name)
        with self._lock:
            if key not in self._made:
                self._made[key] = self.session.client(name, region_name=region_name)
            return self._made[key]


def _minutes(seconds: float) -> int:
    """ECS counts bake times in whole minutes: a started minute counts."""
    return math.ceil(max(0.0, float(seconds)) / 60)


def deployment_settings(release: Any) -> dict[str, Any]:
    """The service's deployment configuration (ProvisionSpec fields) from a resolved
    release policy, as the client stack's tfvars carry it: ECS's strategy name, times in
    ECS minutes, the alarms (empty: the stack's critical alarms; turned off where the
    policy's alarms are an empty list). A policy without the
    canary or linear settings gets the defaults (canary 10 % for 5 min, linear 20 % steps
    of 1 min)."""
    return {
        "strategy": str(getattr(release, "strategy", "rolling") or "rolling").upper(),
        "bake_minutes": _minutes(getattr(release, "bake", 0) or 0),
        "canary_percent": float(getattr(release, "canary_percent", 10.0)),
        "canary_bake_minutes": _minutes(getattr(release, "canary_bake", 300)),
        "linear_step_percent": float(getattr(release, "linear_step_percent", 20.0)),
        "linear_bake_minutes": _minutes(getattr(release, "linear_bake", 60)),
        "alarm_names": tuple(getattr(release, "alarms", None) or ()),
        # alarms: [] (not None): no alarm rolls a deployment back
        "alarms_enabled": getattr(release, "alarms", None) != (),
    }


def _get_via(address: str, hostname: str, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET https://<hostname><path> from the server at ``address`` (an ALB's DNS name):
    TLS names ``hostname`` (SNI, certificate check) whatever DNS says of it yet."""
    import http.client
    import socket
    import ssl

    if not address:
        return 0, "the stack records no ALB DNS name"
    ctx = ssl.create_default_context()
    try:
        raw = socket.create_connection((address, 443), timeout=timeout)
        conn = http.client.HTTPSConnection(hostname, 443, timeout=timeout, context=ctx)
        conn.sock = ctx.wrap_socket(raw, server_hostname=hostname)
        conn.request("GET", path, headers={"Host": hostname})
        resp = conn.getresponse()
        body = resp.read(4096).decode("utf-8", "replace").strip()
        conn.close()
        return resp.status, body.splitlines()[0].strip() if body else ""
    except (OSError, http.client.HTTPException) as exc:
        return 0, str(exc)


# The sandbox's own credentials (any key moto does not know as a role's session).
SANDBOX_KEY = "testing"


def sandbox_backend(endpoint_url: str) -> dict[str, str]:
    """S3 backend settings for a local AWS endpoint (moto): path style, no AWS-only checks."""
    return {
        "access_key": SANDBOX_KEY,
        "secret_key": SANDBOX_KEY,
        "use_path_style": "true",
        "skip_credentials_validation": "true",
        "skip_region_validation": "true",
        "skip_requesting_account_id": "true",
        "skip_metadata_api_check": "true",
        "endpoints": '{s3="' + endpoint_url + '"}',
    }


Platform = AwsPlatform


def platform_for(project: Project | None, sandbox: bool) -> AwsPlatform:
    """THE choice between AWS and the sandbox."""
    return SandboxPlatform(project) if sandbox else AwsPlatform(project)


def require_project(project: Project | None) -> Project:
    if project is None:
        raise UsageError("this needs a project (cosydeploy.yaml)")
    return project
