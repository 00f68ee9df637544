"""The release ledger: every release and rollback attempt, kept in DynamoDB.

Table ``cosyworld-releases``: hash key ``target`` ("client/env"), range key
``release_id`` ("<UTC compact ISO>-<8 hex>", so a query sorts by time).
"""

from __future__ import annotations

import functools
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from cosydeploy.errors import AwsError

DEFAULT_TABLE = "cosyworld-releases"
OUTCOMES = ("in_progress", "succeeded", "rolled_back", "failed", "interrupted", "noop")
GOOD = ("succeeded",)
# A revision cosydeploy found serving but did not release (another tool deployed it):
# kind "observed", outcome "healthy" or "unhealthy" (as seen), never an attempt.
OBSERVED = "observed"
OBSERVED_OUTCOMES = ("healthy", "unhealthy")
BATCH_GET_MAX = 100  # keys in one BatchGetItem (DynamoDB's limit)
BATCH_GET_ATTEMPTS = 8  # calls for the keys of one batch that DynamoDB leaves unprocessed


# The ledger table's shape (the bootstrap stack makes it on AWS; a stand-in makes it alike).
TABLE_SCHEMA = {
    "AttributeDefinitions": [
        {"AttributeName": "target", "AttributeType": "S"},
        {"AttributeName": "release_id", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "target", "KeyType": "HASH"},
        {"AttributeName": "release_id", "KeyType": "RANGE"},
    ],
}


def new_release_id(now: float | None = None) -> str:
    """``20250101T120000.123456Z-1a2b3c4d``: sorts by time, unique by the random suffix."""
    dt = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return f"{dt.strftime('%Y%m%dT%H%M%S.%fZ')}-{secrets.token_hex(4)}"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def current_actor(env: Mapping[str, str] | None = None) -> str:
    """GITHUB_ACTOR, else git user.name, else $USER."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTOR"):
        return env["GITHUB_ACTOR"]
    return _git_user() or env.get("USER") or env.get("USERNAME") or "unknown"


@functools.cache
def _git_user() -> str:
    """git's user.name, asked once per process: a fleet release names its actor for
    every client's lock and record (two git processes a client otherwise)."""
    try:
        return subprocess.run(
            ["git", "config", "user.name"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def ci_run_url(env: Mapping[str, str] | None = None) -> str:
    """The GitHub Actions run URL, or "" outside CI."""
    env = os.environ if env is None else env
    server, repo, run = (
        env.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repo and run:
        return f"{server.rstrip('/')}/{repo}/actions/runs/{run}"
    return ""


@dataclass(frozen=True)
class ReleaseRecord:
    """One attempt. ``kind`` is ``release`` or ``rollback``; or ``observed``: a revision
    found serving that cosydeploy did not release (``version`` is its revision)."""

    target: str
    release_id: str
    client: str
    env: str
    version: str
    digest: str
    image: str
    outcome: str = "in_progress"
    kind: str = "release"
    task_definition_arn: str = ""
    previous_task_definition_arn: str = ""
    started_at: str = ""
    ended_at: str = ""
    actor: str = ""
    run_url: str = ""
    git_sha: str = ""
    diagnosis: list[str] = field(default_factory=list)
    rollback_of: str = ""
    message: str = ""
    strategy: str = ""  # how it was rolled out (rolling)
    stage: str = ""  # how far it got: rollout, verified, baking, baked
    rollback_reason: str = ""  # what was seen that sent it back
    # Set when the next run resolved a record its own run left in_progress (it died).
    reconciled_at: str = ""
    reconciled_how: str = ""
    snapshot: str = (
        ""  # the Redis snapshot taken before this release (restoring is a person's call)
    )

    @property
    def observed(self) -> bool:
        return self.kind == OBSERVED

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "observed": self.observed}


class Ledger:
    """Reads and writes release records; the dynamodb client is passed in."""

    def __init__(
        self, dynamodb: Any, table: str = DEFAULT_TABLE, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = dynamodb
        self.table = table
        self.clock = clock

    def _call(self, name: str, *, on_table: bool = True, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        if on_table:
            kwargs["TableName"] = self.table
        try:
            return getattr(self.db, name)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            hint = (
                "create it with the bootstrap stack (or start the sandbox)"
                if code == "ResourceNotFoundException"
                else None
            )
            raise AwsError(f"release ledger {self.table}: {exc}", hint=hint) from exc
        except BotoCoreError as exc:
            raise AwsError(f"release ledger {self.table}: {exc}") from exc

    def put(self, record: ReleaseRecord) -> ReleaseRecord:
        """Write (or overwrite) one record."""
        from boto3.dynamodb.types import TypeSerializer

        ser = TypeSerializer()
        item = {k: ser.serialize(v) for k, v in record.as_dict().items() if v not in ("", None, [])}
        self._call("put_item", Item=item)
        return record

    def start(
        self,
        *,
        client: str,
        env: str,
        version: str,
        digest: str,
        image: str,
        previous_task_definition_arn: str = "",
        kind: str = "release",
        rollback_of: str = "",
        git_sha: str = "",
        actor: str | None = None,
        run_url: str | None = None,
        strategy: str = "",
    ) -> ReleaseRecord:
        """Record a new attempt as in_progress and return it."""
        now = self.clock()
        rec = ReleaseRecord(
            target=f"{client}/{env}",
            release_id=new_release_id(now),
            client=client,
            env=env,
            version=version,
            digest=digest,
            image=image,
            kind=kind,
            previous_task_definition_arn=previous_task_definition_arn,
            started_at=iso(now),
            actor=actor if actor is not None else current_actor(),
            run_url=run_url if run_url is not None else ci_run_url(),
            rollback_of=rollback_of,
            git_sha=git_sha,
            strategy=strategy,
        )
        return self.put(rec)

    def observe(
        self,
        *,
        client: str,
        env: str,
        task_definition_arn: str,
        image: str,
        digest: str,
        healthy: bool,
        message: str,
        actor: str = "",
    ) -> ReleaseRecord:
        """Record a revision found serving that cosydeploy did not release, with what is
        known of it (``message``: its health when seen; ``actor``: who registered it)."""
        now = self.clock()
        rec = ReleaseRecord(
            target=f"{client}/{env}",
            release_id=new_release_id(now),
            client=client,
            env=env,
            version=task_definition_arn.rsplit("/", 1)[-1],
            digest=digest,
            image=image,
            outcome=OBSERVED_OUTCOMES[0] if healthy else OBSERVED_OUTCOMES[1],
            kind=OBSERVED,
            task_definition_arn=task_definition_arn,
            started_at=iso(now),
            actor=actor,
            message=message,
        )
        return self.put(rec)

    def finish(self, record: ReleaseRecord, outcome: str, **changes: Any) -> ReleaseRecord:
        """Record the outcome (and any other fields, e.g. diagnosis) with the end time."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        rec = replace(record, outcome=outcome, ended_at=iso(self.clock()), **changes)
        return self.put(rec)

    def update(self, record: ReleaseRecord, **changes: Any) -> ReleaseRecord:
        return self.put(replace(record, **changes))

    def reconcile(self, record: ReleaseRecord, outcome: str, how: str) -> ReleaseRecord | None:
        """Resolve a record its run left in_progress: ``outcome``, and when and how it was
        reconciled. Only over a record still in_progress (None when it no longer was)."""
        from boto3.dynamodb.types import TypeSerializer
        from botocore.exceptions import ClientError

        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        now = iso(self.clock())
        rec = replace(
            record,
            outcome=outcome,
            ended_at=record.ended_at or now,
            reconciled_at=now,
            reconciled_how=how,
        )
        ser = TypeSerializer()
        item = {k: ser.serialize(v) for k, v in rec.as_dict().items() if v not in ("", None, [])}
        try:
            self.db.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="outcome = :p",
                ExpressionAttributeValues={":p": {"S": "in_progress"}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise AwsError(f"release ledger {self.table}: {exc}") from exc
        return rec

    @staticmethod
    def _from_item(item: Mapping[str, Any]) -> ReleaseRecord:
        from boto3.dynamodb.types import TypeDeserializer

        de = TypeDeserializer()
        raw = {k: de.deserialize(v) for k, v in item.items()}
        known = {f.name for f in fields(ReleaseRecord)}
        data = {k: v for k, v in raw.items() if k in known}
        for k in ("client", "env", "version", "digest", "image"):
            data.setdefault(k, "")  # empty strings are not stored
        data["diagnosis"] = [str(x) for x in data.get("diagnosis") or []]
        return ReleaseRecord(**data)

    def history(self, client: str, env: str, limit: int | None = 20) -> list[ReleaseRecord]:
        """Records of one client/env, newest first."""
        out: list[ReleaseRecord] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "#t = :t",
            "ExpressionAttributeNames": {"#t": "target"},
            "ExpressionAttributeValues": {":t": {"S": f"{client}/{env}"}},
            "ScanIndexForward": False,
        }
        while True:
            resp = self._call("query", **kwargs)
            out.extend(self._from_item(i) for i in resp.get("Items", []))
            if (limit is not None and len(out) >= limit) or "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return out[:limit] if limit is not None else out

    def get(self, client: str, env: str, release_id: str) -> ReleaseRecord | None:
        resp = self._call(
            "get_item", Key={"target": {"S": f"{client}/{env}"}, "release_id": {"S": release_id}}
        )
        return self._from_item(resp["Item"]) if resp.get("Item") else None

    def last_good(
        self,
        client: str,
        env: str,
        *,
        version: str | None = None,
        exclude_digest: str | None = None,
    ) -> ReleaseRecord | None:
        """The newest succeeded attempt with a task definition (optionally of ``version``;
        optionally skipping records of ``exclude_digest``)."""
        for rec in self.history(client, env, limit=None):
            if rec.outcome not in GOOD or not rec.task_definition_arn:
                continue
            if version is not None and rec.version != version:
                continue
            if exclude_digest and rec.digest == exclude_digest:
                continue
            return rec
        return None

    # -------------------------------------------------------------- Terraform in step

    @staticmethod
    def infra_target(client: str, env: str) -> str:
        """Hash key of the Terraform record of a client/env (apart from its releases)."""
        return f"{client}/{env}#infra"

    def infra_state(self, client: str, env: str) -> dict[str, Any]:
        """What the ledger knows about the client/env's Terraform: ``fingerprint`` of the
        tfvars last applied, ``applied`` (the drift check's view of them), ``applied_at``,
        ``planned_at``... ({} when nothing was recorded)."""
        from boto3.dynamodb.types import TypeDeserializer

        resp = self._call(
            "get_item",
            Key={"target": {"S": self.infra_target(client, env)}, "release_id": {"S": "tfvars"}},
        )
        de = TypeDeserializer()
        return {k: de.deserialize(v) for k, v in (resp.get("Item") or {}).items()}

    def infra_states(
        self, targets: Sequence[tuple[str, str]], *, pause: Callable[[float], None] = time.sleep
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """``infra_state`` of many (client, env): ``BatchGetItem``, 100 keys a call
        (DynamoDB's limit), keys DynamoDB left unprocessed asked again after a pause.
        Every (client, env) asked is in the answer ({} when nothing was recorded)."""
        from boto3.dynamodb.types import TypeDeserializer

        de = TypeDeserializer()
        out: dict[tuple[str, str], dict[str, Any]] = {t: {} for t in targets}
        keys = [
            {"target": {"S": self.infra_target(c, e)}, "release_id": {"S": "tfvars"}}
            for c, e in dict.fromkeys(targets)
        ]
        for i in range(0, len(keys), BATCH_GET_MAX):
            pending: list[dict[str, Any]] = keys[i : i + BATCH_GET_MAX]
            for attempt in range(BATCH_GET_ATTEMPTS):
                resp = self._call(
                    "batch_get_item",
                    on_table=False,
                    RequestItems={self.table: {"Keys": pending}},
                )
                for item in (resp.get("Responses") or {}).get(self.table, []):
                    client, env = item["target"]["S"].removesuffix("#infra").split("/", 1)
                    out[(client, env)] = {k: de.deserialize(v) for k, v in item.items()}
                pending = ((resp.get("UnprocessedKeys") or {}).get(self.table) or {}).get(
                    "Keys"
                ) or []
                if not pending:
                    break
                pause(min(2.0, 0.05 * 2**attempt))
            if pending:
                raise AwsError(
                    f"release ledger {self.table}: {len(pending)} infra records left unread "
                    f"after {BATCH_GET_ATTEMPTS} tries (DynamoDB is throttling)",
                    hint="try again in a minute",
                )
        return out

    def record_infra(self, client: str, env: str, **values: Any) -> dict[str, Any]:
        """Merge ``values`` (e.g. fingerprint, applied, applied_at) into that record."""
        from boto3.dynamodb.types import TypeSerializer

        item = {
            **self.infra_state(client, env),
            **values,
            "target": self.infra_target(client, env),
            "release_id": "tfvars",
        }
        ser = TypeSerializer()
        self._call(
            "put_item",
            Item={k: ser.serialize(v) for k, v in item.items() if v not in ("", None, [])},
        )
        return item
