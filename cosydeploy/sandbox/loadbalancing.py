"""The client stack's load balancing, made in the sandbox (moto) as the stack makes it on AWS.

Every stack has, whatever its release strategy: the load balancer (named like the primary
target group), a second ("alternate") target group with the same health check, a
production listener and a test listener, each with one rule forwarding to [primary
weight 100, alternate weight 0], and the role ECS moves traffic with (trusting
ecs.amazonaws.com, allowed what ECS does with a load balancer). A blue/green, canary or
linear deployment then only changes the rules' weights; switching strategy is only a
deployment-configuration change.

The sandbox's ARNs are stable (see elbnames.py), so what is made here is exactly what the
sandbox stack's outputs name; a stack output that names something else is an error.
Idempotent: what exists is kept as it is (a rule's weights are never reset, a
deployment may be moving them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cosydeploy.errors import SandboxError

# The sandbox's listeners (the ALB stand-in tells them apart by port): HTTP, no certificate.
PRODUCTION_PORT = 80
TEST_PORT = 8443
RULE_PRIORITY = 1
# The alternate target group is the primary's name with this suffix. An environment's
# name starts with a letter, so no client's primary target group can be called so.
ALTERNATE_SUFFIX = "-2"

TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "EcsMovesTraffic",
            "Effect": "Allow",
            "Principal": {"Service": "ecs.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# What ECS does with a service's load balancer during a deployment (the permissions of
# AWS's managed policy for it, ALB part).
ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ReadLoadBalancing",
            "Effect": "Allow",
            "Action": [
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
            ],
            "Resource": "*",
        },
        {
            "Sid": "MoveTargets",
            "Effect": "Allow",
            "Action": [
                "elasticloadbalancing:RegisterTargets",
                "elasticloadbalancing:DeregisterTargets",
            ],
            "Resource": "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
        },
        {
            "Sid": "ShiftListeners",
            "Effect": "Allow",
            "Action": "elasticloadbalancing:ModifyListener",
            "Resource": "arn:aws:elasticloadbalancing:*:*:listener/app/*/*/*",
        },
        {
            "Sid": "ShiftRules",
            "Effect": "Allow",
            "Action": "elasticloadbalancing:ModifyRule",
            "Resource": "arn:aws:elasticloadbalancing:*:*:listener-rule/app/*/*/*/*",
        },
    ],
}
ROLE_POLICY_NAME = "ecs-load-balancers"


def alternate_name(primary: str) -> str:
    """The alternate target group's name (target group names have at most 32 characters)."""
    return primary[: 32 - len(ALTERNATE_SUFFIX)].rstrip("-") + ALTERNATE_SUFFIX


def role_name(stack_name: str) -> str:
    """The ECS infrastructure role's name for a stack (``<project>-<client>-<env>``)."""
    return f"{stack_name}-ecs-infra"


def forward(primary_arn: str, alternate_arn: str, weights: tuple[int, int] = (100, 0)) -> dict:
    """A rule's forward action over the two target groups."""
    return {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": primary_arn, "Weight": weights[0]},
                {"TargetGroupArn": alternate_arn, "Weight": weights[1]},
            ]
        },
    }


@dataclass(frozen=True)
class LoadBalancing:
    """What a service's load balancer block names (its ``advancedConfiguration``)."""

    target_group_arn: str
    alternate_target_group_arn: str
    production_listener_rule_arn: str
    test_listener_rule_arn: str
    role_arn: str

    def service_load_balancer(self, container_name: str, container_port: int) -> dict[str, Any]:
        """The service's ``loadBalancers`` entry."""
        return {
            "targetGroupArn": self.target_group_arn,
            "containerName": container_name,
            "containerPort": container_port,
            "advancedConfiguration": {
                "alternateTargetGroupArn": self.alternate_target_group_arn,
                "productionListenerRule": self.production_listener_rule_arn,
                "testListenerRule": self.test_listener_rule_arn,
                "roleArn": self.role_arn,
            },
        }


def _name_in(arn: str, kind: str) -> str:
    """The name in an ELB ARN (``targetgroup/<name>/...``), or ""."""
    marker = f"{kind}/"
    return arn.split(marker, 1)[1].split("/")[0] if marker in arn else ""


def _found(call: Any, code: str) -> Any:
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as exc:
        if exc.response["Error"]["Code"] == code:
            return None
        raise


def target_group(elb: Any, name: str, *, vpc: str, port: int, health_path: str) -> str:
    """The target group called ``name`` (made if missing); its ARN."""
    found = _found(lambda: elb.describe_target_groups(Names=[name]), "TargetGroupNotFound")
    if found:
        return str(found["TargetGroups"][0]["TargetGroupArn"])
    made = elb.create_target_group(
        Name=name,
        Protocol="HTTP",
        Port=port,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckPath=health_path,
        HealthCheckIntervalSeconds=5,
        HealthyThresholdCount=2,
    )
    return str(made["TargetGroups"][0]["TargetGroupArn"])


def alb_security_group(ec2: Any, stack_name: str, vpc: str, test_cidrs: tuple[str, ...]) -> str:
    """The load balancer's security group (made if missing): the production listener from
    anywhere, the test listener from ``test_cidrs`` only (``release.test_listener_cidrs``),
    its rules set to exactly those. The ALB stand-in refuses a test listener request from
    an address no rule admits, as AWS's would never answer it."""
    name = f"{stack_name}-alb"
    found = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": [name]}]
    )["SecurityGroups"]
    if found:
        group = found[0]
        sg = group["GroupId"]
    else:
        sg = ec2.create_security_group(
            GroupName=name, Description="cosydeploy sandbox load balancer", VpcId=vpc
        )["GroupId"]
        group = {"IpPermissions": []}
        ec2.authorize_security_group_ingress(
            GroupId=sg,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": PRODUCTION_PORT,
                    "ToPort": PRODUCTION_PORT,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                }
            ],
        )
    have: set[str] = set()
    for perm in group.get("IpPermissions") or []:
        if perm.get("FromPort") == TEST_PORT:
            have |= {r["CidrIp"] for r in perm.get("IpRanges") or []}
            have |= {r["CidrIpv6"] for r in perm.get("Ipv6Ranges") or []}
    want = set(test_cidrs)

    def permission(cidrs: set[str]) -> dict[str, Any]:
        return {
            "IpProtocol": "tcp",
            "FromPort": TEST_PORT,
            "ToPort": TEST_PORT,
            "IpRanges": [{"CidrIp": c} for c in sorted(cidrs) if ":" not in c],
            "Ipv6Ranges": [{"CidrIpv6": c} for c in sorted(cidrs) if ":" in c],
        }

    if have - want:
        ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=[permission(have - want)])
    if want - have:
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[permission(want - have)])
    return str(sg)


def _load_balancer(elb: Any, name: str, subnets: list[str], security_group: str) -> str:
    found = _found(lambda: elb.describe_load_balancers(Names=[name]), "LoadBalancerNotFound")
    if found:
        lb = found["LoadBalancers"][0]
        if lb.get("SecurityGroups") != [security_group]:
            elb.set_security_groups(
                LoadBalancerArn=lb["LoadBalancerArn"], SecurityGroups=[security_group]
            )
        return str(lb["LoadBalancerArn"])
    made = elb.create_load_balancer(
        Name=name,
        Subnets=subnets,
        SecurityGroups=[security_group],
        Scheme="internet-facing",
        Type="application",
    )
    return str(made["LoadBalancers"][0]["LoadBalancerArn"])


def _listener_rule(elb: Any, lb_arn: str, port: int, action: dict[str, Any]) -> str:
    """The listener on ``port`` and its forwarding rule (each made if missing): the rule's ARN."""
    listeners = elb.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    listener = next((li for li in listeners if int(li["Port"]) == port), None)
    if listener is None:
        listener = elb.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="HTTP",
            Port=port,
            DefaultActions=[
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {
                        "StatusCode": "404",
                        "ContentType": "text/plain",
                        "MessageBody": "no rule matched",
                    },
                }
            ],
        )["Listeners"][0]
    rules = elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    rule = next((r for r in rules if str(r.get("Priority")) == str(RULE_PRIORITY)), None)
    if rule is None:
        rule = elb.create_rule(
            ListenerArn=listener["ListenerArn"],
            Priority=RULE_PRIORITY,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
            Actions=[action],
        )["Rules"][0]
    return str(rule["RuleArn"])


def infrastructure_role(iam: Any, name: str) -> str:
    """The role ECS moves traffic with (made if missing; its policy kept current)."""
    found = _found(lambda: iam.get_role(RoleName=name), "NoSuchEntity")
    if found:
        arn = str(found["Role"]["Arn"])
    else:
        arn = str(
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
                Description="ECS moves traffic between a service's target groups with it",
            )["Role"]["Arn"]
        )
    iam.put_role_policy(
        RoleName=name, PolicyName=ROLE_POLICY_NAME, PolicyDocument=json.dumps(ROLE_POLICY)
    )
    return arn


def provision_load_balancing(
    elb: Any,
    iam: Any,
    ec2: Any,
    outputs: Any,
    *,
    short_name: str,
    stack_name: str,
    vpc: str,
    subnets: list[str],
    port: int,
    health_path: str,
    test_listener_cidrs: tuple[str, ...] = (),
) -> LoadBalancing:
    """Make (idempotently) the stack's load balancing; what the outputs name must be what
    was made (the sandbox stack names it from the same rules)."""
    primary_name = _name_in(outputs.target_group_arn, "targetgroup") or short_name
    alternate = _name_in(outputs.alternate_target_group_arn, "targetgroup")
    alternate = alternate or alternate_name(primary_name)
    primary_arn = target_group(elb, primary_name, vpc=vpc, port=port, health_path=health_path)
    alternate_arn = target_group(elb, alternate, vpc=vpc, port=port, health_path=health_path)
    # The load balancer's own security group, as the client stack makes it.
    security_group = alb_security_group(ec2, stack_name, vpc, test_listener_cidrs)
    lb_arn = _load_balancer(elb, short_name, subnets, security_group)
    action = forward(primary_arn, alternate_arn)
    made = LoadBalancing(
        target_group_arn=primary_arn,
        alternate_target_group_arn=alternate_arn,
        production_listener_rule_arn=_listener_rule(elb, lb_arn, PRODUCTION_PORT, action),
        test_listener_rule_arn=_listener_rule(elb, lb_arn, TEST_PORT, action),
        role_arn=infrastructure_role(iam, role_name(stack_name)),
    )
    for output, value in (
        ("target_group_arn", made.target_group_arn),
        ("alternate_target_group_arn", made.alternate_target_group_arn),
        ("production_listener_rule_arn", made.production_listener_rule_arn),
        ("test_listener_rule_arn", made.test_listener_rule_arn),
        ("ecs_infrastructure_role_arn", made.role_arn),
    ):
        named = getattr(outputs, output, "")
        if named and named != value:
            raise SandboxError(
                f"the stack's output {output} names {named}, but the sandbox has {value}",
                hint="apply the client's stack again with this version of the sandbox stack",
            )
    return made


__all__ = [
    "ALTERNATE_SUFFIX",
    "PRODUCTION_PORT",
    "TEST_PORT",
    "LoadBalancing",
    "alternate_name",
    "forward",
    "provision_load_balancing",
    "role_name",
]
