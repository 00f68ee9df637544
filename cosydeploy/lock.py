"""The deploy lock of one client/env: a DynamoDB conditional write with a TTL.

Acquire succeeds only when no lock item exists or the existing one has expired
(TTL deletion is lazy, so expiry is checked in the condition, not left to DynamoDB).
Only the owner (a random token) can release; ``force_unlock`` removes any holder.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cosydeploy.errors import AwsError, LockHeldError
from cosydeploy.ledger import ci_run_url, current_actor, iso

DEFAULT_TABLE = "cosyworld-deploy-locks"

# The lock table's shape (the bootstrap stack makes it on AWS; a stand-in makes it alike).
TABLE_SCHEMA = {
    "AttributeDefinitions": [{"AttributeName": "lock_id", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "lock_id", "KeyType": "HASH"}],
    "TimeToLiveAttribute": "expires_at",
}


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock, since when, from which CI run."""

    lock_id: str
    owner: str
    actor: str
    since: str
    run_url: str
    operation: str
    expires_at: int

    def describe(self) -> str:
        where = f" ({self.run_url})" if self.run_url else ""
        return f"{self.actor} since {self.since} [{self.operation}]{where}"


def lock_id(client: str, env: str) -> str:
    return f"{client}/{env}"


def _call(db: Any, table: str, name: str, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return getattr(db, name)(TableName=table, **kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise
        hint = (
            "create it with the bootstrap stack (or start the sandbox)"
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
            else None
        )
        raise AwsError(f"deploy lock table {table}: {exc}", hint=hint) from exc
    except BotoCoreError as exc:
        raise AwsError(
            f"deploy lock table {table}: {exc}",
            hint="AWS did not answer: check the network (and AWS_ENDPOINT_URL), then run again",
        ) from exc


def read_holder(db: Any, client: str, env: str, table: str = DEFAULT_TABLE) -> LockHolder | None:
    """The current holder, or None (an expired item counts as free)."""
    item = _call(
        db, table, "get_item", Key={"lock_id": {"S": lock_id(client, env)}}, ConsistentRead=True
    ).get("Item")
    if not item:
        return None
    holder = _holder(item)
    return holder if holder.expires_at > time.time() else None


def _holder(item: dict[str, Any]) -> LockHolder:
    def s(k: str) -> str:
        return item.get(k, {}).get("S", "")

    return LockHolder(
        s("lock_id"),
        s("owner"),
        s("actor"),
        s("since"),
        s("run_url"),
        s("operation"),
        int(item.get("expires_at", {}).get("N", "0")),
    )


def held_error(holder: LockHolder, client: str, env: str) -> LockHeldError:
    """The error of a lock held by someone else (exit 4), with what to do."""
    return LockHeldError(
        f"{lock_id(client, env)} is locked by {holder.describe()}",
        hint=f"wait for it (--lock-wait SECONDS) or, if it is stale: "
        f"cosydeploy unlock {client} --env {env}",
    )


def force_unlock(db: Any, client: str, env: str, table: str = DEFAULT_TABLE) -> LockHolder | None:
    """Remove the lock whoever holds it; returns who held it (None if free)."""
    resp = _call(
        db,
        table,
        "delete_item",
        Key={"lock_id": {"S": lock_id(client, env)}},
        ReturnValues="ALL_OLD",
    )
    return _holder(resp["Attributes"]) if resp.get("Attributes") else None


class DeployLock:
    """A context manager holding the lock of one client/env; released on every exit path."""

    def __init__(
        self,
        db: Any,
        client: str,
        env: str,
        *,
        table: str = DEFAULT_TABLE,
        wait: float = 0.0,
        poll_interval: float = 2.0,
        ttl_seconds: int = 3600,
        operation: str = "release",
        actor: str | None = None,
        run_url: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[LockHolder], None] | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.env = env
        self.table = table
        self.wait = wait
        self.poll_interval = poll_interval
        self.ttl_seconds = ttl_seconds
        self.operation = operation
        self.actor = actor if actor is not None else current_actor()
        self.run_url = run_url if run_url is not None else ci_run_url()
        self.clock = clock
        self.sleep = sleep
        self.on_wait = on_wait
        self.owner = secrets.token_hex(8)
        self.held = False

    @property
    def lock_id(self) -> str:
        return lock_id(self.client, self.env)

    def try_acquire(self) -> LockHolder | None:
        """One conditional write. Returns None when acquired, else the current holder."""
        from botocore.exceptions import ClientError

        now = self.clock()
        item = {
            "lock_id": {"S": self.lock_id},
            "owner": {"S": self.owner},
            "actor": {"S": self.actor},
            "since": {"S": iso(now)},
            "operation": {"S": self.operation},
            "expires_at": {"N": str(int(now + self.ttl_seconds))},
        }
        if self.run_url:
            item["run_url"] = {"S": self.run_url}
        try:
            _call(
                self.db,
                self.table,
                "put_item",
                Item=item,
                ConditionExpression="attribute_not_exists(lock_id) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except ClientError:
            got = _call(
                self.db,
                self.table,
                "get_item",
                Key={"lock_id": {"S": self.lock_id}},
                ConsistentRead=True,
            ).get("Item")
            if not got:  # released between our write and read: try again next round
                return LockHolder(self.lock_id, "", "?", "", "", "", 0)
            return _holder(got)
        self.held = True
        return None

    def acquire(self) -> None:
        """Acquire, polling up to ``wait`` seconds; else LockHeldError naming the holder."""
        deadline = self.clock() + self.wait
        while True:
            holder = self.try_acquire()
            if holder is None:
                return
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise held_error(holder, self.client, self.env)
            if self.on_wait:
                self.on_wait(holder)
            self.sleep(min(self.poll_interval, remaining))

    def release(self) -> bool:
        """Delete the lock only if we still own it. True when we released it."""
        from botocore.exceptions import ClientError

        if not self.held:
            return False
        try:
            _call(
                self.db,
                self.table,
                "delete_item",
                Key={"lock_id": {"S": self.lock_id}},
                ConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": {"S": self.owner}},
            )
        except ClientError:
            self.held = False
            return False  # expired and taken by someone else, or force-unlocked
        self.held = False
        return True

    def __enter__(self) -> DeployLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        # Runs for every exception, KeyboardInterrupt included.
        self.release()
