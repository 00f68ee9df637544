"""The ``cosydeploy`` command: global options, lazy commands, errors and exit codes.

Commands are thin: parse, call the core, present. A command's module is imported only
when that command runs (``--help`` reads the one-line help kept here), so start-up
cost is handled in one place.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperCommand

from cosydeploy import __version__
from cosydeploy import completion as complete
from cosydeploy.cli.app import App, ErrorsGroup
from cosydeploy.errors import EXIT_INTERRUPTED

# name -> "module:attribute:one-line help" (module under cosydeploy.cli). A Typer
# attribute is a command group. Only the command that runs is imported.
COMMAND_TABLE = """
validate:infra:validate:Validate cosydeploy.yaml and client manifests.
schema:infra:schema:Print the JSON Schema of client manifests.
clients:infra:clients_app:List clients and show their resolved configuration.
render:infra:render:Render the Terraform variables and backend config.
plan:infra:plan:Plan the client's workspace to a saved plan.
apply:infra:apply:Plan, show, ask, then apply exactly that plan.
onboard:infra:onboard:Manifest -> Terraform workspace -> infrastructure.
build:releases:build:Build the app image; with --push, push it once.
release:releases:release:Build once, roll out, watch, verify; roll back on failure.
promote:releases:promote:Release the digest that succeeded in another env.
rollback:releases:rollback:Back to the previous good release, watched.
status:releases:status:What each client/env is serving now.
history:releases:history:The release ledger of one client/env.
unlock:releases:unlock:Force the deploy lock open (after a crashed run).
cutover:releases:cutover:Move the hostname from its old origin by Route 53 weights.
secrets:secrets:app:Set and inspect secret values (never shown).
cost:cost:cost_command:Monthly cost estimate per client/env.
doctor:doctor:doctor:Check what a release needs (OK/FAIL/SKIP).
sandbox:sandbox:app:The local AWS stand-in: up, status, env, down.
ci:ci:app:Plans for the GitHub workflows (JSON; no AWS access).
"""
COMMANDS = {
    name: (f"cosydeploy.cli.{module}", attr, text)
    for name, module, attr, text in (
        line.split(":", 3) for line in COMMAND_TABLE.strip().splitlines()
    )
}


class Group(ErrorsGroup):
    """Loads a command when it runs (errors are translated as in every group)."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(COMMANDS)

    _listing = False  # while the root help lists commands: their names and help only

    def get_command(self, ctx: Any, name: str) -> Any:
        if name not in COMMANDS:
            return None
        module, attr, text = COMMANDS[name]
        if self._listing:
            return TyperCommand(name, help=text, short_help=text)
        obj = getattr(importlib.import_module(module), attr)
        if isinstance(obj, typer.Typer):
            cmd = typer.main.get_group(obj)
        else:
            holder = typer.Typer()
            holder.command(name)(obj)
            cmd = typer.main.get_command(holder)  # type: ignore[assignment]
        cmd.name = name
        return cmd

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True  # the listing needs no command module imported or built
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    cls=Group,
    name="cosydeploy",
    help="Deploy CosyWorld to one isolated AWS stack per client, and release new versions safely.",
    no_args_is_help=True,
    epilog="Exit codes: 0 done; 1 release failed and rolled back; 2 bad input; "
    "3 failed and NOT back on a good release; 4 lock held; 130 interrupted.",
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"cosydeploy {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    project_dir: str = typer.Option(
        None,
        "--project-dir",
        envvar="COSYDEPLOY_PROJECT_DIR",
        help="Repository root holding cosydeploy.yaml (default: found by walking up from here).",
    ),
    sandbox: bool = typer.Option(
        False,
        "--sandbox",
        envvar="COSYDEPLOY_SANDBOX",
        help="Use the local sandbox instead of AWS (start it: cosydeploy sandbox up --detach).",
    ),
    output: str = typer.Option(
        "text",
        "--output",
        "-o",
        envvar="COSYDEPLOY_OUTPUT",
        help="Result format on stdout: text or json.",
        autocompletion=complete.complete_output,
    ),
    debug: bool = typer.Option(
        False,
        "--debug",
        help="Show tracebacks, Terraform's and docker build's full output, full event text "
        "and every repeated warning.",
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        envvar="COSYDEPLOY_QUIET",
        help="Print only the result and errors (no progress, tables or warnings).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """cosydeploy: manifests -> Terraform -> ECR -> ECS, watched to a verified end.

    Exit codes: 0 done; 1 release failed and rolled back; 2 bad input; 3 failed and NOT
    back on a good release; 4 lock held; 130 interrupted.
    """
    if output not in {"text", "json"}:
        raise typer.BadParameter("must be text or json", param_hint="--output")
    from cosydeploy.ui import console

    console.configure(quiet=quiet, debug=debug)
    ctx.obj = App(project_dir=project_dir, sandbox=sandbox, output=output, debug=debug)


def _terminate(signum: int, frame: object) -> None:
    # CI systems cancel with SIGTERM: leave as on Ctrl-C (lock released, ledger says interrupted).
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    try:
        app(args=argv, prog_name="cosydeploy", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
