"""Task definition rendering and the diff against the running revision."""

import copy
import dataclasses
import json

import pytest

from cosydeploy.ecs.taskdef import (
    Change,
    diff_task_definitions,
    registrable,
    render_task_definition,
    to_json,
)
from cosydeploy.errors import ConfigError, UsageError
from cosydeploy.stack import StackOutputs

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
SM = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cosyworld"

OUT = StackOutputs(
    cluster_name="cosyworld-example-dev",
    service_name="app",
    container_name="app",
    task_family="cosyworld-example-dev",
    execution_role_arn="arn:aws:iam::123456789012:role/cosyworld-example-dev-exec",
    task_role_arn="arn:aws:iam::123456789012:role/cosyworld-example-dev-task",
    log_group_name="/ecs/cosyworld-example-dev",
    secret_arns={n: f"{SM}cosyworld/example/dev/{n}" for n in ("MONGO_URI", "DISCORD_BOT_TOKEN")},
)


def render(**kw):
    args = dict(
        outputs=OUT,
        image_uri=f"{ECR}@{D1}",
        region="us-east-1",
        container_port=3000,
        cpu=256,
        memory=512,
        environment={"NODE_ENV": "production", "A": 1},
        secret_names=["MONGO_URI", "DISCORD_BOT_TOKEN"],
        stop_timeout=30,
        tags={"cosydeploy:version": "v1"},
    )
    args.update(kw)
    return render_task_definition(**args)


def test_render_fields():
    td = render()
    c = td["containerDefinitions"][0]
    assert td["family"] == OUT.task_family
    assert (td["cpu"], td["memory"]) == ("256", "512")
    assert td["executionRoleArn"] == OUT.execution_role_arn
    assert c["image"] == f"{ECR}@{D1}"
    assert c["environment"] == [
        {"name": "A", "value": "1"},
        {"name": "NODE_ENV", "value": "production"},
    ]
    assert c["secrets"] == [
        {"name": "DISCORD_BOT_TOKEN", "valueFrom": OUT.secret_arns["DISCORD_BOT_TOKEN"]},
        {"name": "MONGO_URI", "valueFrom": OUT.secret_arns["MONGO_URI"]},
    ]
    assert c["stopTimeout"] == 30
    assert c["portMappings"][0]["containerPort"] == 3000
    assert c["healthCheck"]["command"][0] == "CMD-SHELL"
    assert "http://localhost:3000/health/live" in c["healthCheck"]["command"][1]
    assert "curl" not in c["healthCheck"]["command"][1]
    assert c["logConfiguration"]["options"] == {
        "awslogs-group": OUT.log_group_name,
        "awslogs-region": "us-east-1",
        "awslogs-stream-prefix": "app",
    }
    assert td["tags"] == [{"key": "cosydeploy:version", "value": "v1"}]


def test_render_is_deterministic_and_escapes():
    env = {"Z": 'quote " and <tag> & \\ back', "B": "2"}
    a = to_json(render(environment=env))
    b = to_json(render(environment=dict(reversed(list(env.items())))))
    assert a == b
    values = {
        e["name"]: e["value"] for e in json.loads(a)["containerDefinitions"][0]["environment"]
    }
    assert values["Z"] == env["Z"]


def test_render_requires_digest():
    with pytest.raises(UsageError):
        render(image_uri=f"{ECR}:v1")


def test_render_missing_secret_arn():
    with pytest.raises(ConfigError, match="OPENROUTER_API_KEY"):
        render(secret_names=["MONGO_URI", "OPENROUTER_API_KEY"])


def test_env_and_secret_clash():
    with pytest.raises(ConfigError):
        render(environment={"MONGO_URI": "x"})


def as_described(td, revision=3):
    """What describe_task_definition returns for a registered ``td``: ECS adds these."""
    d = copy.deepcopy(registrable(td))
    d.pop("tags", None)
    d.update(
        {
            "taskDefinitionArn": f"arn:aws:ecs:us-east-1:123456789012:task-definition/"
            f"{td['family']}:{revision}",
            "revision": revision,
            "status": "ACTIVE",
            "registeredAt": "2025-01-01",
            "registeredBy": "arn:aws:sts::123456789012:assumed-role/x",
            "requiresAttributes": [{"name": "ecs.capability.secrets.asm.environment-variables"}],
            "compatibilities": ["EC2", "FARGATE"],
        }
    )
    for c in d["containerDefinitions"]:
        c.update({"cpu": 0, "mountPoints": [], "volumesFrom": [], "systemControls": []})
    return d


def tags_of(td):
    return td["tags"]


CASES = [
    ("identical", {}, []),
    (
        "image",
        {"image_uri": f"{ECR}@{D2}"},
        [Change("containerDefinitions.app.image", "~", f"{ECR}@{D1}", f"{ECR}@{D2}")],
    ),
    (
        "env added",
        {"environment": {"NODE_ENV": "production", "A": 1, "NEW": "x"}},
        [Change("containerDefinitions.app.environment.NEW", "+", None, "x")],
    ),
    (
        "env removed",
        {"environment": {"NODE_ENV": "production"}},
        [Change("containerDefinitions.app.environment.A", "-", "1", None)],
    ),
    (
        "cpu and memory",
        {"cpu": 512, "memory": 1024},
        [Change("cpu", "~", "256", "512"), Change("memory", "~", "512", "1024")],
    ),
    (
        "secret dropped from the stack",
        {
            "secret_names": ["MONGO_URI"],
            "outputs": dataclasses.replace(
                OUT,
                secret_arns={k: v for k, v in OUT.secret_arns.items() if k != "DISCORD_BOT_TOKEN"},
            ),
        },
        [
            Change(
                "containerDefinitions.app.secrets.DISCORD_BOT_TOKEN",
                "-",
                OUT.secret_arns["DISCORD_BOT_TOKEN"],
                None,
            )
        ],
    ),
    (
        "stop timeout",
        {"stop_timeout": 60},
        [Change("containerDefinitions.app.stopTimeout", "~", 30, 60)],
    ),
    (
        "tags",
        {"tags": {"cosydeploy:version": "v2"}},
        [Change("tags.cosydeploy:version", "~", "v1", "v2")],
    ),
]


@pytest.mark.parametrize(("name", "changes", "expected"), CASES, ids=[c[0] for c in CASES])
def test_diff_table(name, changes, expected):
    running = render()
    diff = diff_task_definitions(
        as_described(running), render(**changes), running_tags=tags_of(running)
    )
    assert list(diff.changes) == expected
    assert diff.empty == (not expected)
    if expected:
        assert all(line[0] in "+-~" for line in diff.lines())
    else:
        assert diff.lines() == ["(no changes)"]


def test_diff_first_release():
    diff = diff_task_definitions(None, render())
    assert diff.first_release and not diff.empty
    assert diff.lines()[0].startswith("(no running task definition")
    assert any(c.path == "family" and c.kind == "+" for c in diff.changes)


def test_diff_without_tags_and_line_format():
    running = render()
    diff = diff_task_definitions(
        as_described(running),
        render(tags={"cosydeploy:version": "v2"}),
        running_tags=tags_of(running),
    )
    assert not diff.empty and diff.without("tags").empty
    assert diff.lines() == ["~ tags.cosydeploy:version: v1 -> v2"]


def test_registrable_drops_read_only_keys():
    d = registrable(as_described(render()), tags=[{"key": "k", "value": "v"}])
    assert "taskDefinitionArn" not in d and "revision" not in d and "status" not in d
    assert d["tags"] == [{"key": "k", "value": "v"}]


def test_stack_secrets_and_parameters_reach_the_container():
    out = dataclasses.replace(
        OUT,
        secret_arns={
            **OUT.secret_arns,
            "REDIS_AUTH_TOKEN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x/REDIS_AUTH_TOKEN",
        },
        parameter_names={
            "REDIS_HOST": "/cosyworld/example/dev/REDIS_HOST",
            "NODE_ENV": "/cosyworld/example/dev/NODE_ENV",
        },
    )
    td = render(outputs=out, secret_names=["MONGO_URI"])
    secrets = {s["name"]: s["valueFrom"] for s in td["containerDefinitions"][0]["secrets"]}
    assert secrets["REDIS_AUTH_TOKEN"].endswith("REDIS_AUTH_TOKEN")
    assert secrets["DISCORD_BOT_TOKEN"] == OUT.secret_arns["DISCORD_BOT_TOKEN"]
    assert (
        secrets["REDIS_HOST"]
        == "arn:aws:ssm:us-east-1:123456789012:parameter/cosyworld/example/dev/REDIS_HOST"
    )
    assert "NODE_ENV" not in secrets  # the plain environment variable wins
