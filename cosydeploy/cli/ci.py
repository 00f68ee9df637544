"""``cosydeploy ci``: what the GitHub workflows need to know, from the manifests and
cosydeploy.yaml alone (no AWS call): targets, accounts, regions and the roles to assume.

    cosydeploy ci plan v1.4.0 acme globex    # the release workflow's plan: registry, clients, shards
    cosydeploy ci target acme --env prod     # one client/env, for rollback, unlock and onboard
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from cosydeploy.cli.app import app_of

app = typer.Typer(
    help="Plans for the GitHub workflows (JSON on stdout; no AWS access).", no_args_is_help=True
)


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")


@app.command("plan")
def plan(
    ctx: typer.Context,
    version: str = typer.Argument(..., help="The tag being released, e.g. v1.4.0."),
    clients: list[str] = typer.Argument(
        None,
        help="Clients the tag releases (the repository variable COSYDEPLOY_RELEASE_CLIENTS): "
        "onboarded ones only. None: nothing is released.",
    ),
    shards: int = typer.Option(None, "--shards", min=1, help="Shards per group of accounts."),
) -> None:
    """The release workflow's plan: where the image is pushed (and as which role), per
    client its targets (null where it has no such environment), and the shards."""
    from cosydeploy.ci_plan import release_plan

    _emit(release_plan(app_of(ctx).project, version, clients, shards))


@app.command("target")
def target(
    ctx: typer.Context,
    client: str = typer.Argument(..., help="Client id."),
    env: str = typer.Option(..., "--env", "-e", help="Environment."),
) -> None:
    """One client/env: account, region, release and infra role ARNs."""
    from cosydeploy.ci_plan import target_row

    g = app_of(ctx)
    _emit(target_row(g.project, g.client_env(client, env)))
