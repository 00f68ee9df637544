"""Deploy lock and release ledger against a moto server over HTTP."""

from __future__ import annotations

import threading
import time

import pytest

from cosydeploy.errors import EXIT_LOCKED, LockHeldError
from cosydeploy.ledger import Ledger, ci_run_url, current_actor, new_release_id
from cosydeploy.lock import DeployLock, force_unlock, read_holder

LOCKS, RELEASES = "cosyworld-deploy-locks", "cosyworld-releases"


@pytest.fixture
def db(aws_session):
    client = aws_session.client("dynamodb")
    client.create_table(
        TableName=LOCKS,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "lock_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "lock_id", "KeyType": "HASH"}],
    )
    client.update_time_to_live(
        TableName=LOCKS, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    client.create_table(
        TableName=RELEASES,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "target", "AttributeType": "S"},
            {"AttributeName": "release_id", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "target", "KeyType": "HASH"},
            {"AttributeName": "release_id", "KeyType": "RANGE"},
        ],
    )
    return client


def lock(db, **kw):
    kw.setdefault("actor", "alice")
    kw.setdefault("run_url", "https://github.com/o/r/actions/runs/7")
    return DeployLock(db, "acme", "prod", **kw)


def test_second_holder_is_refused_naming_the_first(db):
    with lock(db):
        with pytest.raises(LockHeldError) as err:
            lock(db, actor="bob").acquire()
        assert err.value.exit_code == EXIT_LOCKED
        assert "alice" in str(err.value) and "actions/runs/7" in str(err.value)
        assert "cosydeploy unlock acme --env prod" in err.value.hint
        # Another client/env is independent.
        with DeployLock(db, "other", "prod", actor="bob"):
            pass
    assert read_holder(db, "acme", "prod") is None


def test_waits_for_the_holder(db):
    first = lock(db)
    first.acquire()
    threading.Timer(0.6, first.release).start()
    t0 = time.monotonic()
    with lock(db, actor="bob", wait=10, poll_interval=0.2) as second:
        assert read_holder(db, "acme", "prod").actor == "bob"
        assert second.held
    assert 0.5 < time.monotonic() - t0 < 5


def test_released_on_keyboard_interrupt(db):
    with pytest.raises(KeyboardInterrupt), lock(db):
        raise KeyboardInterrupt
    assert read_holder(db, "acme", "prod") is None


def test_expired_lock_can_be_taken_and_old_owner_cannot_release(db):
    now = [time.time()]
    stale = lock(db, ttl_seconds=10, clock=lambda: now[0])
    stale.acquire()
    now[0] += 60  # the stale holder's TTL has passed (TTL deletion is lazy)
    fresh = lock(db, actor="bob", clock=lambda: now[0])
    fresh.acquire()
    assert stale.release() is False  # not ours any more
    holder = db.get_item(TableName=LOCKS, Key={"lock_id": {"S": "acme/prod"}})["Item"]
    assert holder["actor"]["S"] == "bob"
    assert fresh.release() is True


def test_force_unlock(db):
    held = lock(db)
    held.acquire()
    gone = force_unlock(db, "acme", "prod")
    assert gone is not None and gone.actor == "alice"
    assert read_holder(db, "acme", "prod") is None
    assert held.release() is False
    assert force_unlock(db, "acme", "prod") is None


def test_ledger_records_history_and_last_good(db):
    t = [1_700_000_000.0]
    ledger = Ledger(db, RELEASES, clock=lambda: t[0])

    def attempt(version, digest, outcome, **kw):
        t[0] += 10
        rec = ledger.start(
            client="acme",
            env="prod",
            version=version,
            digest=digest,
            image=f"ecr/app@{digest}",
            actor="ci",
            run_url="u",
            **kw,
        )
        t[0] += 5
        return ledger.finish(
            rec,
            outcome,
            task_definition_arn=f"td:{version}",
            diagnosis=["task x stopped: exit 1"] if outcome != "succeeded" else [],
        )

    v1 = attempt("v1", "sha256:1", "succeeded")
    v2 = attempt("v2", "sha256:2", "succeeded")
    v3 = attempt("v3", "sha256:3", "rolled_back")
    attempt("v2", "sha256:2", "succeeded", kind="rollback", rollback_of=v3.release_id)
    hist = ledger.history("acme", "prod")
    assert [r.version for r in hist] == ["v2", "v3", "v2", "v1"]
    assert hist[0].kind == "rollback" and hist[0].rollback_of == v3.release_id
    assert hist[1].diagnosis == ["task x stopped: exit 1"]
    assert hist[1].started_at < hist[1].ended_at
    assert ledger.last_good("acme", "prod").version == "v2"
    assert ledger.last_good("acme", "prod", exclude_digest="sha256:2").release_id == v1.release_id
    assert ledger.last_good("acme", "prod", version="v1").task_definition_arn == "td:v1"
    assert ledger.last_good("acme", "prod", version="v3") is None
    assert ledger.get("acme", "prod", v2.release_id).digest == "sha256:2"
    assert ledger.history("acme", "prod", limit=2)[1].version == "v3"
    assert ledger.history("other", "prod") == []


def test_release_ids_sort_by_time():
    ids = [new_release_id(1_700_000_000 + i / 1000) for i in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert ids[0].startswith("20231114T221320.000000Z-")


def test_actor_and_run_url():
    env = {
        "GITHUB_ACTOR": "octo",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "42",
    }
    assert current_actor(env) == "octo"
    assert ci_run_url(env) == "https://github.com/o/r/actions/runs/42"
    assert ci_run_url({}) == ""
    assert current_actor({"USER": "me"})  # git user.name or $USER


def test_infra_records_of_a_fleet_are_read_in_batches(db):
    """Stack outputs of 250 client/envs: three BatchGetItem calls (100 keys each at most),
    every client/env in the answer, {} for one never applied."""
    ledger = Ledger(db, RELEASES)
    fleet = [(f"c{i:03d}", "dev") for i in range(250)]
    for client, env in fleet:
        ledger.record_infra(client, env, fingerprint=f"fp-{client}", outputs={"cluster": client})
    calls: list[int] = []
    db.meta.events.register(
        "before-parameter-build.dynamodb.BatchGetItem",
        lambda params, **_: calls.append(len(params["RequestItems"][RELEASES]["Keys"])),
    )
    got = ledger.infra_states([*fleet, ("never", "dev")])
    assert calls == [100, 100, 51]
    assert got[("never", "dev")] == {}
    for client, env in fleet:
        assert got[(client, env)]["fingerprint"] == f"fp-{client}"
        assert got[(client, env)]["outputs"] == {"cluster": client}
        assert got[(client, env)] == ledger.infra_state(client, env)
