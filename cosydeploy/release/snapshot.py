"""A Redis snapshot before a release, where configured (default: the production
environment): ElastiCache ``CreateSnapshot`` of the stack's replication group, named after
the version and unique per run, then waited for until it is ``available``.

The wait is bounded: a snapshot that fails or is not available in time raises an
AwsError before anything of the release changed (the release stops, the service is
untouched). Restoring from a snapshot is never automatic: it makes a new replication
group, which is a person's decision; ``restore_hint`` says how.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cosydeploy.errors import AwsError

__all__ = [
    "SnapshotSettings",
    "before_release",
    "restore_hint",
    "rollback_note",
    "snapshot_name",
    "take_snapshot",
]

# ElastiCache's name rules: a letter first, letters, digits and single hyphens, no
# hyphen last; names are kept lowercase. The stack name (at most 38) leads, so a role's
# policy can scope snapshots to `<stack>-*`.
_NAME_MAX = 96
_VERSION_MAX = 32


@dataclass(frozen=True)
class SnapshotSettings:
    """Take a snapshot of ``replication_group_id`` before each release of this client/env."""

    replication_group_id: str
    timeout: float = 1800.0
    interval: float = 5.0


def _slug(text: str, limit: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-")


def snapshot_name(group: str, version: str, release_id: str) -> str:
    """``<group>-<version>-<yyyymmdd>-<hhmmss>-<4 hex>``: the version's name, unique per
    run (the release id's time and random part), valid for ElastiCache. Pure."""
    stamp = re.sub(r"[^0-9a-f]", "", release_id.split("-", 1)[-1].lower())[:4] or "0000"
    when = re.match(r"(\d{8})T(\d{6})", release_id)
    parts = [group.lower(), _slug(version, _VERSION_MAX) or "v"]
    if when:
        parts += [when.group(1), when.group(2)]
    name = "-".join([*parts, stamp])
    name = re.sub(r"-{2,}", "-", name)
    return name[:_NAME_MAX].rstrip("-")


def restore_hint(name: str, group: str, region: str) -> str:
    """How a person restores from the snapshot: a new replication group seeded from it
    (then point the stack at it), never in place."""
    return (
        f"aws elasticache create-replication-group --region {region} "
        f"--replication-group-id {group}-restored --replication-group-description "
        f"'restored from {name}' --snapshot-name {name} (then move the app to it)"
    )


def take_snapshot(
    elasticache: Any,
    settings: SnapshotSettings,
    name: str,
    *,
    on_wait: Callable[[str], None] = lambda status: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Create the snapshot ``name`` and wait until it is available; returns its name.

    Raises AwsError when it cannot be created, fails, or is not available within
    ``settings.timeout`` (the snapshot may still finish: it is named in the error).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    group = settings.replication_group_id
    try:
        created = elasticache.create_snapshot(ReplicationGroupId=group, SnapshotName=name)
    except (ClientError, BotoCoreError) as exc:
        from cosydeploy.adapters.aws import aws_fault

        cause = aws_fault(exc, "ElastiCache create_snapshot")
        raise AwsError(
            f"Redis snapshot {name} of {group} could not be made before the release: "
            f"{cause.message}; nothing was released",
            hint=cause.hint or "run again, or set redis.snapshot_before_release: false",
        ) from exc
    status = str((created.get("Snapshot") or {}).get("SnapshotStatus") or "creating")
    deadline = clock() + settings.timeout
    while status != "available":
        if status in {"failed", "deleted", "deleting"}:
            raise AwsError(
                f"Redis snapshot {name} of {group} is {status}; nothing was released",
                hint="look at the replication group's events, then run again",
            )
        if clock() >= deadline:
            raise AwsError(
                f"Redis snapshot {name} of {group} was not available after "
                f"{settings.timeout:.0f}s (still {status}); nothing was released",
                hint="run again once it is available, or raise release.snapshot_timeout "
                "in cosydeploy.yaml",
            )
        on_wait(status)
        sleep(settings.interval)
        try:
            found = elasticache.describe_snapshots(SnapshotName=name).get("Snapshots") or []
        except (ClientError, BotoCoreError) as exc:
            from cosydeploy.adapters.aws import aws_fault

            raise aws_fault(exc, "ElastiCache describe_snapshots") from exc
        status = str(found[0].get("SnapshotStatus") if found else "deleted")
    return name


def before_release(
    elasticache: Any,
    settings: SnapshotSettings,
    version: str,
    release_id: str,
    *,
    step: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """The snapshot before one release: named, taken, waited for; returns its name.
    Raises AwsError (nothing of the release changed) when it cannot be had in time."""
    if not settings.replication_group_id:
        raise AwsError(
            "a Redis snapshot before the release is configured, but the stack's recorded "
            "outputs name no replication group (redis_replication_group_id); nothing was "
            "released",
            hint="apply the stack once so its outputs are recorded: cosydeploy apply CLIENT "
            "--env ENV (or set redis.snapshot_before_release: false)",
        )
    name = snapshot_name(settings.replication_group_id, version, release_id)
    step(f"redis snapshot {name} (before the release)")
    return take_snapshot(elasticache, settings, name, clock=clock, sleep=sleep)


def rollback_note(name: str, version: str, group: str, region: str) -> str:
    """What ``rollback`` says of the snapshot taken before the release it rolls back from."""
    return (
        f"redis snapshot taken before {version}: {name} (the data is not restored: "
        f"that is a person's decision; to restore: {restore_hint(name, group, region)})"
    )
