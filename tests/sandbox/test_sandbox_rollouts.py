"""Rollouts in the sandbox, driven only through boto3 and the Docker engine."""

from __future__ import annotations

import time
import urllib.request

from conftest import make_target


def _log_lines(aws, group: str) -> list[str]:
    logs = aws("logs")
    lines = []
    for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])
        lines += [e["message"] for e in events["events"]]
    return lines


def test_healthy_release_completes_and_old_tasks_stop(target, images, aws):
    first = target.deploy(target.register(images["good1"].ecr_ref, {"APP_VERSION": "1"}))
    assert target.wait_rollout(first)["rolloutState"] == "COMPLETED"
    old_tasks = {t["taskArn"] for t in target.tasks("RUNNING")}
    assert len(old_tasks) == 2

    td2 = target.register(images["good2"].ecr_ref, {"APP_VERSION": "2"})
    second = target.deploy(td2)
    svc = target.service()
    assert [d["status"] for d in svc["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert svc["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    done = target.wait_rollout(second)
    assert done["rolloutState"] == "COMPLETED"
    assert done["runningCount"] == 2 and done["failedTasks"] == 0

    svc = target.service()
    assert [d["id"] for d in svc["deployments"]] == [second]
    assert svc["runningCount"] == 2 and svc["pendingCount"] == 0
    running = target.tasks("RUNNING")
    assert {t["taskDefinitionArn"] for t in running} == {td2}
    stopped = {t["taskArn"]: t for t in target.tasks("STOPPED")}
    assert old_tasks <= set(stopped)
    assert all("Scaling activity" in stopped[a]["stoppedReason"] for a in old_tasks)
    assert "(service app) has reached a steady state." in target.events()
    assert any(m.startswith("(service app) has started 2 tasks:") for m in target.events())

    # The ALB stand-in reaches the new tasks; their output is in CloudWatch Logs.
    with urllib.request.urlopen(f"{target.outputs.app_url}/version", timeout=5) as resp:
        assert resp.read().decode().strip() == "good2"
    health = aws("elbv2").describe_target_health(TargetGroupArn=target.outputs.target_group_arn)
    assert len(health["TargetHealthDescriptions"]) == 2
    lines = _log_lines(aws, target.outputs.log_group_name)
    assert any("good2 listening on" in line for line in lines)


def test_crash_at_start_trips_breaker_and_rolls_back(target, images, aws):
    good = target.register(images["good1"].ecr_ref)
    assert target.wait_rollout(target.deploy(good))["rolloutState"] == "COMPLETED"
    good_dep = target.service()["deployments"][0]["id"]

    crash = target.register(images["crash"].ecr_ref)
    failed_id = target.deploy(crash)
    failed = target.wait_rollout(failed_id)
    assert failed["rolloutState"] == "FAILED"
    assert "circuit breaker" in failed["rolloutStateReason"]
    assert failed["failedTasks"] >= 3

    # A rollback deployment to the last completed revision runs and completes.
    rollback = target.wait_for(
        lambda svc: next(
            (
                d["id"]
                for d in svc["deployments"]
                if d["status"] == "PRIMARY" and d["id"] != failed_id
            ),
            None,
        ),
        what="a rollback deployment",
    )
    assert target.wait_rollout(rollback)["rolloutState"] == "COMPLETED"
    svc = target.service()
    assert svc["taskDefinition"] == good
    assert svc["deployments"][0]["taskDefinition"] == good
    events = target.events()
    assert (
        f"(service app) (deployment {failed_id}) deployment failed: tasks failed to start."
        in events
    )
    assert f"(service app) rolling back to deployment {good_dep}." in events

    crashed = [t for t in target.tasks("STOPPED") if t["taskDefinitionArn"] == crash]
    assert len(crashed) >= 3
    exited = [t for t in crashed if t["stoppedReason"] == "Essential container in task exited"]
    assert len(exited) >= 3
    assert {t["containers"][0]["exitCode"] for t in exited} == {3}
    assert {t["taskDefinitionArn"] for t in target.tasks("RUNNING")} == {good}
    assert any(
        "failed to start (break=crash)" in x for x in _log_lines(aws, target.outputs.log_group_name)
    )


def test_unhealthy_image_fails_after_the_grace_period(session, info, aws, images):
    target = make_target(session, info, aws, grace=3)
    td = target.register(images["unhealthy"].ecr_ref)
    began = time.monotonic()
    dep = target.deploy(td)
    failed = target.wait_rollout(dep)
    assert failed["rolloutState"] == "FAILED"
    assert time.monotonic() - began >= 3
    bad = [t for t in target.tasks("STOPPED") if t["taskDefinitionArn"] == td]
    unhealthy = [t for t in bad if "failed ELB health checks" in t["stoppedReason"]]
    assert len(unhealthy) >= 3
    # Any task still starting when the breaker tripped was stopped with the deployment.
    rest = [t for t in bad if t not in unhealthy]
    assert all(t["stoppedReason"] == f"Deployment {dep} failed" for t in rest)
    assert any("failed ELB health checks" in m for m in target.events())


def test_slow_start_within_grace_completes(session, info, aws, images):
    target = make_target(session, info, aws, grace=10)
    td = target.register(images["slow"].ecr_ref, {"SLOW_SECONDS": "3"})
    began = time.monotonic()
    done = target.wait_rollout(target.deploy(td))
    assert done["rolloutState"] == "COMPLETED"
    assert time.monotonic() - began >= 3
    assert done["failedTasks"] == 0


def test_superseded_deployment_leaves_the_newer_one_primary(target, images):
    slow = target.register(images["slow"].ecr_ref, {"SLOW_SECONDS": "6"})
    older = target.deploy(slow)
    good = target.register(images["good2"].ecr_ref)
    newer = target.deploy(good)
    svc = target.service()
    statuses = {d["id"]: d["status"] for d in svc["deployments"]}
    assert statuses[newer] == "PRIMARY" and statuses.get(older) == "ACTIVE"
    assert target.wait_rollout(newer)["rolloutState"] == "COMPLETED"
    svc = target.service()
    assert [d["id"] for d in svc["deployments"]] == [newer]
    assert {t["taskDefinitionArn"] for t in target.tasks("RUNNING")} == {good}


def test_desired_count_changes_scale_the_service(target, images, aws):
    td = target.register(images["good1"].ecr_ref)
    assert target.wait_rollout(target.deploy(td))["rolloutState"] == "COMPLETED"
    aws("ecs").update_service(cluster=target.cluster, service="app", desiredCount=3)
    target.wait_for(
        lambda svc: svc["runningCount"] == 3 and len(target.tasks("RUNNING")) == 3, what="3 tasks"
    )
    aws("ecs").update_service(cluster=target.cluster, service="app", desiredCount=1)
    target.wait_for(
        lambda svc: svc["runningCount"] == 1 and len(target.tasks("RUNNING")) == 1, what="1 task"
    )
