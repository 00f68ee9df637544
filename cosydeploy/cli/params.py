"""Arguments and options several commands share (with shell completion)."""

from __future__ import annotations

import typer

from cosydeploy import completion as complete

CLIENT_ARG = typer.Argument(..., help="Client id.", autocompletion=complete.complete_client)
ENV_OPT = typer.Option(
    None,
    "--env",
    "-e",
    envvar="COSYDEPLOY_ENV",
    help="Environment (default: the first in cosydeploy.yaml).",
    autocompletion=complete.complete_env,
)
