"""Commands for manifests and infrastructure: validate, schema, clients, render, plan, apply, onboard."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from cosydeploy import completion as complete
from cosydeploy.cli.app import app_of
from cosydeploy.cli.params import CLIENT_ARG, ENV_OPT
from cosydeploy.errors import EXIT_USAGE, UsageError

clients_app = typer.Typer(
    help="List clients and show their resolved configuration.", no_args_is_help=True
)


def validate(
    ctx: typer.Context,
    clients: list[str] = typer.Argument(
        None, help="Client ids (default: all).", autocompletion=complete.complete_client
    ),
) -> None:
    """Validate cosydeploy.yaml and client manifests (exit 0 valid, 2 invalid)."""
    from cosydeploy.config.load import validate_manifests
    from cosydeploy.ui import console
    from cosydeploy.ui.present import report_error

    g = app_of(ctx)
    rows = validate_manifests(g.project, clients)
    for row in rows:
        if "exception" in row:
            report_error(row.pop("exception"))
        elif not g.json:
            console.info(f"ok    {row['file']}")
    if g.json:
        g.present.data(rows)
    if not all(r["valid"] for r in rows):
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
    g = app_of(ctx)
    rows = [
        {
            "client": c.client,
            "env": c.env,
            "tier": c.tier,
            "account_id": c.account_id,
            "region": c.region,
        }
        for c in g.client_envs(None, env)
    ]
    g.present.rows(None, ["client", "env", "tier", "account_id", "region"], rows)


@clients_app.command("show")
def clients_show(ctx: typer.Context, client: str = CLIENT_ARG, env: str = ENV_OPT) -> None:
    """The resolved configuration of one client/env (secrets by name only)."""
    g = app_of(ctx)
    c = g.client_env(client, env)
    g.present.mapping(f"{c.client}/{c.env}", c.as_dict())


def render(
    ctx: typer.Context,
    client: str = CLIENT_ARG,
    env: str = ENV_OPT,
    out: Path = typer.Option(
        None, "--out", help="Write the files into this directory instead of printing."
    ),
) -> None:
    """Render the Terraform variables and backend config (shows, never applies)."""
    import json

    from cosydeploy.render import render_client
    from cosydeploy.ui import console

    g = app_of(ctx)
    rendered = render_client(g.project, g.client_env(client, env))
    if out:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in rendered.files().items():
            (out / name).write_text(text)
            console.info(f"wrote {out / name}")
        return
    if g.json:
        g.present.data(
            {"tfvars": json.loads(rendered.tfvars), "backend": rendered.backend_settings}
        )
        return
    for name, text in rendered.files().items():
        sys.stdout.write(f"# --- {name}\n{text}")


def _plan_one(ctx: typer.Context, c: Any) -> tuple[Any, Any]:
    from cosydeploy.ui import console

    g = app_of(ctx)
    g.platform.session(c)  # the account guard, before Terraform touches anything
    ws = g.infra.workspace(c)
    console.step(f"plan {c.client}/{c.env} (workspace {ws.name}, {ws.engine.name} Terraform)")
    result = g.infra.plan(c, ws)
    g.present.plan(result.plan)
    return result, ws


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


def plan(ctx: typer.Context, client: str = CLIENT_ARG, env: str = ENV_OPT) -> None:
    """Plan the client's workspace to a saved plan file and summarise it."""
    g = app_of(ctx)
    result, _ = _plan_one(ctx, g.client_env(client, env))
    if g.json:
        g.present.data(result.as_dict())


def apply(
    ctx: typer.Context,
    client: str = CLIENT_ARG,
    env: str = ENV_OPT,
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Apply without asking (needed without a terminal)."
    ),
) -> None:
    """Plan, show the plan, ask, then apply exactly that saved plan."""
    g = app_of(ctx)
    c = g.client_env(client, env)
    result, ws = _plan_one(ctx, c)
    g.present.infra_results([g.infra.apply(c, result, ws, _confirm(yes))])


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
    from cosydeploy.onboard import ManifestAnswers

    g = app_of(ctx)
    interactive = sys.stdin.isatty() and not yes

    def answers() -> ManifestAnswers:
        return ManifestAnswers.gather(
            g.project,
            client,
            tier=tier,
            account_id=account_id,
            region=region,
            domain=domain,
            name=name,
            contact=contact,
            envs=envs,
            prompt=(lambda label, default: str(typer.prompt(label, default=default, err=True)))
            if interactive
            else None,
        )

    plans = g.infra.onboard(client, envs, answers, dry_run=dry_run)
    if plans is None:  # --dry-run of a new manifest: shown, nothing written
        return
    results = []
    for c in plans:
        result, ws = _plan_one(ctx, c)
        results.append(result if dry_run else g.infra.apply(c, result, ws, _confirm(yes)))
    if not g.json and results and all(r.plan and not r.plan.has_changes for r in results):
        from cosydeploy.ui import console

        console.info(f"{client}: already onboarded; nothing to change")
    g.present.infra_results(results)
