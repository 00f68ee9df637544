"""The sandbox fails on demand and keeps tags immutable, as an IMMUTABLE ECR does."""

from __future__ import annotations

import uuid

import pytest

from cosydeploy.sandbox.faults import clear_rules, post_rules


@pytest.fixture
def faults(info):
    clear_rules(info.endpoint_url)
    yield info.endpoint_url
    clear_rules(info.endpoint_url)


def _push(docker_client, info, tag: str, auth: dict) -> tuple[str, str]:
    """(digest, error) of a push of ``cosyworld:tag`` to the sandbox's registry."""
    digest, error = "", ""
    for chunk in docker_client.api.push(
        f"{info.registry}/cosyworld", tag=tag, auth_config=auth, stream=True, decode=True
    ):
        error = chunk.get("error", error)
        digest = (chunk.get("aux") or {}).get("Digest", digest)
    return digest, error


AUTH = {"username": "AWS", "password": "123456789012-auth-token"}


def test_a_tag_never_moves_but_the_same_image_pushes_again(images, info, docker_client):
    tag = f"fixed-{uuid.uuid4().hex[:6]}"
    repo = f"{info.registry}/cosyworld"
    first = docker_client.images.get(f"{repo}:{images['good1'].tag}")
    other = docker_client.images.get(f"{repo}:{images['good2'].tag}")
    first.tag(repo, tag=tag)
    assert _push(docker_client, info, tag, AUTH) == (images["good1"].digest, "")
    other.tag(repo, tag=tag)
    digest, error = _push(docker_client, info, tag, AUTH)
    assert not digest and "already exists" in error and "immutable" in error
    first.tag(repo, tag=tag)
    assert _push(docker_client, info, tag, AUTH) == (images["good1"].digest, "")


def test_a_version_pushed_by_another_run_meanwhile_is_used_by_its_digest(
    images, info, aws, docker_client, tmp_path
):
    """Two runs make the same new version: the other one's push lands while this one
    builds. This run's push is refused (the tag exists), and it uses the digest the tag
    names and says so: one version, one image."""
    from cosydeploy.image import ensure_image
    from cosydeploy.sandbox.appcontext import prepare_app_context

    version = f"race-{uuid.uuid4().hex[:6]}"
    theirs = images["good2"]
    said: list[str] = []

    def competitor_pushes(line: str) -> None:
        if said:
            return
        said.append("competitor")
        img = docker_client.images.get(f"{info.registry}/cosyworld:{theirs.tag}")
        img.tag(f"{info.registry}/cosyworld", tag=version)
        digest, error = _push(docker_client, info, version, AUTH)
        assert digest == theirs.digest and not error

    resolved = ensure_image(
        ecr_client=aws("ecr"),
        repository_uri=f"{info.ecr_host}/cosyworld",
        version=version,
        git_sha="",
        docker_client=docker_client,
        context=str(prepare_app_context(tmp_path / "app")),
        build_args={"VERSION": version, "BREAK": "none"},
        registry_override=info.registry,
        on_build_output=competitor_pushes,
        on_info=said.append,
    )
    assert resolved.digest == theirs.digest and not resolved.built
    assert resolved.uri == f"{info.ecr_host}/cosyworld@{theirs.digest}"
    assert any("pushed by another run" in s and theirs.digest[:19] in s for s in said)


def test_faults_by_api_after_n_calls_through_the_admin_endpoint(
    faults, aws, info, docker_client, images
):
    from botocore.exceptions import ClientError

    ecs = aws("ecs")
    rules = post_rules(faults, "ecs=denied,after=1,times=1,action=ListClusters")
    assert rules[0]["api"] == "ecs" and rules[0]["struck"] == 0
    ecs.list_clusters()  # the first call goes through
    with pytest.raises(ClientError, match="AccessDenied"):
        ecs.list_clusters()
    ecs.list_clusters()  # struck once, as told
    (rule,) = post_rules(faults)
    assert rule["struck"] == 1 and rule["seen"] == 3
    clear_rules(faults)
    post_rules(faults, "registry=denied")
    _, error = _push(docker_client, info, images["good1"].tag, AUTH)
    assert "denied" in error.lower(), error


def test_a_rate_rule_throttles_an_action_above_n_calls_a_second(faults, session, info):
    """``ecs=throttle,rate=5,action=DescribeServices``: the endpoint refuses the calls
    above 5 in any second with ThrottlingException, counts them, and lets other actions
    through. The client retries nothing, so every refusal is seen here."""
    import json
    import time
    import urllib.request

    from botocore.config import Config
    from botocore.exceptions import ClientError

    ecs = session.client(
        "ecs",
        endpoint_url=info.endpoint_url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    post_rules(faults, "ecs=throttle,rate=5,action=DescribeServices")
    outcomes: list[str] = []
    started = time.monotonic()
    for _ in range(15):
        try:  # moto answers ClusterNotFound: an answer, not a refusal
            ecs.describe_services(cluster="nowhere", services=["app"])
            outcomes.append("ok")
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            outcomes.append(code if code == "ThrottlingException" else "ok")
        ecs.list_clusters()  # another action: never refused
    elapsed = time.monotonic() - started
    assert outcomes[:5] == ["ok"] * 5
    assert set(outcomes[5:]) <= {"ok", "ThrottlingException"}
    passed = outcomes.count("ok")
    assert passed <= 5 * (int(elapsed) + 1), (outcomes, elapsed)
    with urllib.request.urlopen(f"{faults}/_sandbox/faults", timeout=10) as resp:  # GET
        (rule,) = json.loads(resp.read())["rules"]
    assert rule["rate"] == 5 and rule["seen"] == 15
    assert rule["struck"] == outcomes.count("ThrottlingException") >= 1


def test_a_task_whose_target_failed_to_register_is_registered_before_it_counts(
    faults, session, info, aws
):
    """The rollout driver's own RegisterTargets call fails once: that task is not healthy
    until a later try puts its target in the group, so the deployment completes with every
    target there. (A task counted healthy without its target completed a deployment whose
    target health never came right: a release's watch waited for its deadline.)"""
    from conftest import make_target

    target = make_target(session, info, aws, paper="paper")
    td = target.register(f"{info.ecr_host}/cosyworld:v1")
    post_rules(faults, "elbv2=denied,times=1,action=RegisterTargets")
    dep = target.wait_rollout(target.deploy(td))
    assert dep["rolloutState"] == "COMPLETED", dep
    (rule,) = post_rules(faults)
    assert rule["struck"] == 1, rule
    health = aws("elbv2").describe_target_health(TargetGroupArn=target.outputs.target_group_arn)[
        "TargetHealthDescriptions"
    ]
    assert len(health) == 2 and {h["TargetHealth"]["State"] for h in health} == {"healthy"}
