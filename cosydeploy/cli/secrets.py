"""`cosydeploy secrets set|list|check`: thin commands over cosydeploy.secrets.

Protocol with the rest of the CLI: the commands get their target from
``cosydeploy.cli.context.secrets_target(ctx, client, env)``, which returns
``(secretsmanager_client, project, required_secret_names)`` for a resolved client/env
(the client's boto3 session, after the account check). Everything below that call takes
a plain ``SecretsTarget``, so it can be driven without the context module.
"""

from __future__ import annotations

import importlib
from enum import StrEnum

import typer

from cosydeploy import completion as complete
from cosydeploy.cli.app import app_of
from cosydeploy.secrets import SecretsTarget, set_value
from cosydeploy.ui import console


def load_target(ctx: typer.Context, client: str, env: str) -> SecretsTarget:
    """Resolve the target through ``cosydeploy.cli.context.secrets_target``."""
    context = importlib.import_module("cosydeploy.cli.context")
    sm_client, project, required = context.secrets_target(ctx, client, env)
    return SecretsTarget(sm_client, project, client, env, tuple(required))


class Output(StrEnum):
    text = "text"
    json = "json"


app = typer.Typer(
    name="secrets",
    help="Set and inspect secret values in Secrets Manager (values are never shown).",
    no_args_is_help=True,
)

ENV_OPTION = typer.Option(..., "--env", "-e", help="Environment (e.g. dev, prod).")
OUTPUT_OPTION = typer.Option(
    None,
    "--output",
    "-o",
    help="text or json (default: the global --output, env COSYDEPLOY_OUTPUT).",
)


# --- Typer commands ---------------------------------------------------------------------


@app.command("set")
def set_command(
    ctx: typer.Context,
    client: str = typer.Argument(..., help="Client id.", autocompletion=complete.complete_client),
    name: str = typer.Argument(..., help="Secret NAME, e.g. DISCORD_BOT_TOKEN."),
    env: str = ENV_OPTION,
) -> None:
    """Store a secret value read from stdin (when piped) or a hidden prompt.

    The value is never taken from an argument and never echoed.
    """
    from cosydeploy import secrets

    target = load_target(ctx, client, env)
    secrets.secret_name(target.project, client, env, name)  # reject a bad NAME before asking
    value = secrets.read_value_from_stdin_or_prompt(name)
    from cosydeploy.ui import github

    github.mask(value)  # under GitHub Actions: redacted from every later log line
    if target.required and name not in target.required:
        console.warn(f"{name} is not among the required secrets of {target.label}")
    done = set_value(target, name, value)
    if app_of(ctx).json_for(None):
        result, _, secret = done.partition(" ")
        console.print_json(
            {"target": target.label, "name": name, "secret": secret, "result": result}
        )
        return
    console.out().print(done, markup=False)


@app.command("list")
def list_command(
    ctx: typer.Context,
    client: str = typer.Argument(..., help="Client id.", autocompletion=complete.complete_client),
    env: str = ENV_OPTION,
    output: Output | None = OUTPUT_OPTION,
) -> None:
    """List the secrets of a client/env: names, last changed, whether a value exists."""
    from cosydeploy.ui.views import secret_statuses

    target = load_target(ctx, client, env)
    secret_statuses(target.label, target.statuses(), app_of(ctx).json_for(output))


@app.command("check")
def check_command(
    ctx: typer.Context,
    client: str = typer.Argument(..., help="Client id.", autocompletion=complete.complete_client),
    env: str = ENV_OPTION,
    output: Output | None = OUTPUT_OPTION,
) -> None:
    """Exit 2 naming the required secrets that have no value."""
    from cosydeploy import secrets

    target = load_target(ctx, client, env)
    rows = target.statuses()
    missing = secrets.missing_values(rows)
    if app_of(ctx).json_for(output):
        console.print_json({"target": target.label, "ok": not missing, "missing": missing})
    elif not missing:
        console.info(f"{target.label}: all {len(target.required)} required secrets have a value")
    secrets.check(rows, target.label)
