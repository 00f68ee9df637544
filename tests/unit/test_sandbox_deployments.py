"""The sandbox's service-deployment book and the strategies' plans, without moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cosydeploy.errors import SandboxError
from cosydeploy.sandbox import deployments as sd
from cosydeploy.sandbox.strategies import (
    green_group,
    hooks_of,
    production_steps,
    split,
    staged_strategy,
)

ACCOUNT, REGION = "123456789012", "us-east-1"


def test_the_sandbox_minute_comes_from_the_environment() -> None:
    assert sd.sandbox_minute({}) == 60.0
    assert sd.sandbox_minute({sd.MINUTE_ENV: "2"}) == 2.0
    assert sd.sandbox_minute({sd.MINUTE_ENV: " 0.5 "}) == 0.5
    for bad in ("0", "-1", "soon", "nan", "inf"):
        with pytest.raises(SandboxError, match=sd.MINUTE_ENV):
            sd.sandbox_minute({sd.MINUTE_ENV: bad})


@pytest.mark.parametrize(
    ("strategy", "config", "steps"),
    [
        ("BLUE_GREEN", {}, [(100.0, 0.0)]),
        (
            "CANARY",
            {"canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5}},
            [(10.0, 5.0), (100.0, 0.0)],
        ),
        ("CANARY", {"canaryConfiguration": {"canaryPercent": 100.0}}, [(100.0, 0.0)]),
        (
            "LINEAR",
            {"linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 2}},
            [(25.0, 2.0), (50.0, 2.0), (75.0, 2.0), (100.0, 0.0)],
        ),
        (
            "LINEAR",
            {"linearConfiguration": {"stepPercent": 30.0, "stepBakeTimeInMinutes": 1}},
            [(30.0, 1.0), (60.0, 1.0), (90.0, 1.0), (100.0, 0.0)],
        ),
    ],
)
def test_production_traffic_moves_in_the_strategys_steps(strategy, config, steps) -> None:
    assert production_steps(strategy, config) == steps


def test_weights_and_which_group_is_green() -> None:
    assert split(10.0) == (10, 90)
    assert split(33.4) == (33, 67)
    assert split(100.0) == (100, 0)
    # Green is the group production sends nothing to; with no rule yet, the alternate.
    assert green_group({"a": 100, "b": 0}, "a", "b") == ("b", "a")
    assert green_group({"a": 0, "b": 100}, "a", "b") == ("a", "b")
    assert green_group({}, "a", "b") == ("b", "a")


def test_a_staged_strategy_needs_the_advanced_configuration() -> None:
    lbs = [
        {
            "targetGroupArn": "tg-a",
            "advancedConfiguration": {
                "alternateTargetGroupArn": "tg-b",
                "productionListenerRule": "rule-p",
            },
        }
    ]
    assert staged_strategy({"strategy": "CANARY"}, lbs) == "CANARY"
    assert staged_strategy({"strategy": "ROLLING"}, lbs) is None
    assert staged_strategy({}, lbs) is None
    assert staged_strategy({"strategy": "BLUE_GREEN"}, [{"targetGroupArn": "tg-a"}]) is None


def test_hooks_of_a_stage() -> None:
    pause = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}
    config = {"lifecycleHooks": [pause]}
    assert hooks_of(config, "POST_TEST_TRAFFIC_SHIFT") == [pause]
    assert hooks_of(config, "SCALE_UP") == []


def test_forward_weights_are_read_and_rewritten() -> None:
    actions = [
        {
            "Type": "forward",
            "Order": 1,
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": "a", "Weight": 100},
                    {"TargetGroupArn": "b", "Weight": 0},
                ],
                "TargetGroupStickinessConfig": {"Enabled": False},
            },
        }
    ]
    assert sd.rule_weights(actions) == {"a": 100, "b": 0}
    moved = sd.forward_actions(actions, {"a": 10, "b": 90})
    assert sd.rule_weights(moved) == {"a": 10, "b": 90}
    assert moved[0]["Order"] == 1
    assert moved[0]["ForwardConfig"]["TargetGroupStickinessConfig"] == {"Enabled": False}
    assert sd.rule_weights([{"Type": "forward", "TargetGroupArn": "a"}]) == {"a": 1}


def _record(book: sd.DeploymentBook, number: int, status: str, created: datetime) -> sd.Record:
    dep_id = f"ecs-svc/{number}"
    record = sd.Record(
        arn=sd.record_arn(REGION, ACCOUNT, "c", "app", dep_id),
        service_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/c/app",
        cluster_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/c",
        cluster="c",
        service="app",
        account=ACCOUNT,
        region=REGION,
        target={"arn": sd.revision_arn(REGION, ACCOUNT, "c", "app", dep_id)},
        deployment_configuration={},
        created_at=created,
    )
    record.set(sd.IN_PROGRESS)
    if status != sd.IN_PROGRESS:
        record.set(status)
    return book.add_record(record)


@pytest.fixture
def book() -> sd.DeploymentBook:
    book = sd.DeploymentBook()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n, status in enumerate((sd.SUCCESSFUL, sd.STOPPED, sd.SUCCESSFUL, sd.IN_PROGRESS)):
        _record(book, n + 1, status, start + timedelta(minutes=n))
    return book


def _numbers(listed: dict) -> list[str]:
    return [b["serviceDeploymentArn"].rsplit("/", 1)[1] for b in listed["serviceDeployments"]]


def test_list_is_newest_first_and_filters(book) -> None:
    everything = book.list(ACCOUNT, REGION, {"cluster": "c", "service": "app"})
    assert _numbers(everything) == ["4", "3", "2", "1"]
    assert everything["serviceDeployments"][0]["targetServiceRevisionArn"].endswith(
        "service-revision/c/app/4"
    )
    stopped = book.list(ACCOUNT, REGION, {"cluster": "c", "service": "app", "status": ["STOPPED"]})
    assert _numbers(stopped) == ["2"]
    t = datetime(2026, 1, 1, 0, 1, tzinfo=UTC).timestamp()
    after = book.list(
        ACCOUNT, REGION, {"cluster": "c", "service": "app", "createdAt": {"after": t}}
    )
    assert _numbers(after) == ["4", "3", "2"]
    window = {"after": t, "before": t + 60}
    assert _numbers(
        book.list(ACCOUNT, REGION, {"cluster": "c", "service": "app", "createdAt": window})
    ) == ["3", "2"]
    page = book.list(ACCOUNT, REGION, {"cluster": "c", "service": "app", "maxResults": 3})
    assert _numbers(page) == ["4", "3", "2"]
    rest = book.list(
        ACCOUNT, REGION, {"cluster": "c", "service": "app", "nextToken": page["nextToken"]}
    )
    assert _numbers(rest) == ["1"] and "nextToken" not in rest
    # Another account sees none of them.
    assert book.list("210987654321", REGION, {"cluster": "c", "service": "app"}) == {
        "serviceDeployments": []
    }
    with pytest.raises(sd.ApiError, match="service"):
        book.list(ACCOUNT, REGION, {"cluster": "c"})


def test_describe_reports_unknown_arns_as_failures(book) -> None:
    known = sd.record_arn(REGION, ACCOUNT, "c", "app", "ecs-svc/1")
    unknown = sd.record_arn(REGION, ACCOUNT, "c", "app", "ecs-svc/99")
    got = book.describe(ACCOUNT, {"serviceDeploymentArns": [known, unknown]})
    assert [d["serviceDeploymentArn"] for d in got["serviceDeployments"]] == [known]
    assert got["serviceDeployments"][0]["status"] == "SUCCESSFUL"
    assert "finishedAt" in got["serviceDeployments"][0]
    assert got["failures"] == [{"arn": unknown, "reason": "MISSING"}]
    with pytest.raises(sd.ApiError) as err:
        book.describe(ACCOUNT, {"serviceDeploymentArns": ["arn:aws:ecs:x"]})
    assert err.value.code == "InvalidParameterException"
    with pytest.raises(sd.ApiError):
        book.describe(ACCOUNT, {"serviceDeploymentArns": []})


def test_a_hook_is_answered_once(book) -> None:
    arn = sd.record_arn(REGION, ACCOUNT, "c", "app", "ecs-svc/4")
    record = book.records[arn]
    with pytest.raises(sd.ApiError, match="no lifecycle hook awaiting"):
        book.answer_hook(ACCOUNT, {"serviceDeploymentArn": arn, "hookId": "h1"})
    record.hooks.append({"hookId": "h1", "targetType": "PAUSE", "status": sd.AWAITING_ACTION})
    with pytest.raises(sd.ApiError, match="not awaiting"):
        book.answer_hook(ACCOUNT, {"serviceDeploymentArn": arn, "hookId": "other"})
    book.answer_hook(ACCOUNT, {"serviceDeploymentArn": arn, "hookId": "h1"})
    assert record.hooks[0]["status"] == sd.SUCCEEDED and record.status == sd.IN_PROGRESS
    record.hooks.append({"hookId": "h2", "targetType": "PAUSE", "status": sd.AWAITING_ACTION})
    book.answer_hook(ACCOUNT, {"serviceDeploymentArn": arn, "hookId": "h2", "action": "ROLLBACK"})
    assert record.hooks[1]["status"] == sd.FAILED
    assert record.status == sd.ROLLBACK_REQUESTED
    assert record.request is not None and record.request[0] == "ROLLBACK"
    with pytest.raises(sd.ApiError) as err:
        book.answer_hook(
            ACCOUNT, {"serviceDeploymentArn": sd.record_arn(REGION, ACCOUNT, "c", "app", "9")}
        )
    assert err.value.code == "ServiceDeploymentNotFoundException"


def test_stop_asks_once_and_only_while_under_way(book) -> None:
    arn = sd.record_arn(REGION, ACCOUNT, "c", "app", "ecs-svc/4")
    book.stop(ACCOUNT, {"serviceDeploymentArn": arn, "stopType": "ABORT"})
    assert book.records[arn].status == sd.STOP_REQUESTED
    with pytest.raises(sd.ApiError) as err:
        book.stop(ACCOUNT, {"serviceDeploymentArn": arn, "stopType": "ROLLBACK"})
    assert err.value.code == "ConflictException"
    done = sd.record_arn(REGION, ACCOUNT, "c", "app", "ecs-svc/1")
    with pytest.raises(sd.ApiError) as err:
        book.stop(ACCOUNT, {"serviceDeploymentArn": done})
    assert err.value.code == "ConflictException"
    with pytest.raises(sd.ApiError) as err:
        book.stop(ACCOUNT, {"serviceDeploymentArn": arn, "stopType": "PAUSE"})
    assert err.value.code == "InvalidParameterException"


def test_service_deployment_actions_are_authorized_on_their_arns() -> None:
    from cosydeploy.sandbox.authz import Request, calls_for

    arn = sd.record_arn(REGION, ACCOUNT, "c", "app", "ecs-svc/4")
    for action, params in (
        ("StopServiceDeployment", {"serviceDeploymentArn": arn}),
        ("ContinueServiceDeployment", {"serviceDeploymentArn": arn, "hookId": "h"}),
        ("DescribeServiceDeployments", {"serviceDeploymentArns": [arn]}),
    ):
        (call,) = calls_for(Request("ecs", action, REGION, "POST", "/", params), ACCOUNT)
        assert (call.action, call.resource) == (f"ecs:{action}", arn)


def test_the_infrastructure_roles_load_balancer_actions_are_authorized_on_their_arns() -> None:
    from cosydeploy.sandbox.authz import Request, calls_for

    rule = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener-rule/app/lb/1/2/3"
    (call,) = calls_for(
        Request("elasticloadbalancing", "ModifyRule", REGION, "POST", "/", {"RuleArn": rule}),
        ACCOUNT,
    )
    assert (call.action, call.resource) == ("elasticloadbalancing:ModifyRule", rule)
    (call,) = calls_for(
        Request("elasticloadbalancing", "DescribeRules", REGION, "POST", "/", {}), ACCOUNT
    )
    assert call.resource == "*"
