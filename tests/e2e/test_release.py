"""Releases that tell the truth, end to end through the sandbox.

The tests run in file order on one client/env: each starts from the state the
previous one left, as a team's releases would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


_OUTPUTS: dict[str, str] = {}


def _outputs() -> dict[str, str]:
    return _OUTPUTS


def serving_version(url: str) -> str:
    """What the app behind the load balancer says it is (the truth a user sees)."""
    with urllib.request.urlopen(f"{url}/version", timeout=5) as resp:
        return resp.read().decode().strip()


def status_row(cosy) -> dict:
    r = cosy("-o", "json", "status", "example", "--env", "dev")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert len(rows) == 1
    return rows[0]


def history(cosy) -> list[dict]:
    r = cosy("-o", "json", "history", "example", "--env", "dev")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def release(cosy, version: str, *extra: str):
    return cosy("-o", "json", "release", version, "--client", "example", "--env", "dev", *extra)


def test_onboard_gives_an_app_url(onboarded, cosy) -> None:
    r = cosy("-o", "json", "onboard", "example", "--env", "dev", "--yes")
    assert r.exit_code == 0, r.output
    (result,) = json.loads(r.stdout)
    assert result["changed"] is False  # the second onboard changes nothing
    assert result["outputs"]["app_url"].endswith("/example-dev")
    _OUTPUTS.update(result["outputs"])


def test_healthy_release(cosy) -> None:
    r = release(cosy, "v1")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["outcome"] == "succeeded"
    assert result["verified"] is True
    assert result["digest"].startswith("sha256:")
    assert serving_version(_OUTPUTS["app_url"]) == "v1"
    row = status_row(cosy)
    assert (row["version"], row["running"], row["desired"], row["rollout"]) == (
        "v1",
        2,
        2,
        "COMPLETED",
    )
    assert history(cosy)[0]["outcome"] == "succeeded"


def test_release_of_the_serving_version_changes_nothing(cosy) -> None:
    before = status_row(cosy)["revision"]
    r = release(cosy, "v1")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["outcome"] == "noop"
    assert status_row(cosy)["revision"] == before


def test_dry_run_shows_the_diff_and_changes_nothing(cosy) -> None:
    before = status_row(cosy)["revision"]
    r = release(cosy, "v2", "--dry-run")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["outcome"] == "dry_run"
    assert any("image" in line for line in result["diff"]), result["diff"]
    assert status_row(cosy)["revision"] == before
    assert serving_version(_OUTPUTS["app_url"]) == "v1"


def test_second_release(cosy) -> None:
    r = release(cosy, "v2")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["outcome"] == "succeeded"
    assert serving_version(_OUTPUTS["app_url"]) == "v2"


def test_crash_on_start_is_rolled_back_with_diagnosis(cosy) -> None:
    r = release(cosy, "v3", "--build-arg", "BREAK=crash")
    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert result["outcome"] == "rolled_back"
    diagnosis = "\n".join(result["diagnosis"])
    assert "exit code 3" in diagnosis.lower() or "exitcode 3" in diagnosis.lower(), diagnosis
    assert "Traceback" not in r.output
    assert serving_version(_OUTPUTS["app_url"]) == "v2"
    assert status_row(cosy)["version"] == "v2"
    latest = [h for h in history(cosy) if h["version"] == "v3"]
    assert latest and latest[0]["outcome"] == "rolled_back"
    assert latest[0]["diagnosis"], "the diagnosis is kept in the ledger"


def test_health_never_ready_is_rolled_back(cosy) -> None:
    r = release(cosy, "v4", "--build-arg", "BREAK=unhealthy")
    assert r.exit_code == 1, r.output
    assert json.loads(r.stdout)["outcome"] == "rolled_back"
    assert serving_version(_OUTPUTS["app_url"]) == "v2"


def test_deadline_passed_means_our_own_rollback(cosy) -> None:
    r = release(cosy, "v5", "--build-arg", "BREAK=slow", "--timeout", "3")
    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert result["outcome"] == "rolled_back"
    assert (
        "deadline" in (result["message"] + r.stderr).lower()
        or "timed out" in (result["message"] + r.stderr).lower()
    )
    assert serving_version(_OUTPUTS["app_url"]) == "v2"


def test_missing_secret_refuses_before_any_change(cosy, e2e_project: Path) -> None:
    manifest = e2e_project / "clients" / "example.yaml"
    original = manifest.read_text()
    manifest.write_text(
        original.replace(
            "secrets: [TELEGRAM_BOT_TOKEN]", "secrets: [TELEGRAM_BOT_TOKEN, SLACK_TOKEN]"
        )
    )
    try:
        before = status_row(cosy)["revision"]
        r = release(cosy, "v2")
        assert r.exit_code == 2, r.output
        first = r.stderr.splitlines()[0]
        assert first.startswith("error: clients/example.yaml: app.secrets: example/dev:"), first
        assert first.endswith("without a value: SLACK_TOKEN"), first
        assert (
            "hint: set each from stdin or a prompt: cosydeploy secrets set example --env dev SLACK_TOKEN"
            in r.stderr
        )
        assert status_row(cosy)["revision"] == before
    finally:
        manifest.write_text(original)


def test_concurrent_release_waits_for_the_lock_and_sigint_releases_it(cosy, sandbox_env) -> None:
    env = {**os.environ, **sandbox_env, "NO_COLOR": "1", "COSYDEPLOY_OUTPUT": "json"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cosydeploy",
            "release",
            "v6",
            "--client",
            "example",
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
            h = history(cosy)
            if h and h[0]["version"] == "v6" and h[0]["outcome"] == "in_progress":
                break
            time.sleep(0.5)
        else:
            pytest.fail("the first release never started")
        second = release(cosy, "v7")
        assert second.exit_code == 4, second.output
        assert "example/dev is locked by" in second.stderr and "[release v6]" in second.stderr, (
            second.stderr
        )
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert history(cosy)[0]["outcome"] == "interrupted"
    r = cosy("unlock", "example", "--env", "dev")
    assert r.exit_code == 0 and "no lock was held" in r.stdout, r.output


def test_explicit_rollback_goes_to_the_previous_good_release(cosy) -> None:
    # after the interrupted v6, wait until the service settled (ECS's own rollback to v2)
    deadline = time.time() + 60
    while time.time() < deadline and status_row(cosy)["rollout"] != "COMPLETED":
        time.sleep(1)
    serving = status_row(cosy)["version"]
    assert serving == "v2"
    r = cosy("-o", "json", "rollback", "example", "--env", "dev")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["version"] == "v1"
    assert serving_version(_OUTPUTS["app_url"]) == "v1"
    r = cosy("-o", "json", "rollback", "example", "--env", "dev", "--to", "v2")
    assert r.exit_code == 0, r.output
    assert serving_version(_OUTPUTS["app_url"]) == "v2"


def test_canary_secret_never_written_anywhere(
    transcript, e2e_project: Path, sandbox_env, canary_value
) -> None:
    """The canary value set in Secrets Manager appears in no output, log, rendered file or state."""
    import boto3

    CANARY = canary_value
    canary = CANARY.encode()
    assert CANARY not in transcript.text()
    scanned = 0
    for path in e2e_project.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 20_000_000:
            scanned += 1
            assert canary not in path.read_bytes(), f"the canary leaked into {path}"
    assert scanned > 10
    s3 = boto3.client(
        "s3",
        endpoint_url=sandbox_env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    states = 0
    for bucket in s3.list_buckets()["Buckets"]:
        for obj in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            body = s3.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read()
            states += obj["Key"].endswith(".tfstate")
            assert canary not in body, f"the canary leaked into s3://{bucket['Name']}/{obj['Key']}"
    assert states >= 1
    logs = boto3.client(
        "logs",
        endpoint_url=sandbox_env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for group in logs.describe_log_groups()["logGroups"]:
        for event in logs.filter_log_events(logGroupName=group["logGroupName"]).get("events", []):
            assert CANARY not in event["message"], f"the canary leaked into {group['logGroupName']}"
