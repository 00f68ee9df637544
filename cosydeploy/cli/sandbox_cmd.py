"""Mounts ``cosydeploy sandbox ...`` (the commands live in cosydeploy/cli/sandbox.py)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from cosydeploy.cli.sandbox import app as sandbox_app

    app.add_typer(
        sandbox_app, name="sandbox", help="The local AWS stand-in: up, status, env, down."
    )
