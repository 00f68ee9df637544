"""Terraform in step with a release (pure decisions over recorded and rendered values).

A release plans a client's workspace only when the rendered tfvars changed since the
last successful apply (their fingerprint is kept in the ledger's infra record), and
warns when what Terraform applied and the running service disagree.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cosydeploy.stack import plain_outputs


@dataclass(frozen=True)
class InfraCheck:
    """What the Terraform step of one client's release did."""

    planned: bool
    reason: str
    changes: int = 0
    warning: str = ""


def check_infra(
    *,
    mode: str,
    tfvars: str,
    recorded: Mapping[str, Any] | None,
    plan: Callable[[], Any],
    record: Callable[..., object],
    now: Callable[[], float] = time.time,
    apply_hint: str = "",
) -> InfraCheck:
    """Plan the workspace only when the rendered tfvars changed since the last
    successful apply (``recorded["fingerprint"]``) or ``mode == "force"``; ``skip`` skips.

    ``plan()`` returns a PlanSummary; ``record(**fields)`` keeps the outcome in the
    ledger. A plan without changes means the state already matches these tfvars, so
    their fingerprint is recorded as applied; a plan with changes is left for
    ``cosydeploy apply`` and reported as a warning.
    """
    from cosydeploy.ledger import iso
    from cosydeploy.render import fingerprint

    fp = fingerprint(tfvars)
    if mode == "skip":
        return InfraCheck(False, "skipped (--skip-infra)")
    if mode != "force" and recorded and recorded.get("fingerprint") == fp:
        return InfraCheck(False, "tfvars unchanged since the last apply: no plan")
    why = (
        "--infra"
        if mode == "force"
        else "tfvars changed since the last apply"
        if recorded and recorded.get("fingerprint")
        else "no apply recorded yet"
    )
    summary = plan()
    n = int(summary.adds + summary.updates + summary.destroys)
    fields: dict[str, Any] = {
        "planned_at": iso(now()),
        "planned_fingerprint": fp,
        "plan_changes": n,
    }
    if not summary.has_changes:
        fields.update(
            fingerprint=fp,
            applied=_applied_view(tfvars),
            applied_at=iso(now()),
            applied_by="plan without changes",
        )
    record(**fields)
    if summary.has_changes:
        return InfraCheck(
            True,
            f"planned ({why}): {summary.adds} to add, {summary.updates} "
            f"to change, {summary.destroys} to destroy",
            n,
            warning=f"Terraform has {n} pending change(s) for this workspace: "
            f"{apply_hint or 'run cosydeploy apply'}",
        )
    return InfraCheck(True, f"planned ({why}): no changes")


def _applied_view(tfvars: str) -> str:
    """The parts of the tfvars the drift check compares, as kept in the ledger."""
    data = json.loads(tfvars)
    svc = data.get("service") or {}
    net = data.get("network") or {}
    view = {k: svc.get(k) for k in ("desired_count", "min_count", "max_count", "container_port")}
    view["private_subnet_cidrs"] = list(net.get("private_subnet_cidrs") or [])
    return json.dumps(view, sort_keys=True)


def applied_view(recorded: Mapping[str, Any] | None, tfvars: str) -> dict[str, Any]:
    """What Terraform last applied (from the ledger), else what the tfvars say now."""
    raw = (recorded or {}).get("applied") or _applied_view(tfvars)
    return json.loads(raw)


def terraform_drift(
    applied: Mapping[str, Any],
    outputs: Any,
    service: Mapping[str, Any],
    subnet_cidrs: Sequence[str] | None = None,
) -> list[str]:
    """Differences between what Terraform last applied and the running service (pure).

    Each one names what differs and what the next ``apply`` (or the autoscaling target
    Terraform owns) would do about it.
    """
    out: list[str] = []
    desired = service.get("desiredCount")
    lo, hi = applied.get("min_count"), applied.get("max_count")
    if (
        isinstance(desired, int)
        and isinstance(lo, int)
        and isinstance(hi, int)
        and not lo <= desired <= hi
    ):
        out.append(
            f"desired count: the service wants {desired} tasks, Terraform's bounds are "
            f"{lo}-{hi}: the autoscaling target it applies will pull it back"
        )
    td = str(service.get("taskDefinition") or "")
    family = td.rsplit("/", 1)[-1].rsplit(":", 1)[0] if td else ""
    if family and outputs.task_family and family != outputs.task_family:
        out.append(
            f"task definition family: the service runs {family}, Terraform's family is "
            f"{outputs.task_family}: the release registers in {outputs.task_family}"
        )
    lbs = list(service.get("loadBalancers") or [])
    if outputs.target_group_arn and lbs:
        ours = [lb for lb in lbs if lb.get("targetGroupArn") == outputs.target_group_arn]
        if not ours:
            found = ", ".join(
                str(lb.get("targetGroupArn", "?")).split("/")[-2]
                for lb in lbs
                if "/" in str(lb.get("targetGroupArn", ""))
            )
            out.append(
                f"load balancer: the service is attached to target group "
                f"{found or '?'}, Terraform to {outputs.target_group_arn}: "
                f"the next apply will attach it back"
            )
        for lb in ours:
            name, port = lb.get("containerName"), lb.get("containerPort")
            want_port = applied.get("container_port")
            if name and outputs.container_name and name != outputs.container_name:
                out.append(
                    f"load balancer: container {name} is attached, Terraform attaches "
                    f"{outputs.container_name}: the next apply will change it back"
                )
            if port is not None and want_port is not None and int(port) != int(want_port):
                out.append(
                    f"load balancer: container port {port} is attached, Terraform's "
                    f"is {want_port}: the next apply will change it back"
                )
    want_cidrs = sorted(applied.get("private_subnet_cidrs") or [])
    if subnet_cidrs is not None and want_cidrs and sorted(subnet_cidrs) != want_cidrs:
        out.append(
            f"network: the service runs in subnets {', '.join(sorted(subnet_cidrs))}, "
            f"Terraform's private subnets are {', '.join(want_cidrs)}: the next apply "
            f"will move it back"
        )
    return out


def service_subnet_cidrs(ec2: Any, service: Mapping[str, Any]) -> list[str] | None:
    """CIDR blocks of the subnets the running service is placed in (None when unknown)."""
    cfg = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    ids = list(cfg.get("subnets") or [])
    if not ids:
        return None
    resp = ec2.describe_subnets(SubnetIds=ids)
    return [s.get("CidrBlock", "?") for s in resp.get("Subnets") or []]


def record_applied(
    ledger: Any,
    client: str,
    env: str,
    tfvars: str,
    *,
    outputs: Mapping[str, Any] | None = None,
    by: str = "apply",
    stack_revision: str = "",
    now: Callable[[], float] = time.time,
) -> None:
    """After a successful apply: keep the tfvars fingerprint, the drift check's view of
    them and the stack outputs in the ledger, so the next release skips the plan while
    the tfvars are unchanged and status/history/rollback need no Terraform; and the
    stack's own revision when the service runs it (``stack_revision``)."""
    from cosydeploy.ledger import iso
    from cosydeploy.render import fingerprint

    fields: dict[str, Any] = dict(
        fingerprint=fingerprint(tfvars),
        applied=_applied_view(tfvars),
        applied_at=iso(now()),
        applied_by=by,
    )
    if outputs:
        fields["outputs"] = json.dumps(plain_outputs(outputs), sort_keys=True)
    if stack_revision:
        fields["stack_revision"] = stack_revision
    ledger.record_infra(client, env, **fields)


def stack_revision(ecs: Any, outputs: Mapping[str, Any], initial_image: str) -> str:
    """The revision the service runs after an apply when it is the stack's own (its app
    container on the stack's placeholder image), else "". A revision never changes: kept
    in the ledger, it lets ``status`` tell a client never released from one running a
    revision made outside cosydeploy without a ``describe_task_definition`` each."""
    from cosydeploy.ecs.taskdef import container_image

    plain = plain_outputs(outputs)
    cluster, service = plain.get("cluster_name"), plain.get("service_name")
    if not (cluster and service and initial_image):
        return ""
    found = ecs.describe_services(cluster=cluster, services=[service]).get("services") or []
    arn = str(found[0].get("taskDefinition") or "") if found else ""
    if not arn:
        return ""
    td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return (
        arn if container_image(td, str(plain.get("container_name") or "")) == initial_image else ""
    )


def recorded_outputs(recorded: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The stack outputs kept at the last apply, or None for a stack applied before
    outputs were recorded (the caller then reads them from Terraform once)."""
    raw = (recorded or {}).get("outputs")
    if not raw:
        return None
    data = json.loads(raw)
    return data if isinstance(data, dict) and data.get("cluster_name") else None
