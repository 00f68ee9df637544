"""The sandbox's load balancing, its pure parts: stable ARNs, names, the weighted choice,
the request paths, and the service's load balancer and deployment configuration."""

from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace

import pytest

from cosydeploy.adapters.platform import deployment_settings
from cosydeploy.sandbox.alb import PRODUCTION, TEST, SmoothWeights, split_path
from cosydeploy.sandbox.elbnames import (
    listener_arn,
    load_balancer_arn,
    rule_arn,
    target_group_arn,
)
from cosydeploy.sandbox.loadbalancing import ROLE_POLICY, LoadBalancing, alternate_name
from cosydeploy.sandbox.provision import ProvisionSpec, deployment_configuration

ELB = "arn:aws:elasticloadbalancing:eu-west-1:111122223333"


def test_stable_arns_come_from_names_ports_and_priorities() -> None:
    assert target_group_arn("eu-west-1", "111122223333", "acme-dev") == (
        f"{ELB}:targetgroup/acme-dev/0000000000000000"
    )
    lb = load_balancer_arn("eu-west-1", "111122223333", "acme-dev")
    assert lb == f"{ELB}:loadbalancer/app/acme-dev/0000000000000000"
    listener = listener_arn(lb, 8443)
    assert listener == f"{ELB}:listener/app/acme-dev/0000000000000000/0000000000008443"
    assert rule_arn(listener, 1) == (
        f"{ELB}:listener-rule/app/acme-dev/0000000000000000/0000000000008443/0000000000000001"
    )


@pytest.mark.parametrize(
    ("primary", "alternate"),
    [
        ("acme-dev", "acme-dev-2"),
        # 20-character client, 7-character environment: 28 + "-2" fits the 32 allowed.
        ("a234567890123456789b-staging", "a234567890123456789b-staging-2"),
        ("x" * 32, "x" * 30 + "-2"),
        ("x" * 29 + "-ab", "x" * 29 + "-2"),
    ],
)
def test_alternate_target_group_name(primary: str, alternate: str) -> None:
    assert alternate_name(primary) == alternate
    assert len(alternate) <= 32 and not alternate.startswith("-")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/acme-dev/health/ready", (PRODUCTION, "acme-dev", "/health/ready")),
        ("/acme-dev", (PRODUCTION, "acme-dev", "/")),
        ("/_test/acme-dev/health/ready?x=1", (TEST, "acme-dev", "/health/ready?x=1")),
        ("/_test/acme-dev", (TEST, "acme-dev", "/")),
    ],
)
def test_split_path(path: str, expected: tuple[str, str, str]) -> None:
    assert split_path(path) == expected


@pytest.mark.parametrize(
    "weights",
    [(100, 0), (0, 100), (90, 10), (10, 90), (1, 1), (80, 20), (999, 1), (3, 0, 7)],
)
def test_smooth_weights_give_each_its_share_and_zero_nothing(weights: tuple[int, ...]) -> None:
    chooser = SmoothWeights()
    total = sum(weights)
    picks = [chooser.choose("rule", weights) for _ in range(total * 3)]
    counts = Counter(picks)
    for i, w in enumerate(weights):
        assert counts[i] == 3 * w, (weights, counts)
    # Spread out: in any window of `total` consecutive picks, each gets exactly its weight.
    for start in range(0, 2 * total):
        window = Counter(picks[start : start + total])
        assert all(window[i] == w for i, w in enumerate(weights)), (start, window)


def test_smooth_weights_follow_a_change_at_once() -> None:
    chooser = SmoothWeights()
    assert {chooser.choose("r", (100, 0)) for _ in range(50)} == {0}
    assert {chooser.choose("r", (0, 100)) for _ in range(50)} == {1}
    assert chooser.choose("r", (0, 0)) is None
    # Rules are counted apart.
    assert chooser.choose("a", (1, 1)) == chooser.choose("b", (1, 1))


def spec(**kw) -> ProvisionSpec:
    base = dict(
        project="cosyworld",
        client="acme",
        environment="dev",
        region="us-east-1",
        cpu=256,
        memory=512,
        desired_count=2,
        container_port=3000,
        health_path="/health/ready",
        health_check_grace_period=5,
    )
    return ProvisionSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_deployment_configuration_by_strategy() -> None:
    rolling = deployment_configuration(spec(), ())
    assert rolling == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "minimumHealthyPercent": 100,
        "maximumPercent": 200,
        "strategy": "ROLLING",
        "bakeTimeInMinutes": 0,
    }
    canary = deployment_configuration(
        spec(strategy="CANARY", bake_minutes=5, canary_percent=5, canary_bake_minutes=2),
        ("acme-5xx",),
    )
    assert canary["canaryConfiguration"] == {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 2}
    assert "linearConfiguration" not in canary
    assert canary["alarms"] == {"alarmNames": ["acme-5xx"], "enable": True, "rollback": True}
    # alarms: [] in the manifest: ECS gets the stack's alarms turned off, as the stack does.
    off = deployment_configuration(spec(alarms_enabled=False), ("acme-5xx",))
    assert off["alarms"] == {"alarmNames": ["acme-5xx"], "enable": False, "rollback": False}
    linear = deployment_configuration(spec(strategy="LINEAR"), ())
    assert linear["linearConfiguration"] == {"stepPercent": 20.0, "stepBakeTimeInMinutes": 1}
    assert "alarms" not in linear and "canaryConfiguration" not in linear


def test_release_policy_to_deployment_settings() -> None:
    # A policy with every field (as on main now) ...
    full = SimpleNamespace(
        strategy="canary",
        bake=61,
        alarms=("a", "b"),
        canary_percent=25,
        canary_bake=120,
        linear_step_percent=50,
        linear_bake=1,
    )
    assert deployment_settings(full) == {
        "strategy": "CANARY",
        "bake_minutes": 2,  # a started minute counts
        "canary_percent": 25.0,
        "canary_bake_minutes": 2,
        "linear_step_percent": 50.0,
        "linear_bake_minutes": 1,
        "alarm_names": ("a", "b"),
        "alarms_enabled": True,
    }
    # ... and one from before the canary and linear settings: the contract's defaults.
    old = SimpleNamespace(strategy="blue_green", bake=0, alarms=None)
    assert deployment_settings(old) == {
        "strategy": "BLUE_GREEN",
        "bake_minutes": 0,
        "canary_percent": 10.0,
        "canary_bake_minutes": 5,
        "linear_step_percent": 20.0,
        "linear_bake_minutes": 1,
        "alarm_names": (),
        "alarms_enabled": True,
    }
    # alarms: [] (not None): no alarm rolls a deployment back.
    none = SimpleNamespace(strategy="rolling", bake=0, alarms=())
    assert deployment_settings(none)["alarms_enabled"] is False


def test_service_load_balancer_carries_the_advanced_configuration() -> None:
    lb = LoadBalancing("tg", "alt", "prod-rule", "test-rule", "role")
    assert lb.service_load_balancer("app", 3000) == {
        "targetGroupArn": "tg",
        "containerName": "app",
        "containerPort": 3000,
        "advancedConfiguration": {
            "alternateTargetGroupArn": "alt",
            "productionListenerRule": "prod-rule",
            "testListenerRule": "test-rule",
            "roleArn": "role",
        },
    }


def test_the_role_may_do_what_ecs_does_with_a_load_balancer_and_no_more() -> None:
    from cosydeploy.sandbox.iam import Call, evaluate

    doc = json.dumps(ROLE_POLICY)
    tg = f"{ELB}:targetgroup/acme-dev-2/0000000000000000"
    rule = f"{ELB}:listener-rule/app/acme-dev/0000000000000000/0000000000000080/0000000000000001"
    listener = f"{ELB}:listener/app/acme-dev/0000000000000000/0000000000000080"
    allowed = [
        Call("elasticloadbalancing:ModifyRule", rule),
        Call("elasticloadbalancing:ModifyListener", listener),
        Call("elasticloadbalancing:RegisterTargets", tg),
        Call("elasticloadbalancing:DeregisterTargets", tg),
        Call("elasticloadbalancing:DescribeRules", "*"),
        Call("elasticloadbalancing:DescribeTargetGroups", "*"),
        Call("elasticloadbalancing:DescribeTargetHealth", "*"),
        Call("elasticloadbalancing:DescribeListeners", "*"),
    ]
    for call in allowed:
        assert evaluate([doc], call).allowed, call
    denied = [
        Call("elasticloadbalancing:ModifyRule", tg),
        Call("elasticloadbalancing:DeleteRule", rule),
        Call("elasticloadbalancing:CreateRule", "*"),
        Call("elasticloadbalancing:DeleteLoadBalancer", "*"),
        Call("ecs:UpdateService", "*"),
    ]
    for call in denied:
        assert not evaluate([doc], call).allowed, call
