"""The sandbox's load balancing: what provisioning makes (named exactly as the sandbox
stack's outputs name it), and the ALB stand-in routing production and test paths through
the listener rules by their weights."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import REPOSITORY, _EndpointSession

from cosydeploy.sandbox.loadbalancing import forward
from cosydeploy.sandbox.provision import ProvisionSpec, provision

HEADER = "X-Sandbox-Target-Group"


# The test listener admits only these (cosydeploy.yaml release.test_listener_cidrs); the
# tests ask the ALB stand-in from loopback.
LOOPBACK = ("127.0.0.0/8",)


def stack_outputs(info, client: str, env: str = "dev") -> dict[str, Any]:
    """The sandbox stack's outputs for a client (its naming rules, main.tf's locals)."""
    region, account = info.region, info.account_id
    name, short = f"cosyworld-{client}-{env}", f"{client}-{env}"
    elb = f"arn:aws:elasticloadbalancing:{region}:{account}"
    rules = f"{elb}:listener-rule/app/{short}/0000000000000000"
    return {
        "cluster_name": name,
        "service_name": "app",
        "container_name": "app",
        "task_family": name,
        "execution_role_arn": f"arn:aws:iam::{account}:role/{name}-exec",
        "task_role_arn": f"arn:aws:iam::{account}:role/{name}-task",
        "log_group_name": f"/ecs/{name}",
        "target_group_arn": f"{elb}:targetgroup/{short}/0000000000000000",
        "app_url": f"{info.alb_url}/{short}",
        "alarm_names": [f"{name}-no-healthy-targets"],
        "alternate_target_group_arn": f"{elb}:targetgroup/{short}-2/0000000000000000",
        "production_listener_rule_arn": f"{rules}/0000000000000080/0000000000000001",
        "test_listener_rule_arn": f"{rules}/0000000000008443/0000000000000001",
        "test_url": f"{info.alb_url}/_test/{short}",
        "ecs_infrastructure_role_arn": f"arn:aws:iam::{account}:role/{name}-ecs-infra",
    }


def make_spec(info, client: str, **kw: Any) -> ProvisionSpec:
    return ProvisionSpec(
        project="cosyworld",
        client=client,
        environment="dev",
        region=info.region,
        cpu=256,
        memory=512,
        desired_count=2,
        container_port=3000,
        health_path="/health/ready",
        health_check_grace_period=5,
        ecr_repository=REPOSITORY,
        initial_image=f"{info.ecr_host}/{REPOSITORY}:bootstrap",
        **kw,
    )


@pytest.fixture
def stack(session, info):
    """A freshly provisioned client/env: (outputs, spec, provision-again)."""
    client = f"lb{uuid.uuid4().hex[:6]}"
    outputs = stack_outputs(info, client)
    spec = make_spec(
        info,
        client,
        strategy="CANARY",
        bake_minutes=2,
        canary_percent=20.0,
        test_listener_cidrs=LOOPBACK,
    )
    endpoint = _EndpointSession(session, info.endpoint_url)
    provision(endpoint, outputs, spec)
    return outputs, spec, lambda: provision(endpoint, outputs, spec)


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{self.server.label} {self.path}".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def servers():
    """Two HTTP servers on loopback, each answering with its label: stand-in targets."""
    running = []

    def start(label: str) -> int:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
        server.label = label  # type: ignore[attr-defined]
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running.append(server)
        return int(server.server_address[1])

    yield start
    for server in running:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, str, str]:
    """(status, body, the target group that served it)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode(), resp.headers.get(HEADER, "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers.get(HEADER, "")


def served(url: str, n: int = 200) -> Counter:
    """Which target group answered each of ``n`` requests."""
    counts: Counter = Counter()
    for _ in range(n):
        status, _body, group = get(url)
        assert status == 200, (url, status, _body)
        counts[group] += 1
    return counts


def rule_weights(elb, rule_arn: str) -> list[tuple[str, int]]:
    rule = elb.describe_rules(RuleArns=[rule_arn])["Rules"][0]
    groups = rule["Actions"][0]["ForwardConfig"]["TargetGroups"]
    return [(g["TargetGroupArn"], g["Weight"]) for g in groups]


def test_provisioning_makes_what_the_stack_outputs_name(stack, aws, info):
    outputs, spec, provision_again = stack
    elb, short = aws("elbv2"), f"{spec.client}-dev"
    primary, alternate = outputs["target_group_arn"], outputs["alternate_target_group_arn"]
    groups = elb.describe_target_groups(TargetGroupArns=[primary, alternate])["TargetGroups"]
    assert [g["TargetGroupName"] for g in groups] == [short, f"{short}-2"]
    # The same health check on both: either can take production traffic.
    checks = {(g["HealthCheckPath"], g["Port"], g["TargetType"]) for g in groups}
    assert checks == {("/health/ready", 3000, "ip")}

    lb = elb.describe_load_balancers(Names=[short])["LoadBalancers"][0]
    listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert sorted(li["Port"] for li in listeners) == [80, 8443]
    for output in ("production_listener_rule_arn", "test_listener_rule_arn"):
        assert rule_weights(elb, outputs[output]) == [(primary, 100), (alternate, 0)]

    iam = aws("iam")
    role_name = outputs["ecs_infrastructure_role_arn"].rsplit("/", 1)[1]
    role = iam.get_role(RoleName=role_name)["Role"]
    assert role["Arn"] == outputs["ecs_infrastructure_role_arn"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "ecs.amazonaws.com"}

    # The service names them all, and carries the release policy's deployment configuration.
    svc = aws("ecs").describe_services(cluster=outputs["cluster_name"], services=["app"])
    svc = svc["services"][0]
    assert svc["loadBalancers"][0]["targetGroupArn"] == primary
    assert svc["loadBalancers"][0]["advancedConfiguration"] == {
        "alternateTargetGroupArn": alternate,
        "productionListenerRule": outputs["production_listener_rule_arn"],
        "testListenerRule": outputs["test_listener_rule_arn"],
        "roleArn": outputs["ecs_infrastructure_role_arn"],
    }
    config = svc["deploymentConfiguration"]
    assert config["strategy"] == "CANARY" and config["bakeTimeInMinutes"] == 2
    assert config["canaryConfiguration"] == {"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 5}
    assert config["alarms"] == {
        "alarmNames": outputs["alarm_names"],
        "enable": True,
        "rollback": True,
    }
    assert config["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}

    # A release's PAUSE hook (merged into the configuration) outlives provisioning again,
    # as the stack ignores lifecycle hooks; the rest is the stack's again.
    ecs = aws("ecs")
    hook = {
        "targetType": "PAUSE",
        "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
        "timeoutConfiguration": {"timeoutInMinutes": 30, "action": "ROLLBACK"},
    }
    ecs.update_service(
        cluster=outputs["cluster_name"],
        service="app",
        deploymentConfiguration={**config, "lifecycleHooks": [hook], "bakeTimeInMinutes": 9},
    )
    provision_again()
    again = ecs.describe_services(cluster=outputs["cluster_name"], services=["app"])
    again = again["services"][0]
    assert again["deploymentConfiguration"] == {**config, "lifecycleHooks": [hook]}
    assert again["loadBalancers"] == svc["loadBalancers"]


def test_an_output_naming_something_else_is_refused(session, info):
    from cosydeploy.errors import SandboxError

    client = f"lb{uuid.uuid4().hex[:6]}"
    outputs = stack_outputs(info, client)
    outputs["test_listener_rule_arn"] = outputs["test_listener_rule_arn"][:-1] + "2"
    with pytest.raises(SandboxError, match="test_listener_rule_arn"):
        provision(_EndpointSession(session, info.endpoint_url), outputs, make_spec(info, client))


def test_alb_routes_production_and_test_paths_by_the_rules_weights(stack, aws, info, servers):
    outputs, spec, provision_again = stack
    elb, short = aws("elbv2"), f"{spec.client}-dev"
    primary, alternate = outputs["target_group_arn"], outputs["alternate_target_group_arn"]
    elb.register_targets(
        TargetGroupArn=primary, Targets=[{"Id": "127.0.0.1", "Port": servers("blue")}]
    )
    elb.register_targets(
        TargetGroupArn=alternate, Targets=[{"Id": "127.0.0.1", "Port": servers("green")}]
    )
    prod, test = outputs["app_url"], outputs["test_url"]

    # As provisioned: both listeners send everything to the primary (weight 0 never answers).
    assert served(f"{prod}/health/ready") == {short: 200}
    assert served(f"{test}/health/ready") == {short: 200}
    assert get(f"{prod}/health/ready")[1] == "blue /health/ready"

    # The test listener moves to green, production stays blue.
    prod_rule, test_rule = (
        outputs["production_listener_rule_arn"],
        outputs["test_listener_rule_arn"],
    )
    elb.modify_rule(RuleArn=test_rule, Actions=[forward(primary, alternate, (0, 100))])
    assert served(f"{test}/x") == {f"{short}-2": 200}
    assert get(f"{test}/x")[1] == "green /x"
    assert served(f"{prod}/x") == {short: 200}

    # A canary: 10 % of production. The choice is smooth weighted round robin (not a
    # random draw), so 200 requests give green exactly 20, blue 180.
    elb.modify_rule(RuleArn=prod_rule, Actions=[forward(primary, alternate, (90, 10))])
    assert served(f"{prod}/x") == {short: 180, f"{short}-2": 20}

    # All of production, then back: the next request sees each change.
    elb.modify_rule(RuleArn=prod_rule, Actions=[forward(primary, alternate, (0, 100))])
    assert served(f"{prod}/x", 50) == {f"{short}-2": 50}
    elb.modify_rule(RuleArn=prod_rule, Actions=[forward(primary, alternate, (100, 0))])
    assert served(f"{prod}/x", 50) == {short: 50}

    # Provisioning again changes nothing: the rules keep the weights a deployment set.
    elb.modify_rule(RuleArn=prod_rule, Actions=[forward(primary, alternate, (80, 20))])
    provision_again()
    assert rule_weights(elb, prod_rule) == [(primary, 80), (alternate, 20)]
    assert rule_weights(elb, test_rule) == [(primary, 0), (alternate, 100)]
    lbs = [
        lb
        for lb in elb.describe_load_balancers()["LoadBalancers"]
        if lb["LoadBalancerName"] == short
    ]
    assert len(lbs) == 1
    listeners = elb.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"]
    assert len(listeners) == 2
    for listener in listeners:
        rules = elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        assert sorted(r["Priority"] for r in rules) == ["1", "default"]

    # A group with weight > 0 but no target: 503, naming it.
    elb.modify_rule(RuleArn=prod_rule, Actions=[forward(primary, alternate, (100, 0))])
    elb.deregister_targets(TargetGroupArn=primary, Targets=[{"Id": "127.0.0.1"}])
    status, body, group = get(f"{prod}/x")
    assert (status, group) == (503, short) and "no healthy target" in body


def test_the_test_listener_admits_only_its_cidrs(session, aws, info, servers):
    """As AWS's security groups would: an address outside release.test_listener_cidrs
    never reaches the test listener; provisioning again sets the rules to the CIDRs."""
    client = f"lb{uuid.uuid4().hex[:6]}"
    outputs = stack_outputs(info, client)
    endpoint = _EndpointSession(session, info.endpoint_url)
    elb, ec2 = aws("elbv2"), aws("ec2")

    def reaches_test_listener(cidrs: tuple[str, ...]) -> tuple[int, str]:
        provision(endpoint, outputs, make_spec(info, client, test_listener_cidrs=cidrs))
        status, body, _group = get(f"{outputs['test_url']}/health")
        return status, body

    provision(endpoint, outputs, make_spec(info, client))
    elb.register_targets(
        TargetGroupArn=outputs["target_group_arn"],
        Targets=[{"Id": "127.0.0.1", "Port": servers("blue")}],
    )
    # None (the project's default) and a range that does not hold loopback: refused.
    for cidrs in ((), ("203.0.113.0/24", "2001:db8::/56")):
        status, body = reaches_test_listener(cidrs)
        assert status == 403 and "does not admit 127.0.0.1" in body, (cidrs, status, body)
    assert reaches_test_listener(LOOPBACK) == (200, "blue /health")
    # Production is not the test listener's business.
    assert get(f"{outputs['app_url']}/health")[:2] == (200, "blue /health")
    # Back to a range without loopback: the loopback rule is revoked, not kept.
    assert reaches_test_listener(("203.0.113.0/24",))[0] == 403
    lb = elb.describe_load_balancers(Names=[f"{client}-dev"])["LoadBalancers"][0]
    group = ec2.describe_security_groups(GroupIds=lb["SecurityGroups"])["SecurityGroups"][0]
    test_rules = [p for p in group["IpPermissions"] if p.get("FromPort") == 8443]
    assert [r["CidrIp"] for p in test_rules for r in p.get("IpRanges", [])] == ["203.0.113.0/24"]


def test_a_group_without_rules_is_served_as_before(aws, info, servers):
    """Paper clients and target groups no rule forwards to: /<name> reaches the group."""
    ec2, elb = aws("ec2"), aws("elbv2")
    name = f"bare{uuid.uuid4().hex[:6]}"
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    tg = elb.create_target_group(Name=name, Protocol="HTTP", Port=3000, VpcId=vpc, TargetType="ip")[
        "TargetGroups"
    ][0]
    # Created under its stable ARN, as the sandbox stack would name it.
    assert tg["TargetGroupArn"].endswith(f":targetgroup/{name}/0000000000000000")
    elb.register_targets(
        TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "127.0.0.1", "Port": servers("bare")}]
    )
    assert get(f"{info.alb_url}/{name}/health") == (200, "bare /health", name)
    status, body, _group = get(f"{info.alb_url}/_test/{name}/health")
    assert status == 503 and "no test listener rule" in body


def test_the_infrastructure_role_may_move_traffic_and_nothing_else(stack, aws, info):
    """As ECS acts with it: the sandbox decides the role's calls by its policy."""
    import boto3
    from botocore.exceptions import ClientError

    outputs, _spec, _again = stack
    creds = aws("sts").assume_role(
        RoleArn=outputs["ecs_infrastructure_role_arn"], RoleSessionName="ecs"
    )["Credentials"]
    as_ecs = boto3.client(
        "elbv2",
        endpoint_url=info.endpoint_url,
        region_name=info.region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    primary, alternate = outputs["target_group_arn"], outputs["alternate_target_group_arn"]
    rule = outputs["test_listener_rule_arn"]
    as_ecs.modify_rule(RuleArn=rule, Actions=[forward(primary, alternate, (0, 100))])
    assert rule_weights(as_ecs, rule) == [(primary, 0), (alternate, 100)]
    as_ecs.register_targets(TargetGroupArn=alternate, Targets=[{"Id": "10.0.0.7", "Port": 3000}])
    as_ecs.deregister_targets(TargetGroupArn=alternate, Targets=[{"Id": "10.0.0.7", "Port": 3000}])
    with pytest.raises(ClientError) as denied:
        as_ecs.delete_rule(RuleArn=rule)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert "elasticloadbalancing:DeleteRule" in str(denied.value)
