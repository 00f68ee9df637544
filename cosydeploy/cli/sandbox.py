"""`cosydeploy sandbox up|status|down|env`: the offline stand-in for AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cosydeploy.cli.app import ErrorsGroup
from cosydeploy.sandbox.paper import PAPER_FAIL_HELP, PAPER_HELP
from cosydeploy.ui.views import sandbox_env, sandbox_table

app = typer.Typer(
    cls=ErrorsGroup,
    help="The sandbox: moto, a registry and a rollout driver on loopback.",
    no_args_is_help=True,
)

StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-file",
        help="Where the running sandbox is recorded (env COSYDEPLOY_SANDBOX_STATE; "
        "default: .cosydeploy/sandbox/state.json in the project).",
    ),
]


def _state(ctx: typer.Context, state_file: Path | None) -> Path:
    """--state-file > $COSYDEPLOY_SANDBOX_STATE > --project-dir > cosydeploy.yaml upwards > cwd."""
    import os

    from cosydeploy.sandbox.state import STATE_ENV, default_state_file

    if state_file:
        return state_file
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV])
    root = ctx.find_root()
    project_dir = getattr(root.obj, "project_dir", None) if root.obj is not None else None
    if project_dir:
        return Path(project_dir) / ".cosydeploy" / "sandbox" / "state.json"
    return default_state_file()


@app.command()
def up(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port of the AWS endpoint (0 = a free one).")] = 0,
    detach: Annotated[bool, typer.Option(help="Run in the background and return.")] = False,
    region: Annotated[str, typer.Option(help="The sandbox's AWS region.")] = "us-east-1",
    state_file: StateOpt = None,
    paper: Annotated[list[str] | None, typer.Option(help=PAPER_HELP)] = None,
    paper_fail: Annotated[list[str] | None, typer.Option(help=PAPER_FAIL_HELP)] = None,
) -> None:
    """Start the sandbox (in the foreground until Ctrl-C, or --detach)."""
    from cosydeploy.sandbox import runner
    from cosydeploy.ui import console

    opts: dict[str, Any] = dict(port=port, region=region, paper=paper, paper_fail=paper_fail)
    if detach:
        info = runner.start_detached(state_file=_state(ctx, state_file), **opts)
        console.info(
            f"sandbox running in the background (pid {info.pid}); stop it with "
            "`cosydeploy sandbox down`"
        )
        sandbox_table(info)
        sandbox_env(info)
        return
    from cosydeploy.sandbox.server import Sandbox

    box = Sandbox(state_file=state_file or runner.state_path(), **opts)
    info = box.start()
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    console.info("sandbox up; Ctrl-C stops it")
    sandbox_table(info)
    sandbox_env(info)
    try:
        while not box.wait(1.0):
            pass
    except KeyboardInterrupt:
        console.info("stopping the sandbox")
    finally:
        box.stop()


@app.command()
def status(ctx: typer.Context, state_file: StateOpt = None) -> None:
    """Show the running sandbox (exit 2 when none is running)."""
    from cosydeploy.sandbox.state import load_info
    from cosydeploy.ui import console

    info = load_info(_state(ctx, state_file), strict=True)
    assert info is not None
    console.print_json(info.as_dict())


@app.command()
def env(ctx: typer.Context, state_file: StateOpt = None) -> None:
    """Print `export K=V` lines pointing AWS SDKs and cosydeploy at the running sandbox."""
    from cosydeploy.sandbox.state import load_info

    info = load_info(_state(ctx, state_file), strict=True)
    assert info is not None
    sandbox_env(info)


@app.command()
def down(ctx: typer.Context, state_file: StateOpt = None) -> None:
    """Stop a detached sandbox (by the PID in its state file)."""
    from cosydeploy.sandbox import runner
    from cosydeploy.ui import console

    pid = runner.stop_detached(_state(ctx, state_file))
    console.info(f"sandbox stopped (pid {pid})" if pid else "no sandbox was running")
