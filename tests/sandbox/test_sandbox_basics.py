"""The sandbox's registry, state file and bad input."""

from __future__ import annotations

import socket
import time

import pytest

from cosydeploy.errors import EXIT_USAGE, SandboxError
from cosydeploy.sandbox.driver import circuit_breaker_threshold, map_image, split_image
from cosydeploy.sandbox.state import load_info


@pytest.mark.parametrize(
    ("desired", "threshold"), [(1, 3), (2, 3), (6, 3), (7, 4), (10, 5), (400, 200), (1000, 200)]
)
def test_circuit_breaker_threshold(desired, threshold):
    assert circuit_breaker_threshold(desired) == threshold


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("1.dkr.ecr.r.amazonaws.com/app@sha256:ab", "127.0.0.1:5000/app@sha256:ab"),
        ("1.dkr.ecr.r.amazonaws.com/team/app:v1", "127.0.0.1:5000/team/app:v1"),
        ("other:5000/app:v1", "other:5000/app:v1"),
    ],
)
def test_map_image(image, expected):
    assert map_image(image, "1.dkr.ecr.r.amazonaws.com", "127.0.0.1:5000") == expected


@pytest.mark.parametrize(
    ("ref", "parts"),
    [
        ("127.0.0.1:5000/app@sha256:ab", ("127.0.0.1:5000/app", "sha256:ab")),
        ("127.0.0.1:5000/app:v1", ("127.0.0.1:5000/app", "v1")),
        ("127.0.0.1:5000/app", ("127.0.0.1:5000/app", "latest")),
    ],
)
def test_split_image(ref, parts):
    assert split_image(ref) == parts


def test_push_shows_in_describe_images_with_the_registry_digest(images, aws):
    pushed = images["good1"]
    ecr = aws("ecr")
    deadline = time.monotonic() + 10
    found = []
    while time.monotonic() < deadline and not found:
        details = ecr.describe_images(repositoryName="cosyworld")["imageDetails"]
        found = [d for d in details if d["imageDigest"] == pushed.digest]
        time.sleep(0.2)
    assert found, "the push was not linked into ECR"
    assert pushed.tag in found[0].get("imageTags", [])


def test_state_file_finds_the_running_sandbox(sandbox, info):
    loaded = load_info(sandbox.state_file)
    assert loaded == info
    env = info.env()
    assert env["AWS_ENDPOINT_URL"] == info.endpoint_url
    assert env["COSYDEPLOY_SANDBOX"] == "1"


def test_load_info_without_a_sandbox(tmp_path):
    assert load_info(tmp_path / "state.json") is None
    with pytest.raises(SandboxError, match="no sandbox is running"):
        load_info(tmp_path / "state.json", strict=True)


def test_port_taken_is_a_clear_error(tmp_path, docker_client):
    from cosydeploy.sandbox.server import Sandbox

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        box = Sandbox(port=port, state_dir=tmp_path)
        with pytest.raises(SandboxError) as err:
            box.start()
    assert f"port {port}" in err.value.message and err.value.hint
    assert err.value.exit_code == EXIT_USAGE
    assert not (tmp_path / "state.json").exists()
    assert not (tmp_path / "registry").exists()


def test_a_role_policy_past_iams_size_quota_is_refused(aws):
    """IAM holds a role's inline policies to 10,240 characters together (white space not
    counted): the sandbox refuses one more, as AWS does, so a bootstrap stack that would
    fail there fails here."""
    import json
    import uuid

    from botocore.exceptions import ClientError

    iam = aws("iam")
    role = f"quota-{uuid.uuid4().hex[:8]}"
    trust = {"Version": "2012-10-17", "Statement": []}
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))

    def policy(n_resources: int) -> str:
        arns = [
            f"arn:aws:ecs:us-east-1:123456789012:service/c{i:04d}/app" for i in range(n_resources)
        ]
        statement = {"Effect": "Allow", "Action": "ecs:DescribeServices", "Resource": arns}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=4)

    # About 6,000 characters (white space aside): fits alone, then not beside a second.
    iam.put_role_policy(RoleName=role, PolicyName="one", PolicyDocument=policy(110))
    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName=role, PolicyName="two", PolicyDocument=policy(110))
    assert exc.value.response["Error"]["Code"] == "LimitExceeded"
    assert "10240" in exc.value.response["Error"]["Message"]
    # Replacing the first (its size counted once) is fine; the refused one was not kept.
    iam.put_role_policy(RoleName=role, PolicyName="one", PolicyDocument=policy(120))
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["one"]
