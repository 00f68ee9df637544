"""Releases that tell the truth, end to end through the sandbox.

Each scenario starts from a client of its own, onboarded in dev and serving the
release(s) it needs. Scenarios that leave the client as they found it (and assert so)
share one client per module: ``steady`` serves v1, ``on_v2`` serves v2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def serving_version(url: str) -> str:
    """What the app behind the load balancer says it is (the truth a user sees)."""
    with urllib.request.urlopen(f"{url}/version", timeout=5) as resp:
        return resp.read().decode().strip()


def status_row(cosy, cid: str) -> dict:
    r = cosy("-o", "json", "status", cid, "--env", "dev")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert len(rows) == 1
    return rows[0]


def history(cosy, cid: str) -> list[dict]:
    r = cosy("-o", "json", "history", cid, "--env", "dev")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def release(cosy, cid: str, version: str, *extra: str):
    return cosy("-o", "json", "release", version, "--client", cid, "--env", "dev", *extra)


def _client(stage, prefix: str, *versions: str) -> Iterator[str]:
    cid = stage.onboard(stage.new_id(prefix))
    for version in versions:
        stage.release(version, cid)
    yield cid
    stage.retire(cid)


@pytest.fixture(scope="module")
def steady(stage) -> Iterator[str]:
    """Serves v1; the scenarios using it change nothing."""
    yield from _client(stage, "steady", "v1")


@pytest.fixture(scope="module")
def on_v2(stage) -> Iterator[str]:
    """Serves v2; each failed release using it must end back on v2."""
    yield from _client(stage, "back", "v2")


@pytest.fixture
def fresh(stage) -> Iterator[str]:
    """Onboarded, never released."""
    yield from _client(stage, "fresh")


@pytest.fixture
def on_v1(stage) -> Iterator[str]:
    yield from _client(stage, "second", "v1")


@pytest.fixture
def locked(stage) -> Iterator[str]:
    yield from _client(stage, "lock", "v2")


@pytest.fixture
def good_twice(stage) -> Iterator[str]:
    """v1, then v2: two good releases to go back to."""
    yield from _client(stage, "back", "v1", "v2")


def test_onboard_gives_an_app_url(steady, cosy) -> None:
    r = cosy("-o", "json", "onboard", steady, "--env", "dev", "--yes")
    assert r.exit_code == 0, r.output
    (result,) = json.loads(r.stdout)
    assert result["changed"] is False  # the second onboard changes nothing
    assert result["outputs"]["app_url"].endswith(f"/{steady}-dev")


def test_healthy_release(fresh, cosy, stage) -> None:
    r = release(cosy, fresh, "v1")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["outcome"] == "succeeded"
    assert result["verified"] is True
    assert result["digest"].startswith("sha256:")
    assert serving_version(stage.url(fresh)) == "v1"
    row = status_row(cosy, fresh)
    assert (row["version"], row["running"], row["desired"], row["rollout"]) == (
        "v1",
        2,
        2,
        "COMPLETED",
    )
    assert history(cosy, fresh)[0]["outcome"] == "succeeded"


def test_release_of_the_serving_version_changes_nothing(steady, cosy) -> None:
    before = status_row(cosy, steady)["revision"]
    r = release(cosy, steady, "v1")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["outcome"] == "noop"
    assert status_row(cosy, steady)["revision"] == before


def test_dry_run_shows_the_diff_and_changes_nothing(steady, cosy, stage) -> None:
    before = status_row(cosy, steady)["revision"]
    r = release(cosy, steady, "v2", "--dry-run")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["outcome"] == "dry_run"
    assert any("image" in line for line in result["diff"]), result["diff"]
    assert status_row(cosy, steady)["revision"] == before
    assert serving_version(stage.url(steady)) == "v1"


def test_second_release(on_v1, cosy, stage) -> None:
    r = release(cosy, on_v1, "v2")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["outcome"] == "succeeded"
    assert serving_version(stage.url(on_v1)) == "v2"


def test_crash_on_start_is_rolled_back_with_diagnosis(on_v2, cosy, stage) -> None:
    r = release(cosy, on_v2, "v3", "--build-arg", "BREAK=crash")
    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert result["outcome"] == "rolled_back"
    diagnosis = "\n".join(result["diagnosis"])
    assert "exit code 3" in diagnosis.lower() or "exitcode 3" in diagnosis.lower(), diagnosis
    assert "Traceback" not in r.output
    assert serving_version(stage.url(on_v2)) == "v2"
    assert status_row(cosy, on_v2)["version"] == "v2"
    latest = [h for h in history(cosy, on_v2) if h["version"] == "v3"]
    assert latest and latest[0]["outcome"] == "rolled_back"
    assert latest[0]["diagnosis"], "the diagnosis is kept in the ledger"


def test_health_never_ready_is_rolled_back(on_v2, cosy, stage) -> None:
    r = release(cosy, on_v2, "v4", "--build-arg", "BREAK=unhealthy")
    assert r.exit_code == 1, r.output
    assert json.loads(r.stdout)["outcome"] == "rolled_back"
    assert serving_version(stage.url(on_v2)) == "v2"


def test_deadline_passed_means_our_own_rollback(on_v2, cosy, stage) -> None:
    r = release(cosy, on_v2, "v5", "--build-arg", "BREAK=slow", "--timeout", "3")
    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert result["outcome"] == "rolled_back"
    assert (
        "deadline" in (result["message"] + r.stderr).lower()
        or "timed out" in (result["message"] + r.stderr).lower()
    )
    assert serving_version(stage.url(on_v2)) == "v2"


def test_missing_secret_refuses_before_any_change(steady, cosy, e2e_project: Path) -> None:
    manifest = e2e_project / "clients" / f"{steady}.yaml"
    original = manifest.read_text()
    manifest.write_text(
        original.replace(
            "secrets: [TELEGRAM_BOT_TOKEN]", "secrets: [TELEGRAM_BOT_TOKEN, SLACK_TOKEN]"
        )
    )
    try:
        before = status_row(cosy, steady)["revision"]
        r = release(cosy, steady, "v2")
        assert r.exit_code == 2, r.output
        first = r.stderr.splitlines()[0]
        assert first.startswith(f"error: clients/{steady}.yaml: app.secrets: {steady}/dev:"), first
        assert first.endswith("without a value: SLACK_TOKEN"), first
        assert (
            f"hint: set each from stdin or a prompt: cosydeploy secrets set {steady} --env dev SLACK_TOKEN"
            in r.stderr
        )
        assert status_row(cosy, steady)["revision"] == before
    finally:
        manifest.write_text(original)


def test_concurrent_release_waits_for_the_lock_and_sigint_releases_it(
    locked, cosy, sandbox_env
) -> None:
    env = {**os.environ, **sandbox_env, "NO_COLOR": "1", "COSYDEPLOY_OUTPUT": "json"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cosydeploy",
            "release",
            "v6",
            "--client",
            locked,
            "--env",
            "dev",
            "--build-arg",
            "BREAK=slow",
            "--timeout",
            "90",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell may have started us with SIGINT ignored; a user's Ctrl-C is not ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            h = history(cosy, locked)
            if h and h[0]["version"] == "v6" and h[0]["outcome"] == "in_progress":
                break
            time.sleep(0.5)
        else:
            pytest.fail("the first release never started")
        second = release(cosy, locked, "v7")
        assert second.exit_code == 4, second.output
        assert f"{locked}/dev is locked by" in second.stderr and "[release v6]" in second.stderr, (
            second.stderr
        )
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert history(cosy, locked)[0]["outcome"] == "interrupted"
    r = cosy("unlock", locked, "--env", "dev")
    assert r.exit_code == 0 and "no lock was held" in r.stdout, r.output


def test_explicit_rollback_goes_to_the_previous_good_release(good_twice, cosy, stage) -> None:
    # wait until the service settled (after an interrupted release, ECS's own rollback)
    deadline = time.time() + 60
    while time.time() < deadline and status_row(cosy, good_twice)["rollout"] != "COMPLETED":
        time.sleep(1)
    serving = status_row(cosy, good_twice)["version"]
    assert serving == "v2"
    r = cosy("-o", "json", "rollback", good_twice, "--env", "dev")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["version"] == "v1"
    url = stage.url(good_twice)
    assert serving_version(url) == "v1"
    r = cosy("-o", "json", "rollback", good_twice, "--env", "dev", "--to", "v2")
    assert r.exit_code == 0, r.output
    assert serving_version(url) == "v2"


def test_canary_secret_never_written_anywhere(
    steady, transcript, e2e_project: Path, aws, canary_value
) -> None:
    """The canary value set in Secrets Manager appears in no output, log, rendered file or state.

    Every scenario's clients hold the canary, so a full run checks them all; alone, this
    checks a client onboarded and released once.
    """
    CANARY = canary_value
    canary = CANARY.encode()
    assert CANARY not in transcript.text()
    scanned = 0
    for path in e2e_project.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 20_000_000:
            scanned += 1
            assert canary not in path.read_bytes(), f"the canary leaked into {path}"
    assert scanned > 10
    s3 = aws("s3")
    states = 0
    for bucket in s3.list_buckets()["Buckets"]:
        for obj in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            body = s3.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read()
            states += obj["Key"].endswith(".tfstate")
            assert canary not in body, f"the canary leaked into s3://{bucket['Name']}/{obj['Key']}"
    assert states >= 1
    logs = aws("logs")
    for group in logs.describe_log_groups()["logGroups"]:
        for event in logs.filter_log_events(logGroupName=group["logGroupName"]).get("events", []):
            assert CANARY not in event["message"], f"the canary leaked into {group['logGroupName']}"
