"""Building what commands need from the global options: project, client config, AWS, Terraform.

This is the edge where adapters are created and handed inward.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosydeploy.errors import SandboxError, UsageError

if TYPE_CHECKING:
    from cosydeploy.aws import AwsSession
    from cosydeploy.cli.main import Globals
    from cosydeploy.config.load import Project
    from cosydeploy.config.resolve import ClientEnv
    from cosydeploy.terraform.engine import Workspace


def globals_of(ctx: Any) -> Globals:
    from cosydeploy.cli.main import Globals

    obj = ctx.find_root().obj if hasattr(ctx, "find_root") else None
    return obj if isinstance(obj, Globals) else Globals(None, False, "text", False)


def project(g: Globals) -> Project:
    from cosydeploy.config.load import load_project

    return load_project(g.project_dir)


def resolve_env(project: Project, env: str | None) -> str:
    envs = project.config.environments
    chosen = env or os.environ.get("COSYDEPLOY_ENV") or envs[0]
    if chosen not in envs:
        raise UsageError(f"unknown environment {chosen!r}", hint=f"environments: {', '.join(envs)}")
    return chosen


def client_env(g: Globals, client: str, env: str | None) -> tuple[Project, ClientEnv]:
    """Load, validate and resolve one client in one environment."""
    from cosydeploy.config.load import load_manifest
    from cosydeploy.config.resolve import resolve

    proj = project(g)
    manifest, src = load_manifest(proj, client)
    name = resolve_env(proj, env)
    if name not in manifest.environments:
        raise UsageError(
            f"{src.file}: environments: client {client!r} has no environment {name!r}",
            hint=f"its environments: {', '.join(manifest.environments)}",
        )
    return proj, resolve(proj, manifest, name)


def all_client_envs(g: Globals, clients: list[str] | None = None, env: str | None = None):
    """Every (project, ClientEnv) for the given clients (all when None), one env or all."""
    from cosydeploy.config.load import client_ids, load_manifest
    from cosydeploy.config.resolve import resolve

    proj = project(g)
    out = []
    for cid in clients or client_ids(proj):
        manifest, _ = load_manifest(proj, cid)
        envs = [resolve_env(proj, env)] if env else list(manifest.environments)
        for e in envs:
            if e in manifest.environments:
                out.append(resolve(proj, manifest, e))
    return proj, out


# ------------------------------------------------------------------ sandbox


def sandbox_state_path(proj: Project | None) -> Path:
    explicit = os.environ.get("COSYDEPLOY_SANDBOX_STATE")
    if explicit:
        return Path(explicit)
    root = proj.root if proj else Path.cwd()
    return root / ".cosydeploy" / "sandbox" / "state.json"


def sandbox_info(g: Globals, proj: Project | None = None) -> Any:
    """The running sandbox's info; its environment is exported to this process."""
    from cosydeploy.sandbox.state import load_info

    path = sandbox_state_path(proj)
    info = load_info(path)
    if info is None:
        raise SandboxError(
            "the sandbox is not running",
            hint="start it with: cosydeploy sandbox up --detach",
        )
    os.environ.update(info.env())
    return info


# ------------------------------------------------------------------ AWS


def aws_session(g: Globals, proj: Project, c: ClientEnv, *, guard: bool = True) -> AwsSession:
    """A session as the client's identity; the account guard runs before anything changes."""
    from cosydeploy.aws import guard_account, open_session
    from cosydeploy.config.load import manifest_path

    if g.sandbox:
        sandbox_info(g, proj)
        # moto keeps accounts apart by credentials: a role in another account is assumed
        # as it would be in AWS (profiles do not exist there).
        session = open_session(c.region, role_arn=c.role_arn)
    else:
        session = open_session(c.region, profile=c.profile, role_arn=c.role_arn)
    session.tables_region = proj.config.state.region
    if guard:
        guard_account(session, c.account_id, proj.display(manifest_path(proj, c.client)))
    return session


def registry_target(g: Globals) -> tuple[Project, Any, AwsSession]:
    """The project's ECR registry as a push target: the caller's credentials (the build role
    in CI), guarded to ``image.registry_account_id``; no client is involved."""
    from types import SimpleNamespace

    from cosydeploy.aws import guard_account, open_session
    from cosydeploy.config.load import client_ids, load_manifest

    proj = project(g)
    cfg = proj.config
    account = cfg.image.registry_account_id
    if not account:
        accounts = {load_manifest(proj, cid)[0].aws.account_id for cid in client_ids(proj)}
        if len(accounts) != 1:
            raise UsageError(
                "cosydeploy.yaml: image.registry_account_id: no registry account is named "
                "and the clients use several accounts",
                hint="name the account holding the ECR repository (image.registry_account_id "
                "and image.registry_region), or give --client",
            )
        account = next(iter(accounts))
    region = cfg.image.registry_region or cfg.state.region
    if g.sandbox:
        sandbox_info(g, proj)
    session = open_session(region)
    guard_account(session, account, "cosydeploy.yaml: image.registry_account_id")
    # What ecr_repository_url(project, c) reads from a client: the registry's account and region.
    target = SimpleNamespace(account_id=account, region=region, client=None, env=None)
    return proj, target, session


# ------------------------------------------------------------------ Terraform


def workspace(g: Globals, proj: Project, c: ClientEnv) -> Workspace:
    from cosydeploy.render import state_key
    from cosydeploy.terraform.engine import Workspace, make_engine

    tf_root = proj.path("terraform")
    stack_path = proj.path(
        proj.config.paths.sandbox_stack if g.sandbox else proj.config.paths.stack
    )
    try:
        stack = str(stack_path.relative_to(tf_root))
    except ValueError:
        raise UsageError(
            f"the stack {stack_path} is not under {tf_root}",
            hint="keep stacks under terraform/ (paths.stack in cosydeploy.yaml)",
        ) from None
    from cosydeploy.identity import state_bucket

    st = proj.config.state
    bucket = state_bucket(proj.config, c.account_id)
    backend = {
        "bucket": bucket,
        "key": state_key(proj, c),
        "region": st.region,
        "use_lockfile": "true" if st.use_lockfile else "false",
    }
    if g.sandbox:
        info = sandbox_info(g, proj)
        backend.update(sandbox_backend(info.endpoint_url))
        ensure_bucket(info.endpoint_url, bucket, st.region)
    work = proj.root / ".cosydeploy" / "tf"
    return Workspace(
        engine=make_engine(proj.config.terraform.binary),
        terraform_root=tf_root,
        stack=stack,
        name=c.workspace,
        work_root=work,
        backend_config=backend,
        plugin_cache=proj.root / ".cosydeploy" / "plugin-cache",
    )


def sandbox_backend(endpoint_url: str) -> dict[str, str]:
    """S3 backend settings for a local AWS endpoint (moto): path style, no AWS-only checks."""
    return {
        "access_key": "testing",
        "secret_key": "testing",
        "use_path_style": "true",
        "skip_credentials_validation": "true",
        "skip_region_validation": "true",
        "skip_requesting_account_id": "true",
        "skip_metadata_api_check": "true",
        "endpoints": '{s3="' + endpoint_url + '"}',
    }


def ensure_bucket(endpoint_url: str, bucket: str, region: str) -> None:
    """The sandbox's stand-in for the bootstrap stack's state bucket."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


# ------------------------------------------------------------------ cost and secrets


def cost_inputs(ctx: Any, client: str | None, env: str | None) -> list[Any]:
    """One CostInput per client/env, from exactly the tfvars that would be deployed."""
    import json

    from cosydeploy.cost import cost_input_from_tfvars
    from cosydeploy.render import render_tfvars

    g = globals_of(ctx)
    proj, envs = all_client_envs(g, [client] if client else None, env)
    return [cost_input_from_tfvars(json.loads(render_tfvars(proj, c)), tier=c.tier) for c in envs]


def cost_explorer_client(ctx: Any) -> Any:
    """Cost Explorer (a global service, in us-east-1) as the caller's identity."""
    from cosydeploy.aws import open_session

    g = globals_of(ctx)
    if g.sandbox:
        sandbox_info(g, project(g))
    return open_session("us-east-1").client("ce")


def secrets_target(ctx: Any, client: str, env: str) -> tuple[Any, str, list[str]]:
    """Secrets Manager as the client's identity (account-guarded), the project and required names."""
    g = globals_of(ctx)
    proj, c = client_env(g, client, env)
    session = aws_session(g, proj, c)
    return session.client("secretsmanager"), c.project, list(c.secrets)
