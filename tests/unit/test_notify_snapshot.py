"""Release notifications and the Redis snapshot before a release: the pure parts (names,
which notices a result makes, where a snapshot is configured) and the waits no emulator
produces (a snapshot that stays ``creating`` or fails: botocore's Stubber)."""

from __future__ import annotations

import re
import urllib.error
from pathlib import Path

import pytest

from cosydeploy import outcome as oc
from cosydeploy.errors import AwsError
from cosydeploy.ledger import new_release_id
from cosydeploy.release import notify
from cosydeploy.release.model import ReleaseResult
from cosydeploy.release.snapshot import (
    SnapshotSettings,
    before_release,
    snapshot_name,
    take_snapshot,
)

# ElastiCache's rule for names, as cosydeploy keeps to it (lowercase, stack name first).
VALID = re.compile(r"^[a-z](-?[a-z0-9])*$")


# ------------------------------------------------------------------ snapshot names


@pytest.mark.parametrize(
    ("version", "slug"),
    [
        ("v1.4.0", "v1-4-0"),
        ("V2_RC--1", "v2-rc-1"),
        ("release/2025.01", "release-2025-01"),
        ("---", "v"),
        ("ümlaut", "mlaut"),
    ],
)
def test_snapshot_name_is_the_version_valid_and_unique_per_run(version, slug) -> None:
    group = "cosyworld-acme-prod"
    a = snapshot_name(group, version, "20250102T030405.123456Z-1a2b3c4d")
    assert a == f"{group}-{slug}-20250102-030405-1a2b"
    assert VALID.match(a), a
    b = snapshot_name(group, version, "20250102T030405.654321Z-9f8e7d6c")
    assert a != b  # two runs in the same second still differ


def test_snapshot_name_stays_within_bounds_for_the_longest_names() -> None:
    name = snapshot_name("a" * 38, "x" * 200, new_release_id())
    assert len(name) <= 96 and VALID.match(name), name
    assert name.startswith("a" * 38 + "-"), "the stack name leads: the role's policy scopes by it"


# ------------------------------------------------------------------ waiting for a snapshot


def stubbed(statuses: list[str], *, create_error: str | None = None):
    """An ElastiCache client answering create_snapshot, then describe_snapshots with
    ``statuses`` in turn (a snapshot that stays creating has no emulator)."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(
        "elasticache", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    if create_error:
        stub.add_client_error(
            "create_snapshot", service_error_code=create_error, http_status_code=400
        )
    else:
        stub.add_response(
            "create_snapshot",
            {"Snapshot": {"SnapshotName": "n", "SnapshotStatus": "creating"}},
            {"ReplicationGroupId": "g", "SnapshotName": "n"},
        )
        for status in statuses:
            stub.add_response(
                "describe_snapshots",
                {"Snapshots": [{"SnapshotName": "n", "SnapshotStatus": status}]},
                {"SnapshotName": "n"},
            )
    stub.activate()
    return client, stub


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_snapshot_waited_for_until_available() -> None:
    client, stub = stubbed(["creating", "creating", "available"])
    clock = Clock()
    seen: list[str] = []
    name = take_snapshot(
        client,
        SnapshotSettings("g", timeout=60, interval=5),
        "n",
        on_wait=seen.append,
        clock=clock,
        sleep=clock.sleep,
    )
    assert name == "n" and clock.now == 15 and seen == ["creating"] * 3
    stub.assert_no_pending_responses()


def test_snapshot_not_available_in_time_is_a_clear_failure_naming_it() -> None:
    client, _ = stubbed(["creating"] * 20)
    clock = Clock()
    with pytest.raises(AwsError) as err:
        take_snapshot(
            client,
            SnapshotSettings("g", timeout=30, interval=5),
            "n",
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.now == 30  # bounded: it stopped at the deadline
    assert "snapshot n of g was not available after 30s (still creating)" in err.value.message
    assert "nothing was released" in err.value.message
    assert "snapshot_timeout" in (err.value.hint or "")


def test_snapshot_that_fails_or_cannot_be_made_stops_the_release() -> None:
    client, _ = stubbed(["failed"])
    clock = Clock()
    with pytest.raises(AwsError, match="snapshot n of g is failed; nothing was released"):
        take_snapshot(client, SnapshotSettings("g"), "n", clock=clock, sleep=clock.sleep)
    client, _ = stubbed([], create_error="ReplicationGroupNotFoundFault")
    with pytest.raises(
        AwsError, match=r"could not be made before the release.*ReplicationGroupNotFound"
    ):
        take_snapshot(client, SnapshotSettings("g"), "n", clock=clock, sleep=clock.sleep)


def test_snapshot_configured_without_a_replication_group_output_is_refused() -> None:
    with pytest.raises(AwsError, match="name no replication group") as err:
        before_release(None, SnapshotSettings(""), "v1", new_release_id(), step=print)
    assert "cosydeploy apply" in (err.value.hint or "")


# ------------------------------------------------------------------ where snapshots are taken


def write(path: Path, text: str) -> None:
    path.write_text(text)


@pytest.mark.parametrize(
    ("tier_line", "client_line", "env_lines", "expected"),
    [
        # default: the production environment (the last of the project's) only
        ("", "", {}, {"dev": False, "staging": False, "prod": True}),
        # the tier preset turns it on for every env of its clients
        ("snapshot_before_release: true", "", {}, {"dev": True, "staging": True, "prod": True}),
        # the client turns it off, an environment back on
        (
            "",
            "snapshot_before_release: false",
            {"staging": "snapshot_before_release: true"},
            {"dev": False, "staging": True, "prod": False},
        ),
    ],
)
def test_snapshot_layering(project_copy: Path, tier_line, client_line, env_lines, expected) -> None:
    from cosydeploy.config.load import load_project
    from cosydeploy.config.targets import client_env

    cfg = project_copy / "cosydeploy.yaml"
    text = cfg.read_text()
    if tier_line:
        text = text.replace(
            "redis: {node_type: cache.t4g.micro, num_nodes: 1}",
            f"redis: {{node_type: cache.t4g.micro, num_nodes: 1, {tier_line}}}",
        )
    cfg.write_text(text)
    manifest = project_copy / "clients" / "example.yaml"
    m = manifest.read_text()
    # every environment of the example on the dev tier, so the tier line reaches them all
    m = m.replace("tier: small", "tier: dev")
    if client_line:
        m = m.replace("database:\n", f"redis: {{{client_line}}}\n\ndatabase:\n")
    for env, line in env_lines.items():
        m = m.replace(f"  {env}:\n    tier: dev", f"  {env}:\n    tier: dev\n    redis: {{{line}}}")
    manifest.write_text(m)
    project = load_project(project_copy)
    got = {env: client_env(project, "example", env).redis_snapshot for env in expected}
    assert got == expected


# ------------------------------------------------------------------ which notices a result makes


def result(outcome: str, kind: str = "release", **kw) -> ReleaseResult:
    return ReleaseResult(
        "acme", "prod", "v2", "sha256:" + "a" * 64, outcome, kind=kind, release_id="r1", **kw
    )


KW = {"project": "cosyworld", "actor": "alice", "run_url": "https://github.com/o/r/actions/runs/7"}


@pytest.mark.parametrize(
    ("outcome", "kind", "events"),
    [
        (oc.SUCCEEDED, "release", [("succeeded", "succeeded")]),
        (oc.ROLLED_BACK, "release", [("failed", "failed"), ("rolled_back", "rolled_back")]),
        (oc.FAILED, "release", [("failed", "failed")]),
        (oc.NOOP, "release", []),
        (oc.DRY_RUN, "release", []),
        (oc.SUCCEEDED, "rollback", [("rolled_back", "succeeded")]),
        (oc.FAILED, "rollback", [("failed", "failed")]),
    ],
)
def test_final_notices(outcome, kind, events) -> None:
    notices = notify.final_notices(result(outcome, kind, message="m"), **KW)
    assert [(n.event, n.outcome) for n in notices] == events
    for n in notices:
        assert (n.client, n.env, n.version, n.actor, n.kind) == (
            "acme",
            "prod",
            "v2",
            "alice",
            kind,
        )
        assert n.digest == "sha256:" + "a" * 64 and n.run_url.endswith("/runs/7")


def test_notice_subject_and_text_carry_the_fields() -> None:
    n = notify.final_notices(result(oc.SUCCEEDED, snapshot="cosyworld-acme-prod-v2-x"), **KW)[0]
    assert n.subject() == "cosydeploy acme/prod: release v2 succeeded"
    assert len(notify.Notice(**{**n.as_dict(), "version": "é" * 200}).subject()) == 100
    text = n.text()
    for part in ("acme/prod", "v2", "succeeded", "alice", n.digest, n.run_url, n.snapshot):
        assert part in text


class FakeSecrets:
    def __init__(self, value: str) -> None:
        self.value = value
        self.reads = 0

    def get_secret_value(self, SecretId: str) -> dict:
        self.reads += 1
        return {"SecretString": self.value}


class FakeAws:
    def __init__(self, value: str) -> None:
        self.sm = FakeSecrets(value)

    def client(self, name: str):
        assert name == "secretsmanager"
        return self.sm


URL = "https://hooks.example.invalid/services/T000/B000/SECRETPART"


@pytest.mark.parametrize(
    ("raised", "said"),
    [
        (urllib.error.HTTPError(URL, 500, "boom", {}, None), "HTTP 500"),
        (
            urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")),
            "Connection refused",
        ),
        (TimeoutError(), "timed out"),
        (ValueError(f"unknown url type: {URL}"), "ValueError"),
    ],
)
def test_a_failing_webhook_is_a_warning_without_its_url(raised, said) -> None:
    warnings: list[str] = []

    def post(url, payload, timeout):
        assert url == URL and "text" in payload
        raise raised

    aws = FakeAws(URL)
    n = notify.Notifier(
        aws, notify.NotifySettings(webhook_secret="hook"), warnings.append, post=post
    )
    started = notify.final_notices(result(oc.SUCCEEDED), **KW)[0]
    n.send(started)
    n.send(started)
    assert aws.sm.reads == 1  # the URL is read once per release
    assert len(warnings) == 2 and said in warnings[0]
    assert not any("SECRETPART" in w or "hooks.example" in w for w in warnings)


def test_a_webhook_secret_that_is_not_a_url_turns_the_webhook_off() -> None:
    warnings: list[str] = []
    posted: list[str] = []
    n = notify.Notifier(
        FakeAws("not-a-url-SECRETPART"),
        notify.NotifySettings(webhook_secret="hook"),
        warnings.append,
        post=lambda url, payload, timeout: posted.append(url),
    )
    n.send(notify.final_notices(result(oc.SUCCEEDED), **KW)[0])
    assert posted == [] and len(warnings) == 1 and "SECRETPART" not in warnings[0]
    assert "does not hold an http(s) URL" in warnings[0]
