"""Releases that know about deployments made outside cosydeploy, end to end.

Each scenario onboards a client of its own and releases v1; then another tool (boto3
here, as ecs-deploy would) registers a revision of the same family with an image of
its own and rolls it out. A crashing release must then end where the service was
before it, or, when that revision was not healthy, on the last good release, and say
why.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.slow

OUTSIDE_VERSION = "hotfix-outside"  # what the outside revision's app answers on /version
CRASH = ("o18-crash", "--build-arg", "BREAK=crash")


def serving_version(url: str) -> str:
    with urllib.request.urlopen(f"{url}/version", timeout=5) as resp:
        return resp.read().decode().strip()


def service(aws, cid: str) -> dict:
    return aws("ecs").describe_services(cluster=f"cosyworld-{cid}-dev", services=["app"])[
        "services"
    ][0]


def deploy_outside(aws, cosy, cid: str) -> str:
    """Another tool's deployment: the serving task definition copied with another image
    (pushed by `build --push`), update_service, wait until it COMPLETED. Its ARN."""
    r = cosy("-o", "json", "build", OUTSIDE_VERSION, "--push", "--client", cid, "--env", "dev")
    assert r.exit_code == 0, r.output
    uri = json.loads(r.stdout)["uri"]
    ecs = aws("ecs")
    current = ecs.describe_task_definition(taskDefinition=service(aws, cid)["taskDefinition"])[
        "taskDefinition"
    ]
    containers = [dict(c, image=uri) for c in current["containerDefinitions"]]
    keep = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "cpu", "memory")
    arn = ecs.register_task_definition(
        **{k: current[k] for k in keep if current.get(k)},
        requiresCompatibilities=current.get("requiresCompatibilities") or ["FARGATE"],
        containerDefinitions=containers,
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=f"cosyworld-{cid}-dev", service="app", taskDefinition=arn)
    deadline = time.time() + 90
    while time.time() < deadline:
        s = service(aws, cid)
        (primary,) = [d for d in s["deployments"] if d["status"] == "PRIMARY"]
        if (
            primary["taskDefinition"] == arn
            and primary["rolloutState"] == "COMPLETED"
            and len(s["deployments"]) == 1
            and primary["runningCount"] == primary["desiredCount"]
        ):
            return arn
        time.sleep(0.5)
    pytest.fail(f"the outside deployment of {arn} never completed")


def history(cosy, cid: str) -> list[dict]:
    r = cosy("-o", "json", "history", cid, "--env", "dev")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture
def on_v1(stage) -> Iterator[str]:
    cid = stage.onboard(stage.new_id("outside"))
    stage.release("v1", cid)
    yield cid
    stage.retire(cid)


def test_crash_after_an_outside_deployment_ends_on_it_without_a_second_rollout(
    on_v1, cosy, stage, aws
) -> None:
    cid = on_v1
    outside = deploy_outside(aws, cosy, cid)
    rev = outside.rsplit("/", 1)[-1]
    assert serving_version(stage.url(cid)) == OUTSIDE_VERSION
    seen_events = {e["id"] for e in service(aws, cid)["events"]}

    r = cosy("-o", "json", "release", *CRASH, "--client", cid, "--env", "dev")

    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert result["outcome"] == "rolled_back"
    assert (
        f"back on {rev} (what served before; ECS rolled back to it, verified)"
        in (result["message"])
    ), result["message"]
    said = f"{cid}/dev: runs {rev} (sha256:"
    assert said in r.stderr and "not released by cosydeploy (healthy" in r.stderr, r.stderr
    assert any("not released by cosydeploy" in w for w in result["warnings"])
    # The service ends on the outside revision, serving it.
    s = service(aws, cid)
    assert s["taskDefinition"] == outside
    assert serving_version(stage.url(cid)) == OUTSIDE_VERSION
    # No second rollout: since the release began, one deployment completed (ECS's own
    # rollback, the PRIMARY one) and the ledger has no rollback record.
    (primary,) = s["deployments"]
    completed = [
        e["message"]
        for e in s["events"]
        if e["id"] not in seen_events and "deployment completed" in e["message"]
    ]
    assert completed == [f"(service app) (deployment {primary['id']}) deployment completed."], (
        completed
    )
    records = history(cosy, cid)
    assert [(h["kind"], h["outcome"]) for h in records] == [
        ("release", "rolled_back"),
        ("observed", "healthy"),
        ("release", "succeeded"),
    ]
    observed = records[1]
    assert observed["observed"] is True and records[0]["observed"] is False
    assert (observed["task_definition_arn"], observed["version"]) == (outside, rev)
    assert observed["digest"].startswith("sha256:") and observed["digest"] in observed["image"]

    # status and history show it
    r = cosy("-o", "json", "status", cid, "--env", "dev")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert (row["observed"], row["revision"], row["version"]) == (True, rev, "(outside)")
    assert row["digest"] == observed["digest"][7:19]
    text = cosy("status", cid, "--env", "dev")
    assert text.exit_code == 0 and "(outside)" in text.stdout, text.output
    text = cosy("history", cid, "--env", "dev")
    # (a narrow table folds the revision; the row's first line holds kind and outcome)
    line = next(line for line in text.stdout.splitlines() if " observed " in line)
    assert " healthy " in line, text.stdout


def test_crash_after_an_unhealthy_outside_deployment_goes_to_the_last_good_release(
    on_v1, cosy, stage, aws
) -> None:
    cid = on_v1
    outside = deploy_outside(aws, cosy, cid)
    rev = outside.rsplit("/", 1)[-1]
    # Its targets leave the load balancer: the outside revision runs but does not serve.
    elbv2 = aws("elbv2")
    (lb,) = service(aws, cid)["loadBalancers"]
    targets = elbv2.describe_target_health(TargetGroupArn=lb["targetGroupArn"])
    elbv2.deregister_targets(
        TargetGroupArn=lb["targetGroupArn"],
        Targets=[t["Target"] for t in targets["TargetHealthDescriptions"]],
    )

    r = cosy("-o", "json", "release", *CRASH, "--client", cid, "--env", "dev")

    assert r.exit_code == 1, r.output
    result = json.loads(r.stdout)
    assert result["outcome"] == "rolled_back"
    assert f"back on v1 ({rev}, which served before, was not healthy)" in result["message"], result[
        "message"
    ]
    why = f"back to the last good release v1: {rev}, which served before, was not healthy"
    assert why in r.stderr, r.stderr
    assert "targets registered" in r.stderr.split(why, 1)[1].splitlines()[0]
    assert serving_version(stage.url(cid)) == "v1"
    records = history(cosy, cid)
    assert [(h["kind"], h["version"], h["outcome"]) for h in records] == [
        ("rollback", "v1", "succeeded"),
        ("release", "o18-crash", "rolled_back"),
        ("observed", rev, "unhealthy"),
        ("release", "v1", "succeeded"),
    ]
    r = cosy("-o", "json", "status", cid, "--env", "dev")
    (row,) = json.loads(r.stdout)
    assert (row["observed"], row["version"]) == (False, "v1")
