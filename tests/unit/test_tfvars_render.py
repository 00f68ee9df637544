"""What cosydeploy.yaml adds to the rendered tfvars beyond the manifest: the DNS account."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fixture_project import fixture_project
from pydantic import ValidationError

from cosydeploy.config.load import load_manifest_file, load_project
from cosydeploy.config.models import DnsAccount
from cosydeploy.config.project import Project
from cosydeploy.config.resolve import resolve
from cosydeploy.render import render_tfvars

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "tests" / "fixtures" / "terraform" / "clients" / "northwind-traders-eu.yaml"


def tfvars(project: Project, env: str = "prod") -> dict[str, Any]:
    manifest, _ = load_manifest_file(project, MANIFEST)
    return dict(json.loads(render_tfvars(project, resolve(project, manifest, env))))


def with_config(**changes: Any) -> Project:
    return fixture_project(**changes)


def test_without_a_dns_account_the_zone_is_the_clients() -> None:
    assert tfvars(fixture_project())["dns"] is None


def test_a_dns_account_reaches_the_tfvars() -> None:
    dns = {"account_id": "111122223333", "role_arn": "arn:aws:iam::111122223333:role/dns"}
    assert tfvars(with_config(dns=dns))["dns"] == dns


@pytest.mark.parametrize(
    ("dns", "message"),
    [
        (
            {"account_id": "111122223333", "role_arn": "arn:aws:iam::444455556666:role/dns"},
            "is not a role of account 111122223333",
        ),
        (
            {"account_id": 111122223333, "role_arn": "arn:aws:iam::111122223333:role/dns"},
            "quoted 12-digit string",
        ),
        ({"account_id": "111122223333"}, "role_arn"),
    ],
)
def test_a_wrong_dns_account_is_refused(dns: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DnsAccount.model_validate(dns)


def test_the_budget_is_the_cost_estimate_at_the_maximum_task_count() -> None:
    from cosydeploy import cost

    project = fixture_project()
    for env, tier in (("dev", "dev"), ("prod", "large")):
        rendered = tfvars(project, env)
        inp = cost.cost_input_from_tfvars(rendered, tier=tier)
        at_max = cost.estimate(inp, cost.load_prices()).total_at_max
        assert rendered["monthly_budget_usd"] - 1 < at_max <= rendered["monthly_budget_usd"]
    assert (
        tfvars(project, "prod")["monthly_budget_usd"] > tfvars(project, "dev")["monthly_budget_usd"]
    )


def test_no_budget_when_the_price_file_does_not_price_the_tier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cosydeploy import cost

    def unpriced(*_: Any, **__: Any) -> Any:
        raise cost.PricingError("no price for cache.x9.huge")

    monkeypatch.setattr(cost, "estimate", unpriced)
    assert tfvars(fixture_project())["monthly_budget_usd"] is None


def test_alert_subscriptions_default_to_the_contact_by_email() -> None:
    assert tfvars(fixture_project())["alert_subscriptions"] == [
        {"severity": "critical", "protocol": "email", "endpoint": None},
        {"severity": "warning", "protocol": "email", "endpoint": None},
    ]


def test_alert_subscriptions_per_severity_from_the_config() -> None:
    alerts = {
        "critical": [{"protocol": "sms", "endpoint": "+15550100"}],
        "info": [{"protocol": "email"}],
    }
    assert tfvars(with_config(alerts=alerts))["alert_subscriptions"] == [
        {"severity": "critical", "protocol": "sms", "endpoint": "+15550100"},
        {"severity": "warning", "protocol": "email", "endpoint": None},
        {"severity": "info", "protocol": "email", "endpoint": None},
    ]


@pytest.mark.parametrize(
    ("subscription", "message"),
    [
        ({"protocol": "sms"}, "E.164"),
        ({"protocol": "sms", "endpoint": "555-0100"}, "E.164"),
        ({"protocol": "email", "endpoint": "not an address"}, "email address"),
        ({"protocol": "https", "endpoint": "https://events.pager.example/key"}, "protocol"),
    ],
)
def test_a_wrong_alert_subscription_is_refused(subscription: dict[str, Any], message: str) -> None:
    from cosydeploy.config.models import AlertSubscription

    with pytest.raises(ValidationError, match=message):
        AlertSubscription.model_validate(subscription)


def test_the_release_policy_reaches_the_tfvars_in_ecs_terms() -> None:
    """The manifest's strategy in ECS's spelling, its seconds as whole ECS minutes rounded
    up, the alarms (null: the stack's critical alarms), and the project's test listener."""
    release = tfvars(fixture_project(), "prod")["release"]
    assert release == {
        "strategy": "CANARY",
        "bake_time_in_minutes": 15,
        "canary_percent": 5.0,
        "canary_bake_time_in_minutes": 3,
        "linear_step_percent": 20.0,
        "linear_step_bake_time_in_minutes": 1,
        "alarm_names": None,
        "test_listener_port": 8443,
        "test_listener_cidrs": ["203.0.113.0/24"],
    }
    assert tfvars(fixture_project(), "dev")["release"]["strategy"] == "ROLLING"
    # The default dev bake (30 s) is one ECS minute, not zero.
    assert tfvars(fixture_project(), "dev")["release"]["bake_time_in_minutes"] == 1


def test_the_test_listener_port_and_cidrs_come_from_the_project() -> None:
    release = dict(load_project(ROOT).config.release.model_dump())
    release.update(test_listener_port=9443, test_listener_cidrs=["203.0.113.0/24", "2001:db8::/56"])
    rendered = tfvars(with_config(release=release))["release"]
    assert rendered["test_listener_port"] == 9443
    assert rendered["test_listener_cidrs"] == ["203.0.113.0/24", "2001:db8::/56"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"test_listener_port": 443}, "must not be 80 or 443"),
        ({"test_listener_port": 70000}, "less than or equal to 65535"),
        ({"test_listener_cidrs": ["203.0.113.7/24"]}, "is not a CIDR block"),
        ({"test_listener_cidrs": ["office"]}, "is not a CIDR block"),
    ],
)
def test_a_wrong_test_listener_is_refused(change: dict[str, Any], message: str) -> None:
    release = {**load_project(ROOT).config.release.model_dump(), **change}
    with pytest.raises(ValidationError, match=message):
        type(load_project(ROOT).config.release).model_validate(release)
