"""A run's sessions: one per identity, made once, and one identity's (its STS calls, its
account guard) never waits for another's: a fleet in 20 accounts opens 20 at once."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def releaser_and_client(tmp_path):
    import shutil

    from cosydeploy.config.load import load_project
    from cosydeploy.config.targets import client_env

    shutil.copy(REPO / "cosydeploy.yaml", tmp_path / "cosydeploy.yaml")
    shutil.copytree(REPO / "clients", tmp_path / "clients")
    project = load_project(tmp_path)
    return project, client_env(project, "example", "dev")


def test_one_identitys_session_does_not_wait_for_anothers(releaser_and_client) -> None:
    from cosydeploy.release.service import Releaser

    project, c = releaser_and_client
    slow = replace(c, account_id="111111111111", role_arn="arn:aws:iam::111111111111:role/r")
    quick = replace(c, account_id="222222222222", role_arn="arn:aws:iam::222222222222:role/r")
    inside, release_slow = threading.Event(), threading.Event()
    made: list[str] = []

    def session(ce):  # the platform: the slow account's STS hangs until told
        made.append(ce.account_id)
        if ce.account_id == slow.account_id:
            inside.set()
            assert release_slow.wait(30)
        return SimpleNamespace(account=ce.account_id)

    releaser = Releaser(project, SimpleNamespace(session=session))
    got: dict[str, object] = {}

    def ask(name: str, ce) -> None:
        got[name] = releaser.session(ce)

    slow_threads = [threading.Thread(target=ask, args=(f"slow{i}", slow)) for i in range(3)]
    for t in slow_threads:
        t.start()
    assert inside.wait(30)
    quick_thread = threading.Thread(target=ask, args=("quick", quick))
    quick_thread.start()
    quick_thread.join(30)
    # The quick account's session was made while the slow one's was still being made.
    assert not quick_thread.is_alive() and not release_slow.is_set()
    assert got["quick"].account == quick.account_id  # type: ignore[attr-defined]
    release_slow.set()
    for t in slow_threads:
        t.join(30)
    # Three threads asked for the slow identity: one session, made once.
    assert made.count(slow.account_id) == 1 and made.count(quick.account_id) == 1
    assert got["slow0"] is got["slow1"] is got["slow2"]
    assert releaser.session(slow) is got["slow0"]


def test_status_raises_the_first_refused_client_in_order(releaser_and_client) -> None:
    """Sessions are made at once, but the error is that of the first client, in the
    order given, whose identity was refused (as when they were made one by one)."""
    from cosydeploy.errors import UsageError
    from cosydeploy.release.service import Releaser

    project, c = releaser_and_client
    envs = [
        replace(c, client=f"c{i}", account_id=f"{i:012d}", role_arn=f"arn:aws:iam::{i:012d}:role/r")
        for i in range(1, 7)
    ]
    refused = {envs[1].account_id, envs[4].account_id}
    release_first_refusal = threading.Event()

    def session(ce):
        if ce.account_id == envs[1].account_id:  # the earlier refusal answers last
            assert release_first_refusal.wait(30)
        if ce.account_id in refused:
            raise UsageError(f"clients/{ce.client}.yaml: aws.account_id: refused")
        if ce.account_id == envs[5].account_id:
            release_first_refusal.set()
        return SimpleNamespace(account=ce.account_id)

    releaser = Releaser(project, SimpleNamespace(session=session))
    with pytest.raises(UsageError, match=r"clients/c2\.yaml"):
        releaser.status(envs)
