"""The stack's own revision, recorded at apply time, on a real HTTP AWS endpoint (moto):
named only while the service runs the stack's placeholder image."""

from __future__ import annotations

from cosydeploy.release.infra_check import stack_revision

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cosyworld"
OUTPUTS = {
    "cluster_name": {"value": "cosyworld-acme-dev"},
    "service_name": {"value": "app"},
    "container_name": {"value": "app"},
}


def register(ecs, image: str) -> str:
    return ecs.register_task_definition(
        family="cosyworld-acme-dev",
        containerDefinitions=[{"name": "app", "image": image, "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]


def test_the_stack_revision_is_named_only_while_the_service_runs_the_placeholder(aws_session):
    ecs = aws_session.client("ecs")
    ecs.create_cluster(clusterName="cosyworld-acme-dev")
    stack = register(ecs, f"{REPO}:bootstrap")
    ecs.create_service(
        cluster="cosyworld-acme-dev", serviceName="app", taskDefinition=stack, desiredCount=0
    )
    assert stack_revision(ecs, OUTPUTS, f"{REPO}:bootstrap") == stack

    # After a release (an image of cosydeploy's) an apply names no revision.
    released = register(ecs, f"{REPO}@sha256:{'a' * 64}")
    ecs.update_service(cluster="cosyworld-acme-dev", service="app", taskDefinition=released)
    assert stack_revision(ecs, OUTPUTS, f"{REPO}:bootstrap") == ""
    # Nor does a stack whose service is not there yet.
    missing = {**OUTPUTS, "cluster_name": "cosyworld-other-dev"}
    ecs.create_cluster(clusterName="cosyworld-other-dev")
    assert stack_revision(ecs, missing, f"{REPO}:bootstrap") == ""
