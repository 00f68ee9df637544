"""A record left ``in_progress`` by a process that died, resolved from ECS's own state.

A live release holds its client/env's deploy lock from before it writes its record
until after it writes the outcome. So a record still ``in_progress`` that was started
before a moment the lock was seen free belongs to a process that ended without
finishing it (SIGKILL, a lost machine, a ledger write that failed). ``verdict`` reads
what ECS says of the revision it was rolling out; ``reconcile`` writes that outcome with
when and how it was reconciled (only over a record still ``in_progress``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cosydeploy.ledger import Ledger, ReleaseRecord


def _rev(arn: str) -> str:
    return arn.rsplit("/", 1)[-1] or "-"


def verdict(rec: ReleaseRecord, service: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(outcome, how) for an abandoned in_progress record; None while ECS has not decided."""
    if not rec.task_definition_arn:
        return "interrupted", "the run ended before it registered a revision: nothing changed"
    if not service:
        return "failed", "ECS no longer has the service"
    td, prev = rec.task_definition_arn, rec.previous_task_definition_arn
    current = service.get("taskDefinition", "")
    deps = list(service.get("deployments") or [])
    primary = next((d for d in deps if d.get("status") == "PRIMARY"), None)
    state = (primary or {}).get("rolloutState") or "COMPLETED"
    if primary is not None and state == "IN_PROGRESS":
        return None  # ECS is still deciding: leave it in_progress
    if current == td:
        if state == "COMPLETED":
            return "succeeded", (
                f"ECS: deployment {(primary or {}).get('id', '?')} of {_rev(td)} COMPLETED "
                "(the run ended before its own health check)"
            )
        return "failed", f"ECS: the deployment of {_rev(td)} is {state}"
    if rec.kind == "rollback":
        return "failed", f"ECS: the service runs {_rev(current)}, not {_rev(td)}"
    mine = next((d for d in deps if d.get("taskDefinition") == td), None)
    if current == prev:
        if mine is not None and mine.get("rolloutState") == "FAILED":
            return "rolled_back", (
                f"ECS: deployment {mine.get('id', '?')} of {_rev(td)} FAILED; the service is "
                f"back on {_rev(prev)}"
            )
        return "interrupted", (
            f"ECS: the service runs {_rev(prev)} as before; {_rev(td)} did not take"
        )
    return "failed", f"ECS: the service runs {_rev(current)}, neither {_rev(td)} nor {_rev(prev)}"


def reconcile(
    ledger: Ledger,
    ecs: Any,
    *,
    cluster: str,
    service: str,
    client: str,
    env: str,
    before: str,
    limit: int = 50,
) -> list[ReleaseRecord]:
    """Resolve the in_progress records of client/env started before ``before`` (a release
    id taken when the lock was seen free); returns the records it resolved."""
    stale = [
        r
        for r in ledger.history(client, env, limit=limit)
        if r.outcome == "in_progress" and r.release_id < before
    ]
    if not stale:
        return []
    found = ecs.describe_services(cluster=cluster, services=[service]).get("services") or []
    svc = found[0] if found and found[0].get("status") == "ACTIVE" else None
    done = []
    for rec in stale:
        decided = verdict(rec, svc)
        if decided is None:
            continue
        outcome, how = decided
        resolved = ledger.reconcile(rec, outcome, how)
        if resolved is not None:
            done.append(resolved)
    return done
