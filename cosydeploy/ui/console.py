"""One console: messages, progress and tables on stderr; results on stdout.

Plain output (no colour, no live redraws) when stderr is not a terminal, under
``CI`` or ``GITHUB_ACTIONS``, or when ``NO_COLOR`` is set.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_err = None
_out = None


def is_interactive() -> bool:
    """True when live redraws and spinners are welcome."""
    if os.environ.get("CI") or os.environ.get("GITHUB_ACTIONS") == "true":
        return False
    return sys.stderr.isatty()


def err():
    """The rich console on stderr (created on first use, so --help stays fast)."""
    global _err
    from rich.console import Console

    if _err is None or _err.file is not sys.stderr:
        _err = Console(
            file=sys.stderr,
            no_color=bool(os.environ.get("NO_COLOR")),
            force_terminal=False if not is_interactive() else None,
            width=None if sys.stderr.isatty() else int(os.environ.get("COLUMNS") or 200),
            highlight=False,
            soft_wrap=True,
        )
    return _err


def out():
    """The rich console on stdout, for human-readable results."""
    global _out
    from rich.console import Console

    if _out is None or _out.file is not sys.stdout:
        tty = sys.stdout.isatty()
        _out = Console(
            file=sys.stdout,
            no_color=bool(os.environ.get("NO_COLOR")),
            force_terminal=False if not tty else None,
            # Piped results are read by people and scripts alike: do not wrap at 80.
            width=None if tty else int(os.environ.get("COLUMNS") or 200),
            highlight=False,
            soft_wrap=True,
        )
    return _out


def info(message: str) -> None:
    """A progress message on stderr."""
    err().print(message, markup=False)


def step(message: str) -> None:
    """A step heading on stderr."""
    err().print(f"==> {message}", markup=False)


def warn(message: str) -> None:
    err().print(f"warning: {message}", markup=False)


def print_json(data: Any) -> None:
    """A JSON result on stdout: sorted keys, stable for scripts and diffs."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: list[str], rows: list[list[Any]], *, to_stdout: bool = False):
    """Print a simple table (stdout for results, stderr otherwise)."""
    from rich.table import Table

    t = Table(title=title, show_lines=False, box=None, pad_edge=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    (out() if to_stdout else err()).print(t)


@contextmanager
def progress(message: str) -> Iterator[None]:
    """A long step: a spinner on a terminal, one plain line otherwise (CI, pipes)."""
    if is_interactive():
        with err().status(message):
            yield
    else:
        info(message)
        yield
