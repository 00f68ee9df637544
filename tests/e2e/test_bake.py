"""The watch that does not end at "steady": verification of the version and the bake,
end to end through the sandbox.

``baking`` serves v1 with a bake of a few seconds and ``verify: {version: true}``;
each failing scenario must leave it back on v1. The crash scenario makes its bake
longer for one release (the app dies about 20 s after it became healthy).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BAKE = "6s"


def serving_version(url: str) -> str:
    with urllib.request.urlopen(f"{url}/version", timeout=5) as resp:
        return resp.read().decode().strip()


def manifest(stage, cid: str, bake: str = BAKE) -> str:
    """The sample client's manifest, with a bake and the version check in dev."""
    text = (REPO / "clients" / "example.yaml").read_text()
    text = text.replace("client: example", f"client: {cid}")
    dev = f"  dev:\n    release: {{bake: {bake}, verify: {{version: true}}}}\n"
    assert "  dev: {}\n" in text
    return text.replace("  dev: {}\n", dev)


def release(cosy, cid: str, version: str, *extra: str):
    return cosy("-o", "json", "release", version, "--client", cid, "--env", "dev", *extra)


def history(cosy, cid: str) -> list[dict]:
    r = cosy("-o", "json", "history", cid, "--env", "dev")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _client(stage, prefix: str, *versions: str) -> Iterator[str]:
    cid = stage.new_id(prefix)
    stage.onboard(cid, manifest=manifest(stage, cid))
    for version in versions:
        stage.release(version, cid)
    yield cid
    stage.retire(cid)


@pytest.fixture(scope="module")
def baking(stage) -> Iterator[str]:
    """Serves v1 (released with its bake); each failed release must end back on v1."""
    yield from _client(stage, "bake", "v1")


@pytest.fixture
def fresh_baking(stage) -> Iterator[str]:
    yield from _client(stage, "baked")


def test_a_healthy_release_bakes_and_succeeds(fresh_baking, cosy, stage) -> None:
    r = release(cosy, fresh_baking, "v1")
    assert r.exit_code == 0, r.output
    r = release(cosy, fresh_baking, "v2")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert (result["outcome"], result["strategy"], result["stage"]) == (
        "succeeded",
        "rolling",
        "baked",
    )
    assert result["bake"]["outcome"] == "baked" and result["bake"]["seconds"] == 6
    assert result["bake"]["elapsed"] >= 6, result["bake"]
    assert result["bake"]["aws_calls"]["ecs:DescribeServices"] >= 2, result["bake"]
    assert "answered v2" in result["message"], result["message"]
    assert serving_version(stage.url(fresh_baking)) == "v2"
    top = history(cosy, fresh_baking)[0]
    assert (top["version"], top["outcome"], top["strategy"], top["stage"]) == (
        "v2",
        "succeeded",
        "rolling",
        "baked",
    )


def test_a_crash_during_the_bake_rolls_back(baking, cosy, stage) -> None:
    path = stage.manifest(baking)
    original = path.read_text()
    path.write_text(manifest(stage, baking, bake="45s"))
    try:
        r = release(cosy, baking, "bake-crash", "--build-arg", "BREAK=crash-later")
    finally:
        path.write_text(original)
    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert (result["outcome"], result["stage"]) == ("rolled_back", "baking"), result
    assert result["verified"] is True  # it passed verification, then fell over
    assert result["bake"]["outcome"] == "failed"
    assert result["bake"]["kind"] in {"task_stopped", "health", "targets"}, result["bake"]
    assert 10 <= result["bake"]["elapsed"] < 45, result["bake"]
    assert "during the bake" in result["message"], result["message"]
    assert result["diagnosis"][0].startswith("seen during the bake: "), result["diagnosis"]
    assert "exit code 3" in "\n".join(result["diagnosis"]).lower(), result["diagnosis"]
    assert serving_version(stage.url(baking)) == "v1"
    records = {h["version"]: h for h in history(cosy, baking) if h["kind"] == "release"}
    crashed = records["bake-crash"]
    assert (crashed["outcome"], crashed["stage"]) == ("rolled_back", "baking")
    assert "during the bake" in crashed["rollback_reason"], crashed


def test_an_alarm_during_the_bake_rolls_back(baking, cosy, stage, aws, ledger_records) -> None:
    alarm = f"cosyworld-{baking}-dev-no-healthy-targets"
    cloudwatch = aws("cloudwatch")
    (found,) = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert found["StateValue"] == "OK"
    fired = threading.Event()

    def fire_when_baking() -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            top = ledger_records(baking)[:1]
            if top and top[0]["version"] == "bake-alarm" and top[0]["stage"] == "baking":
                cloudwatch.set_alarm_state(
                    AlarmName=alarm, StateValue="ALARM", StateReason="e2e: set during the bake"
                )
                fired.set()
                return
            time.sleep(0.2)

    setter = threading.Thread(target=fire_when_baking, daemon=True)
    setter.start()
    try:
        r = release(cosy, baking, "bake-alarm")
    finally:
        setter.join(timeout=5)
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="e2e: reset")
    assert fired.is_set(), "the release never reached the bake"
    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert (result["outcome"], result["stage"]) == ("rolled_back", "baking"), result
    assert result["bake"]["kind"] == "alarm", result["bake"]
    assert f"alarm {alarm} is in ALARM" in result["message"], result["message"]
    assert serving_version(stage.url(baking)) == "v1"
    top = next(h for h in history(cosy, baking) if h["version"] == "bake-alarm")
    assert top["outcome"] == "rolled_back" and alarm in top["rollback_reason"], top


def test_the_version_check_catches_an_app_answering_another_version(baking, cosy, stage) -> None:
    # The image of "bake-stale" says it is v0-stale: the build that went wrong.
    r = release(cosy, baking, "bake-stale", "--build-arg", "VERSION=v0-stale")
    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert (result["outcome"], result["verified"]) == ("rolled_back", False), result
    assert result["stage"] == "rollout" and not result["bake"], result
    assert "'v0-stale', not 'bake-stale'" in result["message"], result["message"]
    assert serving_version(stage.url(baking)) == "v1"
