"""ECS's release strategies in the sandbox, seen only through boto3: service deployment
records for every deployment, and BLUE_GREEN / CANARY / LINEAR moving listener rules.

Each test sets up the load balancer side as an API user would (a load balancer, a
second target group, a production and a test listener with one rule each forwarding to
both groups, an infrastructure role), then configures the service with
``loadBalancers[].advancedConfiguration`` and a ``deploymentConfiguration``. The
paper services (cosyworld-paper*) deploy without containers; one blue/green runs real
ones. An ECS minute lasts a second in this sandbox (see conftest).
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError
from conftest import Target, make_target

PAPER_IMAGE = "{host}/cosyworld:{version}"


@dataclass
class Balancer:
    primary: str
    alternate: str
    prod_rule: str
    test_rule: str
    role: str


# What ECS's infrastructure role for load balancers may do, as AWS's managed policy
# scopes it: read anything, modify application load balancers' listener rules.
READ_RULES = {
    "Effect": "Allow",
    "Action": ["elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeListeners"],
    "Resource": "*",
}
MODIFY_RULES = {
    "Effect": "Allow",
    "Action": "elasticloadbalancing:ModifyRule",
    "Resource": "arn:aws:elasticloadbalancing:*:*:listener-rule/app/*/*/*/*",
}


def balancer(target: Target, aws, statements: tuple = (READ_RULES, MODIFY_RULES)) -> Balancer:
    """A load balancer in front of the service's target group and a second (alternate)
    one; production and test rules forward to both, production 100/0; the
    infrastructure role with these policy statements."""
    elb, ec2, iam = aws("elbv2"), aws("ec2"), aws("iam")
    short = target.cluster.removeprefix("cosyworld-")
    primary = target.outputs.target_group_arn
    vpc = elb.describe_target_groups(TargetGroupArns=[primary])["TargetGroups"][0]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.0.20.0/24", "us-east-1a"), ("10.0.21.0/24", "us-east-1b"))
    ]
    alternate = elb.create_target_group(
        Name=f"{short}-alt",
        Protocol="HTTP",
        Port=3000,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckPath="/health/ready",
    )["TargetGroups"][0]["TargetGroupArn"]
    lb = elb.create_load_balancer(Name=short, Subnets=subnets)["LoadBalancers"][0]
    rules = []
    for port in (80, 8443):
        listener = elb.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=port,
            DefaultActions=[
                {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}
            ],
        )["Listeners"][0]["ListenerArn"]
        rule = elb.create_rule(
            ListenerArn=listener,
            Priority=1,
            Conditions=[{"Field": "path-pattern", "Values": ["/*"]}],
            Actions=[
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": primary, "Weight": 100},
                            {"TargetGroupArn": alternate, "Weight": 0},
                        ]
                    },
                }
            ],
        )["Rules"][0]["RuleArn"]
        rules.append(rule)
    # The infrastructure role ECS moves the rules with.
    role = iam.create_role(
        RoleName=f"{short}-ecs-infra",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=f"{short}-ecs-infra",
        PolicyName="rules",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": list(statements),
            }
        ),
    )
    return Balancer(primary, alternate, rules[0], rules[1], role)


def configure(target: Target, lb: Balancer, **config) -> None:
    """The service behind both rules, with this deployment configuration."""
    config.setdefault("deploymentCircuitBreaker", {"enable": True, "rollback": True})
    config.setdefault("minimumHealthyPercent", 100)
    config.setdefault("maximumPercent", 200)
    target.aws("ecs").update_service(
        cluster=target.cluster,
        service="app",
        loadBalancers=[
            {
                "targetGroupArn": lb.primary,
                "containerName": "app",
                "containerPort": 3000,
                "advancedConfiguration": {
                    "alternateTargetGroupArn": lb.alternate,
                    "productionListenerRule": lb.prod_rule,
                    "testListenerRule": lb.test_rule,
                    "roleArn": lb.role,
                },
            }
        ],
        deploymentConfiguration=config,
    )


PAUSE = {
    "targetType": "PAUSE",
    "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
    "timeoutConfiguration": {"timeoutInMinutes": 30, "action": "ROLLBACK"},
}


def weights(aws, rule: str) -> dict[str, int]:
    action = aws("elbv2").describe_rules(RuleArns=[rule])["Rules"][0]["Actions"][0]
    return {g["TargetGroupArn"]: g["Weight"] for g in action["ForwardConfig"]["TargetGroups"]}


def targets(aws, tg: str) -> set[str]:
    health = aws("elbv2").describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    return {f"{t['Target']['Id']}:{t['Target']['Port']}" for t in health}


def paper_td(target: Target, info, version: str) -> str:
    return target.register(PAPER_IMAGE.format(host=info.ecr_host, version=version))


def record_of(target: Target, dep_id: str) -> dict:
    """The service deployment of a describe_services deployment (same number)."""
    ecs = target.aws("ecs")
    number = dep_id.rsplit("/", 1)[1]
    for brief in ecs.list_service_deployments(cluster=target.cluster, service="app")[
        "serviceDeployments"
    ]:
        if brief["serviceDeploymentArn"].endswith("/" + number):
            return describe(target, brief["serviceDeploymentArn"])
    raise AssertionError(f"no service deployment for {dep_id}")


def describe(target: Target, arn: str) -> dict:
    got = target.aws("ecs").describe_service_deployments(serviceDeploymentArns=[arn])
    assert not got["failures"], got["failures"]
    return got["serviceDeployments"][0]


def wait_record(
    target: Target, arn: str, check: Callable[[dict], bool], what: str, timeout: float = 30
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = describe(target, arn)
        if check(record):
            return record
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {describe(target, arn)}")


def ended(status: str) -> Callable[[dict], bool]:
    return lambda r: r["status"] == status


def awaiting(record: dict) -> bool:
    return any(h["status"] == "AWAITING_ACTION" for h in record.get("lifecycleHookDetails", []))


def released(target: Target, td: str, status: str = "SUCCESSFUL") -> dict:
    """Deploy ``td``; wait for its record to reach ``status``."""
    record = record_of(target, target.deploy(td))
    return wait_record(target, record["serviceDeploymentArn"], ended(status), status)


@pytest.fixture
def paper(session, info, aws) -> Target:
    return make_target(session, info, aws, paper="paper")


def test_rolling_deployments_are_recorded_and_the_api_answers_as_ecs(session, info, aws):
    target = make_target(session, info, aws, paper="paperfail")
    ecs = aws("ecs")
    # The first deployment completes; later ones fail at start (paperfail); with the
    # circuit breaker off, a failing deployment runs until a newer one supersedes it.
    v1 = paper_td(target, info, "v1")
    first = released(target, v1)
    assert first["targetServiceRevision"]["runningTaskCount"] == 2
    revision = ecs.describe_service_revisions(
        serviceRevisionArns=[first["targetServiceRevision"]["arn"]]
    )["serviceRevisions"][0]
    assert revision["taskDefinition"] == v1
    assert revision["loadBalancers"][0]["targetGroupArn"] == target.outputs.target_group_arn

    ecs.update_service(
        cluster=target.cluster,
        service="app",
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": False, "rollback": False}},
    )
    second = record_of(target, target.deploy(paper_td(target, info, "v2")))
    assert second["status"] == "IN_PROGRESS"
    assert second["sourceServiceRevisions"][0]["arn"] == first["targetServiceRevision"]["arn"]
    third_id = target.deploy(paper_td(target, info, "v3"))
    second = wait_record(target, second["serviceDeploymentArn"], ended("STOPPED"), "superseded")
    assert "superseded" in second["statusReason"] and "stoppedAt" in second

    # The breaker, on again, trips on v3 and rolls back to v1.
    ecs.update_service(
        cluster=target.cluster,
        service="app",
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    third = record_of(target, third_id)
    third = wait_record(
        target, third["serviceDeploymentArn"], ended("ROLLBACK_SUCCESSFUL"), "the rollback"
    )
    assert "circuit breaker" in third["rollback"]["reason"]
    assert third["rollback"]["serviceRevisionArn"] == first["targetServiceRevision"]["arn"]
    assert target.service()["taskDefinition"] == v1

    # Newest first; the service's creation is its first deployment; filters.
    listed = ecs.list_service_deployments(cluster=target.cluster, service="app")
    statuses = [d["status"] for d in listed["serviceDeployments"]]
    assert statuses == ["ROLLBACK_SUCCESSFUL", "STOPPED", "SUCCESSFUL", "SUCCESSFUL"]
    only = ecs.list_service_deployments(cluster=target.cluster, service="app", status=["STOPPED"])
    assert [d["serviceDeploymentArn"] for d in only["serviceDeployments"]] == [
        second["serviceDeploymentArn"]
    ]
    later = ecs.list_service_deployments(
        cluster=target.cluster, service="app", createdAt={"after": second["createdAt"]}
    )
    later_arns = {d["serviceDeploymentArn"] for d in later["serviceDeployments"]}
    assert {second["serviceDeploymentArn"], third["serviceDeploymentArn"]} <= later_arns
    page = ecs.list_service_deployments(cluster=target.cluster, service="app", maxResults=3)
    assert len(page["serviceDeployments"]) == 3 and page["nextToken"]

    # Errors as ECS gives them.
    missing = first["serviceDeploymentArn"].rsplit("/", 1)[0] + "/1"
    got = ecs.describe_service_deployments(serviceDeploymentArns=[missing])
    assert got["failures"] == [{"arn": missing, "reason": "MISSING"}]
    with pytest.raises(ClientError) as err:
        ecs.stop_service_deployment(serviceDeploymentArn=missing, stopType="ROLLBACK")
    assert err.value.response["Error"]["Code"] == "ServiceDeploymentNotFoundException"
    with pytest.raises(ClientError) as err:
        ecs.stop_service_deployment(serviceDeploymentArn=first["serviceDeploymentArn"])
    assert err.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as err:
        ecs.continue_service_deployment(
            serviceDeploymentArn=first["serviceDeploymentArn"], hookId="none"
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.describe_service_deployments(serviceDeploymentArns=["not-an-arn"])
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        ecs.list_service_deployments(cluster=target.cluster, service="nope")
    assert err.value.response["Error"]["Code"] == "ServiceNotFoundException"


def test_create_service_keeps_its_deployment_configuration(paper, aws):
    ecs = aws("ecs")
    service = paper.service()
    created = ecs.create_service(
        cluster=paper.cluster,
        serviceName="second",
        taskDefinition=service["taskDefinition"],
        desiredCount=0,
        launchType="FARGATE",
        deploymentConfiguration={
            "strategy": "LINEAR",
            "linearConfiguration": {"stepPercent": 20.0, "stepBakeTimeInMinutes": 1},
            "bakeTimeInMinutes": 3,
        },
    )["service"]
    assert created["deploymentConfiguration"]["strategy"] == "LINEAR"
    described = ecs.describe_services(cluster=paper.cluster, services=["second"])["services"][0]
    assert described["deploymentConfiguration"]["linearConfiguration"]["stepPercent"] == 20.0
    ecs.delete_service(cluster=paper.cluster, service="second", force=True)


def test_blue_green_pauses_on_the_test_listener_then_continues(paper, info, aws):
    lb = balancer(paper, aws)
    configure(paper, lb, strategy="BLUE_GREEN", bakeTimeInMinutes=0)
    # From the service's first (empty) revision: green goes to the group production
    # sends nothing to, the alternate; after success the roles swap.
    released(paper, paper_td(paper, info, "v1"))
    assert weights(aws, lb.prod_rule) == {lb.primary: 0, lb.alternate: 100}
    assert len(targets(aws, lb.alternate)) == 2 and not targets(aws, lb.primary)

    configure(paper, lb, strategy="BLUE_GREEN", bakeTimeInMinutes=0, lifecycleHooks=[PAUSE])
    v2 = paper_td(paper, info, "v2")
    dep_id = paper.deploy(v2)
    record = record_of(paper, dep_id)
    arn = record["serviceDeploymentArn"]
    record = wait_record(paper, arn, awaiting, "the pause")
    assert record["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"
    hook = record["lifecycleHookDetails"][0]
    assert hook["targetType"] == "PAUSE" and hook["timeoutAction"] == "ROLLBACK"
    assert hook["expiresAt"] > record["startedAt"]
    # Test traffic on green (now the primary group), production still all blue.
    assert weights(aws, lb.test_rule) == {lb.primary: 100, lb.alternate: 0}
    assert weights(aws, lb.prod_rule) == {lb.primary: 0, lb.alternate: 100}
    assert record["targetServiceRevision"]["requestedTestTrafficWeight"] == 100.0
    assert record["targetServiceRevision"]["requestedProductionTrafficWeight"] == 0.0
    assert len(targets(aws, lb.primary)) == 2 and len(targets(aws, lb.alternate)) == 2
    assert len(paper.tasks("RUNNING")) == 4

    ecs = aws("ecs")
    ecs.continue_service_deployment(
        serviceDeploymentArn=arn, hookId=hook["hookId"], action="CONTINUE"
    )
    record = wait_record(paper, arn, ended("SUCCESSFUL"), "success")
    assert record["lifecycleHookDetails"][0]["status"] == "SUCCEEDED"
    assert record["lifecycleStage"] == "CLEAN_UP"
    assert weights(aws, lb.prod_rule) == {lb.primary: 100, lb.alternate: 0}
    assert not targets(aws, lb.alternate), "blue's targets are gone"
    running = paper.tasks("RUNNING")
    assert len(running) == 2 and {t["taskDefinitionArn"] for t in running} == {v2}
    assert [d["id"] for d in paper.service()["deployments"]] == [dep_id]
    stages = [m for m in reversed(paper.events()) if f"(deployment {dep_id}) entered" in m]
    assert [m.rsplit(" ", 1)[1].rstrip(".") for m in stages] == [
        "PRE_SCALE_UP",
        "SCALE_UP",
        "POST_SCALE_UP",
        "TEST_TRAFFIC_SHIFT",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
        "BAKE_TIME",
        "CLEAN_UP",
    ]
    with pytest.raises(ClientError) as err:
        ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"])
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_rollback_at_the_hook_never_moves_production(paper, info, aws):
    lb = balancer(paper, aws)
    configure(paper, lb, strategy="BLUE_GREEN", bakeTimeInMinutes=0)
    v1 = paper_td(paper, info, "v1")
    first = released(paper, v1)
    configure(paper, lb, strategy="BLUE_GREEN", bakeTimeInMinutes=0, lifecycleHooks=[PAUSE])
    dep_id = paper.deploy(paper_td(paper, info, "v2"))
    arn = record_of(paper, dep_id)["serviceDeploymentArn"]
    record = wait_record(paper, arn, awaiting, "the pause")
    aws("ecs").continue_service_deployment(
        serviceDeploymentArn=arn,
        hookId=record["lifecycleHookDetails"][0]["hookId"],
        action="ROLLBACK",
    )
    record = wait_record(paper, arn, ended("ROLLBACK_SUCCESSFUL"), "the rollback")
    assert "ROLLBACK" in record["rollback"]["reason"]
    assert record["rollback"]["serviceRevisionArn"] == first["targetServiceRevision"]["arn"]
    assert weights(aws, lb.prod_rule) == {lb.primary: 0, lb.alternate: 100}
    assert weights(aws, lb.test_rule) == {lb.primary: 0, lb.alternate: 100}
    assert not [m for m in paper.events() if f"(deployment {dep_id}) modified production" in m]
    assert not targets(aws, lb.primary)
    running = paper.tasks("RUNNING")
    assert len(running) == 2 and {t["taskDefinitionArn"] for t in running} == {v1}
    svc = paper.service()
    assert svc["taskDefinition"] == v1
    assert [d["status"] for d in svc["deployments"]] == ["PRIMARY"]


def test_canary_sends_its_percent_then_the_rest(paper, info, aws):
    lb = balancer(paper, aws)
    configure(
        paper,
        lb,
        strategy="CANARY",
        bakeTimeInMinutes=0,
        canaryConfiguration={"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 3},
    )
    dep_id = paper.deploy(paper_td(paper, info, "v1"))
    arn = record_of(paper, dep_id)["serviceDeploymentArn"]
    record = wait_record(
        paper,
        arn,
        lambda r: r["targetServiceRevision"].get("requestedProductionTrafficWeight") == 10.0,
        "the canary",
    )
    assert record["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
    assert weights(aws, lb.prod_rule) == {lb.primary: 90, lb.alternate: 10}
    record = wait_record(paper, arn, ended("SUCCESSFUL"), "success")
    assert record["targetServiceRevision"]["requestedProductionTrafficWeight"] == 100.0
    assert weights(aws, lb.prod_rule) == {lb.primary: 0, lb.alternate: 100}
    shifts = [m for m in reversed(paper.events()) if "modified production" in m]
    assert [m.split("): ", 1)[1].split("%")[0] for m in shifts] == ["10", "100"]


def test_linear_moves_production_step_by_step(paper, info, aws):
    lb = balancer(paper, aws)
    configure(
        paper,
        lb,
        strategy="LINEAR",
        bakeTimeInMinutes=0,
        linearConfiguration={"stepPercent": 25.0, "stepBakeTimeInMinutes": 1},
    )
    record = released(paper, paper_td(paper, info, "v1"))
    shifts = [m for m in reversed(paper.events()) if "modified production" in m]
    assert [m.split("): ", 1)[1].split("%")[0] for m in shifts] == ["25", "50", "75", "100"]
    assert weights(aws, lb.prod_rule) == {lb.primary: 0, lb.alternate: 100}
    # Each step waited its bake (a minute: a second here) before the next.
    assert (record["finishedAt"] - record["startedAt"]).total_seconds() >= 3.0


def _baking(paper: Target, info, aws, lb: Balancer, **extra) -> tuple[str, dict]:
    """v1 released blue/green, then v2 in its 30-minute bake; (v1's revision, v2's record)."""
    configure(paper, lb, strategy="BLUE_GREEN", bakeTimeInMinutes=0)
    first = released(paper, paper_td(paper, info, "v1"))
    configure(paper, lb, strategy="BLUE_GREEN", bakeTimeInMinutes=30, **extra)
    dep_id = paper.deploy(paper_td(paper, info, "v2"))
    arn = record_of(paper, dep_id)["serviceDeploymentArn"]
    record = wait_record(paper, arn, lambda r: r.get("lifecycleStage") == "BAKE_TIME", "bake")
    # Production is on green, blue still runs.
    assert weights(aws, lb.prod_rule) == {lb.primary: 100, lb.alternate: 0}
    assert len(paper.tasks("RUNNING")) == 4
    return first["targetServiceRevision"]["arn"], record


def test_an_alarm_during_the_bake_rolls_back(paper, info, aws):
    lb = balancer(paper, aws)
    cloudwatch = aws("cloudwatch")
    alarm = f"{paper.cluster}-5xx-{uuid.uuid4().hex[:4]}"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    blue, record = _baking(
        paper, info, aws, lb, alarms={"alarmNames": [alarm], "enable": True, "rollback": True}
    )
    assert record["alarms"]["status"] == "MONITORING"
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="5xx")
    record = wait_record(
        paper, record["serviceDeploymentArn"], ended("ROLLBACK_SUCCESSFUL"), "the rollback"
    )
    assert alarm in record["rollback"]["reason"]
    assert record["rollback"]["serviceRevisionArn"] == blue
    assert record["alarms"]["status"] == "TRIGGERED"
    assert record["alarms"]["triggeredAlarmNames"] == [alarm]
    assert weights(aws, lb.prod_rule) == {lb.primary: 0, lb.alternate: 100}
    assert len(paper.tasks("RUNNING")) == 2 and not targets(aws, lb.primary)


def test_stop_with_rollback_during_the_bake(paper, info, aws):
    lb = balancer(paper, aws)
    blue, record = _baking(paper, info, aws, lb)
    arn = record["serviceDeploymentArn"]
    aws("ecs").stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    record = wait_record(paper, arn, ended("ROLLBACK_SUCCESSFUL"), "the rollback")
    assert "StopServiceDeployment" in record["rollback"]["reason"]
    assert record["rollback"]["serviceRevisionArn"] == blue
    assert weights(aws, lb.prod_rule) == {lb.primary: 0, lb.alternate: 100}
    assert len(paper.tasks("RUNNING")) == 2


def test_failing_green_trips_the_breaker_and_blue_keeps_serving(session, info, aws):
    target = make_target(session, info, aws, paper="paperfail")
    lb = balancer(target, aws)
    configure(target, lb, strategy="BLUE_GREEN", bakeTimeInMinutes=0)
    released(target, paper_td(target, info, "v1"))
    record = released(target, paper_td(target, info, "v2"), "ROLLBACK_SUCCESSFUL")
    assert "circuit breaker" in record["rollback"]["reason"]
    assert record["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert record["deploymentCircuitBreaker"]["failureCount"] >= 3
    assert record.get("lifecycleStage") == "SCALE_UP"
    assert weights(aws, lb.prod_rule) == {lb.primary: 0, lb.alternate: 100}
    assert len(targets(aws, lb.alternate)) == 2


def test_blue_green_with_containers(target, images, aws):
    lb = balancer(target, aws)
    first = released(target, target.register(images["good1"].ecr_ref))  # rolling
    assert len(targets(aws, lb.primary)) == 2
    configure(target, lb, strategy="BLUE_GREEN", bakeTimeInMinutes=0, lifecycleHooks=[PAUSE])
    v2 = target.register(images["good2"].ecr_ref)
    arn = record_of(target, target.deploy(v2))["serviceDeploymentArn"]
    record = wait_record(target, arn, awaiting, "the pause", timeout=60)
    # Green serves good2 from the alternate group; production is still good1's.
    green = targets(aws, lb.alternate)
    assert len(green) == 2
    for address in green:
        with urllib.request.urlopen(f"http://{address}/version", timeout=5) as resp:
            assert resp.read().decode().strip() == "good2"
    assert weights(aws, lb.prod_rule) == {lb.primary: 100, lb.alternate: 0}
    assert weights(aws, lb.test_rule) == {lb.primary: 0, lb.alternate: 100}
    aws("ecs").continue_service_deployment(
        serviceDeploymentArn=arn, hookId=record["lifecycleHookDetails"][0]["hookId"]
    )
    record = wait_record(target, arn, ended("SUCCESSFUL"), "success", timeout=60)
    assert record["sourceServiceRevisions"][0]["arn"] == first["targetServiceRevision"]["arn"]
    assert weights(aws, lb.prod_rule) == {lb.primary: 0, lb.alternate: 100}
    assert not targets(aws, lb.primary)
    running = target.tasks("RUNNING")
    assert len(running) == 2 and {t["taskDefinitionArn"] for t in running} == {v2}


def test_a_paused_hook_that_times_out_takes_its_action(paper, info, aws):
    lb = balancer(paper, aws)
    for action, status in (("CONTINUE", "SUCCESSFUL"), ("ROLLBACK", "ROLLBACK_SUCCESSFUL")):
        hook = {**PAUSE, "timeoutConfiguration": {"timeoutInMinutes": 1, "action": action}}
        configure(paper, lb, strategy="BLUE_GREEN", bakeTimeInMinutes=0, lifecycleHooks=[hook])
        record = released(paper, paper_td(paper, info, f"v-{action.lower()}"), status)
        assert record["lifecycleHookDetails"][0]["status"] == "TIMED_OUT"
        assert record["lifecycleHookDetails"][0]["timeoutAction"] == action
    assert "timed out" in record["rollback"]["reason"]
    # The first one went through (production on its group); the second never got there.
    assert weights(aws, lb.prod_rule) == {lb.primary: 0, lb.alternate: 100}


def test_a_rolling_deployment_rolls_back_on_its_alarm(paper, info, aws):
    cloudwatch = aws("cloudwatch")
    alarm = f"{paper.cluster}-errors"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        MetricName="Errors",
        Namespace="cosyworld",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    aws("ecs").update_service(
        cluster=paper.cluster,
        service="app",
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "alarms": {"alarmNames": [alarm], "enable": True, "rollback": True},
        },
    )
    v1 = paper_td(paper, info, "v1")
    first = released(paper, v1)
    assert first["alarms"]["status"] == "MONITORING_COMPLETE"
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="errors")
    # v2 fails at once (within one pass of the driver): follow it by its record.
    v2 = paper_td(paper, info, "v2")
    ecs = aws("ecs")
    ecs.update_service(cluster=paper.cluster, service="app", taskDefinition=v2)
    deadline = time.monotonic() + 30
    while True:
        newest = ecs.list_service_deployments(cluster=paper.cluster, service="app")[
            "serviceDeployments"
        ][0]
        if newest["status"] == "ROLLBACK_SUCCESSFUL" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    record = describe(paper, newest["serviceDeploymentArn"])
    assert record["status"] == "ROLLBACK_SUCCESSFUL", record
    revisions = ecs.describe_service_revisions(
        serviceRevisionArns=[record["targetServiceRevision"]["arn"]]
    )["serviceRevisions"]
    assert revisions[0]["taskDefinition"] == v2
    assert alarm in record["rollback"]["reason"]
    assert record["alarms"]["triggeredAlarmNames"] == [alarm]
    assert paper.service()["taskDefinition"] == v1


def test_rules_the_infrastructure_role_may_not_move_roll_the_deployment_back(paper, info, aws):
    lb = balancer(paper, aws, statements=(READ_RULES,))
    configure(paper, lb, strategy="BLUE_GREEN", bakeTimeInMinutes=0)
    record = released(paper, paper_td(paper, info, "v1"), "ROLLBACK_SUCCESSFUL")
    assert "could not modify the test listener rule" in record["rollback"]["reason"]
    assert "elasticloadbalancing:ModifyRule" in record["rollback"]["reason"]
    assert weights(aws, lb.test_rule) == {lb.primary: 100, lb.alternate: 0}
    assert not paper.tasks("RUNNING")


def test_green_tasks_dying_in_the_bake_are_replaced_until_the_breaker_trips(
    target, images, aws, docker_client
):
    lb = balancer(target, aws)
    configure(target, lb, strategy="BLUE_GREEN", bakeTimeInMinutes=0)
    v1 = target.register(images["good1"].ecr_ref)
    released(target, v1)
    configure(target, lb, strategy="BLUE_GREEN", bakeTimeInMinutes=60)
    v2 = target.register(images["good2"].ecr_ref)
    arn = record_of(target, target.deploy(v2))["serviceDeploymentArn"]
    wait_record(target, arn, lambda r: r.get("lifecycleStage") == "BAKE_TIME", "bake", 60)
    killed: set[str] = set()
    deadline = time.monotonic() + 60
    while describe(target, arn)["status"] == "IN_PROGRESS" and time.monotonic() < deadline:
        for task in target.tasks("RUNNING"):
            if task["taskDefinitionArn"] != v2 or task["taskArn"] in killed:
                continue
            for c in docker_client.containers.list(
                filters={"label": f"cosydeploy.task={task['taskArn']}"}
            ):
                c.kill()
                killed.add(task["taskArn"])
        time.sleep(0.2)
    record = wait_record(target, arn, ended("ROLLBACK_SUCCESSFUL"), "the rollback")
    assert len(killed) >= 3, "a dead green task was replaced"
    assert "circuit breaker" in record["rollback"]["reason"]
    # v1 went to the alternate group (production's then), v2 to the primary one.
    assert weights(aws, lb.prod_rule) == {lb.primary: 0, lb.alternate: 100}
    running = target.tasks("RUNNING")
    assert len(running) == 2 and {t["taskDefinitionArn"] for t in running} == {v1}
