"""What a client/env is serving right now, from ECS and the release ledger.

``status_row`` is pure: one row from the service as ECS describes it, the client/env's
ledger history and its task definition's image. ``describe_services_batched`` reads the
services of a fleet with one ``describe_services`` call per cluster and ECS client for
every 10 services (ECS's limit per call).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

OUTSIDE = "(outside)"  # the version of a revision cosydeploy did not release
MAX_SERVICES_PER_CALL = 10  # ECS DescribeServices takes at most 10 services


def status_row(
    target: Any,
    service: Mapping[str, Any] | None,
    history: Sequence[Any],
    image_of: Callable[[str], str],
) -> dict[str, Any]:
    """One row: serving version and digest, revision, counts, rollout state, last release.
    ``observed`` is true when the revision serving is one cosydeploy did not release (its
    version then reads ``(outside)``). ``image_of(task_definition_arn)`` gives a revision's
    image; it is asked only for a revision no record of cosydeploy's names."""
    from cosydeploy.image import ImageRef

    row: dict[str, Any] = {"client": target.client, "env": target.env}
    if not service:
        row["state"] = "service missing"
        return row
    s = service
    primary: Mapping[str, Any] = next(
        (d for d in s.get("deployments", []) if d.get("status") == "PRIMARY"), {}
    )
    td_arn = primary.get("taskDefinition") or s.get("taskDefinition", "")
    ours = [r for r in history if r.task_definition_arn == td_arn and not r.observed]
    image = ""
    if td_arn:
        image = next((r.image for r in ours if r.image), "") or image_of(td_arn)
    digest = (ImageRef.parse(image).digest or "") if image else ""
    serving = next(
        (r for r in history if r.task_definition_arn == td_arn and r.outcome == "succeeded"), None
    )
    observed = bool(td_arn) and image != target.initial_image and not ours
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


def describe_services_batched(
    wanted: Sequence[tuple[Any, str, str]],
    run: Callable[[Callable[[], Any]], Any] | None = None,
) -> dict[tuple[int, str, str], dict[str, Any]]:
    """``wanted``: (ecs client, cluster, service) triples. Returns the services found, by (id of the client, cluster, service name), reading each cluster's services
    10 at a time. ``run(fn)`` runs one call (e.g. submits it to a pool and returns the
    future); by default calls run one after the other."""
    groups: dict[tuple[int, str], tuple[Any, list[str]]] = {}
    for ecs, cluster, service in wanted:
        entry = groups.setdefault((id(ecs), cluster), (ecs, []))
        if service not in entry[1]:
            entry[1].append(service)
    calls = []
    for (_, cluster), (ecs, names) in groups.items():
        for i in range(0, len(names), MAX_SERVICES_PER_CALL):
            chunk = names[i : i + MAX_SERVICES_PER_CALL]

            def call(ecs=ecs, cluster=cluster, chunk=chunk) -> Any:
                return ecs, cluster, ecs.describe_services(cluster=cluster, services=chunk)

            calls.append(run(call) if run else call())
    found: dict[tuple[int, str, str], dict[str, Any]] = {}
    for got in calls:
        ecs, cluster, resp = got.result() if hasattr(got, "result") else got
        for s in resp.get("services") or []:
            found[(id(ecs), cluster, s.get("serviceName", ""))] = s
    return found
