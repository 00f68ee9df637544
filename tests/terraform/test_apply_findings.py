"""What a real plan or apply would trip on, each shown with real Terraform and the
stand-in providers (the numbers are those of the findings)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import CASES, ROOT, TF, Terraform, change, managed, one, rendered_tfvars

sys.path.insert(0, str(ROOT / "tools" / "tfstub"))

import mirror

PROVIDER_USERS = sorted(
    p.parent.relative_to(TF) for p in TF.rglob("versions.tf") if "hashicorp/aws" in p.read_text()
)


@pytest.fixture(scope="module")
def base(terraform: Terraform) -> tuple[dict[str, Any], dict[str, Any]]:
    tfvars = rendered_tfvars("northwind-traders-eu", "prod")
    return tfvars, terraform.plan("client", "findings-prod", tfvars)


def module_config(plan: dict[str, Any], *path: str) -> dict[str, Any]:
    config = plan["configuration"]["root_module"]
    for name in path:
        config = config["module_calls"][name]["module"]
    return dict(config)


def resource_config(plan: dict[str, Any], module: str, address: str) -> dict[str, Any]:
    found = [r for r in module_config(plan, module)["resources"] if r["address"] == address]
    assert len(found) == 1, address
    return dict(found[0])


# 1. --------------------------------------------------------------- provider constraints


@pytest.mark.parametrize(
    ("offered", "refused"),
    [
        ({"aws": "6.46.0", "random": "3.7.2"}, "aws"),
        ({"aws": "6.47.0", "random": "3.7.0"}, "random"),
    ],
)
def test_1_constraints_refuse_releases_without_the_arguments_used(
    terraform: Terraform, tmp_path: Path, offered: dict[str, str], refused: str
) -> None:
    """aws 6.46 lacks aws_elasticache_user.passwords_wo; random 3.7.0 lacks the ephemeral
    random_password: a mirror offering only those must make init fail."""
    rc_file = mirror.install(tmp_path / "old", only=offered)
    copy = tmp_path / "terraform"
    shutil.copytree(TF, copy, symlinks=False, ignore=shutil.ignore_patterns(".terraform*"))
    users = [
        d
        for d in PROVIDER_USERS
        if refused == "aws" or "hashicorp/random" in (TF / d / "versions.tf").read_text()
    ]
    assert users
    saved = os.environ["TF_CLI_CONFIG_FILE"]
    os.environ["TF_CLI_CONFIG_FILE"] = str(rc_file)
    try:
        for rel in users:
            rc, out, err = terraform.run(
                copy / rel, "init", "-backend=false", "-input=false", "-no-color"
            )
            assert rc != 0, f"{rel} accepts {refused} {offered[refused]}"
            assert "no available releases match the given constraints" in " ".join(
                (err + out).split()
            )
    finally:
        os.environ["TF_CLI_CONFIG_FILE"] = saved


def test_1_every_stack_and_module_needs_terraform_1_11() -> None:
    for path in TF.rglob("versions.tf"):
        text = path.read_text()
        assert re.search(r'required_version\s*=\s*">= 1\.11"', text), path.relative_to(ROOT)


# 2. --------------------------------------------------------------- Redis ACL


def test_2_the_redis_user_may_use_pub_sub_and_info(base: tuple[dict, dict]) -> None:
    _, plan = base
    rules = one(plan, "module.redis.aws_elasticache_user.app")["values"]["access_string"].split()
    assert rules[0] == "on"
    assert "&*" in rules or "allchannels" in rules, "Redis 7 users get no channel by default"
    assert "+@all" in rules
    # -@dangerous takes INFO away; the client's ready check needs it back, after it.
    if "-@dangerous" in rules:
        assert "+info" in rules[rules.index("-@dangerous") :]
    default = one(plan, "module.redis.aws_elasticache_user.default")["values"]
    assert default["access_string"].split()[0] == "off"


# 3. --------------------------------------------------------------- one source for the Redis password


def test_3_the_redis_user_takes_its_password_from_the_secret(base: tuple[dict, dict]) -> None:
    _, plan = base
    user = resource_config(plan, "redis", "aws_elasticache_user.app")
    refs = user["expressions"]["passwords_wo"]["references"]
    assert any(r.startswith("ephemeral.aws_secretsmanager_secret_version.") for r in refs), refs
    assert not any(r.startswith("ephemeral.random_password") for r in refs)
    # The secret read follows the version Terraform writes, so a new password reaches
    # the secret first and the user second (ephemeral blocks are not in the plan JSON).
    text = (TF / "modules" / "redis" / "main.tf").read_text()
    block = re.search(
        r'ephemeral "aws_secretsmanager_secret_version" "auth_token" \{(.*?)\n\}', text, re.S
    )
    assert block, "no ephemeral read of the secret"
    assert "aws_secretsmanager_secret_version.auth_token.version_id" in block.group(1)


# 4. --------------------------------------------------------------- target group replacement


def test_4_a_new_port_gives_the_replacement_target_group_a_new_name(
    terraform: Terraform, base: tuple[dict, dict]
) -> None:
    tfvars, plan = base
    other = json.loads(json.dumps(tfvars))
    other["service"]["container_port"] = 8080
    moved = terraform.plan("client", "findings-port", other)
    before = one(plan, "module.alb.aws_lb_target_group.this")["values"]["name"]
    after = one(moved, "module.alb.aws_lb_target_group.this")["values"]["name"]
    assert before != after
    assert len(before) <= 32 and len(after) <= 32
    text = (TF / "modules" / "alb" / "main.tf").read_text()
    group = re.search(r'resource "aws_lb_target_group" "this" \{(.*?)\n\}', text, re.S)
    assert group and "create_before_destroy = true" in group.group(1)


# 5. --------------------------------------------------------------- no module-level depends_on


def test_5_the_service_module_reads_its_data_sources_at_plan_time(base: tuple[dict, dict]) -> None:
    _, plan = base
    deferred = [
        c["address"]
        for c in plan["resource_changes"]
        if c["mode"] == "data" and c["address"].startswith("module.ecs_service.")
    ]
    assert deferred == [], "these reads wait for apply, making the task definition unknown"
    assert "depends_on" not in plan["configuration"]["root_module"]["module_calls"]["ecs_service"]
    output = module_config(plan, "alb")["outputs"]["target_group_arn"]
    assert output.get("depends_on") == ["aws_lb_listener.https"]


# 8. --------------------------------------------------------------- name rules in Terraform


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("client", "acme--eu", "client must be 2-20 lowercase letters"),
        ("client", "internal-tools", 'client must not start with "internal"'),
        ("environment", "production", "environment must be 2-7 lowercase letters"),
        ("project", "cosyworld-platform", "longer than the 38 characters"),
        (
            "log_retention_days",
            45,
            "service.log_retention_days must be a value CloudWatch Logs accepts",
        ),
    ],
)
def test_8_the_client_stack_refuses_names_aws_rejects(
    terraform: Terraform, base: tuple[dict, dict], field: str, value: Any, message: str
) -> None:
    tfvars = json.loads(json.dumps(base[0]))
    if field == "log_retention_days":
        tfvars["service"]["log_retention_days"] = value
    else:
        tfvars[field] = value
    directory = terraform.copy / "stacks" / "client"
    (directory / "bad.tfvars.json").write_text(json.dumps(tfvars))
    text = " ".join(terraform.plan_error(directory, "-var-file=bad.tfvars.json").split())
    assert message in text, text[-1500:]


# 6. --------------------------------------------------------------- task egress and VPC endpoints


def egress_rules(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["address"].split(".")[-1]: r["values"]
        for r in managed(plan, "aws_vpc_security_group_egress_rule")
        if ".tasks_" in r["address"]
    }


@pytest.mark.parametrize("case", ["large-atlas", "large-documentdb"])
def test_6_tasks_reach_out_on_443_6379_and_27017_only(terraform: Terraform, case: str) -> None:
    client, env = CASES[case]
    plan = terraform.plan("client", case, rendered_tfvars(client, env))
    rules = egress_rules(plan)
    assert set(rules) == {"tasks_https", "tasks_to_redis", "tasks_to_database"}
    assert all(r["ip_protocol"] == "tcp" for r in rules.values())
    assert {(r["from_port"], r["to_port"]) for r in rules.values()} == {
        (443, 443),
        (6379, 6379),
        (27017, 27017),
    }
    assert rules["tasks_https"]["cidr_ipv4"] == "0.0.0.0/0"
    # Only HTTPS and Atlas (on the internet) go to any address; Redis and DocumentDB
    # are reached by their security group.
    open_rules = {n for n, r in rules.items() if r.get("cidr_ipv4") == "0.0.0.0/0"}
    assert open_rules == (
        {"tasks_https", "tasks_to_database"} if "atlas" in case else {"tasks_https"}
    )
    config = {
        r["address"].split(".")[-1]: r["expressions"]
        for r in module_config(plan, "security_groups")["resources"]
        if r["type"] == "aws_vpc_security_group_egress_rule"
    }
    for name in rules:
        assert "aws_security_group.tasks.id" in config[name]["security_group_id"]["references"]
    assert (
        "aws_security_group.redis.id"
        in config["tasks_to_redis"]["referenced_security_group_id"]["references"]
    )


def test_6_s3_and_dynamodb_have_gateway_endpoints_on_the_private_routes(
    base: tuple[dict, dict],
) -> None:
    tfvars, plan = base
    endpoints = {r["index"]: r["values"] for r in managed(plan, "aws_vpc_endpoint")}
    assert set(endpoints) == {"s3", "dynamodb"}, "the cost model says no interface endpoint pays"
    for service, e in endpoints.items():
        assert e["vpc_endpoint_type"] == "Gateway"
        assert e["service_name"] == f"com.amazonaws.{tfvars['region']}.{service}"
    gateway = resource_config(plan, "network", "aws_vpc_endpoint.gateway")
    assert "aws_route_table.private" in gateway["expressions"]["route_table_ids"]["references"]


def test_6_an_interface_endpoint_the_tfvars_ask_for_is_private_and_reachable(
    terraform: Terraform, base: tuple[dict, dict]
) -> None:
    tfvars = json.loads(json.dumps(base[0]))
    tfvars["network"]["interface_endpoints"] = ["logs"]
    plan = terraform.plan("client", "findings-endpoints", tfvars)
    logs = one(plan, 'module.network.aws_vpc_endpoint.interface["logs"]')["values"]
    assert logs["vpc_endpoint_type"] == "Interface" and logs["private_dns_enabled"] is True
    https = one(plan, "module.network.aws_vpc_security_group_ingress_rule.endpoints_https[0]")
    assert (https["values"]["from_port"], https["values"]["cidr_ipv4"]) == (443, "10.0.0.0/16")


# 7. --------------------------------------------------------------- the first apply starts nothing


def test_7_the_first_apply_starts_no_task_and_pages_nobody(base: tuple[dict, dict]) -> None:
    tfvars, plan = base
    service = one(plan, "module.ecs_service.aws_ecs_service.this")["values"]
    assert service["desired_count"] == 0
    # Registering [min, max] lifts the count into it at once: the floor waits for a release.
    target = one(plan, "module.autoscaling.aws_appautoscaling_target.this")["values"]
    assert (target["min_capacity"], target["max_capacity"]) == (0, tfvars["service"]["max_count"])
    floor = module_config(plan)["module_calls"]["autoscaling"]["expressions"]["min_count"]
    assert "module.ecs_service.desired_count" in floor["references"]
    # The no-healthy-target page needs a service that wants tasks.
    alarm = one(plan, "module.monitoring.aws_cloudwatch_metric_alarm.no_healthy_targets")["values"]
    queries = {q["id"]: q for q in alarm["metric_query"]}
    assert queries["desired"]["metric"][0]["metric_name"] == "DesiredTaskCount"
    assert "FILL(desired, 0) > 0" in queries["none_healthy"]["expression"]
    assert alarm["treat_missing_data"] == "notBreaching"


def test_7_once_a_release_started_the_service_the_floor_is_the_tiers(
    terraform: Terraform, base: tuple[dict, dict], tmp_path: Path
) -> None:
    """Apply, let a release start 4 tasks (the service's count in the state, as a refresh
    reads it), plan again: the scaling minimum becomes min_count and nothing else moves."""
    tfvars, _ = base
    copy = tmp_path / "terraform"
    shutil.copytree(
        terraform.copy,
        copy,
        ignore=shutil.ignore_patterns(".terraform*", "*.tf*state*", "*.tfplan"),
    )
    stack = copy / "stacks" / "client"
    (stack / "started.tfvars.json").write_text(json.dumps(tfvars))
    rc, out, err = terraform.run(stack, "init", "-input=false", "-no-color")
    assert rc == 0, err
    args = ("-input=false", "-no-color", "-lock=false", "-var-file=started.tfvars.json")
    rc, out, err = terraform.run(stack, "apply", "-auto-approve", *args)
    assert rc == 0, err[-3000:]
    state_file = stack / "terraform.tfstate"
    state = json.loads(state_file.read_text())
    (service,) = [
        r
        for r in state["resources"]
        if r.get("module") == "module.ecs_service" and r["type"] == "aws_ecs_service"
    ]
    service["instances"][0]["attributes"]["desired_count"] = 4
    state["serial"] += 1
    state_file.write_text(json.dumps(state))
    rc, out, err = terraform.run(stack, "plan", "-out=again.tfplan", *args)
    assert rc == 0, err[-3000:]
    rc, out, err = terraform.run(stack, "show", "-json", "-no-color", "again.tfplan")
    changes = {
        c["address"]: c["change"]
        for c in json.loads(out)["resource_changes"]
        if c["change"]["actions"] != ["no-op"] and c["mode"] == "managed"
    }
    target = "module.autoscaling.aws_appautoscaling_target.this"
    assert set(changes) == {target}, sorted(changes)
    assert changes[target]["actions"] == ["update"]
    assert (
        changes[target]["before"]["min_capacity"],
        changes[target]["after"]["min_capacity"],
    ) == (
        0,
        tfvars["service"]["min_count"],
    )


# 11. -------------------------------------------------------------- the smaller ones


def test_11_a_dead_task_stops_getting_traffic_within_30_seconds(base: tuple[dict, dict]) -> None:
    check = one(base[1], "module.alb.aws_lb_target_group.this")["values"]["health_check"][0]
    assert check["interval"] == 10 and check["interval"] * check["unhealthy_threshold"] <= 30
    assert check["timeout"] < check["interval"]


def test_11_only_this_accounts_flow_logs_take_the_flow_log_role(base: tuple[dict, dict]) -> None:
    tfvars, plan = base
    assert tfvars["network"]["flow_logs"] is True
    role = one(plan, "module.network.aws_iam_role.flow_logs[0]")["values"]
    (statement,) = json.loads(role["assume_role_policy"])["Statement"]
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == tfvars["account_id"]
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"].endswith(
        f":{tfvars['account_id']}:vpc-flow-log/*"
    )


def test_11_the_media_bucket_refuses_plain_http(base: tuple[dict, dict]) -> None:
    _, plan = base
    config = resource_config(plan, "storage", "aws_s3_bucket_policy.this")
    assert (
        "data.aws_iam_policy_document.tls_only.json"
        in config["expressions"]["policy"]["references"]
    )
    doc = resource_config(plan, "storage", "data.aws_iam_policy_document.tls_only")
    doc = doc["expressions"]["statement"][0]
    assert doc["effect"]["constant_value"] == "Deny"
    condition = doc["condition"][0]
    assert condition["variable"]["constant_value"] == "aws:SecureTransport"
    assert condition["values"]["constant_value"] == ["false"]


def test_11_a_manifest_secret_cannot_take_a_stack_owned_name(
    terraform: Terraform, base: tuple[dict, dict]
) -> None:
    tfvars = json.loads(json.dumps(base[0]))
    tfvars["app"]["secret_names"].append("REDIS_AUTH_TOKEN")
    directory = terraform.copy / "stacks" / "client"
    (directory / "owned.tfvars.json").write_text(json.dumps(tfvars))
    text = " ".join(terraform.plan_error(directory, "-var-file=owned.tfvars.json").split())
    assert "app.secret_names must not name what the stack gives the container itself" in text


@pytest.mark.parametrize("case", ["dev-documentdb", "large-documentdb"])
def test_11_a_dev_stack_can_be_torn_down_and_built_again(terraform: Terraform, case: str) -> None:
    client, env = CASES[case]
    plan = terraform.plan("client", case, rendered_tfvars(client, env))
    dev = env == "dev"
    table = one(plan, "module.storage.aws_dynamodb_table.video_uploads")["values"]
    assert table["deletion_protection_enabled"] is (not dev)
    cluster = one(plan, "module.documentdb[0].aws_docdb_cluster.this")["values"]
    assert cluster["skip_final_snapshot"] is dev
    assert cluster["deletion_protection"] is (env == "prod")
    if dev:
        assert cluster["final_snapshot_identifier"] is None
    else:
        # Named after the cluster's creation time (unknown until apply), never fixed.
        assert "final_snapshot_identifier" not in cluster
        change_ = change(plan, "module.documentdb[0].aws_docdb_cluster.this")["change"]
        assert change_["after_unknown"]["final_snapshot_identifier"] is True


# 10. -------------------------------------------------------------- monitoring against the seed


# 9. --------------------------------------------------------------- Route 53 in a DNS account

DNS_ACCOUNT = {"account_id": "111122223333", "role_arn": "arn:aws:iam::111122223333:role/dns"}


def provider_keys(plan: dict[str, Any]) -> dict[str, str]:
    """Route 53 and ACM blocks of the configuration -> the provider configuration they use."""
    found = {}
    for module in ("alb", "dns"):
        for r in module_config(plan, module)["resources"]:
            if "route53" in r["address"] or "acm" in r["address"]:
                found[f"{module}.{r['address']}"] = r["provider_config_key"]
    return found


@pytest.mark.parametrize("dns_account", [None, DNS_ACCOUNT], ids=["own-account", "dns-account"])
def test_9_route53_goes_through_the_dns_provider(
    terraform: Terraform, base: tuple[dict, dict], dns_account: dict[str, str] | None
) -> None:
    """The zone lookup, the validation records and the alias record use aws.dns (the DNS
    account's role when there is one); the certificate stays in the client's account and
    its validation gives up after a bounded time."""
    tfvars = json.loads(json.dumps(base[0]))
    assert tfvars["dns"] is None
    tfvars["dns"] = dns_account
    plan = base[1] if dns_account is None else terraform.plan("client", "findings-dns", tfvars)
    assert plan["variables"]["dns"]["value"] == dns_account
    assert provider_keys(plan) == {
        "dns.data.aws_route53_zone.this": "aws.dns",
        "dns.aws_route53_record.validation": "aws.dns",
        "dns.aws_route53_record.this": "aws.dns",
        "dns.aws_route53_record.weighted": "aws.dns",  # with an old origin (cutover)
        "alb.aws_acm_certificate.this": "aws",
        "alb.aws_acm_certificate_validation.this": "aws",
    }
    validation = one(plan, "module.alb.aws_acm_certificate_validation.this")["values"]
    assert validation["timeouts"]["create"] == "15m"
    assert (
        one(plan, "module.dns.aws_route53_record.this[0]")["values"]["name"] == tfvars["hostname"]
    )
    records = [r for r in managed(plan, "aws_route53_record") if ".validation" in r["address"]]
    assert [r["index"] for r in records] == [tfvars["hostname"]]


def test_9_a_dns_role_of_another_account_is_refused(
    terraform: Terraform, base: tuple[dict, dict]
) -> None:
    tfvars = json.loads(json.dumps(base[0]))
    tfvars["dns"] = {**DNS_ACCOUNT, "role_arn": "arn:aws:iam::123123123123:role/dns"}
    directory = terraform.copy / "stacks" / "client"
    (directory / "bad-dns.tfvars.json").write_text(json.dumps(tfvars))
    text = " ".join(terraform.plan_error(directory, "-var-file=bad-dns.tfvars.json").split())
    assert "dns.role_arn a role of that account" in text, text[-1500:]


# 10. -------------------------------------------------------------- monitoring against the seed


def test_10_the_error_rate_divides_like_by_like(base: tuple[dict, dict]) -> None:
    """The ALB's own 5xx are load-balancer wide: numerator and denominator must be too
    (the dimensions are unknown until apply, so the configuration is read)."""
    _, plan = base
    for key in ("critical", "warning"):
        alarm = one(plan, f'module.monitoring.aws_cloudwatch_metric_alarm.error_rate["{key}"]')
        ids = {q["id"] for q in alarm["values"]["metric_query"] if q.get("metric")}
        assert ids == {"target5xx", "elb5xx", "req"}
    config = resource_config(plan, "monitoring", "aws_cloudwatch_metric_alarm.error_rate")
    dims = [
        q["metric"][0]["dimensions"]["references"]
        for q in config["expressions"]["metric_query"]
        if "metric" in q
    ]
    assert len(dims) == 3 and all(d == ["local.lb_dimensions"] for d in dims), dims


def test_10_documentdb_log_groups_are_managed_encrypted_and_kept(terraform: Terraform) -> None:
    client, env = CASES["large-documentdb"]
    plan = terraform.plan("client", "large-documentdb", rendered_tfvars(client, env))
    groups = {
        r["index"]: r["values"]
        for r in managed(plan, "aws_cloudwatch_log_group")
        if r["address"].startswith("module.documentdb[0].")
    }
    cluster = one(plan, "module.documentdb[0].aws_docdb_cluster.this")["values"]
    assert set(groups) == set(cluster["enabled_cloudwatch_logs_exports"]) == {"audit", "profiler"}
    name = cluster["cluster_identifier"]
    assert groups["audit"]["name"] == f"/aws/docdb/{name}/audit"
    assert groups["audit"]["retention_in_days"] == 365
    assert groups["profiler"]["retention_in_days"] == 90
    config = resource_config(plan, "documentdb", "aws_cloudwatch_log_group.exports")
    assert "var.kms_key_arn" in config["expressions"]["kms_key_id"]["references"]


def test_10_deployments_and_scaling_reach_the_info_topic(base: tuple[dict, dict]) -> None:
    """EventBridge rules for the service's deployment events and its scaling events
    target the info topic, whose policy and KMS key let EventBridge publish."""
    tfvars, plan = base
    rules = {r["index"]: r["values"] for r in managed(plan, "aws_cloudwatch_event_rule")}
    assert set(rules) == {"deployments", "scaling"}
    service = f"service/cosyworld-{tfvars['client']}-prod/app"
    deployments = json.loads(rules["deployments"]["event_pattern"])
    assert deployments["detail-type"] == ["ECS Deployment State Change"]
    assert deployments["resources"] == [
        f"arn:aws:ecs:{tfvars['region']}:{tfvars['account_id']}:{service}"
    ]
    scaling = json.loads(rules["scaling"]["event_pattern"])
    assert scaling["source"] == ["aws.application-autoscaling"]
    assert scaling["detail"]["resourceId"] == [service]
    targets = resource_config(plan, "monitoring", "aws_cloudwatch_event_target.info")
    assert 'aws_sns_topic.this["info"]' in targets["expressions"]["arn"]["references"]

    # The topic's ARN is known at apply only: the policy is read then, from these statements.
    address = 'module.monitoring.data.aws_iam_policy_document.topic["info"]'
    statements = change(plan, address)["change"]["after"]["statement"]
    events = [
        s for s in statements if s["principals"][0]["identifiers"] == ["events.amazonaws.com"]
    ]
    assert len(events) == 1 and events[0]["actions"] == ["SNS:Publish"]
    conditions = {c["variable"]: c["values"] for c in events[0]["condition"]}
    assert conditions["aws:SourceAccount"] == [tfvars["account_id"]]
    assert conditions["aws:SourceArn"] == [
        f"arn:aws:events:{tfvars['region']}:{tfvars['account_id']}:rule/cosyworld-{tfvars['client']}-prod-*"
    ]
    read = plan["prior_state"]["values"]["root_module"]["resources"]
    kms = [r for r in read if r["address"] == "data.aws_iam_policy_document.kms"]
    key = json.loads(kms[0]["values"]["json"])
    publishers = [
        s
        for s in key["Statement"]
        if "kms:GenerateDataKey*" in s["Action"] and "Service" in s["Principal"]
    ]
    services = {
        p
        for s in publishers
        for p in [s["Principal"]["Service"]]
        for p in ([p] if isinstance(p, str) else p)
    }
    assert {"events.amazonaws.com", "budgets.amazonaws.com"} <= services


def test_10_a_task_disk_under_15_percent_free_warns(base: tuple[dict, dict]) -> None:
    _, plan = base
    alarm = one(plan, "module.monitoring.aws_cloudwatch_metric_alarm.disk_space")["values"]
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("LessThanThreshold", 15)
    metrics = {q["metric"][0]["metric_name"] for q in alarm["metric_query"] if q.get("metric")}
    assert metrics == {"EphemeralStorageUtilized", "EphemeralStorageReserved"}
    expression = next(q["expression"] for q in alarm["metric_query"] if q.get("return_data"))
    assert expression == "100 * (1 - used / reserved)"


def test_10_redis_logs_are_delivered_to_managed_groups(base: tuple[dict, dict]) -> None:
    _, plan = base
    group = one(plan, "module.redis.aws_elasticache_replication_group.this")["values"]
    name = group["replication_group_id"]
    groups = {
        r["index"]: r["values"]
        for r in managed(plan, "aws_cloudwatch_log_group")
        if r["address"].startswith("module.redis.")
    }
    assert {k: g["name"] for k, g in groups.items()} == {
        "slow-log": f"/aws/elasticache/{name}/slow-log",
        "engine-log": f"/aws/elasticache/{name}/engine-log",
    }
    assert all(g["retention_in_days"] == 90 for g in groups.values())
    delivery = {d["log_type"]: d for d in group["log_delivery_configuration"]}
    assert set(delivery) == {"slow-log", "engine-log"}
    for log_type, d in delivery.items():
        assert d["destination"] == groups[log_type]["name"]
        assert d["destination_type"] == "cloudwatch-logs"


@pytest.mark.parametrize("case", ["dev-atlas", "large-documentdb"])
def test_10_a_budget_per_client_and_environment_from_the_estimate(
    terraform: Terraform, case: str
) -> None:
    """AWS Budgets over the costs tagged with the client and the environment, as much as
    `cosydeploy cost` estimates at the maximum task count, alerting at 80 % and 100 %."""
    from cosydeploy import cost

    client, env = CASES[case]
    tfvars = rendered_tfvars(client, env)
    plan = terraform.plan("client", case, tfvars)
    tier = {"dev": "dev", "staging": "small", "prod": "large"}[env]
    estimate = cost.estimate(cost.cost_input_from_tfvars(tfvars, tier=tier), cost.load_prices())
    assert tfvars["monthly_budget_usd"] == -(-estimate.total_at_max // 1) > 0
    budget = one(plan, "module.monitoring.aws_budgets_budget.this[0]")["values"]
    assert float(budget["limit_amount"]) == tfvars["monthly_budget_usd"]
    assert (budget["budget_type"], budget["limit_unit"], budget["time_unit"]) == (
        "COST",
        "USD",
        "MONTHLY",
    )
    tags = {
        t["key"]: t["values"]
        for part in budget["filter_expression"][0]["and"]
        for t in part["tags"]
    }
    assert tags == {"Client": [client], "Environment": [env]}
    notes = sorted(budget["notification"], key=lambda n: n["threshold"])
    assert [(n["threshold"], n["threshold_type"], n["notification_type"]) for n in notes] == [
        (80, "PERCENTAGE", "ACTUAL"),
        (100, "PERCENTAGE", "ACTUAL"),
    ]
    config = resource_config(plan, "monitoring", "aws_budgets_budget.this")
    for note in config["expressions"]["notification"]:
        assert 'aws_sns_topic.this["warning"]' in note["subscriber_sns_topic_arns"]["references"]


def test_10_each_severity_reaches_its_own_subscribers(terraform: Terraform) -> None:
    """Critical to a phone by SMS and a pager's address, warning to the contact by
    email, info to nobody: the protocols per severity the config names."""
    from cosydeploy.config.models import Alerts

    tfvars = rendered_tfvars("northwind-traders-eu", "dev")
    assert tfvars["alert_subscriptions"] == Alerts().subscriptions()  # the default
    alerts = Alerts.model_validate(
        {
            "critical": [
                {"protocol": "sms", "endpoint": "+15550100"},
                {"protocol": "email", "endpoint": "oncall@pager.example"},
            ],
            "warning": [{"protocol": "email"}],
        }
    )
    tfvars["alert_subscriptions"] = alerts.subscriptions()
    plan = terraform.plan("client", "findings-alerts", tfvars)
    subscriptions = sorted(
        (r["index"].split(":")[0], r["values"]["protocol"], r["values"]["endpoint"])
        for r in managed(plan, "aws_sns_topic_subscription")
    )
    assert subscriptions == [
        ("critical", "email", "oncall@pager.example"),
        ("critical", "sms", "+15550100"),
        ("warning", "email", tfvars["alert_email"]),
    ]
    # Each subscription is on the topic of its own severity (ARNs are known at apply).
    config = resource_config(plan, "monitoring", "aws_sns_topic_subscription.this")
    assert "each.value.severity" in config["expressions"]["topic_arn"]["references"]


def test_10_an_sms_subscription_without_a_number_is_refused(
    terraform: Terraform, base: tuple[dict, dict]
) -> None:
    tfvars = json.loads(json.dumps(base[0]))
    tfvars["alert_subscriptions"] = [
        {"severity": "critical", "protocol": "sms", "endpoint": "call me"}
    ]
    directory = terraform.copy / "stacks" / "client"
    (directory / "bad-sms.tfvars.json").write_text(json.dumps(tfvars))
    text = " ".join(terraform.plan_error(directory, "-var-file=bad-sms.tfvars.json").split())
    assert "an sms subscription needs a number in E.164 form" in text, text[-1500:]
