"""Release commands: build, release, rollback, status, history, unlock. Thin: parse, build, call, show."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from cosydeploy.cli.context import globals_of
from cosydeploy.cli.infra import ENV_OPT

TIMEOUT_OPT = typer.Option(
    None,
    "--timeout",
    envvar="COSYDEPLOY_TIMEOUT",
    help="Seconds the rollout may take before cosydeploy rolls back itself (default: release.timeout).",
)
LOCK_WAIT_OPT = typer.Option(
    0.0, "--lock-wait", help="Seconds to wait for another release's lock (then exit 4)."
)


def register(app: typer.Typer) -> None:
    app.command("build")(build)
    app.command("release")(release)
    app.command("promote")(promote)
    app.command("rollback")(rollback)
    app.command("status")(status)
    app.command("history")(history)
    app.command("unlock")(unlock)


# ------------------------------------------------------------------ shared plumbing


def git_sha(root: Path) -> str:
    sha = os.environ.get("GITHUB_SHA")
    if sha:
        return sha[:12]
    proc = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "unknown"


def _build_args(pairs: list[str] | None) -> dict[str, str]:
    from cosydeploy.errors import UsageError

    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(
                f"--build-arg {pair!r} is not KEY=VALUE",
                hint="e.g. --build-arg NODE_ENV=production",
            )
        out[key] = value
    return out


def _context_dir(proj: Any, context: Path | None) -> Path:
    """The build context; the sandbox's sample app gets its static busybox copied in."""
    chosen = context or proj.path(proj.config.image.context)
    dockerfile = chosen / proj.config.image.dockerfile
    if (
        dockerfile.is_file()
        and "COPY busybox" in dockerfile.read_text()
        and not (chosen / "busybox").exists()
    ):
        from cosydeploy.sandbox.appcontext import prepare_app_context

        return prepare_app_context(proj.root / ".cosydeploy" / "build" / chosen.name)
    return chosen


def resolve_image(
    g: Any,
    proj: Any,
    c: Any,
    session: Any,
    version: str,
    *,
    build_args: dict[str, str],
    context: Path | None,
) -> Any:
    """Build once and push, or reuse the digest already in ECR for this version."""
    from cosydeploy.image import ensure_image
    from cosydeploy.render import ecr_repository_url
    from cosydeploy.ui import console

    registry = None
    if g.sandbox:
        from cosydeploy.cli.context import sandbox_info

        registry = sandbox_info(g, proj).registry
    img = proj.config.image
    args = {"VERSION": version, **img.build_args, **build_args}

    def docker_client() -> Any:
        from cosydeploy.engine import docker_client as make_client

        return make_client()

    layers: dict[str, str] = {}

    def on_push(p: Any) -> None:
        if layers.get(p.layer) != p.status and p.status in {
            "Pushed",
            "Layer already exists",
            "Mounted from",
        }:
            console.info(f"  push {p.layer[:12]}: {p.status}")
        layers[p.layer] = p.status

    console.step(f"image {img.repository}:{version}")
    resolved = ensure_image(
        ecr_client=session.client("ecr"),
        repository_uri=ecr_repository_url(proj, c),
        version=version,
        git_sha=git_sha(proj.root),
        docker_client=docker_client,
        context=str(_context_dir(proj, context)),
        dockerfile=img.dockerfile,
        build_args=args,
        platform=img.platform,
        registry_override=registry,
        on_build_output=lambda line: (
            console.info(f"  build: {line}") if line.startswith("Step") else None
        ),
        on_push_progress=on_push,
    )
    console.info(
        f"  {'built and pushed' if resolved.built else 'already in ECR, reused'}: {resolved.uri}"
    )
    return resolved


def release_target(g: Any, proj: Any, c: Any, session: Any) -> Any:
    """The client stack's outputs (from its Terraform state) plus the resolved config."""
    from cosydeploy.cli.context import workspace
    from cosydeploy.config.load import manifest_path
    from cosydeploy.errors import UsageError
    from cosydeploy.release import ReleaseTarget
    from cosydeploy.render import render_tfvars
    from cosydeploy.stack import StackOutputs

    ws = workspace(g, proj, c)
    ws.prepare(render_tfvars(proj, c))
    raw = ws.outputs()
    if not raw.get("cluster_name"):
        raise UsageError(
            f"{c.target} has no infrastructure yet (workspace {c.workspace} has no outputs)",
            hint=f"onboard it first: cosydeploy onboard {c.client} --env {c.env}",
        )
    return ReleaseTarget(
        project=c.project,
        client=c.client,
        env=c.env,
        region=c.region,
        account_id=c.account_id,
        session=session.session,
        outputs=StackOutputs.from_terraform(raw),
        cpu=c.cpu,
        memory=c.memory,
        container_port=c.port,
        health_path=c.health_path,
        environment=c.environment,
        secret_names=c.secrets,
        stop_timeout=c.stop_timeout,
        tags=c.tags,
        lock_table=proj.config.release.lock_table,
        ledger_table=proj.config.release.ledger_table,
        tables_region=proj.config.state.region,
        timeout=float(proj.config.release.timeout),
        manifest=proj.display(manifest_path(proj, c.client)),
    )


def _show_result(g: Any, result: Any) -> None:
    from cosydeploy.ui import console, github

    d = result.as_dict()
    github.set_outputs(
        {"version": result.version, "digest": result.digest, "outcome": result.outcome}
    )
    github.write_summary(
        [
            {
                "client": result.client,
                "env": result.env,
                "version": result.version,
                "outcome": result.outcome,
                "duration": result.elapsed,
                "diagnosis": github.run_url() or "",
            }
        ]
    )
    if g.json:
        console.print_json(d)
        return
    line = f"{result.client}/{result.env}: {result.kind} {result.version} {result.outcome}"
    if result.digest:
        line += f" ({result.digest[:19]})"
    if result.message:
        line += f": {result.message}"
    sys.stdout.write(line + "\n")


def _run_reporting(g: Any, fn: Any) -> Any:
    """Run a release/rollback under the live view (``fn(ui)``); show its result once the
    view is closed, even when it failed, then fail with its exit code."""
    from cosydeploy.errors import ReleaseFailed
    from cosydeploy.release import ReleaseUI
    from cosydeploy.ui.live import RolloutView

    failure: ReleaseFailed | None = None
    with RolloutView() as view:
        try:
            result = fn(ReleaseUI(update=view.update, events=view.events))
        except ReleaseFailed as exc:
            failure, result = exc, getattr(exc, "result", None)
    if result is not None:
        _show_result(g, result)
    if failure is not None:
        raise failure
    return result


# ------------------------------------------------------------------ commands


def build(
    ctx: typer.Context,
    version: str = typer.Argument(..., help="Version tag, e.g. v1.4.0."),
    client: str = typer.Option(
        None,
        "--client",
        "-c",
        help="With --push: push to this client's registry (default: the project's, "
        "image.registry_account_id and image.registry_region).",
    ),
    env: str = ENV_OPT,
    build_arg: list[str] = typer.Option(
        None, "--build-arg", help="KEY=VALUE build argument (repeatable)."
    ),
    context: Path = typer.Option(
        None, "--context", help="Build context directory (default: image.context)."
    ),
    push: bool = typer.Option(
        False, "--push", help="Push to ECR (reusing the digest when the tag is there already)."
    ),
) -> None:
    """Build the app image for a version; with --push, push it to ECR once (an existing
    tag is reused, never rebuilt or moved) and print its URI by digest."""
    from cosydeploy.ui import console

    g = globals_of(ctx)
    if not push:
        from cosydeploy.cli.context import project
        from cosydeploy.engine import docker_client
        from cosydeploy.image import build as build_image

        proj = project(g)
        tags = [f"{proj.config.image.repository}:{version}"]
        with console.progress(f"docker build {tags[0]} ..."):
            build_image(
                docker_client(),
                str(_context_dir(proj, context)),
                proj.config.image.dockerfile,
                tags,
                build_args={
                    "VERSION": version,
                    **proj.config.image.build_args,
                    **_build_args(build_arg),
                },
                platform=proj.config.image.platform,
            )
        console.info(f"built {tags[0]} (local only; --push sends it to ECR)")
        return
    from cosydeploy.cli.context import aws_session, client_env, registry_target

    if client:
        proj, c = client_env(g, client, env)
        session = aws_session(g, proj, c)
    else:
        proj, c, session = registry_target(g)
    img = resolve_image(
        g, proj, c, session, version, build_args=_build_args(build_arg), context=context
    )
    from cosydeploy.ui import github

    github.set_outputs(
        {"version": version, "digest": img.digest, "outcome": "built" if img.built else "reused"}
    )
    if g.json:
        console.print_json(
            {"version": version, "digest": img.digest, "uri": img.uri, "built": img.built}
        )
    else:
        sys.stdout.write(f"{img.uri}\n")


CLIENTS_OPT = typer.Option(None, "--client", "-c", help="Client id (repeatable).")
DIGEST_OPT = typer.Option(
    None,
    "--digest",
    help="Deploy this image digest (sha256:...) of VERSION, pushed before by `build --push`: "
    "nothing is built, and no ECR access is needed (tasks pull by digest).",
)
ALL_OPT = typer.Option(False, "--all", help="Every client that has the environment.")
PARALLEL_OPT = typer.Option(
    None, "--parallel", "-p", min=1, help="Clients released at a time within a wave (default 4)."
)
WAVES_OPT = typer.Option(
    None,
    "--waves",
    help="Waves: a spec like canary,rest (canary:N, canary:CLIENT, N, a+b, rest) or a "
    "YAML/JSON file of waves. A failed wave stops the later ones.",
)
INFRA_OPT = typer.Option(
    None,
    "--infra/--skip-infra",
    help="Plan each client's workspace first (default: only when its tfvars changed since "
    "the last apply) / never.",
)


def release(
    ctx: typer.Context,
    version: str = typer.Argument(..., help="Version to release, e.g. v1.4.0."),
    client: list[str] = CLIENTS_OPT,
    all_clients: bool = ALL_OPT,
    env: str = ENV_OPT,
    timeout: float = TIMEOUT_OPT,
    lock_wait: float = LOCK_WAIT_OPT,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the task definition diff and stop."
    ),
    no_rollback: bool = typer.Option(
        False, "--no-rollback", help="On failure, do not roll back (exit 3)."
    ),
    build_arg: list[str] = typer.Option(
        None, "--build-arg", help="KEY=VALUE build argument (repeatable)."
    ),
    context: Path = typer.Option(
        None, "--context", help="Build context directory (default: image.context)."
    ),
    parallel: int = PARALLEL_OPT,
    waves: str = WAVES_OPT,
    infra: bool = INFRA_OPT,
    digest: str = DIGEST_OPT,
) -> None:
    """Build once, push, roll out on ECS, watch that deployment, verify, record; roll back on failure.

    One --client (and no fleet option) is the single-client release; --all, several
    --client, --waves or --parallel make it a fleet release. Either way a client's
    workspace is planned first only when its tfvars changed since the last apply.
    """
    from cosydeploy import release as pipeline
    from cosydeploy.cli.context import client_env
    from cosydeploy.errors import UsageError

    g = globals_of(ctx)
    clients = list(client or [])
    if all_clients and clients:
        raise UsageError("give --all or --client, not both")
    if not all_clients and not clients:
        raise UsageError("which clients?", hint="--client C (repeatable) or --all")
    if all_clients or len(clients) > 1 or parallel or waves:
        options = pipeline.ReleaseOptions(
            dry_run=dry_run,
            timeout=timeout,
            lock_wait=lock_wait,
            rollback=not no_rollback,
            secrets_checked=True,
        )
        _fleet(
            g,
            version,
            clients,
            env,
            options,
            parallel=parallel,
            waves=waves,
            infra=infra,
            image=_prebuilt_images(g, version, digest)
            if digest
            else _build_images(g, version, _build_args(build_arg), context),
        )
        return
    from cosydeploy.ui import console

    proj, c = client_env(g, clients[0], env)
    # The same preparation as every fleet member: account guard, outputs, secrets, Terraform in step.
    member = _prepare_member(
        g, proj, c, "auto" if infra is None else ("force" if infra else "skip")
    )
    console.info(f"{c.target}: infra: {member.infra}")
    for warning in member.warnings:
        console.warn(f"{c.target}: {warning}")
    if digest:
        img = prebuilt_image(proj, c, version, digest)
    else:
        img = resolve_image(
            g, proj, c, member.session, version, build_args=_build_args(build_arg), context=context
        )
    options = pipeline.ReleaseOptions(
        dry_run=dry_run,
        timeout=timeout,
        lock_wait=lock_wait,
        rollback=not no_rollback,
        secrets_checked=True,
    )
    _run_reporting(g, lambda ui: pipeline.release(member.target, img, options, ui))


def promote(
    ctx: typer.Context,
    version: str = typer.Argument(
        ..., help="Version to promote (it must have succeeded in --from)."
    ),
    from_env: str = typer.Option(..., "--from", help="Environment the version succeeded in."),
    to_env: str = typer.Option(..., "--to", help="Environment to release it to."),
    client: list[str] = CLIENTS_OPT,
    all_clients: bool = ALL_OPT,
    timeout: float = TIMEOUT_OPT,
    lock_wait: float = LOCK_WAIT_OPT,
    no_rollback: bool = typer.Option(
        False, "--no-rollback", help="On failure, do not roll back (exit 3)."
    ),
    parallel: int = PARALLEL_OPT,
    waves: str = WAVES_OPT,
    infra: bool = INFRA_OPT,
) -> None:
    """Release to --to the exact digest that succeeded in --from, per client; builds nothing.

    Refuses (exit 2, naming the client) when the version never succeeded there.
    """
    from cosydeploy import release as pipeline
    from cosydeploy.cli.context import project, resolve_env
    from cosydeploy.errors import UsageError

    g = globals_of(ctx)
    clients = list(client or [])
    if all_clients == bool(clients):
        raise UsageError("give --all or --client C (repeatable)")
    proj = project(g)
    if resolve_env(proj, from_env) == resolve_env(proj, to_env):
        raise UsageError("--from and --to name the same environment")
    options = pipeline.ReleaseOptions(
        timeout=timeout, lock_wait=lock_wait, rollback=not no_rollback, secrets_checked=True
    )
    _fleet(
        g,
        version,
        clients,
        to_env,
        options,
        parallel=parallel,
        waves=waves,
        infra=infra,
        image=_promoted_images(g, version, from_env),
    )


def rollback(
    ctx: typer.Context,
    client: str = typer.Argument(..., help="Client id."),
    env: str = ENV_OPT,
    to: str = typer.Option(
        None, "--to", help="Version to go back to (default: the previous good release)."
    ),
    timeout: float = TIMEOUT_OPT,
    lock_wait: float = LOCK_WAIT_OPT,
) -> None:
    """Go back to the previous good release (or --to VERSION, by its digest), watched and verified."""
    from cosydeploy import release as pipeline
    from cosydeploy.cli.context import aws_session, client_env

    g = globals_of(ctx)
    proj, c = client_env(g, client, env)
    session = aws_session(g, proj, c)
    target = release_target(g, proj, c, session)
    options = pipeline.ReleaseOptions(timeout=timeout, lock_wait=lock_wait)
    _run_reporting(g, lambda ui: pipeline.rollback(target, to, options, ui))


def status(
    ctx: typer.Context,
    client: str = typer.Argument(None, help="Client id (default: all)."),
    env: str = typer.Option(None, "--env", "-e", help="Only this environment."),
) -> None:
    """Per client/env: serving version, digest, revision, running/desired, rollout state, last release."""
    from cosydeploy.cli.context import all_client_envs, aws_session
    from cosydeploy.errors import UsageError
    from cosydeploy.status import service_status
    from cosydeploy.ui import console

    g = globals_of(ctx)
    proj, envs = all_client_envs(g, [client] if client else None, env)
    rows = []
    for c in envs:
        session = aws_session(g, proj, c)
        try:
            target = release_target(g, proj, c, session)
        except UsageError:  # the workspace has no outputs: nothing to report on yet
            rows.append({"client": c.client, "env": c.env, "rollout": "not onboarded"})
            continue
        rows.append(service_status(session, target))
    if g.json:
        console.print_json(rows)
        return
    cols = [
        "client",
        "env",
        "version",
        "digest",
        "revision",
        "running",
        "desired",
        "rollout",
        "last",
        "outcome",
    ]
    console.table(
        None,
        [c.upper() for c in cols],
        [[r.get(k, "") for k in cols] for r in rows],
        to_stdout=True,
    )


def history(
    ctx: typer.Context,
    client: str = typer.Argument(..., help="Client id."),
    env: str = ENV_OPT,
    limit: int = typer.Option(20, "--limit", "-n", help="How many attempts to show."),
) -> None:
    """The release ledger of one client/env, newest first."""
    from cosydeploy.cli.context import aws_session, client_env
    from cosydeploy.ledger import Ledger
    from cosydeploy.ui import console

    g = globals_of(ctx)
    proj, c = client_env(g, client, env)
    session = aws_session(g, proj, c)
    records = Ledger(session.client("dynamodb"), proj.config.release.ledger_table).history(
        c.client, c.env, limit
    )
    if g.json:
        console.print_json([r.as_dict() for r in records])
        return
    rows = [
        [
            r.started_at,
            r.kind,
            r.version,
            r.digest[7:19],
            r.outcome,
            r.actor,
            r.task_definition_arn.rsplit("/", 1)[-1],
        ]
        for r in records
    ]
    console.table(
        f"{c.client}/{c.env}",
        ["STARTED", "KIND", "VERSION", "DIGEST", "OUTCOME", "ACTOR", "REVISION"],
        rows,
        to_stdout=True,
    )


def unlock(
    ctx: typer.Context, client: str = typer.Argument(..., help="Client id."), env: str = ENV_OPT
) -> None:
    """Force the deploy lock of a client/env open (after a crashed run)."""
    from cosydeploy.cli.context import aws_session, client_env
    from cosydeploy.lock import force_unlock
    from cosydeploy.ui import console

    g = globals_of(ctx)
    proj, c = client_env(g, client, env)
    session = aws_session(g, proj, c)
    holder = force_unlock(
        session.client("dynamodb"), c.client, c.env, table=proj.config.release.lock_table
    )
    msg = (
        f"{c.target}: lock removed (was held by {holder.describe()})"
        if holder
        else f"{c.target}: no lock was held"
    )
    if g.json:
        console.print_json({"client": c.client, "env": c.env, "was_held": bool(holder)})
    else:
        sys.stdout.write(msg + "\n")


# ------------------------------------------------------------------ fleet plumbing


def _fleet_envs(g: Any, clients: list[str], env: str | None) -> tuple[Any, list[Any]]:
    """The ClientEnvs of a fleet run: named clients (each must have the env) or --all."""
    from cosydeploy.cli.context import all_client_envs, client_env, project
    from cosydeploy.errors import UsageError

    if clients:
        pairs = [client_env(g, c, env) for c in dict.fromkeys(clients)]
        return pairs[0][0], [c for _, c in pairs]
    proj, envs = all_client_envs(g, None, env or None)
    if env is None:
        from cosydeploy.cli.context import resolve_env

        first = resolve_env(proj, None)
        envs = [c for c in envs if c.env == first]
    if not envs:
        raise UsageError("no client has this environment", hint="see cosydeploy clients list")
    return proj or project(g), envs


def _prepare_member(g: Any, proj: Any, c: Any, infra_mode: str) -> Any:
    """Session (account guard), stack outputs, secrets preflight, Terraform in step, drift."""
    from cosydeploy import fleet, infra
    from cosydeploy import release as pipeline
    from cosydeploy.cli.context import aws_session, sandbox_info, workspace
    from cosydeploy.ledger import Ledger
    from cosydeploy.render import render_tfvars

    session = aws_session(g, proj, c)
    target = release_target(g, proj, c, session)
    pipeline.preflight_secrets(session.client("secretsmanager"), target)
    ledger = Ledger(session.client("dynamodb"), proj.config.release.ledger_table)
    tfvars = render_tfvars(proj, c)
    extra = {"sandbox_alb_url": sandbox_info(g, proj).alb_url} if g.sandbox else None

    def plan() -> Any:
        return infra.plan(proj, c, workspace(g, proj, c), extra).plan

    recorded = dict(ledger.infra_state(c.client, c.env) or {})

    def record(**fields: Any) -> None:
        ledger.record_infra(c.client, c.env, **fields)
        recorded.update(fields)

    check = fleet.check_infra(
        mode=infra_mode,
        tfvars=tfvars,
        recorded=dict(recorded),
        plan=plan,
        record=record,
        apply_hint=f"cosydeploy apply {c.client} --env {c.env}",
    )
    o = target.outputs
    svc = (
        session.client("ecs")
        .describe_services(cluster=o.cluster_name, services=[o.service_name])
        .get("services")
        or [{}]
    )[0]
    cidrs = fleet.service_subnet_cidrs(session.client("ec2"), svc)
    applied = fleet.applied_view(recorded or None, tfvars)
    warnings = fleet.terraform_drift(applied, o, svc, cidrs)
    if check.warning:
        warnings.insert(0, check.warning)
    member = fleet.Member(c.client, c.env, target, infra=check.reason, warnings=warnings)
    member.session = session  # type: ignore[attr-defined]
    member.config = c  # type: ignore[attr-defined]
    return member


def prebuilt_image(proj: Any, c: Any, version: str, digest: str) -> Any:
    """The image ``build --push`` made for ``version``, by digest, in the configured registry."""
    from cosydeploy.errors import UsageError
    from cosydeploy.image import ResolvedImage
    from cosydeploy.render import ecr_repository_url

    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest or ""):
        raise UsageError(
            f"--digest {digest!r} is not an image digest",
            hint="give the sha256:<64 hex> that `build --push` printed (its digest output)",
        )
    return ResolvedImage(
        version, git_sha(proj.root), digest, f"{ecr_repository_url(proj, c)}@{digest}"
    )


def _prebuilt_images(g: Any, version: str, digest: str):
    """image_for: the same pushed digest for every member."""
    from cosydeploy.cli.context import project

    def image_for(m: Any) -> Any:
        return prebuilt_image(project(g), m.config, version, digest)

    return image_for


def _build_images(g: Any, version: str, build_args: dict[str, str], context: Path | None):
    """image_for: build and push once per ECR repository (one per account/region)."""
    import threading

    from cosydeploy.cli.context import project
    from cosydeploy.render import ecr_repository_url

    made: dict[str, Any] = {}
    guard = threading.Lock()

    def image_for(m: Any) -> Any:
        proj = project(g)
        repo = ecr_repository_url(proj, m.config)
        with guard:
            if repo not in made:
                made[repo] = resolve_image(
                    g, proj, m.config, m.session, version, build_args=build_args, context=context
                )
            return made[repo]

    return image_for


def _promoted_images(g: Any, version: str, from_env: str):
    """image_for: the exact image (by digest) of ``version``'s good release in ``from_env``."""
    from cosydeploy.cli.context import aws_session, client_env
    from cosydeploy.errors import UsageError
    from cosydeploy.image import ResolvedImage
    from cosydeploy.ledger import Ledger
    from cosydeploy.ui import console

    def image_for(m: Any) -> Any:
        proj, src = client_env(g, m.client, from_env)
        session = aws_session(g, proj, src)
        ledger = Ledger(session.client("dynamodb"), proj.config.release.ledger_table)
        good = ledger.last_good(m.client, src.env, version=version)
        if good is None or not good.digest or "@" not in good.image:
            raise UsageError(
                f"{m.client}: {version} never succeeded in {src.env}; refusing to promote it",
                hint=f"release it there first: cosydeploy release {version} --client {m.client} "
                f"--env {src.env}",
            )
        console.info(
            f"  {m.client}: promoting {version} from {src.env} by digest {good.digest[:19]}"
        )
        return ResolvedImage(
            version=version, git_sha=good.git_sha, digest=good.digest, uri=good.image, built=False
        )

    return image_for


def _fleet(
    g: Any,
    version: str,
    clients: list[str],
    env: str | None,
    options: Any,
    *,
    parallel: int | None,
    waves: str | None,
    infra: bool | None,
    image: Any,
) -> None:
    """Run a fleet release (cosydeploy.fleet) and show it; exit with the worst outcome."""
    from cosydeploy import fleet
    from cosydeploy.ui import console

    proj, envs = _fleet_envs(g, clients, env)
    by_client = {c.client: c for c in envs}
    plan = fleet.waves_from_option(waves, list(by_client), base=proj.root)
    mode = "auto" if infra is None else ("force" if infra else "skip")
    env_name = envs[0].env
    console.step(
        f"fleet release {version} to {env_name}: "
        + " then ".join("[" + ", ".join(w) + "]" for w in plan)
    )
    from cosydeploy.release import ReleaseUI
    from cosydeploy.ui.live import RolloutView

    with RolloutView() as view:
        ui = fleet.FleetUI(
            release_ui=lambda cid: ReleaseUI(update=view.update, events=view.events),
            on_wave=lambda i, w: console.step(f"wave {i}: {', '.join(w)}"),
            on_result=lambda r: console.info(
                f"  [{r.client}/{r.env}] {r.outcome}" + (f": {r.message}" if r.message else "")
            ),
            on_warning=lambda client, msg: console.warn(f"{client}/{env_name}: {msg}"),
        )
        result = fleet.release_fleet(
            plan,
            env=env_name,
            version=version,
            prepare=lambda cid: _prepare_member(g, proj, by_client[cid], mode),
            image_for=image,
            options=fleet.FleetOptions(parallel=parallel or 4, release=options),
            ui=ui,
        )
    _show_fleet(g, result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _show_fleet(g: Any, result: Any) -> None:
    from cosydeploy.ui import console, github

    for r in result.results:
        with github.group(f"{r.client}/{r.env}: {r.outcome}"):
            for line in [f"infra: {r.infra}"] * bool(r.infra) + r.warnings + r.diagnosis:
                console.info(f"  [{r.client}/{r.env}] {line}")
    link = github.run_url() or ""
    rows = [
        {
            "client": r.client,
            "env": r.env,
            "version": r.version,
            "outcome": r.outcome,
            "duration": r.duration,
            "diagnosis": link if r.diagnosis else "",
        }
        for r in result.results
    ]
    github.write_summary(rows)
    worst = next(
        (r.outcome for r in result.results if r.exit_code == result.exit_code), "succeeded"
    )
    github.set_outputs(
        {
            "version": result.results[0].version if result.results else "",
            "outcome": worst if result.exit_code else "succeeded",
            "exit_code": result.exit_code,
        }
    )
    if g.json:
        console.print_json([r.as_dict() for r in result.results])
        return
    table = [
        [
            r.client,
            r.env,
            r.version,
            r.outcome,
            f"{r.duration:.0f}s",
            (r.diagnosis[0] if r.diagnosis else r.message)[:120],
        ]
        for r in result.results
    ]
    console.table(
        None,
        ["CLIENT", "ENV", "VERSION", "OUTCOME", "DURATION", "DIAGNOSIS"],
        table,
        to_stdout=True,
    )
