"""The sandbox's fault rules, decided without a server: which calls a rule fails."""

from __future__ import annotations

import json

import pytest

from cosydeploy.errors import SandboxError
from cosydeploy.sandbox.faults import FaultInjector, FaultRule


class Clock:
    def __init__(self) -> None:
        self.t = 50.0

    def __call__(self) -> float:
        return self.t


def test_a_rate_rule_refuses_only_the_calls_above_n_in_any_second() -> None:
    clock = Clock()
    faults = FaultInjector(clock=clock)
    faults.add("ecs=throttle,rate=5,action=DescribeServices")
    refused = []
    for i in range(40):  # 20 calls a second for 2 s
        clock.t = 50.0 + i * 0.05
        refused.append(faults.strike("ecs", "DescribeServices") is not None)
    passed = [50.0 + i * 0.05 for i, r in enumerate(refused) if not r]
    assert all(sum(1 for t in passed if s <= t < s + 1.0) <= 5 for s in passed)
    assert len(passed) == 10 and refused.count(True) == 30
    # Other actions and other APIs are not counted, nor refused.
    assert faults.strike("ecs", "UpdateService") is None
    assert faults.strike("dynamodb", "DescribeServices") is None
    (rule,) = faults.rules()
    assert (rule["seen"], rule["struck"], rule["rate"]) == (40, 30, 5)
    assert rule["peak_per_second"] == 20  # what arrived, refused calls included
    # A quiet second later the calls go through again.
    clock.t += 1.0
    assert faults.strike("ecs", "DescribeServices") is None


def test_a_rate_rule_honours_after_and_times() -> None:
    clock = Clock()
    faults = FaultInjector(clock=clock)
    faults.add({"api": "ecs", "fault": "throttle", "rate": 1, "after": 2, "times": 3})
    got = [faults.strike("ecs", "ListClusters") is not None for _ in range(8)]
    # Two go through before the rule is armed; then one a second, and only 3 refusals.
    assert got == [False, False, False, True, True, True, False, False]


def test_the_admin_endpoint_shows_what_a_rule_refused() -> None:
    clock = Clock()
    faults = FaultInjector(clock=clock)
    status, body = faults.admin(
        "POST",
        json.dumps({"api": "ecs", "fault": "throttle", "rate": 2}).encode(),
    )
    assert status == 200
    for _ in range(5):
        faults.strike("ecs", "DescribeServices")
    status, body = faults.admin("GET", b"")
    assert status == 200 and isinstance(body, dict)
    assert [(r["rate"], r["seen"], r["struck"]) for r in body["rules"]] == [(2, 5, 3)]
    assert body["rules"][0]["peak_per_second"] == 5  # five calls in the same instant
    assert "_scopes" not in json.dumps(body) and "recent" not in json.dumps(body)


def test_rate_specs_are_parsed_and_checked() -> None:
    rule = FaultRule.parse("ecs=throttle,rate=5,action=DescribeServices")
    assert (rule.api, rule.fault, rule.rate, rule.action) == (
        "ecs",
        "throttle",
        5,
        "DescribeServices",
    )
    with pytest.raises(SandboxError, match="rate must be a whole number"):
        FaultRule.parse("ecs=throttle,rate=fast")
    with pytest.raises(SandboxError, match="rate must be a number of calls a second"):
        FaultRule(api="ecs", fault="throttle", rate=-1)


def test_a_rate_and_burst_rule_is_awss_token_bucket() -> None:
    """``rate=N,burst=B``: B calls at once, then N a second; a quiet spell refills it."""
    clock = Clock()
    faults = FaultInjector(clock=clock)
    faults.add("ecs=throttle,rate=20,burst=50,action=DescribeServices")
    burst = [faults.strike("ecs", "DescribeServices") is None for _ in range(60)]
    assert burst.count(True) == 50 and burst[:50] == [True] * 50  # the bucket, then empty
    passed = 0
    for _ in range(100):  # 100 calls a second for one second: 20 tokens come back
        clock.t += 0.01
        passed += faults.strike("ecs", "DescribeServices") is None
    assert 19 <= passed <= 21, passed
    clock.t += 10.0  # a quiet spell: full again, never more than the bucket
    again = [faults.strike("ecs", "DescribeServices") is None for _ in range(60)]
    assert again.count(True) == 50
    (rule,) = faults.rules()
    assert (rule["rate"], rule["burst"], rule["struck"]) == (20, 50, 10 + (100 - passed) + 10)
    with pytest.raises(SandboxError, match="burst needs rate"):
        FaultRule.parse("ecs=throttle,burst=5")


def test_each_account_and_region_has_a_bucket_of_its_own() -> None:
    """AWS throttles per account and region: a fleet spread over accounts is not one
    account's calls, and the rule must not refuse it as if it were."""
    clock = Clock()
    faults = FaultInjector(clock=clock)
    faults.add("ecs=throttle,rate=20,burst=50,action=DescribeServices")
    scopes = ["111111111111/us-east-1", "222222222222/us-east-1", "111111111111/eu-west-1"]
    got = {
        s: [faults.strike("ecs", "DescribeServices", s) is None for _ in range(60)] for s in scopes
    }
    assert {s: g.count(True) for s, g in got.items()} == dict.fromkeys(scopes, 50)
    (rule,) = faults.rules()
    assert (rule["seen"], rule["struck"]) == (180, 30)
    assert rule["peak_per_second"] == 60  # in one account and region, not 180


def test_the_endpoint_counts_a_call_in_the_account_its_key_acts_in() -> None:
    """The scope a call is counted in: the assumed role's account (moto keeps accounts
    apart by credentials), the default account for a plain key, and the region signed."""
    import boto3
    from moto import mock_aws

    from cosydeploy.sandbox.faults import FaultMiddleware

    def environ(key: str, region: str) -> dict[str, str]:
        cred = f"{key}/20261201/{region}/ecs/aws4_request"
        return {"HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host"}

    with mock_aws():
        sts = boto3.client("sts", region_name="us-east-1")
        creds = sts.assume_role(
            RoleArn="arn:aws:iam::222222222222:role/cosydeploy-deploy", RoleSessionName="test"
        )["Credentials"]
        mw = FaultMiddleware(lambda *a: [], FaultInjector())
        assert mw._scope(environ(creds["AccessKeyId"], "eu-west-1")) == "222222222222/eu-west-1"
        assert mw._scope(environ("testing", "us-east-1")) == "123456789012/us-east-1"
        assert mw._scope({}) == ""
