"""`terraform plan` of the client stack for each tier and database, with the tfvars the
CLI renders for the fixture manifests, and what a real apply needs of each plan."""

from __future__ import annotations

import json
import re
import zipfile
from typing import Any

import pytest

from .conftest import CASES, Terraform, managed, one, rendered_tfvars

TIER = {"dev": "dev", "staging": "small", "prod": "large"}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest, terraform: Terraform) -> tuple[str, dict, dict]:
    client, env = CASES[request.param]
    tfvars = rendered_tfvars(client, env)
    return request.param, tfvars, terraform.plan("client", request.param, tfvars)


def by_type(plan: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in managed(plan):
        counts[r["type"]] = counts.get(r["type"], 0) + 1
    return counts


# ----------------------------------------------------------------- shape per tier


def test_counts_per_tier(case: tuple[str, dict, dict]) -> None:
    name, tfvars, plan = case
    tier, database = name.split("-")
    counts = by_type(plan)
    single_nat = tfvars["environment"] == "dev"
    assert counts["aws_nat_gateway"] == (1 if single_nat else 2)
    assert counts["aws_subnet"] == 4
    assert counts["aws_ecs_service"] == 1 and counts["aws_ecs_task_definition"] == 1
    assert counts["aws_appautoscaling_policy"] == 3
    assert counts.get("aws_docdb_cluster", 0) == (1 if database == "documentdb" else 0)
    assert counts.get("aws_docdb_cluster_instance", 0) == (2 if database == "documentdb" else 0)
    group = one(plan, "module.redis.aws_elasticache_replication_group.this")["values"]
    # The large tier keeps 2 nodes over the 2 AZs of the network (README, "Terraform").
    assert group["num_cache_clusters"] == {"dev": 1, "small": 3, "large": 2}[tier]
    assert group["multi_az_enabled"] is (tier != "dev")
    assert group["automatic_failover_enabled"] is (tier != "dev")
    assert every_resource_is_created(plan)


def every_resource_is_created(plan: dict[str, Any]) -> bool:
    actions = {
        tuple(c["change"]["actions"]) for c in plan["resource_changes"] if c["mode"] == "managed"
    }
    return actions == {("create",)}


def test_the_seed_numbers_land_where_they_belong(case: tuple[str, dict, dict]) -> None:
    _name, tfvars, plan = case
    env = tfvars["environment"]
    # The floor is 0 until the first release starts the service (test_apply_findings, 7).
    target = one(plan, "module.autoscaling.aws_appautoscaling_target.this")["values"]
    bounds = {"dev": (2, 2), "staging": (2, 4), "prod": (4, 10)}[env]
    assert (target["min_capacity"], target["max_capacity"]) == (0, bounds[1])
    assert (tfvars["service"]["min_count"], tfvars["service"]["max_count"]) == bounds
    policies = {
        r["index"]: r["values"]["target_tracking_scaling_policy_configuration"][0]
        for r in managed(plan, "aws_appautoscaling_policy")
    }
    assert {k: p["target_value"] for k, p in policies.items()} == {
        "cpu": 70,
        "memory": 80,
        "requests": 1000,
    }
    for p in policies.values():
        assert (p["scale_out_cooldown"], p["scale_in_cooldown"]) == (60, 300)
    assert [
        p["predefined_metric_specification"][0]["predefined_metric_type"]
        for k, p in sorted(policies.items())
        if k != "requests"
    ] == [
        "ECSServiceAverageCPUUtilization",
        "ECSServiceAverageMemoryUtilization",
    ]
    # Requests per task over both target groups: production is on either after a
    # blue/green, canary or linear release (the predefined metric names one group only).
    requests = policies["requests"]
    assert requests["predefined_metric_specification"] == []
    metrics = requests["customized_metric_specification"][0]["metrics"]
    stats = [m for m in metrics if m["metric_stat"]]
    assert len(stats) == 2 and not any(m["return_data"] for m in stats)
    for m in stats:
        metric = m["metric_stat"][0]["metric"][0]
        assert (metric["namespace"], metric["metric_name"]) == (
            "AWS/ApplicationELB",
            "RequestCountPerTarget",
        )
        assert m["metric_stat"][0]["stat"] == "Sum"
        assert [d["name"] for d in metric["dimensions"]] == ["LoadBalancer", "TargetGroup"]
    (total,) = [m for m in metrics if m["return_data"]]
    assert total["expression"] == "FILL(m1, 0) + FILL(m2, 0)"

    retention = {"dev": 7, "staging": 30, "prod": 90}[env]
    app_logs = one(plan, "module.ecs_service.aws_cloudwatch_log_group.this")["values"]
    assert app_logs["retention_in_days"] == retention
    assert app_logs["name"] == f"/ecs/cosyworld-{tfvars['client']}-{env}"

    task = one(plan, "module.ecs_service.aws_ecs_task_definition.this")["values"]
    assert (int(task["cpu"]), int(task["memory"])) == (
        tfvars["service"]["cpu"],
        tfvars["service"]["memory"],
    )
    assert (task["cpu"], task["memory"]) == {
        "dev": ("256", "512"),
        "staging": ("512", "1024"),
        "prod": ("1024", "2048"),
    }[env]


def test_every_resource_carries_the_cost_tags(case: tuple[str, dict, dict]) -> None:
    _, tfvars, plan = case
    want = {
        "Project": "cosyworld",
        "Client": tfvars["client"],
        "Environment": tfvars["environment"],
    }
    for r in managed(plan):
        tags_all = r["values"].get("tags_all")
        if tags_all is None and "tags_all" not in json.dumps(r.get("sensitive_values", {})):
            continue
        assert want.items() <= (tags_all or {}).items(), r["address"]


# ----------------------------------------------------------------- secrets


def test_no_secret_value_is_in_the_plan(case: tuple[str, dict, dict], terraform: Terraform) -> None:
    name, _, plan = case
    generated = [s for s in terraform.secrets_log.read_text().splitlines() if s]
    assert generated, "the plan generated no Redis password: the ephemeral resource was not opened"
    texts = [json.dumps(plan)]
    with zipfile.ZipFile(plan["_plan_file"]) as z:
        texts += [z.read(n).decode("latin-1") for n in z.namelist()]
    for secret in generated:
        assert not any(secret in t for t in texts), f"a generated password is in the {name} plan"
    for r in managed(plan):
        for attr in ("secret_string", "passwords", "auth_token", "master_password"):
            assert not r["values"].get(attr), f"{r['address']}.{attr} would be in the state"


# ----------------------------------------------------------------- names against AWS limits

# type -> (attribute, max length, extra rule); limits from the AWS API references.
DNS_LIKE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
NAME_RULES: dict[str, tuple[str, int, str]] = {
    "aws_lb": ("name", 32, "alb"),
    "aws_lb_target_group": ("name", 32, "dns"),
    "aws_elasticache_replication_group": ("replication_group_id", 40, "cache"),
    "aws_elasticache_subnet_group": ("name", 255, "cache"),
    "aws_elasticache_user": ("user_id", 40, "cache"),
    "aws_elasticache_user_group": ("user_group_id", 40, "cache"),
    "aws_docdb_cluster": ("cluster_identifier", 63, "cache"),
    "aws_docdb_cluster_instance": ("identifier", 63, "cache"),
    "aws_docdb_subnet_group": ("name", 255, "lower"),
    "aws_docdb_cluster_parameter_group": ("name", 255, "cache"),
    "aws_s3_bucket": ("bucket", 63, "dns"),
    "aws_iam_role": ("name", 64, ""),
    "aws_iam_role_policy": ("name", 128, ""),
    "aws_ecs_cluster": ("name", 255, ""),
    "aws_ecs_service": ("name", 255, ""),
    "aws_ecs_task_definition": ("family", 255, ""),
    "aws_cloudwatch_log_group": ("name", 512, ""),
    "aws_cloudwatch_metric_alarm": ("alarm_name", 255, ""),
    "aws_cloudwatch_dashboard": ("dashboard_name", 255, ""),
    "aws_sns_topic": ("name", 256, ""),
    "aws_kms_alias": ("name", 256, ""),
    "aws_dynamodb_table": ("name", 255, ""),
    "aws_secretsmanager_secret": ("name", 512, ""),
    "aws_ssm_parameter": ("name", 1011, ""),
    "aws_security_group": ("name", 255, ""),
    "aws_appautoscaling_policy": ("name", 256, ""),
    "aws_cloudwatch_event_rule": ("name", 64, ""),
    "aws_budgets_budget": ("name", 100, ""),
}


def name_problems(rtype: str, value: str) -> list[str]:
    _attr, limit, rule = NAME_RULES[rtype]
    problems = []
    if len(value) > limit:
        problems.append(f"{len(value)} characters, more than {limit}")
    if rule in ("dns", "alb", "cache") and not DNS_LIKE.match(value):
        problems.append("not lowercase letters, digits and single dashes")
    if rule == "cache" and "--" in value:
        problems.append("two dashes in a row")
    if rule == "alb" and value.startswith("internal-"):
        problems.append("starts with internal-")
    return problems


def test_generated_names_fit_the_aws_limits(case: tuple[str, dict, dict]) -> None:
    _, _, plan = case
    problems = []
    for r in managed(plan):
        if r["type"] in NAME_RULES:
            attr = NAME_RULES[r["type"]][0]
            value = r["values"].get(attr)
            if isinstance(value, str):
                problems += [
                    f"{r['address']}.{attr} = {value!r}: {p}"
                    for p in name_problems(r["type"], value)
                ]
    assert problems == []


def test_the_name_rules_catch_what_aws_rejects() -> None:
    assert name_problems("aws_elasticache_replication_group", "a" * 41)
    assert name_problems("aws_elasticache_replication_group", "acme--prod")
    assert name_problems("aws_lb", "internal-tools-prod")
    assert name_problems("aws_s3_bucket", "Upper-case")
    assert not name_problems("aws_lb", "acme-prod")


def test_the_dashboard_shows_what_the_seed_asks_for() -> None:
    """The seed's dashboard: requests by status class, requests per target, network bytes,
    next to tasks, CPU/memory, latency, health and Redis. (The dashboard body depends on
    the load balancer's ARN, unknown at plan time, so this reads the module itself.)"""
    import hcl2

    from .conftest import ROOT

    text = (ROOT / "terraform" / "modules" / "monitoring" / "main.tf").read_text()
    widgets = hcl2.loads(text)["locals"]
    found = " ".join(str(block.get("widgets", "")) for block in widgets)
    for metric in (
        "HTTPCode_Target_2XX_Count",
        "HTTPCode_Target_4XX_Count",
        "HTTPCode_Target_5XX_Count",
        "RequestCountPerTarget",
        "ProcessedBytes",
        "NetworkRxBytes",
        "NetworkTxBytes",
        "TargetResponseTime",
        "CPUUtilization",
        "MemoryUtilization",
        "CacheHitRate",
    ):
        assert metric in found, metric
