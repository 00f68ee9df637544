"""Release commands: build, release, promote, rollback, status, history, unlock, cutover.

Each parses its options into values, calls the release service once and presents the
result; the exit code is the worst outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cosydeploy import completion as complete
from cosydeploy.cli.app import App, app_of
from cosydeploy.cli.params import CLIENT_ARG, ENV_OPT

TIMEOUT_OPT = typer.Option(
    None,
    "--timeout",
    envvar="COSYDEPLOY_TIMEOUT",
    help="Seconds the rollout may take before cosydeploy rolls back itself (default: release.timeout).",
)
LOCK_WAIT_OPT = typer.Option(
    0.0, "--lock-wait", help="Seconds to wait for another release's lock (then exit 4)."
)
CLIENTS_OPT = typer.Option(
    None, "--client", "-c", help="Client id (repeatable).", autocompletion=complete.complete_client
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
BUILD_ARG_OPT = typer.Option(None, "--build-arg", help="KEY=VALUE build argument (repeatable).")
CONTEXT_OPT = typer.Option(None, "--context", help="Build context (default: image.context).")
KEEP_GOING_OPT = typer.Option(False, "--keep-going", help="No client's failure stops another's.")
AFTER_PREVIOUS_HELP = "Skip the clients whose previous environment has no success of VERSION."
NO_ROLLBACK_OPT = typer.Option(False, "--no-rollback", help="On failure, no rollback (exit 3).")


def _build_args(pairs: list[str] | None) -> dict[str, str]:
    from cosydeploy.image import parse_build_args

    return parse_build_args(pairs)


def _finish(g: App, run: Any, *, single: bool) -> None:
    from cosydeploy.errors import CosydeployError

    first = run.results[0] if run.results else None
    if single and first is not None and isinstance(first.error, CosydeployError):
        raise first.error  # bad input or a held lock: one error line, its exit code
    g.present.run(run, single=single)
    if run.exit_code:
        raise typer.Exit(run.exit_code)


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
    build_arg: list[str] = BUILD_ARG_OPT,
    context: Path = CONTEXT_OPT,
    push: bool = typer.Option(
        False, "--push", help="Push to ECR (reusing the digest when the tag is there already)."
    ),
) -> None:
    """Build the app image for a version; with --push, push it to ECR once (an existing
    tag is reused, never rebuilt or moved) and print its URI by digest."""
    g = app_of(ctx)
    c = g.client_env(client, env) if client else None
    img = g.releaser.build(
        version, c=c, push=push, build_args=_build_args(build_arg), context=context
    )
    g.present.built(version, img)


def release(
    ctx: typer.Context,
    version: str = typer.Argument(
        ..., help="Version to release, e.g. v1.4.0.", autocompletion=complete.complete_version
    ),
    client: list[str] = CLIENTS_OPT,
    all_clients: bool = ALL_OPT,
    env: str = ENV_OPT,
    timeout: float = TIMEOUT_OPT,
    lock_wait: float = LOCK_WAIT_OPT,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the task definition diff and stop."
    ),
    no_rollback: bool = NO_ROLLBACK_OPT,
    build_arg: list[str] = BUILD_ARG_OPT,
    context: Path = CONTEXT_OPT,
    parallel: int = PARALLEL_OPT,
    waves: str = WAVES_OPT,
    infra: bool = INFRA_OPT,
    digest: str = typer.Option(
        None,
        "--digest",
        help="Deploy this image digest (sha256:...) of VERSION, pushed before by `build --push`: "
        "nothing is built, and no ECR access is needed (tasks pull by digest).",
    ),
    keep_going: bool = KEEP_GOING_OPT,
    after_previous: bool = typer.Option(False, "--after-previous", help=AFTER_PREVIOUS_HELP),
) -> None:
    """Build once, push, roll out on ECS, watch that deployment, verify, record; roll back on failure.

    One --client is a fleet of one; --all, several --client, --waves or --parallel make
    it a fleet release. Either way a client's workspace is planned first only when its
    tfvars changed since the last apply.
    """
    from cosydeploy.release.model import FleetOptions, ReleaseOptions

    g = app_of(ctx)
    envs = g.fleet_envs(client, all_clients, env)
    options = ReleaseOptions(
        dry_run=dry_run, timeout=timeout, lock_wait=lock_wait, rollback=not no_rollback
    )
    single = len(envs) == 1 and not (all_clients or parallel or waves or after_previous)
    g.present.single = single
    with g.present.live():
        run = g.releaser.release(
            version,
            envs,
            options,
            FleetOptions.from_flags(parallel, waves, infra, keep_going, after_previous),
            build_args=_build_args(build_arg),
            context=context,
            digest=digest,
        )
    _finish(g, run, single=single)


def promote(
    ctx: typer.Context,
    version: str = typer.Argument(
        ...,
        help="Version to promote (it must have succeeded in --from).",
        autocompletion=complete.complete_version,
    ),
    from_env: str = typer.Option(
        ..., "--from", help="Environment it succeeded in.", autocompletion=complete.complete_env
    ),
    to_env: str = typer.Option(
        ..., "--to", help="Environment to release it to.", autocompletion=complete.complete_env
    ),
    client: list[str] = CLIENTS_OPT,
    all_clients: bool = ALL_OPT,
    timeout: float = TIMEOUT_OPT,
    lock_wait: float = LOCK_WAIT_OPT,
    no_rollback: bool = NO_ROLLBACK_OPT,
    parallel: int = PARALLEL_OPT,
    waves: str = WAVES_OPT,
    infra: bool = INFRA_OPT,
) -> None:
    """Release to --to the exact digest that succeeded in --from, per client; builds nothing.

    Refuses (exit 2, naming the client) when the version never succeeded there.
    """
    from cosydeploy.config.targets import resolve_env
    from cosydeploy.release.model import FleetOptions, ReleaseOptions

    g = app_of(ctx)
    envs = g.fleet_envs(client, all_clients, to_env)
    options = ReleaseOptions(timeout=timeout, lock_wait=lock_wait, rollback=not no_rollback)
    with g.present.live():
        run = g.releaser.promote(
            version,
            resolve_env(g.project, from_env),
            envs,
            options,
            FleetOptions.from_flags(parallel, waves, infra),
        )
    _finish(g, run, single=False)


def rollback(
    ctx: typer.Context,
    client: str = CLIENT_ARG,
    env: str = ENV_OPT,
    to: str = typer.Option(
        None,
        "--to",
        help="Version to go back to (default: the previous good release).",
        autocompletion=complete.complete_version,
    ),
    timeout: float = TIMEOUT_OPT,
    lock_wait: float = LOCK_WAIT_OPT,
) -> None:
    """Go back to the previous good release (or --to VERSION, by its digest), watched and
    verified. Needs only ECS and DynamoDB: no Terraform."""
    from cosydeploy.release.model import ReleaseOptions

    g = app_of(ctx)
    c = g.client_env(client, env)
    g.present.single = True
    with g.present.live():
        run = g.releaser.rollback(c, to, ReleaseOptions(timeout=timeout, lock_wait=lock_wait))
    _finish(g, run, single=True)


def status(
    ctx: typer.Context,
    client: str = typer.Argument(
        None, help="Client id (default: all).", autocompletion=complete.complete_client
    ),
    env: str = typer.Option(None, "--env", "-e", help="Only this environment."),
) -> None:
    """Per client/env: serving version, digest, revision, running/desired, rollout state, last release."""
    g = app_of(ctx)
    g.present.status(g.releaser.status(g.client_envs([client] if client else None, env)))


def history(
    ctx: typer.Context,
    client: str = CLIENT_ARG,
    env: str = ENV_OPT,
    limit: int = typer.Option(20, "--limit", "-n", help="How many attempts to show."),
) -> None:
    """The release ledger of one client/env, newest first."""
    g = app_of(ctx)
    c = g.client_env(client, env)
    g.present.history(f"{c.client}/{c.env}", g.releaser.history(c, limit))


def unlock(ctx: typer.Context, client: str = CLIENT_ARG, env: str = ENV_OPT) -> None:
    """Force the deploy lock of a client/env open (after a crashed run)."""
    g = app_of(ctx)
    c = g.client_env(client, env)
    g.present.unlocked(c, g.releaser.unlock(c))


def cutover(
    ctx: typer.Context,
    client: str = CLIENT_ARG,
    env: str = ENV_OPT,
    percent: int = typer.Option(None, "--percent", min=0, max=100, help="Share on the new ALB."),
    back: bool = typer.Option(False, "--back", help="Every request to the old origin at once."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and show; move nothing."),
    lock_wait: float = LOCK_WAIT_OPT,
) -> None:
    """Move the hostname from its old origin to the ALB by Route 53 weights, checked
    before (the ALB serves the current release) and after (the hostname answers)."""
    from cosydeploy import cutover as core

    if (percent is None) == (not back):
        raise typer.BadParameter("give exactly one of --percent N and --back")
    g = app_of(ctx)
    c = g.client_env(client, env)
    with g.present.live():
        t = core.prepare(g.releaser, c, lock_wait=lock_wait)
        result = core.back(t, dry_run=dry_run) if back else core.step(t, percent, dry_run=dry_run)
    g.present.cutover(result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
