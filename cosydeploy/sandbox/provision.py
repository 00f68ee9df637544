"""Create in the sandbox (moto) what the client stack would have made, named as its outputs say.

Idempotent: running it again leaves existing resources as they are (the service's
settings are re-applied, its task definition is not touched).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from cosydeploy.errors import SandboxError
from cosydeploy.sandbox.loadbalancing import provision_load_balancing


@dataclass(frozen=True)
class Outputs:
    """The names a stack's outputs give (a plain mapping of output name -> value)."""

    cluster_name: str
    service_name: str
    container_name: str
    task_family: str
    execution_role_arn: str
    task_role_arn: str
    log_group_name: str
    target_group_arn: str = ""
    secret_arns: dict[str, str] = field(default_factory=dict)
    parameter_names: dict[str, str] = field(default_factory=dict)
    info_topic_arn: str = ""
    redis_replication_group_id: str = ""
    alarm_names: tuple[str, ...] = ()
    # Blue/green, canary and linear: the second target group, the listener rules ECS
    # moves traffic with, and the role it does that as ("" when the stack names none).
    alternate_target_group_arn: str = ""
    production_listener_rule_arn: str = ""
    test_listener_rule_arn: str = ""
    ecs_infrastructure_role_arn: str = ""

    @classmethod
    def of(cls, values: Any) -> Outputs:
        if isinstance(values, Outputs):
            return values
        names = {f for f in cls.__dataclass_fields__}
        data = dict(values) if isinstance(values, dict) else dict(vars(values))
        kwargs: dict[str, Any] = {
            k: (v if v is not None else "") for k, v in data.items() if k in names
        }
        kwargs["alarm_names"] = tuple(kwargs.get("alarm_names") or ())
        return cls(**kwargs)


@dataclass(frozen=True)
class ProvisionSpec:
    """What the client stack's variables say about one client/env."""

    project: str
    client: str
    environment: str
    region: str
    cpu: int
    memory: int
    desired_count: int
    container_port: int
    health_path: str
    health_check_grace_period: int
    secret_names: list[str] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    generated_secrets: tuple[str, ...] = ("REDIS_AUTH_TOKEN",)
    ecr_repository: str = "cosyworld"
    # DynamoDB tables the sandbox stands in for (create_table arguments, plus an optional
    # "TimeToLiveAttribute" and "Region"): the bootstrap stack makes them on AWS.
    tables: tuple[dict[str, Any], ...] = ()
    initial_image: str = ""
    circuit_breaker_rollback: bool = True
    # The replication group is made only where a snapshot is taken before each release.
    redis_snapshots: bool = False
    redis_node_type: str = "cache.t4g.micro"
    redis_nodes: int = 1
    # The service's deployment configuration, as the client stack sets it: ECS's strategy
    # (ROLLING, BLUE_GREEN, CANARY, LINEAR), its times in ECS minutes, and the alarms that
    # roll a deployment back (empty: the stack's critical alarms, ``alarm_names``).
    strategy: str = "ROLLING"
    bake_minutes: int = 0
    canary_percent: float = 10.0
    canary_bake_minutes: int = 5
    linear_step_percent: float = 20.0
    linear_bake_minutes: int = 1
    alarm_names: tuple[str, ...] = ()
    # False: the manifest's ``alarms: []``: ECS is given the alarms turned off.
    alarms_enabled: bool = True
    # Who may reach the test listener (cosydeploy.yaml ``release.test_listener_cidrs``).
    test_listener_cidrs: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.project}-{self.client}-{self.environment}"

    @property
    def short_name(self) -> str:
        """The load balancer's name (and the primary target group's)."""
        return f"{self.client}-{self.environment}"


def _exists(call, *errors: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        call()
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in errors:
            return False
        raise


def _ignore_exists(call) -> Any:
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in (
            "ResourceAlreadyExistsException",
            "ResourceInUseException",
            "RepositoryAlreadyExistsException",
            "ResourceExistsException",
            "ParameterAlreadyExists",
            "DuplicateTargetGroupName",
            "ReplicationGroupAlreadyExists",
        ):
            return None
        raise


def _network(ec2, name: str) -> tuple[str, list[str], str]:
    """A VPC with two private subnets and a task security group, tagged with ``name``."""
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
    if found:
        vpc = found[0]["VpcId"]
    else:
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": name}])
    subnets = [
        s["SubnetId"]
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    ]
    if not subnets:
        for cidr in ("10.0.10.0/24", "10.0.11.0/24"):
            subnets.append(ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"])
    groups = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "group-name", "Values": [f"{name}-tasks"]},
        ]
    )["SecurityGroups"]
    if groups:
        sg = groups[0]["GroupId"]
    else:
        sg = ec2.create_security_group(
            GroupName=f"{name}-tasks", Description="cosydeploy sandbox tasks", VpcId=vpc
        )["GroupId"]
    return vpc, subnets, sg


# moto's own record of a new service's deployment says platform family "FARGATE"; the
# rollout driver's says "Linux", as ECS does for a Fargate Linux task.
_DRIVER_PLATFORM_FAMILY = "Linux"


def _wait_taken_over(ecs, cluster: str, service: str, timeout: float = 10.0) -> None:
    """Wait until the sandbox's rollout driver runs the new service (it publishes the
    service's deployments): a task definition given to the service before that would be
    taken for the one it was created with."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ecs.describe_services(cluster=cluster, services=[service])["services"]
        deployments = found[0].get("deployments", []) if found else []
        if any(d.get("platformFamily") == _DRIVER_PLATFORM_FAMILY for d in deployments):
            return
        time.sleep(0.1)
    raise SandboxError(
        f"the sandbox's rollout driver did not take over the service {cluster}/{service}",
        hint="is this endpoint a running sandbox (cosydeploy sandbox status)?",
    )


def deployment_configuration(spec: ProvisionSpec, alarm_names: tuple[str, ...]) -> dict[str, Any]:
    """The service's deployment configuration, as the client stack sets it."""
    config: dict[str, Any] = {
        "deploymentCircuitBreaker": {"enable": True, "rollback": spec.circuit_breaker_rollback},
        "minimumHealthyPercent": 100,
        "maximumPercent": 200,
        "strategy": spec.strategy,
        "bakeTimeInMinutes": spec.bake_minutes,
    }
    if spec.strategy == "CANARY":
        config["canaryConfiguration"] = {
            "canaryPercent": float(spec.canary_percent),
            "canaryBakeTimeInMinutes": spec.canary_bake_minutes,
        }
    if spec.strategy == "LINEAR":
        config["linearConfiguration"] = {
            "stepPercent": float(spec.linear_step_percent),
            "stepBakeTimeInMinutes": spec.linear_bake_minutes,
        }
    if alarm_names:
        on = spec.alarms_enabled
        config["alarms"] = {"alarmNames": list(alarm_names), "enable": on, "rollback": on}
    return config


def task_definition(outputs: Any, spec: ProvisionSpec, image: str) -> dict[str, Any]:
    """The first task definition, as the client stack registers it (placeholder image)."""
    return {
        "family": outputs.task_family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(spec.cpu),
        "memory": str(spec.memory),
        "executionRoleArn": outputs.execution_role_arn,
        "taskRoleArn": outputs.task_role_arn,
        "containerDefinitions": [
            {
                "name": outputs.container_name,
                "image": image,
                "essential": True,
                "portMappings": [{"containerPort": spec.container_port, "protocol": "tcp"}],
                "environment": [],
                "secrets": [
                    {"name": key, "valueFrom": arn}
                    for key, arn in sorted(outputs.secret_arns.items())
                ],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": outputs.log_group_name,
                        "awslogs-region": spec.region,
                        "awslogs-stream-prefix": "ecs",
                    },
                },
            }
        ],
    }


def provision(session, outputs: Any, spec: ProvisionSpec) -> None:
    """Create (idempotently) the client stack's resources in the sandbox, named by ``outputs``."""
    outputs = Outputs.of(outputs)
    region = spec.region
    ecs = session.client("ecs", region_name=region)
    ec2 = session.client("ec2", region_name=region)
    elb = session.client("elbv2", region_name=region)
    logs = session.client("logs", region_name=region)
    sm = session.client("secretsmanager", region_name=region)
    ssm = session.client("ssm", region_name=region)
    ecr = session.client("ecr", region_name=region)

    # IMMUTABLE as the bootstrap stack makes it: a tag never moves.
    _ignore_exists(
        lambda: ecr.create_repository(
            repositoryName=spec.ecr_repository, imageTagMutability="IMMUTABLE"
        )
    )
    repo_uri = ecr.describe_repositories(repositoryNames=[spec.ecr_repository])["repositories"][0][
        "repositoryUri"
    ]
    _tables(session, spec)

    _ignore_exists(lambda: logs.create_log_group(logGroupName=outputs.log_group_name))
    for key in sorted(set(spec.secret_names) | set(outputs.secret_arns)):
        secret_name = f"{spec.project}/{spec.client}/{spec.environment}/{key}"
        if key in spec.generated_secrets:
            # Terraform makes these values itself (random_password): so does the sandbox.
            if not _exists(
                lambda n=secret_name: sm.describe_secret(SecretId=n), "ResourceNotFoundException"
            ):
                import secrets as pysecrets

                sm.create_secret(Name=secret_name, SecretString=pysecrets.token_urlsafe(32))
            continue
        # The stack creates the secret resource, never its value (moto allows that).
        _ignore_exists(lambda n=secret_name: sm.create_secret(Name=n))
    for key, param_name in outputs.parameter_names.items():
        value = str(spec.parameters.get(key, ""))
        ssm.put_parameter(Name=param_name, Value=value or " ", Type="String", Overwrite=True)

    _notifications_and_redis(session, outputs, spec)
    vpc, subnets, sg = _network(ec2, spec.name)
    balancing = provision_load_balancing(
        elb,
        session.client("iam", region_name=region),
        ec2,
        outputs,
        short_name=spec.short_name,
        stack_name=spec.name,
        vpc=vpc,
        subnets=subnets,
        port=spec.container_port,
        health_path=spec.health_path,
        test_listener_cidrs=spec.test_listener_cidrs,
    )

    clusters = ecs.describe_clusters(clusters=[outputs.cluster_name])["clusters"]
    if not [c for c in clusters if c.get("status") == "ACTIVE"]:
        ecs.create_cluster(clusterName=outputs.cluster_name)

    services = ecs.describe_services(cluster=outputs.cluster_name, services=[outputs.service_name])
    live = [s for s in services["services"] if s.get("status") == "ACTIVE"]
    if not live:
        image = spec.initial_image or f"{repo_uri}:bootstrap"
        td = ecs.register_task_definition(**task_definition(outputs, spec, image))
        ecs.create_service(
            cluster=outputs.cluster_name,
            serviceName=outputs.service_name,
            taskDefinition=td["taskDefinition"]["taskDefinitionArn"],
            desiredCount=spec.desired_count,
            launchType="FARGATE",
            loadBalancers=[
                {
                    "targetGroupArn": balancing.target_group_arn,
                    "containerName": outputs.container_name,
                    "containerPort": spec.container_port,
                }
            ],
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}
            },
        )
    # moto's create_service drops these; update_service keeps them. The load balancer
    # always carries its advanced configuration, whatever the strategy (as on AWS).
    current = live[0] if live else {}
    config = deployment_configuration(spec, spec.alarm_names or outputs.alarm_names)
    # The stack ignores lifecycle hooks (a release sets its own before it starts): kept.
    hooks = (current.get("deploymentConfiguration") or {}).get("lifecycleHooks")
    if hooks:
        config["lifecycleHooks"] = hooks
    balancers = [balancing.service_load_balancer(outputs.container_name, spec.container_port)]
    # As an apply with nothing to change there: the load balancers are given only when
    # they differ (on ECS, a new load balancer configuration starts a deployment).
    changed = {"loadBalancers": balancers} if current.get("loadBalancers") != balancers else {}
    ecs.update_service(
        cluster=outputs.cluster_name,
        service=outputs.service_name,
        healthCheckGracePeriodSeconds=spec.health_check_grace_period,
        deploymentConfiguration=config,
        **changed,
    )
    _alarms(session.client("cloudwatch", region_name=region), outputs, spec)
    if not live:
        _wait_taken_over(ecs, outputs.cluster_name, outputs.service_name)


def _notifications_and_redis(session, outputs: Outputs, spec: ProvisionSpec) -> None:
    """The info topic (releases publish there) and, where snapshots are configured, the
    Redis replication group they are taken of."""
    if outputs.info_topic_arn:
        sns = session.client("sns", region_name=spec.region)
        sns.create_topic(Name=outputs.info_topic_arn.rsplit(":", 1)[-1])  # idempotent
    if spec.redis_snapshots and outputs.redis_replication_group_id:
        ec = session.client("elasticache", region_name=spec.region)
        _ignore_exists(
            lambda: ec.create_replication_group(
                ReplicationGroupId=outputs.redis_replication_group_id,
                ReplicationGroupDescription=f"Redis of {spec.name}",
                Engine="redis",
                CacheNodeType=spec.redis_node_type,
                NumCacheClusters=spec.redis_nodes,
            )
        )


def _alarms(cloudwatch, outputs: Outputs, spec: ProvisionSpec) -> None:
    """The stack's critical alarms, quiet (OK) until something sets their state. An alarm
    that exists keeps its state."""
    names = list(outputs.alarm_names)
    if not names:
        return
    have = {a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    for name in names:
        if name in have:
            continue
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            AlarmDescription=f"sandbox stand-in for {spec.name}'s critical alarm",
            Namespace="AWS/ApplicationELB",
            MetricName="HealthyHostCount",
            Statistic="Minimum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="LessThanThreshold",
            TreatMissingData="notBreaching",
        )
        cloudwatch.set_alarm_state(
            AlarmName=name, StateValue="OK", StateReason="created by the sandbox"
        )


def _tables(session, spec: ProvisionSpec) -> None:
    for table in spec.tables:
        ddb = session.client("dynamodb", region_name=table.get("Region") or spec.region)
        args = {k: v for k, v in table.items() if k not in {"TimeToLiveAttribute", "Region"}}
        if args["TableName"] in set(ddb.list_tables()["TableNames"]):
            continue
        ddb.create_table(BillingMode="PAY_PER_REQUEST", **args)
        if table.get("TimeToLiveAttribute"):
            ddb.update_time_to_live(
                TableName=args["TableName"],
                TimeToLiveSpecification={
                    "Enabled": True,
                    "AttributeName": table["TimeToLiveAttribute"],
                },
            )


def spec_json(spec: ProvisionSpec) -> str:
    """The spec as JSON (for logs and --output json)."""
    from dataclasses import asdict

    return json.dumps(asdict(spec), sort_keys=True)
