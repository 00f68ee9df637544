"""Notifications and the Redis snapshot of a release, over moto (HTTP) with the in-process
rollout stand-in of test_release_pipeline: what the info topic and a webhook (a local HTTP
server) receive, the snapshot in ElastiCache and in the ledger, and that neither a broken
topic nor a broken webhook changes an outcome, nor does the webhook's URL appear anywhere."""

# The fixtures `target` and `said` come from test_release_pipeline (imported below), so
# their names are arguments here too.
# ruff: noqa: F811

from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_release_pipeline import (  # noqa: F401 - fixtures
    BAD,
    FAST,
    GOOD1,
    GOOD2,
    NAME,
    FakeRollout,
    rollback,
    said,
    target,
)

from cosydeploy.errors import AwsError
from cosydeploy.ledger import Ledger
from cosydeploy.release.notify import NotifySettings
from cosydeploy.release.pipeline import release_one
from cosydeploy.release.snapshot import SnapshotSettings
from cosydeploy.sandbox.outbox import messages

HOOK_SECRET = "cosyworld/release-webhook"


class Hook:
    """A Slack-compatible webhook: records each JSON body; answers ``status``."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.bodies.append(json.loads(body))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/hook-secret-part"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return [b["text"] for b in self.bodies]


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.server.shutdown()


@pytest.fixture
def notified(target, hook):
    """The target with an info topic, a webhook (URL in Secrets Manager) and a Redis
    replication group snapshotted before each release."""
    s = target.aws
    topic = s.client("sns").create_topic(Name=f"{NAME}-info")["TopicArn"]
    s.client("secretsmanager").create_secret(Name=HOOK_SECRET, SecretString=hook.url)
    s.client("elasticache").create_replication_group(
        ReplicationGroupId=NAME,
        ReplicationGroupDescription="redis",
        Engine="redis",
        CacheNodeType="cache.t4g.micro",
        NumCacheClusters=1,
    )
    return replace(
        target,
        outputs=replace(target.outputs, info_topic_arn=topic, redis_replication_group_id=NAME),
        notify=NotifySettings(topic_arn=topic, webhook_secret=HOOK_SECRET),
        snapshot=SnapshotSettings(NAME, timeout=30, interval=0.1),
    )


def published(topic: str) -> list[dict]:
    return [json.loads(m["message"]) | {"_attrs": m["attributes"]} for m in messages(topic)]


def all_text(lines, results) -> str:
    return "\n".join([*lines, *(json.dumps(r.as_dict(), default=str) for r in results)])


def test_release_notices_snapshot_and_rollback_that_names_it(notified, hook, said, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTOR", "octo")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    lines, ui = said
    t = notified
    topic = t.notify.topic_arn
    ec = t.aws.client("elasticache")
    ledger = Ledger(t.aws.client("dynamodb"))
    with FakeRollout():
        ok = release_one(t, GOOD1, FAST, emit=ui)
        assert ok.outcome == "succeeded", ok.message
        msgs = published(topic)
        assert [(m["event"], m["outcome"]) for m in msgs] == [
            ("started", "in_progress"),
            ("succeeded", "succeeded"),
        ]
        for m in msgs:
            assert (m["client"], m["env"], m["version"], m["digest"], m["actor"]) == (
                "acme",
                "dev",
                "v1",
                GOOD1.digest,
                "octo",
            )
            assert m["run_url"] == "https://github.com/o/r/actions/runs/42"
            assert m["release_id"] == ok.release_id and m["project"] == "cosyworld"
        assert msgs[1]["_attrs"] == {
            "event": "succeeded",
            "client": "acme",
            "env": "dev",
            "outcome": "succeeded",
        }
        # The webhook got the same notices, one line each.
        assert len(hook.texts()) == 2
        assert all(GOOD1.digest in x and "octo" in x and "v1" in x for x in hook.texts())
        assert "started" in hook.texts()[0] and "succeeded" in hook.texts()[1]

        # The snapshot: named after the version, available, in the release's record.
        assert ok.snapshot.startswith(f"{NAME}-v1-")
        snap = ec.describe_snapshots(SnapshotName=ok.snapshot)["Snapshots"][0]
        assert snap["SnapshotStatus"] == "available" and snap["ReplicationGroupId"] == NAME
        assert ledger.get("acme", "dev", ok.release_id).snapshot == ok.snapshot

        # A crashing release: started, failed, rolled back; its own snapshot, unique.
        bad = release_one(t, BAD, FAST, emit=ui)
        assert bad.outcome == "rolled_back", bad.message
        assert bad.snapshot.startswith(f"{NAME}-v3-") and bad.snapshot != ok.snapshot
        events = [(m["event"], m["outcome"], m["version"]) for m in published(topic)[2:]]
        assert events == [
            ("started", "in_progress", "v3"),
            ("failed", "failed", "v3"),
            ("rolled_back", "rolled_back", "v3"),
        ]

        # v2, then the rollback command: it names the snapshot taken before v2.
        two = release_one(t, GOOD2, FAST, emit=ui)
        assert two.outcome == "succeeded"
        back = rollback(t, None, FAST, ui)
        assert back.outcome == "succeeded" and back.version == "v1"
        assert back.snapshot == two.snapshot
        said_snapshot = [x for x in lines if x.startswith("redis snapshot taken before v2")]
        assert said_snapshot and two.snapshot in said_snapshot[0]
        assert "create-replication-group" in said_snapshot[0] and "not restored" in said_snapshot[0]
        last = published(topic)[-1]
        assert (last["event"], last["kind"], last["version"]) == ("rolled_back", "rollback", "v1")
        assert "rolled_back" in hook.texts()[-1]

    everything = all_text(lines, [ok, bad, two, back])
    assert "hook-secret-part" not in everything
    for rec in ledger.history("acme", "dev", limit=None):
        assert "hook-secret-part" not in json.dumps(rec.as_dict())


def test_broken_topic_and_webhook_are_warnings_never_the_outcome(notified, hook, said):
    lines, ui = said
    hook.status = 500
    t = replace(
        notified, notify=replace(notified.notify, topic_arn=notified.notify.topic_arn + "x")
    )
    with FakeRollout():
        r = release_one(t, GOOD1, FAST, emit=ui)
    assert r.outcome == "succeeded", r.message
    assert len(hook.bodies) == 2  # it was called, and answered 500
    topic_warnings = [w for w in r.warnings if "not published to the info topic" in w]
    hook_warnings = [w for w in r.warnings if "not posted to the webhook (HTTP 500)" in w]
    assert len(topic_warnings) == 2 and len(hook_warnings) == 2, r.warnings
    assert "hook-secret-part" not in all_text(lines, [r])


def test_snapshot_that_cannot_be_made_stops_the_release_before_any_change(notified, said):
    _, ui = said
    t = replace(notified, snapshot=SnapshotSettings("no-such-group", timeout=5, interval=0.1))
    ecs = t.aws.client("ecs")
    before = ecs.describe_services(cluster=NAME, services=["app"])["services"][0]["taskDefinition"]
    with FakeRollout(), pytest.raises(AwsError, match="could not be made before the release"):
        release_one(t, GOOD1, FAST, emit=ui)
    after = ecs.describe_services(cluster=NAME, services=["app"])["services"][0]["taskDefinition"]
    assert after == before  # nothing registered, nothing rolled out
    rec = Ledger(t.aws.client("dynamodb")).history("acme", "dev")[0]
    assert rec.outcome == "failed" and not rec.task_definition_arn
    events = [(m["event"], m["outcome"]) for m in published(t.notify.topic_arn)]
    assert events == [("started", "in_progress"), ("failed", "failed")]
