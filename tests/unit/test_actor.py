"""Who released: GITHUB_ACTOR, else git's user.name (asked once per process), else $USER."""

from __future__ import annotations

import subprocess

from cosydeploy import ledger


def test_git_is_asked_once_however_many_clients_a_run_releases(monkeypatch) -> None:
    asked: list[list[str]] = []

    def run(cmd, **kw):
        asked.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout="Ada Lovelace\n", stderr="")

    monkeypatch.setattr(ledger.subprocess, "run", run)
    ledger._git_user.cache_clear()
    try:
        names = {ledger.current_actor({"USER": "me"}) for _ in range(400)}
        assert names == {"Ada Lovelace"} and asked == [["git", "config", "user.name"]]
        assert ledger.current_actor({"GITHUB_ACTOR": "octo"}) == "octo"
    finally:
        ledger._git_user.cache_clear()


def test_without_git_the_user_is_named(monkeypatch) -> None:
    def run(cmd, **kw):
        raise FileNotFoundError("git")

    monkeypatch.setattr(ledger.subprocess, "run", run)
    ledger._git_user.cache_clear()
    try:
        assert ledger.current_actor({"USER": "me"}) == "me"
        assert ledger.current_actor({}) == "unknown"
    finally:
        ledger._git_user.cache_clear()
