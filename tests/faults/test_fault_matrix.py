"""Faults at chosen moments of a release, through the CLI on the sandbox: the exit code,
one line naming the first cause, no traceback, the lock free (or freed by `unlock`), the
ledger resolved on the next run, and what serves after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from faults_helpers import history, settled

pytestmark = pytest.mark.slow


def rolling_out(aws, cid: str, timeout: float = 180) -> bool:
    """True once the service's PRIMARY deployment is IN_PROGRESS (a release is watching)."""
    ecs = aws("ecs")
    deadline = time.time() + timeout
    while time.time() < deadline:
        svc = ecs.describe_services(cluster=f"cosyworld-{cid}-dev", services=["app"])
        deps = svc["services"][0]["deployments"]
        if any(d["status"] == "PRIMARY" and d["rolloutState"] == "IN_PROGRESS" for d in deps):
            return True
        time.sleep(0.3)
    return False


@pytest.fixture(scope="module")
def client(stage):
    cid = stage.onboard(stage.new_id("fault"))
    stage.release("v1", cid)
    yield cid
    stage.retire(cid)


def test_aws_unreachable_mid_watch_is_exit_3_naming_the_first_cause(
    client, sandbox, sandbox_env, transcript, aws, cosy
):
    from cosydeploy.sandbox.faults import FaultInjector

    faults: FaultInjector = sandbox.faults

    def strike() -> None:
        if rolling_out(aws, client):
            faults.add("ecs=unreachable")
            faults.add("dynamodb=unreachable")

    t = threading.Thread(target=strike, daemon=True)
    t.start()
    try:
        r = _e2e_invoke(
            sandbox_env, transcript, "release", "v2", "--client", client, "--env", "dev"
        )
    finally:
        t.join(5)
        faults.clear()
    assert r.exit_code == 3, r.output
    assert "outcome unknown" in r.stdout and "ECS describe_services" in r.stdout, r.output
    assert "unreachable" in r.stdout and "may still be in flight" in r.stdout
    assert f"hint: cosydeploy status {client} --env dev" in r.stderr
    assert "could not release the deploy lock" in r.stderr  # an extra line, not the error
    assert "Traceback" not in r.output
    # Next: the lock (its release failed) is removed; the record is reconciled from ECS.
    assert cosy("unlock", client, "--env", "dev").exit_code == 0
    settled(aws, client)
    top = history(cosy, client)[0]
    assert top["version"] == "v2" and top["outcome"] == "succeeded", top
    assert top["reconciled_at"] and "COMPLETED" in top["reconciled_how"]


def test_sigkill_mid_watch_leaves_nothing_in_progress_after_unlock(client, sandbox_env, aws, cosy):
    env = {**os.environ, **sandbox_env, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cosydeploy", "release", "v3", "--client", client, "--env", "dev"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert rolling_out(aws, client), "the release never started rolling out"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert history(cosy, client)[0]["outcome"] == "in_progress"  # its lock is still held
    assert cosy("unlock", client, "--env", "dev").exit_code == 0
    settled(aws, client)
    h = history(cosy, client)
    assert not [x for x in h if x["outcome"] == "in_progress"], h
    assert h[0]["version"] == "v3" and h[0]["reconciled_at"], h[0]
    again = cosy("release", "v3", "--client", client, "--env", "dev")
    assert again.exit_code == 0, again.output


def test_a_held_lock_fails_before_the_build(client, aws, cosy, sandbox_env):
    from cosydeploy.lock import DeployLock

    lock = DeployLock(aws("dynamodb"), client, "dev", actor="someone", operation="release v8")
    lock.acquire()
    try:
        r = cosy("release", "v-never-built", "--client", client, "--env", "dev")
    finally:
        lock.release()
    assert r.exit_code == 4, r.output
    assert f"{client}/dev is locked by someone" in r.stderr
    assert "docker build" not in r.output and "pushed" not in r.output
    ecr = aws("ecr")
    with pytest.raises(ecr.exceptions.ImageNotFoundException):
        ecr.describe_images(repositoryName="cosyworld", imageIds=[{"imageTag": "v-never-built"}])


def _e2e_invoke(sandbox_env, transcript, *args):
    """The CLI in-process with two attempts per AWS call (a lasting fault fails fast)."""
    from cosydeploy_e2e_fixtures import invoke

    return invoke({**sandbox_env, "AWS_MAX_ATTEMPTS": "2"}, transcript, args)
