"""`cosydeploy secrets set|list|check`: thin commands over cosydeploy.secrets.

Protocol with the rest of the CLI: the commands get their target from
``cosydeploy.cli.context.secrets_target(ctx, client, env)``, which returns
``(secretsmanager_client, project, required_secret_names)`` for a resolved client/env
(the client's boto3 session, after the account check). Everything below that call takes
a plain ``SecretsTarget``, so it can be driven without the context module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import typer

from cosydeploy import completion as complete
from cosydeploy.ui import console


@dataclass(frozen=True)
class SecretsTarget:
    """One client/env's secrets: where they live and which ones the app requires."""

    sm_client: Any
    project: str
    client: str
    env: str
    required: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.client}/{self.env}"


# How a command gets its target; the default goes through cosydeploy.cli.context.
TargetLoader = Callable[[typer.Context, str, str], SecretsTarget]


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


def output_of(ctx: typer.Context, output: Output | None) -> Output:
    """The command's own --output, else the global one (flag or COSYDEPLOY_OUTPUT)."""
    if output is not None:
        return output
    root = ctx.find_root() if hasattr(ctx, "find_root") else None
    chosen = getattr(getattr(root, "obj", None), "output", None)
    return Output.json if chosen == "json" else Output.text


# --- plain functions the commands call (testable without Typer) -----------------------


def set_value(target: SecretsTarget, name: str, value: str) -> str:
    """Store one value; warn when the name is not one the app requires. Returns the
    secret's full name and what happened (never the value)."""
    from cosydeploy import secrets

    full = secrets.secret_name(target.project, target.client, target.env, name)
    if target.required and name not in target.required:
        console.warn(f"{name} is not among the required secrets of {target.label}")
    result = secrets.set_secret(target.sm_client, full, value)
    return f"{result} {full}"


def statuses(target: SecretsTarget):
    """The status of every secret of the target (no values)."""
    from cosydeploy import secrets

    return secrets.list_secrets(
        target.sm_client, target.project, target.client, target.env, list(target.required)
    )


def show_statuses(target: SecretsTarget, rows, output: Output) -> None:
    """Print statuses: a table on stdout, or JSON."""
    if output == Output.json:
        console.print_json({"target": target.label, "secrets": [s.to_dict() for s in rows]})
        return
    console.table(
        f"secrets of {target.label}",
        ["name", "required", "exists", "has value", "last changed"],
        [
            [
                s.name,
                "yes" if s.required else "no",
                "yes" if s.exists else "no",
                "yes" if s.has_value else "no",
                s.last_changed.isoformat(timespec="seconds") if s.last_changed else "-",
            ]
            for s in rows
        ],
        to_stdout=True,
    )


def check_target(target: SecretsTarget, output: Output = Output.text) -> None:
    """Show the statuses and raise ``MissingSecretsError`` (exit 2) naming the required
    secrets without a value."""
    from cosydeploy import secrets

    rows = statuses(target)
    missing = secrets.missing_values(rows)
    if output == Output.json:
        console.print_json({"target": target.label, "ok": not missing, "missing": missing})
    elif not missing:
        console.info(f"{target.label}: all {len(target.required)} required secrets have a value")
    secrets.check(rows, target.label)


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
    done = set_value(target, name, value)
    if output_of(ctx, None) == Output.json:
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
    target = load_target(ctx, client, env)
    show_statuses(target, statuses(target), output_of(ctx, output))


@app.command("check")
def check_command(
    ctx: typer.Context,
    client: str = typer.Argument(..., help="Client id.", autocompletion=complete.complete_client),
    env: str = ENV_OPTION,
    output: Output | None = OUTPUT_OPTION,
) -> None:
    """Exit 2 naming the required secrets that have no value."""
    check_target(load_target(ctx, client, env), output_of(ctx, output))
