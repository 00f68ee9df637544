"""What a client/env is serving right now, from ECS and the release ledger."""

from __future__ import annotations

from typing import Any

OUTSIDE = "(outside)"  # the version of a revision cosydeploy did not release


def service_status(session: Any, target: Any) -> dict[str, Any]:
    """One row: serving version and digest, revision, counts, rollout state, last release.
    ``observed`` is true when the revision serving is one cosydeploy did not release (its
    version then reads ``(not cosydeploy's)``)."""
    from cosydeploy.ecs.taskdef import container_image
    from cosydeploy.image import ImageRef
    from cosydeploy.ledger import Ledger

    o = target.outputs
    ecs = session.client("ecs")
    svc = ecs.describe_services(cluster=o.cluster_name, services=[o.service_name])["services"]
    row: dict[str, Any] = {"client": target.client, "env": target.env}
    if not svc:
        row["state"] = "service missing"
        return row
    s = svc[0]
    primary: dict[str, Any] = next(
        (d for d in s.get("deployments", []) if d.get("status") == "PRIMARY"), {}
    )
    td_arn = primary.get("taskDefinition") or s.get("taskDefinition", "")
    digest = image = ""
    if td_arn:
        td = ecs.describe_task_definition(taskDefinition=td_arn)["taskDefinition"]
        image = container_image(td, o.container_name) or ""
        digest = ImageRef.parse(image).digest or "" if image else ""
    history = Ledger(session.client("dynamodb"), target.ledger_table).history(
        target.client, target.env, None
    )
    serving = next(
        (r for r in history if r.task_definition_arn == td_arn and r.outcome == "succeeded"), None
    )
    observed = (
        bool(td_arn)
        and image != target.initial_image
        and not any(r.task_definition_arn == td_arn and not r.observed for r in history)
    )
    last = next((r for r in history if not r.observed), None)
    row.update(
        {
            "version": OUTSIDE if observed else serving.version if serving else "-",
            "digest": digest[7:19] if digest else "-",
            "revision": td_arn.rsplit("/", 1)[-1] if td_arn else "-",
            "running": s.get("runningCount", 0),
            "desired": s.get("desiredCount", 0),
            "rollout": primary.get("rolloutState", "-"),
            "last": f"{last.kind} {last.version}" if last else "-",
            "outcome": last.outcome if last else "-",
            "observed": observed,
        }
    )
    return row
