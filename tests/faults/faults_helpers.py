"""What the fault scenarios share: a client/env's history, and waiting until its service settled."""

from __future__ import annotations

import json
import time

import pytest


def history(cosy, cid: str) -> list[dict]:
    r = cosy("-o", "json", "history", cid, "--env", "dev")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def settled(aws, cid: str, timeout: float = 120) -> None:
    ecs = aws("ecs")
    deadline = time.time() + timeout
    while time.time() < deadline:
        deps = ecs.describe_services(cluster=f"cosyworld-{cid}-dev", services=["app"])["services"][
            0
        ]["deployments"]
        if len(deps) == 1 and deps[0]["rolloutState"] == "COMPLETED":
            return
        time.sleep(0.5)
    pytest.fail(f"{cid} never settled")
