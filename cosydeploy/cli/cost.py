"""`cosydeploy cost [CLIENT] [--env E] [--output json] [--actual]`: a thin command.

Protocol with the rest of the CLI: the command gets its inputs from
``cosydeploy.cli.context.cost_inputs(ctx, client, env) -> list[CostInput]`` (one per
resolved client/env; ``client``/``env`` None mean all) and, for ``--actual``, a Cost
Explorer client from ``cosydeploy.cli.context.cost_explorer_client(ctx)``. Everything
below those calls takes plain values (``run_cost``), so it can be driven without them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cosydeploy import completion as complete
from cosydeploy.ui import console

if TYPE_CHECKING:  # the cost model loads only when the command runs
    from cosydeploy.cost import Comparison, CostEstimate, CostInput

# How the command gets its inputs; the default goes through cosydeploy.cli.context.
InputsLoader = Callable[[typer.Context, str | None, str | None], "list[CostInput]"]


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


def run_cost(
    inputs: Sequence[CostInput],
    *,
    output: Output = Output.text,
    ce_client: Any = None,
    month: str | None = None,
    pricing: Path | None = None,
) -> tuple[list[CostEstimate], list[Comparison] | None]:
    """Estimate each input, optionally compare with Cost Explorer, and print the result."""
    from cosydeploy import cost

    prices = cost.load_prices(pricing)
    estimates = [cost.estimate(i, prices) for i in inputs]
    comparisons = None
    period = None
    if ce_client is not None:
        period = cost.month_period(month)
        actuals = cost.actual(ce_client, month)
        comparisons = cost.compare(estimates, actuals)

    if output == Output.json:
        data: dict[str, Any] = {
            "pricing": {"source": prices["source"], "date": prices["date"]},
            "estimates": [e.to_dict() for e in estimates],
        }
        if comparisons is not None:
            data["actual"] = {
                "period": {"start": period[0], "end": period[1]} if period else None,
                "threshold": cost.GAP_THRESHOLD,
                "comparisons": [c.to_dict() for c in comparisons],
            }
        console.print_json(data)
    else:
        _print_text(estimates, comparisons, prices)
    return estimates, comparisons


def _usd(x: float | None) -> str:
    return "-" if x is None else f"${x:,.2f}"


def _unit_price(x: float) -> str:
    # Up to six decimals, at least two: $0.50, $0.04048, $0.004445.
    text = f"{x:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def _print_text(estimates, comparisons, prices) -> None:
    for est in estimates:
        rows = [
            [
                i.service,
                i.item,
                f"{i.quantity:,.2f} {i.unit}",
                _unit_price(i.unit_price),
                _usd(i.monthly_usd) if i.scenario != "max" else f"({_usd(i.monthly_usd)})",
            ]
            for i in est.items
        ]
        console.table(
            f"{est.client}/{est.env} ({est.region}), monthly estimate",
            ["service", "item", "quantity", "unit price", "USD/month"],
            rows,
            to_stdout=True,
        )
        console.out().print(
            f"total {_usd(est.total)} a month at the desired task count; "
            f"{_usd(est.total_at_max)} at the maximum\n",
            markup=False,
        )
        for note in est.notes:
            console.warn(note)
    console.info(
        f"prices: {prices['source']} ({prices['date']}); usage assumptions in the same file"
    )
    if comparisons is None:
        return
    console.table(
        "estimate against last month's actual (Cost Explorer, tags Client/Environment)",
        ["client", "env", "estimate", "actual", "gap", ""],
        [
            [
                c.client,
                c.env,
                _usd(c.estimate),
                _usd(c.actual),
                "-" if c.gap is None else f"{c.gap:+.0%}",
                "GAP > 20%" if c.flagged else ("no data" if c.actual is None else "ok"),
            ]
            for c in comparisons
        ],
        to_stdout=True,
    )
    for c in comparisons:
        if c.flagged:
            console.warn(
                f"{c.client}/{c.env}: actual {_usd(c.actual)} is {c.gap:+.0%} from the "
                f"estimate {_usd(c.estimate)}"
            )


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
    inputs = load_inputs(ctx, client, env)
    ce_client = load_ce_client(ctx) if actual else None
    run_cost(
        inputs, output=output_of(ctx, output), ce_client=ce_client, month=month, pricing=pricing
    )


def output_of(ctx: typer.Context, output: Output | None) -> Output:
    """The command's own --output, else the global one (flag or COSYDEPLOY_OUTPUT)."""
    if output is not None:
        return output
    root = ctx.find_root() if hasattr(ctx, "find_root") else None
    chosen = getattr(getattr(root, "obj", None), "output", None)
    return Output.json if chosen == "json" else Output.text
