"""Blue/green, canary and linear releases end to end: ECS (the sandbox's) runs the
strategy, cosydeploy verifies the new version on the test listener before production
traffic reaches it, bakes, and rolls back through ECS.

Each strategy has a client of its own serving v1 (module fixture); every failing
scenario must leave it serving v1. The sandbox counts an ECS "minute" as
``SANDBOX_MINUTE`` seconds (conftest), so bakes of minutes take seconds here.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

RELEASE_BLOCKS = {
    "blue_green": "{strategy: blue_green, bake: 1m, verify: {version: true}}",
    "canary": "{strategy: canary, bake: 1m, canary: {percent: 20, bake: 1m}, verify: {version: true}}",
    "linear": "{strategy: linear, bake: 1m, linear: {step: 50, bake: 1m}, verify: {version: true}}",
}


def manifest(cid: str, block: str) -> str:
    text = (REPO / "clients" / "example.yaml").read_text()
    text = text.replace("client: example", f"client: {cid}")
    assert "  dev: {}\n" in text
    return text.replace("  dev: {}\n", f"  dev:\n    release: {block}\n")


def version_of(url: str) -> str:
    try:
        with urllib.request.urlopen(f"{url}/version", timeout=5) as resp:
            return resp.read().decode().strip()
    except (urllib.error.URLError, OSError) as exc:
        return f"error: {exc}"


class ProductionProbe:
    """Asks the production URL for /version all through a release: what answered."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.answers.append(version_of(self.url))
            self._stop.wait(0.1)

    def __enter__(self) -> ProductionProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def release(cosy, cid: str, version: str, *extra: str):
    return cosy("-o", "json", "release", version, "--client", cid, "--env", "dev", *extra)


def history(cosy, cid: str) -> list[dict]:
    r = cosy("-o", "json", "history", cid, "--env", "dev")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture(scope="module", params=sorted(RELEASE_BLOCKS))
def shifting(request, stage) -> Iterator[tuple[str, str]]:
    """(strategy, client) serving v1, released with that strategy."""
    strategy = request.param
    cid = stage.new_id(strategy.replace("_", "")[:6])
    stage.onboard(cid, manifest=manifest(cid, RELEASE_BLOCKS[strategy]))
    stage.release("v1", cid)
    yield strategy, cid
    stage.retire(cid)


def test_a_healthy_release_shifts_all_traffic(shifting, cosy, stage, aws) -> None:
    strategy, cid = shifting
    url = stage.url(cid)
    assert version_of(url) == "v1"
    with ProductionProbe(url) as probe:
        r = release(cosy, cid, f"{strategy}-v2")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert (result["outcome"], result["strategy"], result["stage"]) == (
        "succeeded",
        strategy,
        "baked",
    ), result
    assert result["verified"] is True
    assert "test listener" not in result["message"] or "answered" in result["message"]
    assert result["traffic"].startswith("prod 100%"), result["traffic"]
    # Production moved from v1 to the new version, nothing else answered.
    assert set(probe.answers) <= {"v1", f"{strategy}-v2"}, set(probe.answers)
    assert probe.answers[0] == "v1" and probe.answers[-1] == f"{strategy}-v2"
    assert version_of(url) == f"{strategy}-v2"
    # The pause hook was cosydeploy's for that deployment only: off the service again.
    svc = aws("ecs").describe_services(cluster=f"cosyworld-{cid}-dev", services=["app"])
    config = svc["services"][0]["deploymentConfiguration"]
    assert config["strategy"] == strategy.upper()
    assert not [h for h in config.get("lifecycleHooks") or [] if h["targetType"] == "PAUSE"]
    top = history(cosy, cid)[0]
    assert (top["version"], top["outcome"], top["strategy"], top["stage"]) == (
        f"{strategy}-v2",
        "succeeded",
        strategy,
        "baked",
    )
    # Back to v1 for the other scenarios: a rollback goes the same way, verified on the
    # test listener first.
    r = cosy("-o", "json", "rollback", cid, "--env", "dev")
    assert r.exit_code == 0, r.output
    back = json.loads(r.stdout)
    assert (back["kind"], back["version"], back["outcome"]) == ("rollback", "v1", "succeeded")
    assert "_test/" in back["message"], back["message"]
    assert version_of(url) == "v1"


def test_green_failing_verification_never_gets_production_traffic(shifting, cosy, stage) -> None:
    strategy, cid = shifting
    url = stage.url(cid)
    # The image of this release says it is v0-stale: the build that went wrong.
    with ProductionProbe(url) as probe:
        r = release(cosy, cid, f"{strategy}-stale", "--build-arg", "VERSION=v0-stale")
    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert (result["outcome"], result["verified"], result["stage"]) == (
        "rolled_back",
        False,
        "test traffic",
    ), result
    assert "'v0-stale', not" in result["message"], result["message"]
    assert "test listener" in result["message"], result["message"]
    assert result["diagnosis"][0].startswith("production traffic never reached it"), result
    # Not one production request was answered by the new version.
    assert probe.answers and "v0-stale" not in probe.answers, probe.answers
    assert set(probe.answers) == {"v1"}, set(probe.answers)
    top = next(h for h in history(cosy, cid) if h["version"] == f"{strategy}-stale")
    assert top["outcome"] == "rolled_back" and "test listener" in top["rollback_reason"], top


def test_a_crash_in_the_bake_goes_back_to_the_previous_version(shifting, cosy, stage) -> None:
    strategy, cid = shifting
    path = stage.manifest(cid)
    original = path.read_text()
    # A bake long enough for the app to die in it (about 20 s after it became healthy).
    path.write_text(manifest(cid, RELEASE_BLOCKS[strategy].replace("bake: 1m,", "bake: 6m,", 1)))
    try:
        stage.cli("apply", cid, "--env", "dev", "--yes")  # ECS's bake is the stack's
        r = release(cosy, cid, f"{strategy}-crash", "--build-arg", "BREAK=crash-later")
    finally:
        path.write_text(original)
        stage.cli("apply", cid, "--env", "dev", "--yes")
    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert (result["outcome"], result["verified"]) == ("rolled_back", True), result
    assert result["stage"] in ("production", "baking"), result
    assert result["diagnosis"][0].startswith("seen with production traffic on it"), result
    assert version_of(stage.url(cid)) == "v1"


def test_an_alarm_in_the_bake_is_rolled_back_by_ecs(
    shifting, cosy, stage, aws, ledger_records
) -> None:
    strategy, cid = shifting
    alarm = f"cosyworld-{cid}-dev-no-healthy-targets"
    cloudwatch = aws("cloudwatch")
    fired = threading.Event()

    def fire_when_baking() -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            top = ledger_records(cid)[:1]
            if top and top[0]["version"] == f"{strategy}-alarm" and top[0]["stage"] == "baking":
                cloudwatch.set_alarm_state(
                    AlarmName=alarm, StateValue="ALARM", StateReason="e2e: set during the bake"
                )
                fired.set()
                return
            time.sleep(0.2)

    setter = threading.Thread(target=fire_when_baking, daemon=True)
    setter.start()
    try:
        r = release(cosy, cid, f"{strategy}-alarm")
    finally:
        setter.join(timeout=5)
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="e2e: reset")
    assert fired.is_set(), "the release never reached the bake"
    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert (result["outcome"], result["stage"]) == ("rolled_back", "baking"), result
    assert alarm in result["message"], result["message"]
    assert version_of(stage.url(cid)) == "v1"
