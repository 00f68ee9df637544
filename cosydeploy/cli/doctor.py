"""`cosydeploy doctor [CLIENT] [--env E]`: what a release needs, checked. Thin: build, call, show.

Exit 0 when no row failed; 2 otherwise (a missing prerequisite is bad input, as when a
release refuses over a missing secret or the wrong account).
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from cosydeploy.cli import complete
from cosydeploy.cli.context import globals_of


def _settings_and_adapters(g: Any, proj: Any) -> tuple[Any, Any]:
    """The project's settings and the adapters, built here at the edge."""
    import importlib.metadata as md

    from cosydeploy.cli.context import sandbox_info
    from cosydeploy.config.load import manifest_path
    from cosydeploy.doctor import Adapters, Settings, required_terraform

    cfg = proj.config
    stack = proj.path(cfg.paths.sandbox_stack if g.sandbox else cfg.paths.stack)
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
        from cosydeploy.engine import docker_client

        return docker_client()

    def terraform() -> Any:
        from cosydeploy.terraform.engine import make_engine

        return make_engine(cfg.terraform.binary)

    def session_for(c: Any) -> Any:
        from cosydeploy.aws import open_session

        if g.sandbox:
            sandbox_info(g, proj)
            return open_session(c.region, role_arn=c.role_arn)
        return open_session(c.region, profile=c.profile, role_arn=c.role_arn)

    def state_s3() -> Any:
        from cosydeploy.aws import open_session

        if g.sandbox:
            sandbox_info(g, proj)
        return open_session(cfg.state.region).client("s3")

    settings = Settings(
        state_bucket=cfg.state.bucket,
        state_region=cfg.state.region,
        lock_table=cfg.release.lock_table,
        ledger_table=cfg.release.ledger_table,
        ecr_repository=cfg.image.repository,
        registry_account_id=cfg.image.registry_account_id,
        registry_region=cfg.image.registry_region,
        sandbox=g.sandbox,
        terraform_minimum=minimum,
        requires_python=requires_python,
        extras=("sandbox",) if g.sandbox else (),
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


def show(g: Any, rows: list[Any]) -> None:
    """The table on stdout (or JSON rows), then one hint line per failed row."""
    from cosydeploy.ui import console

    if g.json:
        console.print_json([r.as_dict() for r in rows])
        return
    console.table(
        None,
        ["CHECK", "TARGET", "STATUS", "DETAIL"],
        [[r.name, r.target, str(r.status), r.detail] for r in rows],
        to_stdout=True,
    )
    failed = [r for r in rows if r.failed]
    for r in failed:
        where = f" ({r.target})" if r.target else ""
        console.out().print(f"hint for {r.name}{where}: {r.hint}", markup=False)
    counts = {s: sum(1 for r in rows if str(r.status) == s) for s in ("OK", "FAIL", "SKIP")}
    console.info(f"doctor: {counts['OK']} ok, {counts['FAIL']} failed, {counts['SKIP']} skipped")


def doctor(
    ctx: typer.Context,
    client: str | None = typer.Argument(
        None, help="Client id (default: every client).", autocompletion=complete.complete_client
    ),
    env: str | None = typer.Option(
        None,
        "--env",
        "-e",
        help="Only this environment (default: every environment of each client).",
    ),
) -> None:
    """Check what a release needs: Python, packages, Docker, Terraform, AWS account,
    state bucket, lock and ledger tables, ECR, secrets, DNS zone. Exit 2 when a check fails."""
    from cosydeploy.cli.context import all_client_envs
    from cosydeploy.doctor import raise_on_failures, run_doctor

    g = globals_of(ctx)
    proj, targets = all_client_envs(g, [client] if client else None, env)
    settings, adapters = _settings_and_adapters(g, proj)
    rows = run_doctor(targets, settings, adapters)
    show(g, rows)
    raise_on_failures(rows)
