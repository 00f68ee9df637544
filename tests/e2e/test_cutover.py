"""Cutover from an old home by Route 53 weights, end to end through the sandbox.

The old origin is a tiny HTTP server of the test's own (it answers the health path and
``/version`` with "old"). The client's hostname is resolved through the sandbox's
resolution by weights, so each request's answer says where it went: "old" from the
origin, the release's version from the ALB; the stand-in's own counts must agree.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator

import pytest
from http_stub import QuietHandler, serving

pytestmark = pytest.mark.slow

N = 200  # requests per step


@pytest.fixture(scope="module")
def old_origin() -> Iterator[str]:
    """The app's old home: answers the health path and /version with "old"."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            body = b"old\n" if self.path in ("/version", "/health/ready") else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as address:
        yield address


def with_origin(stage, cid: str, origin: str) -> str:
    """The sample client's manifest with an old origin in dev (its releases and cutover
    steps check /version)."""
    text = stage.write_manifest(cid).read_text()
    verify = "release: {verify: {version: true}}"
    return text.replace("  dev: {}", f'  dev: {{old_origin: "{origin}", {verify}}}')


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def where_requests_went(dns_url: str, hostname: str, n: int = N) -> tuple[Counter, dict]:
    """``n`` requests for /version through the hostname: the answers by body, and the
    stand-in's counts of the same requests by record."""
    before = json.loads(get(f"{dns_url}/_sandbox/dns")[1]).get(hostname, {})
    bodies = Counter(get(f"{dns_url}/{hostname}/version")[1] for _ in range(n))
    after = json.loads(get(f"{dns_url}/_sandbox/dns")[1]).get(hostname, {})
    counted = {sid: after.get(sid, 0) - before.get(sid, 0) for sid in after}
    return bodies, counted


def weights(aws, hostname: str) -> dict[str, int]:
    r53 = aws("route53")
    zone = r53.list_hosted_zones_by_name(DNSName="cosyworld.ai")["HostedZones"][0]["Id"]
    sets = r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {
        r["SetIdentifier"]: r["Weight"]
        for r in sets
        if r["Name"].rstrip(".") == hostname and "SetIdentifier" in r
    }


@pytest.fixture
def moving(stage, old_origin) -> Iterator[str]:
    """A client with an old origin, onboarded in dev and serving v1 (retired after)."""
    cid = stage.new_id("cut")
    stage.onboard(cid, manifest=with_origin(stage, cid, old_origin))
    stage.release("v1", cid)
    yield cid
    stage.retire(cid)


def test_cutover_10_50_100_then_back(stage, cosy, aws, sandbox, moving: str) -> None:
    cid = moving
    host, dns_url = f"{cid}-dev.cosyworld.ai", sandbox.info.dns_url

    # As applied: every request on the old origin.
    assert weights(aws, host) == {"aws": 0, "origin": 100}
    bodies, counted = where_requests_went(dns_url, host)
    assert bodies == {"old": N} and counted.get("origin") == N and counted.get("aws", 0) == 0

    r = cosy("cutover", cid, "--env", "dev", "--percent", "50", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "dry run" in r.stdout and weights(aws, host) == {"aws": 0, "origin": 100}

    # Bounds a binomial count of N=200 leaves only with odds below 1e-9.
    for percent, low, high in ((10, 1, 60), (50, 40, 160), (100, N, N)):
        r = cosy("-o", "json", "cutover", cid, "--env", "dev", "--percent", str(percent))
        assert r.exit_code == 0, r.output
        result = json.loads(r.stdout)
        assert (result["outcome"], result["percent"], result["version"]) == (
            "succeeded",
            percent,
            "v1",
        )
        assert weights(aws, host) == {"aws": percent, "origin": 100 - percent}
        bodies, counted = where_requests_went(dns_url, host)
        assert set(bodies) <= {"old", "v1"} and sum(bodies.values()) == N, bodies
        assert low <= bodies["v1"] <= high, (percent, bodies)
        assert counted.get("aws", 0) == bodies["v1"]
        assert counted.get("origin", 0) == bodies["old"]

    r = cosy("cutover", cid, "--env", "dev", "--back")
    assert r.exit_code == 0, r.output
    assert "no check first" in r.stdout
    assert weights(aws, host) == {"aws": 0, "origin": 100}
    bodies, counted = where_requests_went(dns_url, host)
    assert bodies == {"old": N} and counted.get("aws", 0) == 0

    r = cosy("-o", "json", "history", cid, "--env", "dev")
    steps = [(h["kind"], h["stage"], h["outcome"]) for h in json.loads(r.stdout)]
    assert steps[:4] == [
        ("cutover", "back", "succeeded"),
        ("cutover", "100%", "succeeded"),
        ("cutover", "50%", "succeeded"),
        ("cutover", "10%", "succeeded"),
    ]

    # The ALB stops serving v1: a step forward is refused before any weight moves.
    aws("ecs").update_service(cluster=f"cosyworld-{cid}-dev", service="app", desiredCount=0)
    deadline = time.monotonic() + 60
    while get(f"{stage.url(cid)}/health/ready")[0] == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    r = cosy("cutover", cid, "--env", "dev", "--percent", "10")
    assert r.exit_code == 2, r.output
    assert "does not serve the current release v1" in r.output and "no weight moved" in r.output
    assert "Traceback" not in r.output
    assert weights(aws, host) == {"aws": 0, "origin": 100}


def test_cutover_refused_without_an_old_origin(stage, cosy) -> None:
    cid = stage.new_id("nocut")
    stage.write_manifest(cid)
    try:
        r = cosy("cutover", cid, "--env", "dev", "--percent", "10")
    finally:
        stage.manifest(cid).unlink()
    assert r.exit_code == 2, r.output
    assert f"{cid}/dev has no old origin" in r.output and "old_origin" in r.output
    assert "Traceback" not in r.output
