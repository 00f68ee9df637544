"""A fleet release while the sandbox throttles DescribeServices above a rate, as AWS
throttles an account: throttles are waited out (the SDK's adaptive retries, the poller's
token bucket and backoff), never taken for a verdict. Every client ends in its true
state, and the fault's own counter proves it refused calls.

The pace, from both ends: the run's own count of its reads (the line it prints for each
account) stays within its token bucket, and the sandbox, counting every request that
arrived (the SDK's retries included), saw no second with more DescribeServices calls
than ECS's documented sustained rate for service reads."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from cosydeploy.sandbox.faults import clear_rules, post_rules

pytestmark = pytest.mark.slow

RULE = "ecs=throttle,rate=2,action=DescribeServices"
ECS_SERVICE_READS_PER_SECOND = 20  # docs/ARCHITECTURE.md, "Polling at AWS's pace"
PACE = re.compile(
    r"AWS reads in (\d{12})/([\w-]+): (\d+) for (\d+) client/env\(s\) in [\d.]+ min, "
    r"([\d.]+) a client a minute; at most (\d+) in any second \(bound (\d+)\); (.*)"
)


def serving_version(url: str) -> str:
    with urllib.request.urlopen(f"{url}/version", timeout=5) as resp:
        return resp.read().decode().strip()


def rules(endpoint: str) -> list[dict]:
    with urllib.request.urlopen(f"{endpoint}/_sandbox/faults", timeout=10) as resp:
        return json.loads(resp.read())["rules"]


@pytest.fixture
def fleet(stage):
    """Three clients onboarded in dev, all serving t0."""
    clients = tuple(stage.new_id("thr") for _ in range(3))
    for cid in clients:
        stage.onboard(cid)
    stage.release("t0", *clients)
    yield clients
    stage.retire(*clients)


def test_a_throttled_fleet_release_ends_every_client_in_its_true_state(
    fleet, stage, cosy, sandbox_env
):
    from cosydeploy_e2e_fixtures import example_manifest

    good1, broken, good2 = fleet
    crashing = example_manifest(broken).replace(
        "    LOG_LEVEL: info\n", '    LOG_LEVEL: info\n    CRASH_ON_START: "1"\n'
    )
    assert "CRASH_ON_START" in crashing
    stage.write_manifest(broken, crashing)
    endpoint = sandbox_env["AWS_ENDPOINT_URL"]
    clear_rules(endpoint)
    post_rules(endpoint, RULE)
    try:
        args = ["-o", "json", "release", "t1", "--env", "dev", "--parallel", "3"]
        for cid in fleet:
            args += ["--client", cid]
        r = cosy(*args)
        (rule,) = rules(endpoint)
    finally:
        clear_rules(endpoint)
    assert rule["action"] == "DescribeServices" and rule["rate"] == 2
    assert rule["struck"] > 0, f"the fault refused nothing: {rule}"  # not vacuous
    assert rule["peak_per_second"] <= ECS_SERVICE_READS_PER_SECOND, rule
    (pace,) = [m.groups() for m in map(PACE.match, r.stderr.splitlines()) if m]
    _, _, reads, clients, per_minute, peak, bound, throttled = pace
    assert int(clients) == 3 and int(reads) >= 3 * 2, pace  # each seen done, its targets read
    assert 0 < int(peak) <= int(bound) == 10, pace  # ecs_reads_per_second 5, burst 5
    assert float(per_minute) > 0, pace
    # The sandbox saw at least the reads the run counted (and the SDK's retries beside).
    assert rule["seen"] >= 3, rule
    # Every throttled attempt is in the line: the ones the SDK's retries got through
    # too, which the run would otherwise never see (the sandbox struck them all).
    m = re.match(r"(\d+) attempt\(s\) throttled by AWS", throttled)
    assert m and int(m[1]) == rule["struck"], (pace, rule)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and "unexpected" not in r.output
    by = {x["client"]: x for x in json.loads(r.stdout)}
    assert {c: x["outcome"] for c, x in by.items()} == {
        good1: "succeeded",
        broken: "rolled_back",
        good2: "succeeded",
    }, r.output
    assert "throttled" not in by[broken]["message"], by[broken]["message"]
    for cid in (good1, good2):
        assert serving_version(stage.url(cid)) == "t1", cid
    assert serving_version(stage.url(broken)) == "t0"
    for cid in fleet:
        h = cosy("-o", "json", "history", cid, "--env", "dev")
        assert h.exit_code == 0, h.output
        assert not [x for x in json.loads(h.stdout) if x["outcome"] == "in_progress"], cid
