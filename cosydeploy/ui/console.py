"""One console: messages, progress and tables on stderr; results on stdout.

Plain output (no colour, no live redraws) when stderr is not a terminal, under
``CI`` or ``GITHUB_ACTIONS``, or when ``NO_COLOR`` is set.

Everything printed on stderr goes through one rich ``Console`` (``err()``), the same
one the live rollout table and the progress bars draw on: rich then prints each
message above the table instead of at the cursor, which sits at the end of the
table's last line. On a terminal a message is wrapped at the terminal's width; in a
pipe or a CI log it is one line however long.

Modes, set once by the command line (``configure``):

- quiet: only results (stdout) and errors; no messages, warnings, spinners or tables.
- debug: every build line, full event text (no shortening), every repeated warning.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_err = None
_out = None
_quiet = False
_debug = False
_memory: Path | None = None
_warned: set[str] = set()
_guard = threading.Lock()


def configure(
    *, quiet: bool | None = None, debug: bool | None = None, memory: Path | None = None
) -> None:
    """Set the output mode for this process (the CLI calls this once, from its options).

    ``memory``: a file remembering warnings shown with ``warn_once(..., remember=True)``
    across runs (e.g. the project's ``.cosydeploy/warned.json``).
    """
    global _quiet, _debug, _memory
    if quiet is not None:
        _quiet = quiet
    if debug is not None:
        _debug = debug
    if memory is not None:
        _memory = memory


def is_quiet() -> bool:
    """True under ``--quiet`` (or ``COSYDEPLOY_QUIET``): results and errors only."""
    return _quiet or os.environ.get("COSYDEPLOY_QUIET", "").lower() in {"1", "true", "yes", "on"}


def is_debug() -> bool:
    """True under ``--debug`` (or ``COSYDEPLOY_DEBUG``)."""
    return _debug or bool(os.environ.get("COSYDEPLOY_DEBUG"))


def is_interactive() -> bool:
    """True when live redraws and spinners are welcome."""
    if os.environ.get("CI") or os.environ.get("GITHUB_ACTIONS") == "true":
        return False
    return _real(sys.stderr).isatty()


def _real(file: Any) -> Any:
    # While a rich Live runs, sys.stderr is its FileProxy; the console writes to the file
    # behind it (a console created on the proxy would write past the live table).
    return getattr(file, "rich_proxied_file", file)


def err():
    """The rich console on stderr (created on first use, so --help stays fast)."""
    global _err
    from rich.console import Console

    file = _real(sys.stderr)
    if _err is None or _err.file is not file:
        tty = file.isatty()
        _err = Console(
            file=file,
            no_color=bool(os.environ.get("NO_COLOR")),
            force_terminal=False if not is_interactive() else None,
            # None: ask the terminal at every render, so a resized window is followed.
            width=None if tty else int(os.environ.get("COLUMNS") or 200),
            highlight=False,
            # In a log a message is one line however long; on a terminal rich wraps it.
            soft_wrap=not tty,
        )
    return _err


def out():
    """The rich console on stdout, for human-readable results."""
    global _out
    from rich.console import Console

    file = _real(sys.stdout)
    if _out is None or _out.file is not file:
        tty = file.isatty()
        _out = Console(
            file=file,
            no_color=bool(os.environ.get("NO_COLOR")),
            force_terminal=False if not tty else None,
            # Piped results are read by people and scripts alike: do not wrap at 80.
            width=None if tty else int(os.environ.get("COLUMNS") or 200),
            highlight=False,
            soft_wrap=True,
        )
    return _out


def _say(message: str) -> None:
    # On a terminal ARNs, digests and task ids are shortened (a person reads names);
    # a log, or --debug, keeps the full text.
    c = err()
    if c.is_terminal and not is_debug():
        from cosydeploy.ui.text import shorten

        message = shorten(message)
    c.print(message, markup=False)


def info(message: str) -> None:
    """A progress message on stderr."""
    if not is_quiet():
        _say(message)


def step(message: str) -> None:
    """A step heading on stderr."""
    if not is_quiet():
        _say(f"==> {message}")


def warn(message: str) -> None:
    """A warning on stderr (not under --quiet: only results and errors there)."""
    if not is_quiet():
        _say(f"warning: {message}")


def warn_once(key: str, message: str, *, remember: bool = False) -> bool:
    """A warning shown once per cause (``key``) in this process; with ``remember`` also
    once across runs, when ``configure(memory=...)`` named a file. ``--debug`` shows
    every repeat. Returns True when it was shown."""
    with _guard:
        seen = key in _warned or (remember and key in _remembered())
        _warned.add(key)
        if remember and not seen:
            _remember(key)
    if seen and not is_debug():
        return False
    warn(message)
    return True


_MEMORY_LIMIT = 500


def _remembered() -> list[str]:
    if _memory is None:
        return []
    try:
        keys = json.loads(_memory.read_text())
    except (OSError, ValueError):
        return []
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []


def _remember(key: str) -> None:
    if _memory is None:
        return
    keys = [*[k for k in _remembered() if k != key][-(_MEMORY_LIMIT - 1) :], key]
    try:
        _memory.parent.mkdir(parents=True, exist_ok=True)
        tmp = _memory.with_name(_memory.name + ".tmp")
        tmp.write_text(json.dumps(keys, indent=0) + "\n")
        os.replace(tmp, _memory)
    except OSError:
        pass  # a warning shown twice is better than a command failing over it


def event(prefix: str, message: str) -> None:
    """A service event: shortened (ARNs, ids, digests) unless --debug; on a terminal
    cut to one line, in a log one line however long."""
    if is_quiet():
        return
    from rich.text import Text

    from cosydeploy.ui.text import shorten

    text = Text(f"{prefix}{message if is_debug() else shorten(message)}")
    c = err()
    if c.is_terminal and not is_debug():
        c.print(text, no_wrap=True, overflow="ellipsis", soft_wrap=False, crop=True)
    else:
        c.print(text)


def result(line: str) -> None:
    """A human-readable result line on stdout (shown under --quiet too): one whole line
    for scripts; on a terminal shortened (see ``_say``) and wrapped at its width,
    continuation lines indented."""
    f = _real(sys.stdout)
    if f.isatty():
        import shutil
        import textwrap

        from cosydeploy.ui.text import shorten

        if not is_debug():  # as progress lines: a person reads names, not ARNs
            line = shorten(line)
        width = shutil.get_terminal_size().columns
        line = textwrap.fill(line, width=width, subsequent_indent="  ", break_on_hyphens=False)
    f.write(line + "\n")
    f.flush()


def print_json(data: Any) -> None:
    """A JSON result on stdout: sorted keys, stable for scripts and diffs."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: list[str], rows: list[list[Any]], *, to_stdout: bool = False):
    """Print a simple table (stdout for results, stderr otherwise: not under --quiet)."""
    if not to_stdout and is_quiet():
        return
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
    if is_quiet():
        yield
    elif is_interactive():
        with err().status(message):
            yield
    else:
        info(message)
        yield


# ------------------------------------------------------------------ image build and push


def _is_step(line: str) -> bool:
    # The classic builder says "Step 2/5 : RUN ..."; BuildKit's plain output "#5 [2/3] RUN".
    return line.startswith("Step ") or (line.startswith("#") and " [" in line[:8])


class BuildProgress:
    """Receives ``docker build`` output lines (``line(text)``) and shows them as:

    - a terminal: one spinner line holding the last step, redrawn in place;
    - a log (CI, pipe): a line per step;
    - ``--debug``: every line; ``--quiet``: nothing.
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.steps = 0
        self.last = ""
        self._status: Any = None

    def line(self, text: str) -> None:
        text = text.rstrip()
        if not text:
            return
        if is_debug():
            info(f"  build: {text}")
            return
        if not _is_step(text):
            return
        self.steps += 1
        self.last = text
        if self._status is not None:
            self._status.update(self._status_text())
        else:
            info(f"  build: {text}")

    __call__ = line

    def _status_text(self) -> Any:
        from rich.text import Text

        t = Text(f"{self.title}: {self.last}" if self.last else f"{self.title} ...")
        t.no_wrap = True
        t.overflow = "ellipsis"
        return t

    def __enter__(self) -> BuildProgress:
        if is_interactive() and not is_quiet() and not is_debug():
            self._status = err().status(self._status_text())
            self._status.start()
        else:
            info(f"{self.title} ...")
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
            if exc_type is None:
                info(f"{self.title}: {self.steps} steps")


def build_progress(title: str) -> BuildProgress:
    """``with build_progress("docker build app:v2") as p: build(..., on_progress=p.line)``."""
    return BuildProgress(title)


_PUSH_DONE = ("Pushed", "Layer already exists", "Mounted from")


class PushProgress:
    """Receives push progress per layer (``p(layer, status, current, total)`` or
    ``p.update(progress)`` with a ``cosydeploy.image.PushProgress``) and shows:

    - a terminal: a progress bar per layer while it uploads, one summary line after;
    - a log: a line per layer when it is done (pushed, already there, mounted);
    - ``--quiet``: nothing.
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.layers: dict[str, str] = {}
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(
        self, layer: str, status: str, current: int | None = None, total: int | None = None
    ) -> None:
        with self._lock:
            before = self.layers.get(layer)
            self.layers[layer] = status
            if self._bars is not None:
                self._draw(layer, status, current, total)
            elif before != status and status.startswith(_PUSH_DONE):
                info(f"  push {layer[:12]}: {status}")

    def update(self, p: Any) -> None:
        """Adapter for ``cosydeploy.image.push(on_progress=...)``."""
        self(p.layer, p.status, p.current, p.total)

    def _draw(self, layer: str, status: str, current: int | None, total: int | None) -> None:
        task = self._tasks.get(layer)
        if task is None:
            task = self._bars.add_task(layer[:12], total=total or None, status=status)
            self._tasks[layer] = task
        done = status.startswith(_PUSH_DONE)
        fields: dict[str, Any] = {"status": status}
        if total:
            fields["total"] = total
        if current is not None:
            fields["completed"] = current
        if done:
            t = self._bars.tasks[self._bars.task_ids.index(task)]
            fields["total"] = t.total or 1
            fields["completed"] = t.total or 1
        self._bars.update(task, **fields)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for status in self.layers.values():
            word = next((s for s in _PUSH_DONE if status.startswith(s)), "unfinished")
            counts[word] = counts.get(word, 0) + 1
        parts = [f"{n} {word.lower()}" for word, n in sorted(counts.items())]
        return f"{self.title}: {len(self.layers)} layers ({', '.join(parts) or 'none'})"

    def __enter__(self) -> PushProgress:
        if is_interactive() and not is_quiet():
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
            )

            self._bars = Progress(
                TextColumn("  {task.description}"),
                TextColumn("{task.fields[status]}", style="dim"),
                BarColumn(bar_width=30),
                DownloadColumn(),
                console=err(),
                transient=True,
            )
            self._bars.start()
        else:
            info(f"{self.title} ...")
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
            if exc_type is None:
                info(self.summary())


def push_progress(title: str) -> PushProgress:
    """``with push_progress("push app:v2") as p: push(..., on_progress=p.update)``."""
    return PushProgress(title)
