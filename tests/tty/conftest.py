"""The CLI as a person runs it: in a real terminal (tmux, 120x40), read back from the screen.

Every other tier runs without a terminal, so none of them sees what rich's live
display, spinners and prompts do to a screen. Here each case types a command into a
tmux pane (``send-keys``), waits for it to end, and reads the pane back
(``capture-pane``), history included and wrapped lines joined, so a line longer than
the terminal shows as one long line. The sandbox and the project copy are the e2e
tier's (its conftest's fixtures, loaded from its file).

Each case's screen is written to ``tests/tty/screens/<case>.txt`` (numbers that change
from run to run masked) when ``COSYDEPLOY_UPDATE_SCREENS=1``: a text capture kept for
review, updated deliberately and read as a diff.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tmuxterm import Terminal

HERE = Path(__file__).resolve().parent

_spec = importlib.util.spec_from_file_location("e2e_conftest", HERE.parent / "e2e" / "conftest.py")
assert _spec and _spec.loader
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)
e2e_project = _e2e.e2e_project
sandbox = _e2e.sandbox
sandbox_env = _e2e.sandbox_env
transcript = _e2e.transcript
stage = _e2e.stage
onboarded = _e2e.onboarded


@pytest.fixture(scope="session")
def terminal(sandbox_env: dict[str, str], e2e_project: Path) -> Iterator[Terminal]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: scripts/services.sh up installs it")
    bindir = str(Path(sys.executable).parent)
    env = {
        **sandbox_env,
        "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "NO_COLOR": "1",
        "CHECKPOINT_DISABLE": "1",
        "HOME": os.environ.get("HOME", "/root"),
        "CI": "",
        "GITHUB_ACTIONS": "",
    }
    term = Terminal(env, e2e_project)
    yield term
    term.close()
