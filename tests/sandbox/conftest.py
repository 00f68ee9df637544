"""One sandbox per test session, the sample app's images built once, clients by boto3."""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from cosydeploy.sandbox.state import SandboxInfo

BREAKS = {
    "good1": "none",
    "good2": "none",
    "crash": "crash",
    "unhealthy": "unhealthy",
    "slow": "slow",
}
REPOSITORY = "cosyworld"
PAPER = "cosyworld-paper"  # the clusters whose tasks run without containers


@pytest.fixture(scope="session")
def docker_client():
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        pytest.fail(f"no Docker engine (make test starts one: scripts/services.sh up): {exc}")
    return client


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory, docker_client):
    from cosydeploy.sandbox.server import Sandbox

    # Clusters named cosyworld-paper* run on paper (cosyworld-paperfail*: deployments
    # after the first fail); an ECS minute (bakes, hook timeouts) lasts a second.
    box = Sandbox(
        state_dir=tmp_path_factory.mktemp("sandbox"),
        driver_interval=0.25,
        paper=[f"{PAPER}*"],
        paper_fail=[f"{PAPER}fail*,after=1"],
        minute=1.0,
    )
    box.start()
    yield box
    box.stop()
    leftovers = docker_client.containers.list(
        all=True, filters={"label": f"cosydeploy.sandbox={box.id}"}
    )
    for c in leftovers:
        c.remove(force=True)
    assert not leftovers, "the sandbox left containers behind"


@pytest.fixture(scope="session")
def info(sandbox) -> SandboxInfo:
    return sandbox.info


@pytest.fixture(scope="session")
def session(info):
    import boto3

    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=info.region
    )


@pytest.fixture(scope="session")
def aws(session, info) -> Callable:
    cache: dict = {}

    def client(name: str):
        if name not in cache:
            cache[name] = session.client(name, endpoint_url=info.endpoint_url)
        return cache[name]

    return client


@dataclass
class Pushed:
    tag: str
    digest: str
    ecr_ref: str


@pytest.fixture(scope="session")
def images(info, aws, docker_client, tmp_path_factory) -> dict[str, Pushed]:
    """The sample app built once per BREAK mode, pushed with the ECR token's credentials."""
    import base64

    from cosydeploy.sandbox.appcontext import prepare_app_context

    ecr = aws("ecr")
    with contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException):
        ecr.create_repository(repositoryName=REPOSITORY)
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, password = base64.b64decode(token).decode().split(":", 1)
    auth = {"username": user, "password": password}
    context = prepare_app_context(tmp_path_factory.mktemp("app"))
    run = uuid.uuid4().hex[:6]
    pushed: dict[str, Pushed] = {}
    for name, mode in BREAKS.items():
        tag = f"{name}-{run}"
        ref = f"{info.registry}/{REPOSITORY}:{tag}"
        docker_client.images.build(
            path=str(context), tag=ref, buildargs={"VERSION": name, "BREAK": mode}, rm=True
        )
        digest = None
        for chunk in docker_client.api.push(
            f"{info.registry}/{REPOSITORY}", tag=tag, auth_config=auth, stream=True, decode=True
        ):
            assert "error" not in chunk, chunk
            digest = (chunk.get("aux") or {}).get("Digest", digest)
        assert digest, f"no digest in the push stream of {ref}"
        pushed[name] = Pushed(tag, digest, f"{info.ecr_host}/{REPOSITORY}@{digest}")
    yield pushed
    for item in pushed.values():
        with contextlib.suppress(Exception):
            docker_client.images.remove(f"{info.registry}/{REPOSITORY}:{item.tag}", force=True)


_clients = itertools.count(1)


@dataclass
class Target:
    """One provisioned client/env in the sandbox and helpers to release onto it."""

    aws: Callable
    outputs: object
    spec: object

    @property
    def cluster(self) -> str:
        return self.outputs.cluster_name

    def register(self, image: str, env: dict[str, str] | None = None) -> str:
        from cosydeploy.sandbox.provision import task_definition

        body = task_definition(self.outputs, self.spec, image)
        body["containerDefinitions"][0]["environment"] = [
            {"name": k, "value": v} for k, v in (env or {}).items()
        ]
        ecs = self.aws("ecs")
        return ecs.register_task_definition(**body)["taskDefinition"]["taskDefinitionArn"]

    def service(self) -> dict:
        ecs = self.aws("ecs")
        return ecs.describe_services(cluster=self.cluster, services=["app"])["services"][0]

    def deploy(self, td_arn: str) -> str:
        """update_service, then the id of the PRIMARY deployment running ``td_arn``."""
        self.aws("ecs").update_service(cluster=self.cluster, service="app", taskDefinition=td_arn)
        return self.wait_for(
            lambda svc: next(
                (
                    d["id"]
                    for d in svc["deployments"]
                    if d["status"] == "PRIMARY" and d["taskDefinition"] == td_arn
                ),
                None,
            ),
            timeout=10,
            what=f"a PRIMARY deployment of {td_arn}",
        )

    def wait_for(self, check: Callable, *, timeout: float = 60, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check(self.service())
            if result:
                return result
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}: {self.service()['deployments']}")

    def deployment(self, dep_id: str) -> dict | None:
        return next((d for d in self.service()["deployments"] if d["id"] == dep_id), None)

    def wait_rollout(self, dep_id: str, timeout: float = 60) -> dict:
        """Wait until the deployment ends (COMPLETED/FAILED); return it."""

        def ended(svc):
            dep = next((d for d in svc["deployments"] if d["id"] == dep_id), None)
            if dep and dep["rolloutState"] in ("COMPLETED", "FAILED"):
                return dep
            return None

        return self.wait_for(ended, timeout=timeout, what=f"the end of {dep_id}")

    def tasks(self, status: str) -> list[dict]:
        ecs = self.aws("ecs")
        arns = ecs.list_tasks(cluster=self.cluster, desiredStatus=status)["taskArns"]
        return ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"] if arns else []

    def events(self) -> list[str]:
        return [e["message"] for e in self.service()["events"]]


@pytest.fixture
def target(session, info, aws) -> Target:
    """A freshly provisioned client/env (unique names) with desired count 2, grace 5 s."""
    return make_target(session, info, aws)


def make_target(session, info, aws, *, grace: int = 5, desired: int = 2, paper: str = "") -> Target:
    """A provisioned client/env; with ``paper`` ("paper", or "paperfail": deployments
    after the first fail) its tasks run without containers."""
    from cosydeploy.sandbox.provision import ProvisionSpec, provision
    from cosydeploy.stack import StackOutputs

    client = f"{paper or 't'}{next(_clients)}{uuid.uuid4().hex[:4]}"
    env = "dev"
    name = f"cosyworld-{client}-{env}"
    prefix = (
        f"arn:aws:secretsmanager:{info.region}:{info.account_id}:secret:cosyworld/{client}/{env}"
    )
    outputs = StackOutputs(
        cluster_name=name,
        service_name="app",
        container_name="app",
        task_family=name,
        execution_role_arn=f"arn:aws:iam::{info.account_id}:role/{name}-exec",
        task_role_arn=f"arn:aws:iam::{info.account_id}:role/{name}-task",
        log_group_name=f"/ecs/{name}",
        target_group_arn=(
            f"arn:aws:elasticloadbalancing:{info.region}:{info.account_id}:"
            f"targetgroup/{client}-{env}/0000000000000000"
        ),
        app_url=f"{info.alb_url}/{client}-{env}",
        secret_arns={"MONGO_URI": f"{prefix}/MONGO_URI"},
        parameter_names={"WEB_PORT": f"/cosyworld/{client}/{env}/WEB_PORT"},
    )
    spec = ProvisionSpec(
        project="cosyworld",
        client=client,
        environment=env,
        region=info.region,
        cpu=256,
        memory=512,
        desired_count=desired,
        container_port=3000,
        health_path="/health/ready",
        health_check_grace_period=grace,
        secret_names=["MONGO_URI"],
        parameters={"WEB_PORT": "3000"},
        ecr_repository=REPOSITORY,
        initial_image=f"{info.ecr_host}/{REPOSITORY}:bootstrap",
    )
    endpoint_session = _EndpointSession(session, info.endpoint_url)
    provision(endpoint_session, outputs, spec)
    # The stack makes the secret; a person puts its value.
    aws("secretsmanager").put_secret_value(
        SecretId=f"cosyworld/{client}/{env}/MONGO_URI", SecretString="mongodb://sandbox/db"
    )
    return Target(aws=aws, outputs=outputs, spec=spec)


class _EndpointSession:
    """A boto3 Session whose clients talk to the sandbox endpoint."""

    def __init__(self, session, endpoint_url: str) -> None:
        self._session = session
        self._endpoint = endpoint_url

    def client(self, name: str, **kwargs):
        kwargs.setdefault("endpoint_url", self._endpoint)
        return self._session.client(name, **kwargs)
