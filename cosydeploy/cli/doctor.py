"""`cosydeploy doctor [CLIENT] [--env E]`: what a release needs, checked. Thin: build, call, show.

Exit 0 when no row failed; 2 otherwise (a missing prerequisite is bad input, as when a
release refuses over a missing secret or the wrong account).
"""

from __future__ import annotations

from typing import Any

import typer

from cosydeploy import completion as complete
from cosydeploy.cli.app import app_of


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
    from cosydeploy.doctor import raise_on_failures, run_doctor, settings_and_adapters

    g = app_of(ctx)
    targets = g.client_envs([client] if client else None, env)
    settings, adapters = settings_and_adapters(g.project, g.platform)
    rows = run_doctor(targets, settings, adapters)
    show(g, rows)
    raise_on_failures(rows)
