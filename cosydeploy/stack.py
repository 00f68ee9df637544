"""The client stack's outputs: the contract between Terraform and the release pipeline.

``terraform/stacks/client`` and ``terraform/stacks/sandbox`` declare exactly these
outputs; the release pipeline reads nothing else about the infrastructure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

OUTPUT_NAMES = (
    "cluster_name",
    "service_name",
    "container_name",
    "task_family",
    "execution_role_arn",
    "task_role_arn",
    "log_group_name",
    "target_group_arn",
    "alb_dns_name",
    "app_url",
    "secret_arns",
    "parameter_names",
    "info_topic_arn",
    "redis_replication_group_id",
    "alarm_names",
    "alternate_target_group_arn",
    "production_listener_rule_arn",
    "test_listener_rule_arn",
    "test_url",
    "ecs_infrastructure_role_arn",
    #
    "cutover_zone_id",
    "cutover_record_name",
    "cutover_aws_set_identifier",
    "cutover_origin_set_identifier",
)


@dataclass(frozen=True)
class StackOutputs:
    cluster_name: str
    service_name: str
    container_name: str
    task_family: str
    execution_role_arn: str
    task_role_arn: str
    log_group_name: str
    target_group_arn: str = ""
    alb_dns_name: str = ""
    app_url: str = ""
    secret_arns: dict[str, str] = field(default_factory=dict)
    parameter_names: dict[str, str] = field(default_factory=dict)
    info_topic_arn: str = ""  # release notifications (stacks applied before it: none)
    redis_replication_group_id: str = ""  # the snapshot before a release
    # The stack's critical alarms (empty for a stack applied before it had this output).
    alarm_names: tuple[str, ...] = ()
    # Blue/green, canary and linear (stacks applied before them: none): the second target
    # group, the listener rules ECS moves traffic with, and where the test listener answers.
    alternate_target_group_arn: str = ""
    production_listener_rule_arn: str = ""
    test_listener_rule_arn: str = ""
    test_url: str = ""
    ecs_infrastructure_role_arn: str = ""
    # Cutover from an old origin (stacks without one, or applied before it: none): the
    # weighted records of the hostname; an empty zone id is looked up by the zone's name.
    cutover_zone_id: str = ""
    cutover_record_name: str = ""
    cutover_aws_set_identifier: str = ""
    cutover_origin_set_identifier: str = ""

    @classmethod
    def from_terraform(cls, raw: dict[str, Any]) -> StackOutputs:
        """Build from ``terraform output -json`` (values wrapped in {"value": ...}) or plain values."""
        values = plain_outputs(raw)
        known = {f.name for f in fields(cls)}
        missing = [
            n for n in OUTPUT_NAMES if n not in values and n in {"cluster_name", "service_name"}
        ]
        if missing:
            from cosydeploy.errors import TerraformError

            raise TerraformError(
                f"the stack has no output {', '.join(missing)}",
                hint="apply the client's stack first: cosydeploy apply CLIENT --env ENV",
            )
        kwargs: dict[str, Any] = {
            k: (v if v is not None else "") for k, v in values.items() if k in known
        }
        kwargs["alarm_names"] = tuple(kwargs.get("alarm_names") or ())
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def plain_outputs(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Stack outputs as plain values: ``terraform output -json`` wraps each in {"value": ...};
    outputs already plain (recorded ones) pass through."""
    return {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in raw.items()}
