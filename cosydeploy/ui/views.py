"""Tables for the cost and secrets commands (stdout: results; stderr: notes)."""

from __future__ import annotations

from typing import Any

from cosydeploy.ui import console


def _usd(x: float | None) -> str:
    return "-" if x is None else f"${x:,.2f}"


def _unit_price(x: float) -> str:
    # Up to six decimals, at least two: $0.50, $0.04048, $0.004445.
    text = f"{x:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def cost_text(estimates: Any, comparisons: Any, prices: Any) -> None:
    """The estimates as tables on stdout, notes and gaps on stderr."""
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


def secret_statuses(label: str, rows: Any, as_json: bool) -> None:
    """Print statuses: a table on stdout, or JSON."""
    if as_json:
        console.print_json({"target": label, "secrets": [s.to_dict() for s in rows]})
        return
    console.table(
        f"secrets of {label}",
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


def sandbox_table(info: Any) -> None:
    """Where the running sandbox listens (stderr)."""
    console.table(
        None,
        ["", ""],
        [
            ["endpoint", info.endpoint_url],
            ["registry", info.registry],
            ["ecr host", info.ecr_host],
            ["alb", info.alb_url],
            ["region", info.region],
            ["pid", info.pid],
            ["state", info.state_file],
        ],
    )


def sandbox_env(info: Any) -> None:
    """`export K=V` lines pointing SDKs and cosydeploy at the sandbox (stdout)."""
    import shlex
    import sys

    for key, value in info.env().items():
        sys.stdout.write(f"export {key}={shlex.quote(value)}\n")
    sys.stdout.flush()
