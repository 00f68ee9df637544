"""Release notifications and the Redis snapshot, end to end through the sandbox: what the
environment's info topic kept (the sandbox's GET /_sandbox/sns), what a Slack-compatible
webhook (a local HTTP server) received, and a production environment's snapshot named
after the version, in the ledger, and named again by `rollback`."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"  # the sandbox's own
_hooks = itertools.count(1)


def topic_of(cid: str, env: str) -> str:
    return f"arn:aws:sns:us-east-1:{ACCOUNT}:cosyworld-{cid}-{env}-info"


class Hook:
    """A Slack-compatible incoming webhook on loopback: keeps each JSON body."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.n = next(_hooks)
        self.token = f"e2e-hook-token-{self.n}-4c1d"  # the secret part of the URL
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/{self.token}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return [b["text"] for b in self.bodies]


@pytest.fixture
def hook(stage, aws) -> Iterator[Hook]:
    """For one test: cosydeploy.yaml names a webhook secret (other scenarios run without
    one), whose value in the sandbox's Secrets Manager is this hook's URL."""
    h = Hook()
    secret = f"cosyworld/e2e-webhook-{h.n}"
    aws("secretsmanager").create_secret(Name=secret, SecretString=h.url)
    cfg = stage.project / "cosydeploy.yaml"
    saved = cfg.read_text()
    cfg.write_text(saved + f"\nnotifications:\n  webhook_secret: {secret}\n")
    try:
        yield h
    finally:
        cfg.write_text(saved)
        h.server.shutdown()


def files_containing(root: Path, token: str) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if token.encode() in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found


def test_release_and_crash_are_announced_on_the_topic_and_the_webhook(
    stage, cosy, aws, hook, notices, transcript, monkeypatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "octo-e2e")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/cosy")
    monkeypatch.setenv("GITHUB_RUN_ID", "9001")
    cid = stage.onboard(stage.new_id("notify"))
    topic = topic_of(cid, "dev")
    try:
        ok = cosy("-o", "json", "release", "v1", "--client", cid, "--env", "dev")
        assert ok.exit_code == 0, ok.output
        result = json.loads(ok.stdout)
        assert result["outcome"] == "succeeded" and not result["warnings"], result
        first = notices(topic)
        assert [(n["event"], n["outcome"]) for n in first] == [
            ("started", "in_progress"),
            ("succeeded", "succeeded"),
        ]
        for n in first:
            assert (n["client"], n["env"], n["version"], n["kind"]) == (cid, "dev", "v1", "release")
            assert n["digest"] == result["digest"] and n["actor"] == "octo-e2e"
            assert n["run_url"] == "https://github.com/acme/cosy/actions/runs/9001"
            assert n["release_id"] == result["release_id"]
        texts = hook.texts()
        assert len(texts) == 2 and "started" in texts[0] and "succeeded" in texts[1]
        assert all(result["digest"] in t and "octo-e2e" in t and f"{cid}/dev" in t for t in texts)

        bad = f"{cid}-crash"  # a version of its own: images are built once per version
        crash = cosy(
            "-o", "json", "release", bad, "--client", cid, "--env", "dev",
            "--build-arg", "BREAK=crash",
        )  # fmt: skip
        assert crash.exit_code == 1, crash.output
        crashed = json.loads(crash.stdout)
        assert crashed["outcome"] == "rolled_back"
        later = notices(topic)[2:]
        assert [(n["event"], n["outcome"], n["version"]) for n in later] == [
            ("started", "in_progress", bad),
            ("failed", "failed", bad),
            ("rolled_back", "rolled_back", bad),
        ]
        assert later[1]["digest"] == crashed["digest"] and "back on v1" in later[2]["message"]
        assert [t.split(":")[1].split()[2] for t in hook.texts()[2:]] == [
            "started",
            "failed",
            "rolled_back",
        ]
    finally:
        stage.retire(cid)
    # The webhook's URL: in no output of the session, no file of the project (rendered
    # tfvars, workspaces), no ledger record.
    assert hook.token not in transcript.text()
    assert files_containing(stage.project, hook.token) == []
    items = aws("dynamodb").scan(TableName="cosyworld-releases")["Items"]
    assert hook.token not in json.dumps(items)


def test_prod_release_takes_a_redis_snapshot_and_rollback_names_it(
    stage, cosy, aws, notices
) -> None:
    cid = stage.onboard(stage.new_id("snap"), envs=("prod",))  # prod: snapshots by default
    group = f"cosyworld-{cid}-prod"
    try:
        taken = {}
        two = f"{cid}.2"  # a version of its own: images are built once per version
        for version in ("v1", two):
            r = cosy("-o", "json", "release", version, "--client", cid, "--env", "prod")
            assert r.exit_code == 0, r.output
            out = json.loads(r.stdout)
            assert out["snapshot"].startswith(f"{group}-{version.replace('.', '-')}-"), out
            taken[version] = out["snapshot"]
            snap = aws("elasticache").describe_snapshots(SnapshotName=out["snapshot"])
            assert snap["Snapshots"][0]["SnapshotStatus"] == "available"
            assert snap["Snapshots"][0]["ReplicationGroupId"] == group
        assert taken["v1"] != taken[two]
        hist = cosy("-o", "json", "history", cid, "--env", "prod")
        records = {h["version"]: h for h in json.loads(hist.stdout) if h["kind"] == "release"}
        assert records[two]["snapshot"] == taken[two]

        back = cosy("rollback", cid, "--env", "prod")
        assert back.exit_code == 0, back.output
        # The result names the snapshot taken before `two` (the release rolled back from),
        # and says how a person would restore it: nothing is restored by itself.
        assert f"redis snapshot taken before the release rolled back from: {taken[two]}" in (
            back.stdout
        )
        assert "not restored" in back.stdout
        assert f"--snapshot-name {taken[two]}" in back.stderr
        last = notices(topic_of(cid, "prod"))[-1]
        assert (last["event"], last["kind"], last["version"]) == ("rolled_back", "rollback", "v1")
        assert last["snapshot"] == taken[two]
    finally:
        stage.retire(cid, env="prod")
