"""The ``cosydeploy`` command: global options, error handling, exit codes.

Commands are thin: parse, build a context, call one function, render the result.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

from cosydeploy import __version__
from cosydeploy.errors import EXIT_INTERRUPTED, EXIT_NOT_RECOVERED, CosydeployError


@dataclass(frozen=True)
class Globals:
    """Options every command sees (flag > COSYDEPLOY_* env var > default)."""

    project_dir: str | None
    sandbox: bool
    output: str
    debug: bool

    @property
    def json(self) -> bool:
        return self.output == "json"


def report_error(exc: CosydeployError) -> None:
    from cosydeploy.ui import console, github

    console.err().print(f"error: {exc.message}", markup=False)
    if exc.hint:
        console.err().print(f"hint: {exc.hint}", markup=False)
    file = getattr(exc, "file", None)
    github.annotate_error(
        getattr(exc, "detail", exc.message), file=file, line=getattr(exc, "line", None)
    )


class Group(TyperGroup):
    """Translates every CosydeployError into one line, a hint and its exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CosydeployError as exc:
            g = ctx.obj if isinstance(ctx.obj, Globals) else None
            if (g and g.debug) or os.environ.get("COSYDEPLOY_DEBUG"):
                import traceback

                traceback.print_exc()
                output = getattr(exc, "output", "")
                if output:
                    print(output, file=sys.stderr)
            report_error(exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            print(
                "interrupted: locks released; a deployment ECS already started goes on "
                "(see cosydeploy status / history, or cosydeploy rollback)",
                file=sys.stderr,
            )
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if type(exc).__module__.split(".")[0] in {"typer", "click"}:
                raise  # exits, aborts and usage errors: the CLI framework reports those
            # A failure no adapter translated (a bug, or an AWS error nobody expected). The
            # state of a release in flight is unknown: say so, and exit 3 (needs a person).
            g = ctx.obj if isinstance(ctx.obj, Globals) else None
            if (g and g.debug) or os.environ.get("COSYDEPLOY_DEBUG"):
                import traceback

                traceback.print_exc()
            from cosydeploy.ui import console

            console.err().print(f"error: unexpected {type(exc).__name__}: {exc}", markup=False)
            console.err().print(
                "hint: if a release or rollback was running, check `cosydeploy status`; "
                "run again with --debug for the traceback",
                markup=False,
            )
            ctx.exit(EXIT_NOT_RECOVERED)


app = typer.Typer(
    cls=Group,
    name="cosydeploy",
    help="Deploy CosyWorld to one isolated AWS stack per client, and release new versions safely.",
    no_args_is_help=True,
    epilog="Exit codes: 0 done; 1 release failed and rolled back; 2 bad input; "
    "3 failed and NOT back on a good release; 4 lock held; 130 interrupted.",
    add_completion=False,
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
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks and Terraform's full output."
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
    ctx.obj = Globals(project_dir=project_dir, sandbox=sandbox, output=output, debug=debug)


def _register() -> None:
    from cosydeploy.cli import ci, cost, infra, releases, sandbox_cmd, secrets
    from cosydeploy.cli import doctor as doctor_cmd

    ci.register(app)
    infra.register(app)
    releases.register(app)
    app.add_typer(secrets.app, name="secrets")
    app.command("cost")(cost.cost_command)
    app.command("doctor")(doctor_cmd.doctor)
    sandbox_cmd.register(app)


_register()


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
