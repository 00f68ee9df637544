"""CI-native output when cosydeploy runs inside GitHub Actions.

Under ``GITHUB_ACTIONS=true`` the runner understands workflow commands written to the
log (``::group::``, ``::error file=...::``, ``::add-mask::``) and two files whose paths
it puts in the environment: ``GITHUB_STEP_SUMMARY`` (markdown shown on the run page)
and ``GITHUB_OUTPUT`` (step outputs). Every function here is a no-op returning False
outside GitHub Actions, so callers need no ``if`` of their own.

Workflow commands go to stderr: the runner reads both streams, and stdout is kept for
results (``--output json`` must stay parseable).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from cosydeploy.adapters.ci import (  # noqa: F401 - the runner's protocol, shared with the core
    _emit,
    _env,
    escape_data,
    escape_property,
    format_command,
    is_github,
    mask,
)

SUMMARY_COLUMNS = ("client", "env", "version", "outcome", "duration", "diagnosis")


@contextmanager
def group(
    title: str, *, stream: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> Iterator[bool]:
    """Fold the log lines written inside the block under ``title`` (one group per client).

    Yields True when a group was opened. Groups do not nest in the runner's log view,
    so callers open one per client and not inside another.
    """
    if not is_github(environ):
        yield False
        return
    # A title is data, not a property: only %, CR and LF need escaping.
    _emit(format_command("group", title), stream)
    try:
        yield True
    finally:
        _emit("::endgroup::", stream)


def _relative_to_workspace(file: str, environ: Mapping[str, str]) -> str:
    # Annotations attach to files by path relative to the checkout.
    workspace = environ.get("GITHUB_WORKSPACE")
    if workspace and os.path.isabs(file):
        try:
            rel = os.path.relpath(file, workspace)
        except ValueError:
            return file
        if not rel.startswith(".."):
            return rel.replace(os.sep, "/")
    return file


def _annotate(
    level: str,
    message: str,
    file: str | None,
    line: int | None,
    title: str | None,
    col: int | None,
    stream: TextIO | None,
    environ: Mapping[str, str] | None,
) -> bool:
    env = _env(environ)
    if not is_github(env):
        return False
    props: dict[str, Any] = {
        "file": _relative_to_workspace(file, env) if file else None,
        "line": line if file else None,
        "col": col if file and line else None,
        "title": title,
    }
    _emit(format_command(level, message, props), stream)
    return True


def annotate_error(
    message: str,
    file: str | None = None,
    line: int | None = None,
    title: str | None = None,
    *,
    col: int | None = None,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Write an ``::error`` annotation, attached to ``file``:``line`` when given.

    Absolute paths under ``GITHUB_WORKSPACE`` are made relative so GitHub can show the
    annotation on the file. Returns False (and writes nothing) outside GitHub Actions.
    """
    return _annotate("error", message, file, line, title, col, stream, environ)


def annotate_warning(
    message: str,
    file: str | None = None,
    line: int | None = None,
    title: str | None = None,
    *,
    col: int | None = None,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Write a ``::warning`` annotation (same rules as :func:`annotate_error`)."""
    return _annotate("warning", message, file, line, title, col, stream, environ)


def annotate_exception(
    exc: BaseException, *, stream: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Annotate a cosydeploy error: a ``ConfigError`` points at its manifest file and line.

    Reads the ``file``/``line``/``detail``/``field``/``hint`` attributes when present, so
    it needs no import of the error classes.
    """
    file = getattr(exc, "file", None)
    line = getattr(exc, "line", None)
    field = getattr(exc, "field", None)
    detail = getattr(exc, "detail", None)
    hint = getattr(exc, "hint", None)
    if file and detail is not None:
        # The location travels in the properties; the message keeps only what is wrong.
        message = f"{field}: {detail}" if field else str(detail)
    else:
        message = str(exc)
    if hint:
        message = f"{message}\nhint: {hint}"
    title = f"cosydeploy: {type(exc).__name__}"
    return annotate_error(message, file, line, title, stream=stream, environ=environ)


@dataclass(frozen=True)
class SummaryRow:
    """One row of the step summary: what happened to one client/env."""

    client: str
    env: str
    version: str | None = None
    outcome: str | None = None
    duration: float | None = None  # seconds
    diagnosis: str | None = None  # a URL (logs, ECS events, the run)


def format_duration(seconds: float | None) -> str:
    """``42s``, ``3m 05s``, ``1h 02m``; empty when unknown."""
    if seconds is None:
        return ""
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A pipe would end the cell and a newline the row.
    return " ".join(text.replace("|", "\\|").split())


def _as_row(row: SummaryRow | Mapping[str, Any]) -> SummaryRow:
    if isinstance(row, SummaryRow):
        return row
    return SummaryRow(**{key: row.get(key) for key in SUMMARY_COLUMNS})  # type: ignore[arg-type]


def summary_markdown(rows: Iterable[SummaryRow | Mapping[str, Any]], title: str | None) -> str:
    """The markdown table :func:`write_summary` appends (pure, for tests and previews)."""
    lines = []
    if title:
        lines += [f"### {_cell(title)}", ""]
    lines.append("| " + " | ".join(SUMMARY_COLUMNS) + " |")
    lines.append("|" + "---|" * len(SUMMARY_COLUMNS))
    for raw in rows:
        row = _as_row(raw)
        link = f"[diagnosis]({_cell(row.diagnosis)})" if row.diagnosis else ""
        cells = [
            _cell(row.client),
            _cell(row.env),
            _cell(row.version),
            _cell(row.outcome),
            format_duration(row.duration),
            link,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n"


def write_summary(
    rows: Iterable[SummaryRow | Mapping[str, Any]],
    *,
    title: str | None = "cosydeploy",
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Append a markdown table (client, env, version, outcome, duration, diagnosis link)
    to ``$GITHUB_STEP_SUMMARY``.

    Rows are :class:`SummaryRow` values or mappings with those keys. Returns False when
    not under GitHub Actions or when the runner gave no summary file.
    """
    env = _env(environ)
    path = env.get("GITHUB_STEP_SUMMARY")
    if not is_github(env) or not path:
        return False
    with open(path, "a", encoding="utf-8") as fh:
        # A table right under another step's paragraph would not render as a table.
        if fh.tell() > 0:
            fh.write("\n")
        fh.write(summary_markdown(rows, title))
    return True


def _output_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def format_outputs(values: Mapping[str, Any], delimiter: str | None = None) -> str:
    """The text :func:`set_outputs` appends: ``name=value`` lines, or the heredoc form
    ``name<<DELIM`` ... ``DELIM`` for values with a line break.

    The delimiter is random unless given, and never one that occurs in a value.
    """
    chunks = []
    for name, raw in values.items():
        if not name or any(ch in name for ch in "=\r\n<") or name != name.strip():
            raise ValueError(f"not a valid GitHub output name: {name!r}")
        value = _output_value(raw)
        if "\n" in value or "\r" in value:
            delim = delimiter or f"ghadelimiter_{uuid.uuid4().hex}"
            if delim in value:
                raise ValueError(f"output {name!r} contains its own delimiter")
            chunks.append(f"{name}<<{delim}\n{value}\n{delim}\n")
        else:
            chunks.append(f"{name}={value}\n")
    return "".join(chunks)


def parse_outputs(text: str) -> dict[str, str]:
    """Read ``$GITHUB_OUTPUT`` text as the runner does (``name=value`` and heredoc forms).

    The inverse of :func:`format_outputs`; a later value for a name wins.
    """
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc != -1 and (eq == -1 or heredoc < eq):
            name, delim = line[:heredoc], line[heredoc + 2 :]
            body: list[str] = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise ValueError(f"output {name!r}: no closing delimiter {delim!r}")
            i += 1
            values[name] = "\n".join(body)
        elif eq != -1:
            values[line[:eq]] = line[eq + 1 :]
        else:
            raise ValueError(f"not an output line: {line!r}")
    return values


def set_outputs(values: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> bool:
    """Append step outputs to ``$GITHUB_OUTPUT`` (None becomes "", booleans true/false).

    Returns False when not under GitHub Actions or when the runner gave no output file.
    """
    env = _env(environ)
    path = env.get("GITHUB_OUTPUT")
    if not is_github(env) or not path:
        return False
    text = format_outputs(values)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
    return True


def run_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The URL of the current workflow run (a default diagnosis link), if known."""
    env = _env(environ)
    server = env.get("GITHUB_SERVER_URL")
    repo = env.get("GITHUB_REPOSITORY")
    run_id = env.get("GITHUB_RUN_ID")
    if not (is_github(env) and server and repo and run_id):
        return None
    return f"{server}/{repo}/actions/runs/{run_id}"
