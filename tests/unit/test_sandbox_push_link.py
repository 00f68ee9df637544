"""The sandbox's one registry stands in for every account's ECR: a push is linked into
each account whose ECR has the repository, also when the sandbox's own account has none
(a fleet whose clients all live in accounts of their own)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import boto3
import pytest
from http_stub import QuietHandler, serving
from moto import mock_aws

from cosydeploy.sandbox.registry import PushListener

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:" + "1" * 64,
        },
        "layers": [],
    }
)
DIGEST = "sha256:" + hashlib.sha256(MANIFEST.encode()).hexdigest()
AWAY = "222222222222"


@pytest.fixture
def registry() -> Iterator[str]:
    """A registry that serves one manifest, as the sandbox's does after a push."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            body = MANIFEST.encode()
            self.send_response(200)
            self.send_header("Content-Type", json.loads(MANIFEST)["mediaType"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as address:
        yield f"http://{address}"


def away_ecr():
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{AWAY}:role/cosydeploy-deploy", RoleSessionName="test"
    )["Credentials"]
    return boto3.client(
        "ecr",
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def tags(ecr, repository: str) -> list[str]:
    images = ecr.describe_images(repositoryName=repository)["imageDetails"]
    return sorted(t for i in images for t in i.get("imageTags", []))


def test_a_push_reaches_an_account_of_its_own_when_the_home_account_has_no_repository(
    registry: str,
) -> None:
    with mock_aws():
        away = away_ecr()
        away.create_repository(repositoryName="cosyworld")
        home = boto3.client("ecr", region_name="us-east-1")
        listener = PushListener(lambda: registry, lambda: home)
        listener.link("cosyworld", DIGEST, "v1")
        assert tags(away, "cosyworld") == ["v1"]
        assert listener.linked == [("cosyworld", DIGEST)]
        # Where the home account has it too, both show the push.
        home.create_repository(repositoryName="cosyworld")
        listener.link("cosyworld", DIGEST, "v2")
        assert tags(home, "cosyworld") == ["v2"] and tags(away, "cosyworld") == ["v1", "v2"]


def test_a_push_no_account_has_a_repository_for_is_not_linked(registry: str) -> None:
    with mock_aws():
        listener = PushListener(lambda: registry, lambda: boto3.client("ecr", "us-east-1"))
        listener.link("nowhere", DIGEST, "v1")
        assert listener.linked == []
