"""ECS's record of a deployment, read as cosydeploy reads it (cosydeploy.ecs.deployments)."""

from __future__ import annotations

from datetime import UTC, datetime

from cosydeploy.ecs import deployments as sd


def _record(**over):
    base = {
        "serviceDeploymentArn": "arn:aws:ecs:us-east-1:1:service-deployment/c/s/abc",
        "status": "IN_PROGRESS",
        "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
        "targetServiceRevision": {
            "arn": "arn:aws:ecs:us-east-1:1:service-revision/c/s/2",
            "requestedTaskCount": 2,
            "runningTaskCount": 2,
            "requestedTestTrafficWeight": 100.0,
            "requestedProductionTrafficWeight": 0.0,
        },
        "lifecycleHookDetails": [
            {"hookId": "h-1", "targetType": "PAUSE", "status": "AWAITING_ACTION"},
        ],
    }
    base.update(over)
    return base


def test_a_pause_hook_awaiting_is_found_with_the_split() -> None:
    s = sd.state_of(_record())
    assert s.hook_id == "h-1"
    assert s.stage == sd.VERIFY_STAGE
    assert not s.in_production
    assert s.traffic() == "prod 0% test 100%"
    assert not s.final and not s.rolling_back


def test_a_hook_already_answered_is_not_awaiting() -> None:
    rec = _record(
        lifecycleHookDetails=[{"hookId": "h-1", "targetType": "PAUSE", "status": "SUCCEEDED"}]
    )
    assert sd.state_of(rec).hook_id == ""
    lam = _record(
        lifecycleHookDetails=[
            {"hookId": "h-2", "targetType": "AWS_LAMBDA", "status": "AWAITING_ACTION"}
        ]
    )
    assert sd.state_of(lam).hook_id == ""


def test_a_rollback_is_never_final_success_and_says_why() -> None:
    rec = _record(
        status="ROLLBACK_SUCCESSFUL",
        lifecycleStage="CLEAN_UP",
        rollback={"reason": "alarm cosy-acme-prod-5xx in ALARM"},
        lifecycleHookDetails=[],
    )
    s = sd.state_of(rec)
    assert s.final and s.rolling_back and s.status != sd.SUCCESSFUL
    assert "cosy-acme-prod-5xx" in s.reason


def test_a_triggered_alarm_names_itself_when_ecs_gives_no_reason() -> None:
    rec = _record(
        status="ROLLBACK_IN_PROGRESS",
        alarms={"status": "TRIGGERED", "triggeredAlarmNames": ["a-5xx"], "alarmNames": ["a-5xx"]},
    )
    s = sd.state_of(rec)
    assert s.rolling_back and not s.final
    assert s.reason == "alarm a-5xx went to ALARM"


def test_production_weight_means_production() -> None:
    rec = _record(lifecycleStage="PRODUCTION_TRAFFIC_SHIFT")
    rec["targetServiceRevision"]["requestedProductionTrafficWeight"] = 10.0
    s = sd.state_of(rec)
    assert s.in_production and s.traffic() == "prod 10% test 100%"


def test_the_pause_hook_is_merged_into_the_service_configuration() -> None:
    lam = {
        "targetType": "AWS_LAMBDA",
        "hookTargetArn": "arn:l",
        "lifecycleStages": ["PRE_SCALE_UP"],
    }
    old_pause = {"targetType": "PAUSE", "lifecycleStages": [sd.VERIFY_STAGE]}
    config = {
        "strategy": "BLUE_GREEN",
        "bakeTimeInMinutes": 5,
        "alarms": {"alarmNames": ["x"], "enable": True, "rollback": True},
        "lifecycleHooks": [lam, old_pause],
        "canaryConfiguration": None,
    }
    out = sd.with_pause_hook(config, 90)
    assert out["strategy"] == "BLUE_GREEN" and out["bakeTimeInMinutes"] == 5
    assert out["alarms"] == config["alarms"]
    assert "canaryConfiguration" not in out  # None is not sent back
    assert out["lifecycleHooks"][0] == lam
    assert out["lifecycleHooks"][1] == {
        "targetType": "PAUSE",
        "lifecycleStages": [sd.VERIFY_STAGE],
        "timeoutConfiguration": {"timeoutInMinutes": 2, "action": "ROLLBACK"},
    }
    assert len(out["lifecycleHooks"]) == 2
    assert config["lifecycleHooks"] == [lam, old_pause]  # the input is left as it was


def test_the_newest_deployment_of_our_revision_is_ours() -> None:
    t = lambda s: datetime.fromtimestamp(s, UTC)  # noqa: E731
    briefs = [
        {"serviceDeploymentArn": "sd-old", "targetServiceRevisionArn": "rev-1", "createdAt": t(10)},
        {"serviceDeploymentArn": "sd-a", "targetServiceRevisionArn": "rev-2", "createdAt": t(20)},
        {"serviceDeploymentArn": "sd-b", "targetServiceRevisionArn": "rev-3", "createdAt": t(30)},
        {
            "serviceDeploymentArn": "sd-other",
            "targetServiceRevisionArn": "rev-4",
            "createdAt": t(40),
        },
    ]
    revisions = {"rev-1": "td:6", "rev-2": "td:7", "rev-3": "td:7", "rev-4": "td:8"}
    assert sd.newest_for(briefs, revisions, "td:7")["serviceDeploymentArn"] == "sd-b"
    assert sd.newest_for(briefs, revisions, "td:9") is None
