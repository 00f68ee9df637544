"""`cosydeploy cost [CLIENT] [--env E] [--output json] [--actual]`: a thin command.

Protocol with the rest of the CLI: the command gets its inputs from
``cosydeploy.cli.context.cost_inputs(ctx, client, env) -> list[CostInput]`` (one per
resolved client/env; ``client``/``env`` None mean all) and, for ``--actual``, a Cost
Explorer client from ``cosydeploy.cli.context.cost_explorer_client(ctx)``; the report is
``cosydeploy.cost.report``, drawn by ``cosydeploy.ui.views``.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cosydeploy import completion as complete
from cosydeploy.cli.app import app_of
from cosydeploy.ui import console

if TYPE_CHECKING:  # the cost model loads only when the command runs
    from cosydeploy.cost import CostInput


class Output(StrEnum):
    text = "text"
    json = "json"


def load_inputs(ctx: typer.Context, client: str | None, env: str | None) -> list[CostInput]:
    """Resolve inputs through ``cosydeploy.cli.context.cost_inputs``."""
    context = importlib.import_module("cosydeploy.cli.context")
    return list(context.cost_inputs(ctx, client, env))


def load_ce_client(ctx: typer.Context) -> Any:
    """A Cost Explorer client through ``cosydeploy.cli.context.cost_explorer_client``."""
    context = importlib.import_module("cosydeploy.cli.context")
    return context.cost_explorer_client(ctx)


def cost_command(
    ctx: typer.Context,
    client: str | None = typer.Argument(
        None, help="Client id (all clients when omitted).", autocompletion=complete.complete_client
    ),
    env: str | None = typer.Option(None, "--env", "-e", help="Environment (all when omitted)."),
    output: Output | None = typer.Option(
        None,
        "--output",
        "-o",
        help="text or json (default: the global --output, env COSYDEPLOY_OUTPUT).",
    ),
    actual: bool = typer.Option(
        False, "--actual", help="Compare with last month's cost from Cost Explorer."
    ),
    month: str | None = typer.Option(
        None, "--month", help="Month for --actual, YYYY-MM (default: last month)."
    ),
    pricing: Path | None = typer.Option(
        None,
        "--pricing",
        envvar="COSYDEPLOY_PRICING",
        help="Price file (default: the packaged one). Env: COSYDEPLOY_PRICING.",
    ),
) -> None:
    """Estimate each client/env's monthly cost, line by line, from list prices."""
    from cosydeploy.cost import report

    inputs = load_inputs(ctx, client, env)
    ce_client = load_ce_client(ctx) if actual else None
    done = report(inputs, ce_client=ce_client, month=month, pricing=pricing)
    if app_of(ctx).json_for(output):
        console.print_json(done.to_dict())
    else:
        from cosydeploy.ui.views import cost_text

        cost_text(done.estimates, done.comparisons, done.prices)
