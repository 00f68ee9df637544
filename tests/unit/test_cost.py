"""The cost estimate: the seed's three reference configurations, line items, totals."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from cosydeploy import cost
from cosydeploy.cost import CostInput, PricingError, estimate, load_prices

# The seed's reference configurations (DESIGN.md tier table) and its monthly figures.
REFERENCES = {
    "dev": (
        CostInput(
            client="ref",
            env="dev",
            cpu=256,
            memory=512,
            min_tasks=2,
            max_tasks=2,
            desired_tasks=2,
            nat_gateways=1,
            redis_node_type="cache.t4g.micro",
            redis_nodes=1,
            database_engine="atlas",
            atlas_tier="M10",
            log_retention_days=7,
            usage_profile="dev",
        ),
        228.0,
    ),
    "small-prod": (
        CostInput(
            client="ref",
            env="prod",
            cpu=512,
            memory=1024,
            min_tasks=2,
            max_tasks=4,
            desired_tasks=2,
            nat_gateways=2,
            redis_node_type="cache.r6g.large",
            redis_nodes=3,
            database_engine="atlas",
            atlas_tier="M30",
            log_retention_days=90,
            usage_profile="small",
        ),
        971.0,
    ),
    "large-prod": (
        CostInput(
            client="ref",
            env="prod",
            cpu=1024,
            memory=2048,
            min_tasks=4,
            max_tasks=10,
            desired_tasks=4,
            nat_gateways=2,
            redis_node_type="cache.r6g.xlarge",
            redis_nodes=2,
            database_engine="atlas",
            atlas_tier="M50",
            log_retention_days=90,
            usage_profile="large",
        ),
        2318.0,
    ),
}

SERVICES = {
    "Fargate",
    "ALB",
    "NAT gateway",
    "ElastiCache",
    "MongoDB Atlas",
    "CloudWatch Logs",
    "Secrets Manager",
    "ECR",
    "Data transfer",
}


@pytest.fixture(scope="module")
def prices():
    return load_prices()


def test_price_file_names_its_source_and_date(prices):
    assert prices["source"].strip()
    date.fromisoformat(prices["date"])
    assert prices["prices"]["fargate"] == {"vcpu_hour": 0.04048, "gb_hour": 0.004445}


@pytest.mark.parametrize("ref", sorted(REFERENCES))
def test_reference_configuration_within_five_percent(prices, ref):
    inp, seed_total = REFERENCES[ref]
    est = estimate(inp, prices)
    assert abs(est.total - seed_total) / seed_total <= 0.05, (ref, est.total, seed_total)


@pytest.mark.parametrize("ref", sorted(REFERENCES))
def test_line_items_cover_every_service_and_add_up(prices, ref):
    inp, _ = REFERENCES[ref]
    est = estimate(inp, prices)
    assert {i.service for i in est.items} == SERVICES
    for i in est.items:
        assert i.monthly_usd == pytest.approx(i.quantity * i.unit_price, abs=0.01)
    base = sum(i.monthly_usd for i in est.items if i.scenario == "base")
    desired = sum(i.monthly_usd for i in est.items if i.scenario == "desired")
    at_max = sum(i.monthly_usd for i in est.items if i.scenario == "max")
    assert est.total == pytest.approx(base + desired, abs=0.01)
    assert est.total_at_max == pytest.approx(base + at_max, abs=0.01)
    assert {i.scenario for i in est.items if i.service == "Fargate"} == {"desired", "max"}


def test_fargate_lines_use_list_prices(prices):
    inp, _ = REFERENCES["dev"]
    est = estimate(inp, prices)
    vcpu = next(i for i in est.items if i.scenario == "desired" and i.unit == "vCPU-hour")
    # 2 tasks x 0.25 vCPU x 730 h x $0.04048
    assert vcpu.quantity == pytest.approx(365.0)
    assert vcpu.monthly_usd == pytest.approx(14.78, abs=0.01)


@pytest.mark.parametrize("ref", ["small-prod", "large-prod"])
def test_total_at_max_is_larger_when_autoscaling(prices, ref):
    inp, _ = REFERENCES[ref]
    est = estimate(inp, prices)
    assert est.total_at_max > est.total
    extra_tasks = inp.max_tasks - inp.desired_tasks
    per_task = (inp.cpu / 1024 * 0.04048 + inp.memory / 1024 * 0.004445) * 730
    assert est.total_at_max - est.total == pytest.approx(extra_tasks * per_task, abs=0.05)


def test_fixed_task_count_has_equal_totals(prices):
    est = estimate(REFERENCES["dev"][0], prices)
    assert est.total_at_max == est.total


def test_documentdb_replaces_atlas(prices):
    inp = CostInput(
        client="big",
        env="prod",
        database_engine="documentdb",
        atlas_tier=None,
        documentdb_instance_class="db.r6g.large",
        documentdb_instance_count=2,
        usage_profile="large",
    )
    est = estimate(inp, prices)
    services = {i.service for i in est.items}
    assert "DocumentDB" in services and "MongoDB Atlas" not in services
    inst = next(i for i in est.items if i.service == "DocumentDB" and i.unit == "instance-hour")
    assert inst.monthly_usd == pytest.approx(2 * 730 * 0.277, abs=0.01)


def test_unknown_node_type_names_the_missing_price(prices):
    inp = CostInput(client="x", env="dev", redis_node_type="cache.z9.huge")
    with pytest.raises(PricingError, match=r"cache\.z9\.huge"):
        estimate(inp, prices)


def test_explicit_usage_beats_the_profile(prices):
    inp, _ = REFERENCES["dev"]
    more = cost.with_usage(inp, data_transfer_gb=1000)
    delta = estimate(more, prices).total - estimate(inp, prices).total
    profile_gb = prices["usage_profiles"]["dev"]["data_transfer_gb"]
    assert delta == pytest.approx((1000 - profile_gb) * 0.09, abs=0.01)


def test_other_region_is_noted(prices):
    est = estimate(CostInput(client="x", env="dev", region="eu-west-1"), prices)
    assert any("eu-west-1" in n for n in est.notes)


def test_estimate_serialises_to_json(prices):
    est = estimate(REFERENCES["small-prod"][0], prices)
    data = json.loads(json.dumps(est.to_dict()))
    assert data["total"] == est.total and len(data["items"]) == len(est.items)


def test_cost_input_from_tfvars_matches_the_contract():
    tfvars = {
        "client": "example",
        "environment": "dev",
        "region": "us-east-1",
        "network": {"single_nat_gateway": True},
        "service": {
            "cpu": 256,
            "memory": 512,
            "desired_count": 2,
            "min_count": 2,
            "max_count": 2,
            "log_retention_days": 7,
        },
        "app": {"secret_names": ["A", "B", "C", "D", "E"]},
        "redis": {"node_type": "cache.t4g.micro", "num_nodes": 1},
        "database": {"engine": "atlas", "atlas_tier": "M10", "documentdb": None},
    }
    inp = cost.cost_input_from_tfvars(tfvars, tier="dev")
    assert inp == replace(REFERENCES["dev"][0], client="example")


@pytest.mark.parametrize(
    ("month", "today", "expected"),
    [
        (None, date(2025, 3, 15), ("2025-02-01", "2025-03-01")),
        (None, date(2025, 1, 2), ("2024-12-01", "2025-01-01")),
        ("2024-12", None, ("2024-12-01", "2025-01-01")),
    ],
)
def test_month_period(month, today, expected):
    assert cost.month_period(month, today=today) == expected


def test_compare_flags_gaps_over_twenty_percent(prices):
    est = estimate(REFERENCES["dev"][0], prices)
    other = estimate(CostInput(client="b", env="dev"), prices)
    third = estimate(CostInput(client="c", env="dev"), prices)
    rows = cost.compare(
        [est, other, third],
        {("ref", "dev"): est.total * 1.1, ("b", "dev"): other.total * 1.3},
    )
    flags = {(r.client, r.flagged, r.actual is None) for r in rows}
    assert flags == {("ref", False, False), ("b", True, False), ("c", False, True)}


def test_no_interface_endpoint_pays_at_the_seed_volumes(prices):
    """An interface endpoint costs ~$14.60 a month over two AZs; at the profiles' log
    volumes (at most 60 GB) it saves under $3 of NAT processing."""
    for profile in ("dev", "small", "large"):
        inp = CostInput(client="ref", env="prod", usage_profile=profile)
        cases = {c.service: c for c in cost.interface_endpoint_cases(inp, prices)}
        assert set(cases) == set(cost.INTERFACE_ENDPOINT_TRAFFIC)
        assert cases["logs"].monthly_cost == pytest.approx(
            2 * 730 * 0.01 + 0.01 * cases["logs"].traffic_gb
        )
        assert cost.paying_interface_endpoints(inp, prices) == ()


def test_a_logs_endpoint_pays_above_its_break_even(prices):
    inp = CostInput(client="ref", env="prod", usage_profile="large", log_gb=1000, nat_data_gb=1200)
    assert cost.paying_interface_endpoints(inp, prices) == ("logs",)
    without = estimate(inp, prices)
    with_endpoint = estimate(replace(inp, interface_endpoints=("logs",)), prices)
    lines = [i for i in with_endpoint.items if i.service == "VPC endpoints"]
    assert [i.unit for i in lines] == ["endpoint-AZ-hour", "GB"]
    nat = {i.item: i.quantity for i in with_endpoint.items if i.service == "NAT gateway"}
    assert nat["data processed"] == 200.0  # 1000 of the 1200 GB moved off the NAT gateways
    assert with_endpoint.total < without.total


def test_the_rendered_tfvars_carry_the_endpoints_that_pay(tmp_path):
    from cosydeploy.cost import cost_input_from_tfvars

    tfvars = {
        "client": "a",
        "environment": "prod",
        "service": {"cpu": 256, "memory": 512, "min_count": 2, "max_count": 2, "desired_count": 2},
        "network": {"private_subnet_cidrs": ["x", "y", "z"], "interface_endpoints": ["logs"]},
        "redis": {"node_type": "cache.t4g.micro", "num_nodes": 1},
        "database": {"engine": "atlas", "atlas_tier": "M10"},
    }
    inp = cost_input_from_tfvars(tfvars)
    assert (inp.azs, inp.interface_endpoints) == (3, ("logs",))
