"""The GitHub Actions runner's log protocol (workflow commands), for what must reach it
from anywhere: a secret to mask is announced before anything can log it."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def is_github(environ: Mapping[str, str] | None = None) -> bool:
    """True when running inside a GitHub Actions job (``GITHUB_ACTIONS=true``)."""
    return _env(environ).get("GITHUB_ACTIONS") == "true"


def escape_data(value: str) -> str:
    """Escape the message part of a workflow command (``%``, CR and LF)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a property value of a workflow command (also ``:`` and ``,``)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def format_command(
    name: str, message: str = "", properties: Mapping[str, Any] | None = None
) -> str:
    """One workflow command line, without the newline: ``::name k=v,k=v::message``.

    Properties whose value is None are left out; the rest are escaped.
    """
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in (properties or {}).items()
        if value is not None
    )
    head = f"{name} {props}" if props else name
    return f"::{head}::{escape_data(message)}"


def _emit(line: str, stream: TextIO | None) -> None:
    target = sys.stderr if stream is None else stream
    target.write(line + "\n")
    target.flush()


def mask(
    value: str | None, *, stream: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Ask the runner to redact ``value`` from every later log line (``::add-mask::``).

    A multi-line value is masked line by line, since the runner matches log lines.
    Empty values are skipped. Returns False outside GitHub Actions or when nothing
    was masked.
    """
    if not is_github(environ) or not value:
        return False
    lines = [part for part in value.splitlines() if part.strip()]
    for part in lines:
        _emit(format_command("add-mask", part), stream)
    return bool(lines)
