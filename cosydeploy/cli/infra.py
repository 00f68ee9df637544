"""Commands for manifests and infrastructure: validate, schema, clients, render, plan, apply, onboard."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from cosydeploy.cli import complete
from cosydeploy.cli.context import globals_of
from cosydeploy.errors import EXIT_USAGE, CosydeployError, UsageError

clients_app = typer.Typer(
    help="List clients and show their resolved configuration.", no_args_is_help=True
)

ENV_OPT = typer.Option(
    None,
    "--env",
    "-e",
    envvar="COSYDEPLOY_ENV",
    help="Environment (default: the first in cosydeploy.yaml).",
    autocompletion=complete.complete_env,
)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("schema")(schema)
    app.add_typer(clients_app, name="clients")
    app.command("render")(render)
    app.command("plan")(plan)
    app.command("apply")(apply)
    app.command("onboard")(onboard)


def validate(
    ctx: typer.Context,
    clients: list[str] = typer.Argument(
        None, help="Client ids (default: all).", autocompletion=complete.complete_client
    ),
) -> None:
    """Validate cosydeploy.yaml and client manifests (exit 0 valid, 2 invalid)."""
    from cosydeploy.cli.main import report_error
    from cosydeploy.config.load import client_ids, load_manifest
    from cosydeploy.config.load import manifest_path as mpath
    from cosydeploy.ui import console

    g = globals_of(ctx)
    from cosydeploy.cli.context import project

    proj = project(g)
    ids = clients or client_ids(proj)
    results = []
    failed = 0
    for cid in ids:
        try:
            load_manifest(proj, cid)
            results.append({"client": cid, "file": proj.display(mpath(proj, cid)), "valid": True})
            if not g.json:
                console.info(f"ok    {proj.display(mpath(proj, cid))}")
        except CosydeployError as exc:
            failed += 1
            results.append(
                {
                    "client": cid,
                    "file": proj.display(mpath(proj, cid)),
                    "valid": False,
                    "error": exc.message,
                    "hint": exc.hint,
                }
            )
            report_error(exc)
    if g.json:
        console.print_json(results)
    if failed:
        raise typer.Exit(EXIT_USAGE)


def schema(ctx: typer.Context) -> None:
    """Print the JSON Schema of client manifests (for editors)."""
    import json

    from cosydeploy.config.models import ClientManifest

    data = ClientManifest.model_json_schema()
    data["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    data["title"] = "cosydeploy client manifest"
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


@clients_app.command("list")
def clients_list(
    ctx: typer.Context, env: str = typer.Option(None, "--env", "-e", help="Only this environment.")
) -> None:
    """One row per client/env (JSON: a matrix for CI)."""
    from cosydeploy.cli.context import all_client_envs
    from cosydeploy.ui import console

    g = globals_of(ctx)
    _, envs = all_client_envs(g, None, env)
    rows = [
        {
            "client": c.client,
            "env": c.env,
            "tier": c.tier,
            "account_id": c.account_id,
            "region": c.region,
        }
        for c in envs
    ]
    if g.json:
        console.print_json(rows)
        return
    console.table(
        None,
        ["CLIENT", "ENV", "TIER", "ACCOUNT", "REGION"],
        [list(r.values()) for r in rows],
        to_stdout=True,
    )


@clients_app.command("show")
def clients_show(
    ctx: typer.Context,
    client: str = typer.Argument(..., help="Client id.", autocompletion=complete.complete_client),
    env: str = ENV_OPT,
) -> None:
    """The resolved configuration of one client/env (secrets by name only)."""
    from cosydeploy.cli.context import client_env
    from cosydeploy.ui import console

    g = globals_of(ctx)
    _, c = client_env(g, client, env)
    data = c.as_dict()
    if g.json:
        console.print_json(data)
        return
    rows = [[k, _fmt(v)] for k, v in data.items()]
    console.table(f"{c.client}/{c.env}", ["KEY", "VALUE"], rows, to_stdout=True)


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items()) or "-"
    if isinstance(v, list | tuple):
        return ", ".join(map(str, v)) or "-"
    return "-" if v is None else str(v)


def render(
    ctx: typer.Context,
    client: str = typer.Argument(..., help="Client id.", autocompletion=complete.complete_client),
    env: str = ENV_OPT,
    out: Path = typer.Option(
        None, "--out", help="Write the files into this directory instead of printing."
    ),
) -> None:
    """Render the Terraform variables and backend config (shows, never applies)."""
    from cosydeploy.cli.context import client_env
    from cosydeploy.render import render_client
    from cosydeploy.ui import console

    g = globals_of(ctx)
    proj, c = client_env(g, client, env)
    rendered = render_client(proj, c)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in rendered.files().items():
            (out / name).write_text(text)
            console.info(f"wrote {out / name}")
        return
    if g.json:
        import json

        console.print_json({"tfvars": json.loads(rendered.tfvars), "backend": rendered.backend})
        return
    for name, text in rendered.files().items():
        sys.stdout.write(f"# --- {name}\n{text}")


def _plan_one(g: Any, proj: Any, c: Any):
    from cosydeploy import infra
    from cosydeploy.cli.context import aws_session, sandbox_info, workspace
    from cosydeploy.ui import console

    aws_session(g, proj, c)  # the account guard, before Terraform touches anything
    ws = workspace(g, proj, c)
    extra = {"sandbox_alb_url": sandbox_info(g, proj).alb_url} if g.sandbox else None
    console.step(f"plan {c.client}/{c.env} (workspace {ws.name}, {ws.engine.name} Terraform)")
    with console.progress(f"terraform plan {ws.name} ..."):
        result = infra.plan(proj, c, ws, extra)
    _show_plan(result.plan)
    return result, ws


def _show_plan(summary: Any) -> None:
    from cosydeploy.ui import console

    rows = [[ch.action, ch.address] for ch in summary.changes if ch.action not in {"no-op", "read"}]
    if rows:
        console.table(None, ["ACTION", "ADDRESS"], rows)
    console.info(
        f"plan: {summary.adds} to add, {summary.updates} to change, {summary.destroys} to destroy"
        + ("" if summary.has_changes else " (no changes)")
    )


def plan(
    ctx: typer.Context,
    client: str = typer.Argument(..., help="Client id.", autocompletion=complete.complete_client),
    env: str = ENV_OPT,
) -> None:
    """Plan the client's workspace to a saved plan file and summarise it."""
    from cosydeploy.cli.context import client_env
    from cosydeploy.ui import console

    g = globals_of(ctx)
    proj, c = client_env(g, client, env)
    result, _ = _plan_one(g, proj, c)
    if g.json:
        console.print_json(result.as_dict())


def _confirm(yes: bool):
    def ask(summary: Any) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                "refusing to apply without a terminal to confirm",
                hint="pass --yes to apply the plan shown",
            )
        return typer.confirm("Apply this plan?", default=False, err=True)

    return ask


def _after_apply(g: Any, proj: Any, c: Any):
    if not g.sandbox:
        return None

    def provision_sandbox(outputs: dict[str, Any]) -> None:
        from cosydeploy.cli.context import aws_session
        from cosydeploy.sandbox.provision import provision
        from cosydeploy.stack import StackOutputs
        from cosydeploy.ui import console

        spec = provision_spec(proj, c)
        session = aws_session(g, proj, c, guard=False)
        provision(session.session, StackOutputs.from_terraform(outputs), spec)
        console.info(f"sandbox: resources of {c.client}/{c.env} are in place")

    return provision_sandbox


def provision_spec(proj: Any, c: Any) -> Any:
    """What the sandbox must create for one client/env (what the client stack would make)."""
    from cosydeploy.render import ecr_repository_url
    from cosydeploy.sandbox.provision import ProvisionSpec

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
    cfg = proj.config
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
        lock_table=cfg.release.lock_table,
        ledger_table=cfg.release.ledger_table,
        initial_image=ecr_repository_url(proj, c) + ":bootstrap",
    )


def apply(
    ctx: typer.Context,
    client: str = typer.Argument(..., help="Client id.", autocompletion=complete.complete_client),
    env: str = ENV_OPT,
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Apply without asking (needed without a terminal)."
    ),
) -> None:
    """Plan, show the plan, ask, then apply exactly that saved plan."""
    from cosydeploy import infra
    from cosydeploy.cli.context import client_env

    g = globals_of(ctx)
    proj, c = client_env(g, client, env)
    result, ws = _plan_one(g, proj, c)
    result = infra.apply(result, ws, _confirm(yes), _after_apply(g, proj, c))
    _record_applied(g, proj, c, result)
    _report_outputs(g, [result])


def _record_applied(g: Any, proj: Any, c: Any, result: Any) -> None:
    """Keep the applied tfvars' fingerprint in the ledger (releases skip the plan while
    it matches); a ledger that cannot be written only warns: the apply itself succeeded."""
    if not (result.applied or (result.plan and not result.plan.has_changes)):
        return
    from cosydeploy.cli.context import aws_session
    from cosydeploy.fleet import record_applied
    from cosydeploy.ledger import Ledger
    from cosydeploy.render import render_tfvars
    from cosydeploy.ui import console

    try:
        session = aws_session(g, proj, c, guard=False)
        ledger = Ledger(session.client("dynamodb"), proj.config.release.ledger_table)
        record_applied(ledger, c.client, c.env, render_tfvars(proj, c))
    except CosydeployError as exc:
        console.warn(f"{c.target}: applied, but the tfvars fingerprint was not recorded: {exc}")


def _report_outputs(g: Any, results: list[Any]) -> None:
    from cosydeploy.ui import console

    if g.json:
        console.print_json([r.as_dict() for r in results])
        return
    for r in results:
        state = (
            "applied"
            if r.applied
            else "no changes"
            if r.plan and not r.plan.has_changes
            else "not applied"
        )
        url = r.outputs.get("app_url") or "-"
        sys.stdout.write(f"{r.client}/{r.env}: {state}; app_url {url}\n")


def onboard(
    ctx: typer.Context,
    client: str = typer.Argument(..., help="New or existing client id (lowercase, DNS-safe)."),
    envs: list[str] = typer.Option(
        None, "--env", "-e", help="Environments to set up (default: all of the manifest's)."
    ),
    tier: str = typer.Option(
        None, "--tier", help="Tier preset for a new manifest (dev, small, large)."
    ),
    account_id: str = typer.Option(
        None, "--account-id", help="12-digit AWS account id for a new manifest."
    ),
    region: str = typer.Option(None, "--region", help="AWS region for a new manifest."),
    domain: str = typer.Option(
        None, "--domain", help="DNS zone for a new manifest (default: the project's)."
    ),
    name: str = typer.Option(None, "--name", help="Display name for a new manifest."),
    contact: str = typer.Option(None, "--contact", help="Contact email for a new manifest."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Write nothing; show the manifest and the plans."
    ),
) -> None:
    """Manifest -> Terraform workspace -> infrastructure, per environment. Safe to run again."""
    from cosydeploy import infra
    from cosydeploy.cli.context import project
    from cosydeploy.config.load import load_manifest, manifest_path
    from cosydeploy.config.resolve import resolve
    from cosydeploy.onboard import ManifestAnswers, write_manifest
    from cosydeploy.ui import console

    g = globals_of(ctx)
    proj = project(g)
    path = manifest_path(proj, client)
    if path.exists():
        console.info(f"manifest {proj.display(path)} exists; using it unchanged")
    else:
        answers = ManifestAnswers.gather(
            proj,
            client,
            tier=tier,
            account_id=account_id,
            region=region,
            domain=domain,
            name=name,
            contact=contact,
            envs=envs,
            interactive=sys.stdin.isatty() and not yes,
        )
        text = write_manifest(proj, answers, dry_run=dry_run)
        if dry_run:
            console.info(f"would write {proj.display(path)}:")
            sys.stderr.write(text)
            return
        console.info(f"wrote {proj.display(path)}")
    manifest, _ = load_manifest(proj, client)
    chosen = envs or list(manifest.environments)
    results = []
    for env in chosen:
        if env not in manifest.environments:
            raise UsageError(
                f"client {client!r} has no environment {env!r}",
                hint=f"its environments: {', '.join(manifest.environments)}",
            )
        c = resolve(proj, manifest, env)
        result, ws = _plan_one(g, proj, c)
        if dry_run:
            results.append(result)
            continue
        results.append(infra.apply(result, ws, _confirm(yes), _after_apply(g, proj, c)))
        _record_applied(g, proj, c, results[-1])
    if not g.json and results and all(r.plan and not r.plan.has_changes for r in results):
        console.info(f"{client}: already onboarded; nothing to change")
    _report_outputs(g, results)
