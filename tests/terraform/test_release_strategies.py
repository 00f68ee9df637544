"""Release strategies in the client stack: ECS's own deployment configuration per strategy
(the fixture manifests give each environment one: rolling, blue/green, canary, linear),
the alternate target group, the two listener rules and the test listener, the ECS
infrastructure role, and what Terraform leaves alone after ECS and cosydeploy changed it.

The plans are the ones test_client_plan makes (made once for the whole run); one apply, re-planned
twice, shows the ignore_changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from .conftest import CASES, Terraform, managed, one, rendered_tfvars

SERVICE = "module.ecs_service.aws_ecs_service.this"
PRIMARY = "module.alb.aws_lb_target_group.this"
ALTERNATE = "module.alb.aws_lb_target_group.alternate"
RULES = {
    "production": ("module.alb.aws_lb_listener_rule.production", 443),
    "test": ("module.alb.aws_lb_listener_rule.test", 8443),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest, terraform: Terraform) -> tuple[str, dict, dict]:
    client, env = CASES[request.param]
    tfvars = rendered_tfvars(client, env)
    return request.param, tfvars, terraform.plan("client", request.param, tfvars)


# The fixture manifests' release blocks, as ECS gets them (minutes rounded up).
EXPECTED = {
    "dev-atlas": {"strategy": "ROLLING"},
    "dev-documentdb": {"strategy": "ROLLING"},
    "small-atlas": {"strategy": "BLUE_GREEN", "bake_time_in_minutes": "10"},
    "large-atlas": {
        "strategy": "CANARY",
        "bake_time_in_minutes": "15",
        "canary_configuration": [{"canary_percent": 5, "canary_bake_time_in_minutes": "3"}],
    },
    "small-documentdb": {
        "strategy": "LINEAR",
        "bake_time_in_minutes": "2",
        "linear_configuration": [{"step_percent": 25, "step_bake_time_in_minutes": "2"}],
    },
    # bake: 90s is 2 ECS minutes.
    "large-documentdb": {"strategy": "BLUE_GREEN", "bake_time_in_minutes": "2"},
}


def test_the_deployment_configuration_is_the_manifests_strategy(
    case: tuple[str, dict, dict],
) -> None:
    name, _, plan = case
    service = one(plan, SERVICE)["values"]
    (config,) = service["deployment_configuration"]
    want = EXPECTED[name]
    assert config["strategy"] == want["strategy"]
    # ROLLING sets no bake (ECS's own value stays); the others bake as the manifest says.
    assert config.get("bake_time_in_minutes") == want.get("bake_time_in_minutes")
    assert config.get("canary_configuration", []) == want.get("canary_configuration", [])
    assert config.get("linear_configuration", []) == want.get("linear_configuration", [])
    # cosydeploy's PAUSE hook is set at release time, never by Terraform.
    assert not config.get("lifecycle_hook")
    # The circuit breaker stays on whatever the strategy.
    assert service["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]


def test_deployment_alarms_roll_back(case: tuple[str, dict, dict]) -> None:
    name, tfvars, plan = case
    (alarms,) = one(plan, SERVICE)["values"]["alarms"]
    assert (alarms["enable"], alarms["rollback"]) == (True, True)
    stack = f"cosyworld-{tfvars['client']}-{tfvars['environment']}"
    if name == "large-documentdb":
        # The manifest names its own alarms.
        assert sorted(alarms["alarm_names"]) == [
            "docbank-prod-latency",
            "docbank-prod-orders-failing",
        ]
    else:
        # None named: the stack's critical alarms (the alarm_names output), no others.
        names = set(alarms["alarm_names"])
        redis = tfvars["redis"]["num_nodes"]
        assert names == {
            f"{stack}-no-healthy-targets",
            f"{stack}-all-tasks-unhealthy",
            f"{stack}-5xx-rate-critical",
            *(f"{stack}-redis-down-{n}" for n in range(1, redis + 1)),
        }
        planned = {r["values"]["alarm_name"] for r in managed(plan, "aws_cloudwatch_metric_alarm")}
        assert names <= planned


def test_every_stack_has_both_target_groups_the_rules_and_the_test_listener(
    case: tuple[str, dict, dict],
) -> None:
    """Whatever the strategy (contract point 1): switching strategy is a change of the
    service's deployment configuration only."""
    _, tfvars, plan = case
    primary = one(plan, PRIMARY)["values"]
    alternate = one(plan, ALTERNATE)["values"]
    for key in ("port", "protocol", "target_type", "health_check", "deregistration_delay"):
        assert alternate[key] == primary[key], key
    assert alternate["name"] != primary["name"]
    assert len(alternate["name"]) <= 32 and "-alt-" in alternate["name"]
    short = f"{tfvars['client']}-{tfvars['environment']}"
    assert alternate["name"].startswith(short[:23].rstrip("-"))

    listeners = {r["values"]["port"]: r["values"] for r in managed(plan, "aws_lb_listener")}
    assert set(listeners) == {80, 443, 8443}
    test = listeners[8443]
    assert test["protocol"] == "HTTPS" and test["ssl_policy"] == listeners[443]["ssl_policy"]
    assert test["default_action"][0]["type"] == "fixed-response"

    for rule_address, _port in RULES.values():
        rule = one(plan, rule_address)["values"]
        assert rule["priority"] == 1
        assert rule["condition"][0]["path_pattern"][0]["values"] == ["/*"]
        (action,) = rule["action"]
        assert action["type"] == "forward"
        weights = sorted(g["weight"] for g in action["forward"][0]["target_group"])
        assert weights == [0, 100]


def test_the_service_carries_the_advanced_load_balancer_configuration(
    case: tuple[str, dict, dict],
) -> None:
    _, _, plan = case
    (lb,) = one(plan, SERVICE)["values"]["load_balancer"]
    assert lb["container_name"] == "app" and lb["container_port"] == 3000
    # One advanced configuration; its ARNs are unknown until apply (the applied stack below
    # shows them), so the plan's configuration says where they come from.
    assert len(lb["advanced_configuration"]) == 1
    config = plan["configuration"]["root_module"]["module_calls"]["ecs_service"]["expressions"]
    refs = config["traffic"]["references"]
    for ref in (
        "module.alb.alternate_target_group_arn",
        "module.alb.production_listener_rule_arn",
        "module.alb.test_listener_rule_arn",
        "module.iam.ecs_infrastructure_role_arn",
    ):
        assert ref in refs


def test_the_ecs_infrastructure_role(case: tuple[str, dict, dict]) -> None:
    _, tfvars, plan = case
    stack = f"cosyworld-{tfvars['client']}-{tfvars['environment']}"
    role = one(plan, "module.iam.aws_iam_role.ecs_infrastructure")["values"]
    assert role["name"] == f"{stack}-ecs-lb"
    trust = json.loads(role["assume_role_policy"])
    (statement,) = trust["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": "ecs.amazonaws.com"}
    attachment = one(plan, "module.iam.aws_iam_role_policy_attachment.ecs_infrastructure")
    assert attachment["values"]["policy_arn"] == (
        "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
    )


def test_the_health_alarms_count_both_target_groups(case: tuple[str, dict, dict]) -> None:
    """After a blue/green deployment the live tasks may be in the alternate group: an alarm
    on the primary group alone would page (and roll the next deployment back) for nothing."""
    _, _, plan = case
    for alarm in ("no_healthy_targets", "all_tasks_unhealthy"):
        values = one(plan, f"module.monitoring.aws_cloudwatch_metric_alarm.{alarm}")["values"]
        queries = {q["id"]: q for q in values["metric_query"]}
        assert {"healthy", "healthy_alt"} <= set(queries)
        expression = next(q["expression"] for q in queries.values() if q.get("return_data"))
        assert "FILL(healthy, 0) + FILL(healthy_alt, 0)" in expression


# ------------------------------------------------------------ after ECS moved the weights


@pytest.fixture(scope="module")
def applied(terraform: Terraform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One apply of a blue/green stack whose project lets two CIDRs reach a test listener
    on 9443."""
    tfvars = rendered_tfvars("docbank", "prod")
    tfvars["release"]["test_listener_port"] = 9443
    tfvars["release"]["test_listener_cidrs"] = ["203.0.113.0/24", "2001:db8::/56"]
    copy = tmp_path_factory.mktemp("release-apply") / "terraform"
    shutil.copytree(
        terraform.copy,
        copy,
        ignore=shutil.ignore_patterns(".terraform*", "*.tf*state*", "*.tfplan"),
    )
    stack = copy / "stacks" / "client"
    (stack / "release.tfvars.json").write_text(json.dumps(tfvars))
    rc, _, err = terraform.run(stack, "init", "-input=false", "-no-color")
    assert rc == 0, err
    args = ["-input=false", "-no-color", "-lock=false", "-var-file=release.tfvars.json"]
    rc, _, err = terraform.run(stack, "apply", "-auto-approve", *args)
    assert rc == 0, err[-3000:]
    rc, out, err = terraform.run(stack, "output", "-json", "-no-color")
    assert rc == 0, err
    return {
        "stack": stack,
        "args": args,
        "tfvars": tfvars,
        "state": json.loads((stack / "terraform.tfstate").read_text()),
        "outputs": {k: v["value"] for k, v in json.loads(out).items()},
    }


def instance(state: dict[str, Any], module: str, rtype: str, name: str) -> dict[str, Any]:
    (found,) = [
        r
        for r in state["resources"]
        if r.get("module") == module and r["type"] == rtype and r["name"] == name
    ]
    attributes: dict[str, Any] = found["instances"][0]["attributes"]
    return attributes


def replan(
    terraform: Terraform, applied: dict[str, Any], state: dict[str, Any], tfvars: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Plan again from this state and these variables: the changes Terraform would make."""
    stack: Path = applied["stack"]
    state = json.loads(json.dumps(state))
    state["serial"] += 1
    (stack / "terraform.tfstate").write_text(json.dumps(state))
    (stack / "again.tfvars.json").write_text(json.dumps(tfvars))
    args = [a for a in applied["args"] if not a.startswith("-var-file")]
    rc, _, err = terraform.run(
        stack, "plan", "-out=again.tfplan", *args, "-var-file=again.tfvars.json"
    )
    assert rc == 0, err[-3000:]
    rc, out, err = terraform.run(stack, "show", "-json", "-no-color", "again.tfplan")
    assert rc == 0, err
    return {
        c["address"]: c["change"]
        for c in json.loads(out)["resource_changes"]
        if c["change"]["actions"] != ["no-op"] and c["mode"] == "managed"
    }


def test_the_outputs_a_release_reads(applied: dict[str, Any]) -> None:
    outputs, state = applied["outputs"], applied["state"]
    assert outputs["test_url"] == f"https://{applied['tfvars']['hostname']}:9443"
    alb = "module.alb"
    assert (
        outputs["alternate_target_group_arn"]
        == (instance(state, alb, "aws_lb_target_group", "alternate")["arn"])
    )
    for output, name in (
        ("production_listener_rule_arn", "production"),
        ("test_listener_rule_arn", "test"),
    ):
        assert outputs[output] == instance(state, alb, "aws_lb_listener_rule", name)["arn"]
    role = instance(state, "module.iam", "aws_iam_role", "ecs_infrastructure")
    assert outputs["ecs_infrastructure_role_arn"] == role["arn"]
    service = instance(state, "module.ecs_service", "aws_ecs_service", "this")
    (advanced,) = service["load_balancer"][0]["advanced_configuration"]
    assert advanced == {
        "alternate_target_group_arn": outputs["alternate_target_group_arn"],
        "production_listener_rule": outputs["production_listener_rule_arn"],
        "test_listener_rule": outputs["test_listener_rule_arn"],
        "role_arn": outputs["ecs_infrastructure_role_arn"],
    }


def test_only_the_named_cidrs_reach_the_test_listener(applied: dict[str, Any]) -> None:
    state = applied["state"]
    listener = instance(state, "module.alb", "aws_lb_listener", "test")
    assert listener["port"] == 9443
    rules = [
        i["attributes"]
        for r in state["resources"]
        if r.get("module") == "module.security_groups"
        and r["type"] == "aws_vpc_security_group_ingress_rule"
        and r["name"] == "alb_test_listener"
        for i in r["instances"]
    ]
    sources = {(r["cidr_ipv4"], r["cidr_ipv6"], r["from_port"], r["to_port"]) for r in rules}
    assert sources == {
        ("203.0.113.0/24", None, 9443, 9443),
        (None, "2001:db8::/56", 9443, 9443),
    }
    alb_group = instance(state, "module.security_groups", "aws_security_group", "alb")["id"]
    assert {r["security_group_id"] for r in rules} == {alb_group}


def test_terraform_leaves_the_weights_and_the_pause_hook_where_they_are(
    terraform: Terraform, applied: dict[str, Any]
) -> None:
    """A blue/green deployment ended with the alternate group live ([primary 0,
    alternate 100] on both rules) and cosydeploy's PAUSE hook on the service: the next plan
    changes nothing. Putting the weights back would send every request to a group whose
    tasks ECS has stopped."""
    state = json.loads(json.dumps(applied["state"]))
    for name in RULES:
        rule = instance(state, "module.alb", "aws_lb_listener_rule", name)
        for group in rule["action"][0]["forward"][0]["target_group"]:
            group["weight"] = 100 - group["weight"]
    service = instance(state, "module.ecs_service", "aws_ecs_service", "this")
    service["deployment_configuration"][0]["lifecycle_hook"] = [
        # As the provider reads a PAUSE hook: no Lambda, no role.
        {
            "hook_target_arn": "",
            "role_arn": "",
            "lifecycle_stages": ["POST_TEST_TRAFFIC_SHIFT"],
            "hook_details": "",
        }
    ]
    assert replan(terraform, applied, state, applied["tfvars"]) == {}

    # A change of strategy is an in-place update of the service's deployment configuration
    # alone; the hook and the weights stay.
    rolling = json.loads(json.dumps(applied["tfvars"]))
    rolling["release"]["strategy"] = "ROLLING"
    changes = replan(terraform, applied, state, rolling)
    assert set(changes) == {SERVICE}, sorted(changes)
    change = changes[SERVICE]
    assert change["actions"] == ["update"]
    before, after = change["before"], change["after"]
    assert before["deployment_configuration"][0]["strategy"] == "BLUE_GREEN"
    assert after["deployment_configuration"][0]["strategy"] == "ROLLING"
    assert (
        after["deployment_configuration"][0]["lifecycle_hook"]
        == (before["deployment_configuration"][0]["lifecycle_hook"])
    )
    moved = {k for k in after if after[k] != before.get(k)}
    assert moved == {"deployment_configuration"}, moved


def test_the_dashboard_shows_both_target_groups(applied: dict[str, Any]) -> None:
    state = applied["state"]
    dashboard = instance(state, "module.monitoring", "aws_cloudwatch_dashboard", "this")
    widgets = {
        w["properties"]["title"]: w for w in json.loads(dashboard["dashboard_body"])["widgets"]
    }
    alb = "module.alb"
    primary = instance(state, alb, "aws_lb_target_group", "this")["arn_suffix"]
    alternate = instance(state, alb, "aws_lb_target_group", "alternate")["arn_suffix"]
    health = widgets["Healthy and unhealthy targets"]["properties"]["metrics"]
    shown = {(m[1], m[5], m[-1]["label"]) for m in health}
    assert shown == {
        ("HealthyHostCount", primary, "HealthyHostCount primary"),
        ("HealthyHostCount", alternate, "HealthyHostCount alternate"),
        ("UnHealthyHostCount", primary, "UnHealthyHostCount primary"),
        ("UnHealthyHostCount", alternate, "UnHealthyHostCount alternate"),
    }
    per_target = widgets["Requests per target"]["properties"]["metrics"]
    assert {m[3] for m in per_target} == {primary, alternate}
    # Every other per-group widget: one line per group (and percentile), never flattened.
    for title in ("ALB requests", "2xx and 4xx (targets)", "Target response time (s)"):
        for metric in widgets[title]["properties"]["metrics"]:
            assert metric[0] == "AWS/ApplicationELB" and isinstance(metric[-1], dict), title
            assert metric[5] in {primary, alternate}, title


def test_no_alarms_turns_the_deployment_alarms_off_rather_than_leaving_them(
    terraform: Terraform, applied: dict[str, Any]
) -> None:
    """`alarms: []` in a manifest: the next apply gives ECS the alarms turned off (an alarm
    block removed would leave ECS's last alarms rolling deployments back)."""
    on = instance(applied["state"], "module.ecs_service", "aws_ecs_service", "this")["alarms"]
    assert [(a["enable"], a["rollback"]) for a in on] == [(True, True)]
    tfvars = json.loads(json.dumps(applied["tfvars"]))
    tfvars["release"]["alarm_names"] = []
    changes = replan(terraform, applied, applied["state"], tfvars)
    after = changes[SERVICE]["after"]["alarms"]
    assert [(a["enable"], a["rollback"]) for a in after] == [(False, False)]
    # Named, as ECS needs names: the stack's critical alarms (the alarm_names output).
    assert sorted(after[0]["alarm_names"]) == sorted(applied["outputs"]["alarm_names"])
