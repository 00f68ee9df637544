"""`cosydeploy build`: local by default; with --push, once per version, then reused."""

from __future__ import annotations

import json


def test_build_local_then_push_once_then_reuse(onboarded, cosy, sandbox_env) -> None:
    import boto3

    local = cosy("build", "b7")
    assert local.exit_code == 0, local.output
    assert "built cosyworld:b7 (local only" in local.stderr

    first = cosy("-o", "json", "build", "b7", "--push", "--client", "example", "--env", "dev")
    assert first.exit_code == 0, first.output
    pushed = json.loads(first.stdout)
    assert pushed["built"] is True and pushed["uri"].endswith("@" + pushed["digest"])

    ecr = boto3.client(
        "ecr",
        endpoint_url=sandbox_env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    images = ecr.describe_images(repositoryName="cosyworld", imageIds=[{"imageTag": "b7"}])
    assert images["imageDetails"][0]["imageDigest"] == pushed["digest"]

    again = cosy("-o", "json", "build", "b7", "--push", "--client", "example", "--env", "dev")
    assert again.exit_code == 0, again.output
    reused = json.loads(again.stdout)
    assert (reused["built"], reused["digest"]) == (False, pushed["digest"])
    assert "already in ECR, reused" in again.stderr
    assert "build: Step" not in again.stderr  # nothing was rebuilt
