"""A cancelled release.yml run under act: the runner's signals reach cosydeploy through
action.yml, which releases its deploy lock and records the release as interrupted."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest import APP_REPO, GITHUB_REPO, admin, git
from test_release_workflow import releases

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

VERSION = "v1.0.7"


def children(pid: int) -> list[int]:
    """Every process descended from pid (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def the_release_shell(act_pid: int, client: str) -> tuple[int, int]:
    """(the step's shell, cosydeploy) of the job releasing `client`, under act."""
    for pid in children(act_pid):
        args = cmdline(pid)
        if any(a.endswith("/cosydeploy") for a in args) and "release" in args and client in args:
            return parent(pid), pid
    raise LookupError(f"no cosydeploy release of {client} under act ({act_pid})")


def test_a_cancelled_run_leaves_no_lock_held(act, sandbox, repos):
    from cosydeploy.lock import lock_id

    for repo in (repos["project"], repos["app"]):
        git(repo, "tag", VERSION)
    ddb = admin(sandbox, "dynamodb")
    key = {"lock_id": {"S": lock_id("acme", "dev")}}
    # Each DescribeServices answered 2 s late: the rollout's watch lasts long enough for
    # the cancel to land while it is under way (not after it settled).
    sandbox.faults.add("ecs=latency,action=DescribeServices,seconds=2")
    proc = act.start(
        "push",
        "release.yml",
        {"ref": f"refs/tags/{VERSION}", "repository": {"full_name": GITHUB_REPO}},
        {"COSYDEPLOY_APP_REPOSITORY": APP_REPO, "COSYDEPLOY_RELEASE_CLIENTS": "acme"},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        # Until acme's dev leg holds the lock with its release under way.
        deadline = time.monotonic() + 600
        while True:
            assert proc.poll() is None, "".join(lines)[-6000:]
            assert time.monotonic() < deadline, "".join(lines)[-6000:]
            held = ddb.get_item(TableName="cosyworld-deploy-locks", Key=key, ConsistentRead=True)
            running = [r for r in releases(sandbox, "acme", "dev") if r.get("version") == VERSION]
            if "Item" in held and [r["outcome"] for r in running] == ["in_progress"]:
                break
            time.sleep(0.2)
        shell, cosy = the_release_shell(proc.pid, "acme")
        assert "bash" in os.path.basename(cmdline(shell)[0]), cmdline(shell)
        # As the runner cancels a job: SIGINT to the step's shell, SIGTERM 7.5 s later
        # when it is still there.
        os.kill(shell, signal.SIGINT)
        deadline = time.monotonic() + 7.5
        while alive(shell) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(shell):
            os.kill(shell, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while (alive(cosy) or alive(shell)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(cosy), "cosydeploy ran on after the job's shell was signalled"
        proc.wait(timeout=300)
    finally:
        sandbox.faults.clear()
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        reader.join(timeout=10)
    log = "".join(lines)
    assert proc.returncode != 0, log[-6000:]
    held = ddb.get_item(TableName="cosyworld-deploy-locks", Key=key, ConsistentRead=True)
    assert "Item" not in held, (held["Item"], log[-8000:])
    done = [r for r in releases(sandbox, "acme", "dev") if r.get("version") == VERSION]
    assert [r["outcome"] for r in done] == ["interrupted"], (done, log[-8000:])
    # acme's later environments never started.
    for env in ("staging", "prod"):
        assert [r for r in releases(sandbox, "acme", env) if r.get("version") == VERSION] == []
