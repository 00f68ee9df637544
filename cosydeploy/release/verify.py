"""Checks of a release once its rollout completed and its health path answered: the
version the app reports, and the manifest's smoke command.

Each check returns ``(ok, why)``; ``why`` names what was seen, for the result line, the
ledger and the diagnosis. Nothing here raises for a failing app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

Get = Callable[[str], tuple[int, str]]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """(status, first line of the body); status 0 when nothing answered (the body then
    says why)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, _first_line(resp.read(4096))
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError as exc:
        return 0, str(getattr(exc, "reason", exc))


def _first_line(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text.splitlines()[0].strip() if text else ""


def check_version(
    url: str,
    expected: str,
    *,
    needed: int = 2,
    max_tries: int = 5,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    get: Get = http_get,
) -> tuple[bool, str]:
    """GET ``url`` until it answers ``expected`` ``needed`` times in a row (at most
    ``max_tries``): the app behind the load balancer is the release, not an older one."""
    streak, last = 0, ""
    for i in range(max_tries):
        code, body = get(url)
        if code == 200 and body == expected:
            streak += 1
            if streak >= needed:
                return True, f"{url} answered {expected}"
        else:
            streak = 0
            last = f"HTTP {code} {body!r}" if code else (body or "no answer")
            if code == 200:
                last = f"{body!r}"
        if i + 1 < max_tries:
            sleep(interval)
    return False, f"{url} answered {last}, not {expected!r}"


def run_smoke(
    command: str,
    *,
    app_url: str,
    version: str,
    cwd: Path | None = None,
    timeout: float = 120.0,
    env: Mapping[str, str] | None = None,
) -> tuple[bool, str]:
    """Run the manifest's smoke command through the shell, with APP_URL and VERSION set.
    A non-zero exit or the timeout fails it; its last output lines say why."""
    environ = dict(os.environ if env is None else env)
    environ.update(APP_URL=app_url, VERSION=version)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=str(cwd) if cwd else None,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the timeout ends the command and what it started
        )
    except OSError as exc:
        return False, f"smoke command {command!r} could not start: {exc}"
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        return False, f"smoke command {command!r} did not finish within {timeout:g}s"
    took = time.monotonic() - started
    tail = [line for line in out.decode("utf-8", "replace").splitlines() if line.strip()][-3:]
    said = f": {' | '.join(tail)[:300]}" if tail else ""
    if proc.returncode != 0:
        return False, f"smoke command {command!r} exited {proc.returncode}{said}"
    return True, f"smoke command {command!r} passed in {took:.1f}s"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def verify_health(
    url: str,
    *,
    needed: int = 3,
    interval: float = 1.0,
    max_tries: int = 15,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 5.0,
) -> tuple[bool, str]:
    """GET ``url`` until it answers 200 ``needed`` times in a row (at most ``max_tries``)."""
    import urllib.error
    import urllib.request

    streak = 0
    last = ""
    for i in range(max_tries):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                code = resp.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except OSError as exc:
            code = 0
            last = str(getattr(exc, "reason", exc))
        if code == 200:
            streak += 1
            if streak >= needed:
                return True, f"{url} answered 200 {needed} times in a row"
        else:
            streak = 0
            last = f"HTTP {code}" if code else last
        if i + 1 < max_tries:
            sleep(interval)
    return False, f"{url} did not answer 200 {needed} times in a row (last: {last or 'n/a'})"
