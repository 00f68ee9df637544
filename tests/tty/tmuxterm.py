"""A tmux pane driven like a person at a terminal, and what its final screen must hold."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

WIDTH, HEIGHT = 120, 40
SCREENS = Path(__file__).resolve().parent / "screens"


@dataclass
class Screen:
    """What the pane held when the command ended, and its exit code."""

    exit_code: int
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def count(self, pattern: str) -> int:
        return sum(bool(re.search(pattern, line)) for line in self.lines)


class Terminal:
    """One tmux server (its own socket) with one 120x40 session running bash."""

    PROMPT = "$ "

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.socket = f"cosy-tty-{uuid.uuid4().hex[:8]}"
        self.session = "cosy"
        # The tmux server (started by the first command) passes its own environment on.
        self.env = {**os.environ, **env}
        self.tmux(
            "new-session",
            "-d",
            "-s",
            self.session,
            "-x",
            str(WIDTH),
            "-y",
            str(HEIGHT),
            "-c",
            str(cwd),
            "bash --norc --noprofile",
        )
        self.tmux("set-option", "-t", self.session, "history-limit", "5000")
        self.send(f"PS1={shlex.quote(self.PROMPT)}; export TERM=xterm-256color")

    def tmux(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=False,
            env=self.env,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args[:2])}: {proc.stderr.strip()}")
        return proc.stdout

    def send(self, keys: str, *, enter: bool = True) -> None:
        self.tmux("send-keys", "-t", self.session, "-l", keys)
        if enter:
            self.tmux("send-keys", "-t", self.session, "Enter")

    def capture(self) -> list[str]:
        out = self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", self.session)
        return out.rstrip("\n").split("\n")

    def wait_for(self, pattern: str, timeout: float, *, unless: str | None = None) -> list[str]:
        """Poll the screen until a line matches ``pattern``; fail with the screen (at
        once when a line matches ``unless``, e.g. the command has ended)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.capture()
            if any(re.search(pattern, ln) for ln in lines):
                return lines
            if unless and any(re.search(unless, ln) for ln in lines):
                raise AssertionError(f"no {pattern!r} on screen:\n" + "\n".join(lines))
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {pattern!r} on screen within {timeout:.0f}s:\n" + "\n".join(lines)
                )
            time.sleep(0.3)

    def run(
        self, command: str, *, timeout: float, answers: tuple[tuple[str, str], ...] = ()
    ) -> Screen:
        """Type ``command``, answer each (prompt pattern, reply), wait for it to end."""
        self.send("clear")
        time.sleep(0.2)
        self.tmux("clear-history", "-t", self.session)
        marker = uuid.uuid4().hex[:6]
        self.send(f"{command}; echo __EXIT_{marker} $?")
        for prompt, reply in answers:
            self.wait_for(prompt, timeout, unless=rf"^__EXIT_{marker} \d+$")
            self.send(reply)
        lines = self.wait_for(rf"^__EXIT_{marker} \d+$", timeout)
        end = next(i for i, ln in enumerate(lines) if ln.startswith(f"__EXIT_{marker} "))
        code = int(lines[end].split()[1])
        # The screen between the typed command line and the exit marker.
        start = next(i for i, ln in enumerate(lines) if f"__EXIT_{marker}" in ln) + 1
        body = [ln.rstrip() for ln in lines[start:end]]
        while body and not body[-1]:
            body.pop()
        return Screen(code, body)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


_MASKS = [
    (re.compile(r"sha256:[0-9a-f]{12,64}"), "sha256:<digest>"),
    (re.compile(r"\b\d+(\.\d+)?s\b"), "<n>s"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"ecs-svc/\d+"), "ecs-svc/<id>"),
    (re.compile(r"\b[0-9a-f]{8}\b"), "<id>"),
    (re.compile(r"/\S*/project\b"), "<project>"),
]


def keep_screen(name: str, screen: Screen) -> None:
    """Write the case's screen (masked) for review when COSYDEPLOY_UPDATE_SCREENS=1."""
    if os.environ.get("COSYDEPLOY_UPDATE_SCREENS") != "1":
        return
    text = screen.text
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    SCREENS.mkdir(exist_ok=True)
    (SCREENS / f"{name}.txt").write_text(text + f"\n(exit {screen.exit_code})\n")


def assert_clean(screen: Screen) -> None:
    """What every final screen must hold: lines within the terminal, no raw ARN, no
    traceback, and the live table's header at most once."""
    from cosydeploy.ui.text import has_raw_arn

    text = screen.text
    too_long = [ln for ln in screen.lines if len(ln) > WIDTH]
    assert not too_long, f"lines longer than {WIDTH}:\n" + "\n".join(too_long) + "\n\n" + text
    assert not has_raw_arn(text), text
    assert "Traceback" not in text, text
    assert screen.count(r"^CLIENT/ENV\s+VERSION\s+ROLLOUT") <= 1, text
