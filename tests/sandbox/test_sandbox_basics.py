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
