"""Start a sandbox in the background (``up --detach``) and stop it by its PID (``down``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cosydeploy.errors import SandboxError
from cosydeploy.sandbox.state import (
    SandboxInfo,
    default_state_file,
    load_info,
    pid_alive,
    read_info,
)


def state_path(state_file: Path | None = None) -> Path:
    """The state file: the given one, else ``default_state_file()``."""
    return Path(state_file) if state_file else default_state_file()


def start_detached(
    *,
    port: int = 0,
    region: str = "us-east-1",
    state_file: Path | None = None,
    timeout: float = 60.0,
    paper: list[str] | None = None,
    paper_fail: list[str] | None = None,
) -> SandboxInfo:
    """Run ``python -m cosydeploy.sandbox`` in the background; return once it answers.
    ``paper``/``paper_fail``: services run without containers (see paper.py)."""
    from cosydeploy.sandbox.paper import PaperRules

    rules = PaperRules.parse(paper, paper_fail)  # a bad rule fails here, not in the child
    path = state_path(state_file)
    running = load_info(path)
    if running is not None:
        raise SandboxError(
            f"a sandbox is already running (pid {running.pid}, {running.endpoint_url})",
            hint="use it, or stop it first: cosydeploy sandbox down",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()  # stale
    log_path = path.parent / "sandbox.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cosydeploy.sandbox",
                "--port",
                str(port),
                "--region",
                region,
                "--state-file",
                str(path),
                *rules.as_args(),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise SandboxError(_last_error(log_path, code), hint=f"see {log_path}")
        info = read_info(path)
        if info is not None and info.pid == proc.pid and load_info(path) is not None:
            return info
        time.sleep(0.2)
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    raise SandboxError(f"the sandbox did not answer within {timeout:.0f} s", hint=f"see {log_path}")


def _last_error(log_path: Path, code: int) -> str:
    lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln.removeprefix("error: ") for ln in lines if ln.startswith("error: ")]
    if errors:
        return errors[-1]
    return f"the sandbox exited at start (code {code})"


def stop_detached(path: Path, timeout: float = 30.0) -> int | None:
    """Stop the sandbox recorded at ``path`` by its PID; return the PID (None if none ran)."""
    info = read_info(path)
    if info is None or not pid_alive(info.pid):
        if path.exists():
            path.unlink()
        return None
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(info.pid):
            break
        time.sleep(0.2)
    else:
        raise SandboxError(
            f"the sandbox (pid {info.pid}) did not stop within {timeout:.0f} s",
            hint=f"kill {info.pid}",
        )
    if path.exists():
        path.unlink()
    return info.pid
