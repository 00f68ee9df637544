"""SIGKILL of a release at seeded random moments: after each kill, ``unlock`` (the one
manual step) and the next ``release`` of a good version succeeds, and ``history`` has no
record left in_progress.

A run first times one release left alone (D seconds from the process's start: imports,
preflight, image, lock, register, roll-out, verify, ledger), then makes COSY_KILLS kills
(default 6, to keep the tier bounded; COSY_KILLS=20 for the twenty) at moments drawn
uniformly from (0.2 s, D) with COSY_KILL_SEED (default: a new seed each run, so successive
runs cover other moments). The seed, D and every moment are printed (``-s``, or a
failure's report): COSY_KILL_SEED=<seed> replays the draws (the moments scale with D).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.slow

GOOD = ("k1", "k2")
CLI = (sys.executable, "-m", "cosydeploy")


def history(cosy, cid: str) -> list[dict]:
    r = cosy("-o", "json", "history", cid, "--env", "dev")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def client(stage):
    cid = stage.onboard(stage.new_id("kill"))
    stage.release(GOOD[0], cid)
    stage.release(GOOD[1], cid)
    yield cid
    stage.retire(cid)


def test_sigkill_at_random_moments(client, sandbox_env, cosy, stage):
    kills = int(os.environ.get("COSY_KILLS", "6"))
    seed = int(os.environ.get("COSY_KILL_SEED") or random.SystemRandom().randrange(10**6))
    env = {**os.environ, **sandbox_env, "NO_COLOR": "1"}
    t0 = time.monotonic()
    alone = subprocess.run(
        [*CLI, "release", GOOD[0], "--client", client, "--env", "dev"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert alone.returncode == 0, alone.stdout + alone.stderr
    whole = time.monotonic() - t0
    rng = random.Random(seed)
    moments = [round(rng.uniform(0.2, whole), 2) for _ in range(kills)]
    print(f"\nCOSY_KILL_SEED={seed} COSY_KILLS={kills} D={whole:.1f}s moments={moments}")
    log = []
    for i, at in enumerate(moments):
        version = GOOD[(i + 1) % 2]  # the other one: every kill meets a real roll-out
        proc = subprocess.Popen(
            [*CLI, "release", version, "--client", client, "--env", "dev"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(at)
            finished = proc.poll() is not None
            if not finished:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        log.append(f"kill {i + 1} at {at}s: {'ended before' if finished else 'killed'}")
        print(log[-1])
        context = f"COSY_KILL_SEED={seed}, {log[-1]}"
        assert cosy("unlock", client, "--env", "dev").exit_code == 0, context
        again = cosy("release", version, "--client", client, "--env", "dev")
        assert again.exit_code == 0, f"{context}\n{again.output}"
        h = history(cosy, client)
        assert not [x for x in h if x["outcome"] == "in_progress"], f"{context}\n{h}"
        served = serving_soon(stage.url(client), version)
        assert served == version, f"{context}: the app URL serves {served}"


def serving_soon(url: str, version: str, within: float = 10.0) -> str:
    """What the app URL serves, given a few seconds to stop routing to a task that is
    draining (the last answer if it never says ``version``)."""
    deadline = time.monotonic() + within
    while True:
        with urllib.request.urlopen(f"{url}/version", timeout=5) as resp:
            got = resp.read().decode().strip()
        if got == version or time.monotonic() > deadline:
            return got
        time.sleep(0.5)
