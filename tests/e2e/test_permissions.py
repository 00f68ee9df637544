"""Releases run as the role the release workflow assumes, and the sandbox decides each
call by that role's policy, as AWS would: the bootstrap stack's release role (rendered
by its `names` module from terraform/policies) is enough for a release; without one
action the release stops at the first call that needs it, exit 2, one line naming the
action, the role and the resource, and nothing has changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bootstrap_roles import bootstrap_names, create_roles, without_action

pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"  # the sandbox's


def done_topic(cid: str) -> str:
    return f"arn:aws:sns:us-east-1:{ACCOUNT}:cosyworld-{cid}-dev-info"


def assume(aws, role_name: str) -> dict[str, str]:
    creds = aws("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role_name}", RoleSessionName="release-job"
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


def test_release_as_the_release_role_then_without_one_action(
    stage, aws, cosy, cosy_as, notices, tmp_path: Path
) -> None:
    # A Redis snapshot before each release here too: the role may take it, and publish
    # its notices to the client's info topic.
    perm = stage.new_id("perm")
    sample = stage.write_manifest(perm).read_text()  # the sample client's, under this id
    cid = stage.onboard(perm, manifest=sample + "\nredis: {snapshot_before_release: true}\n")
    built = stage.cli("-o", "json", "build", "r1", "--push", "--client", cid, "--env", "dev")
    digest = json.loads(built.stdout)["digest"]
    names = bootstrap_names(
        tmp_path / "names",
        account_id=ACCOUNT,
        clients=[cid],
        repository="cosyworld/deploy",
        environments=("dev",),
        project=stage.project,
    )
    role = names["roles"]["release-dev"]
    iam = aws("iam")
    create_roles(iam, {"release-dev": role})
    release = ["-o", "json", "release", "r1", "--client", cid, "--env", "dev"]
    release += ["--digest", digest, "--skip-infra"]
    try:
        as_role = cosy_as(assume(aws, role["name"]))
        r = as_role(*release)
        assert r.exit_code == 0, r.output
        done = json.loads(r.stdout)
        assert done["outcome"] == "succeeded", r.stdout
        assert done["snapshot"].startswith(f"cosyworld-{cid}-dev-r1-"), done
        assert not [w for w in done["warnings"] if "notification" in w], done["warnings"]
        assert [n["event"] for n in notices(done_topic(cid))] == ["started", "succeeded"]
        status = as_role("-o", "json", "status", cid, "--env", "dev")
        assert status.exit_code == 0, status.output
        assert json.loads(status.stdout)[0]["version"] == "r1"

        # The same role without iam:PassRole: the task definition cannot be registered.
        stage.cli("build", "r2", "--push", "--client", cid, "--env", "dev")
        r2 = json.loads(
            stage.cli("-o", "json", "build", "r2", "--push", "--client", cid, "--env", "dev").stdout
        )["digest"]
        iam.put_role_policy(
            RoleName=role["name"],
            PolicyName="cosydeploy",
            PolicyDocument=without_action(role["policy"], "iam:PassRole"),
        )
        services = aws("ecs").describe_services(cluster=f"cosyworld-{cid}-dev", services=["app"])
        before = services["services"][0]["taskDefinition"]
        families = aws("ecs").list_task_definitions()["taskDefinitionArns"]
        denied = cosy_as(assume(aws, role["name"]))(
            "release", "r2", "--client", cid, "--env", "dev", "--digest", r2, "--skip-infra"
        )
        assert denied.exit_code == 2, denied.output
        errors = [line for line in denied.stderr.splitlines() if line.startswith("error:")]
        task_role = f"arn:aws:iam::{ACCOUNT}:role/cosyworld-{cid}-dev-"
        assert len(errors) == 1, denied.stderr
        line = errors[0]
        assert "iam:PassRole" in line and f"role {role['name']}" in line, line
        assert task_role in line, line
        # Nothing changed: the service, its task definitions, the lock.
        after = aws("ecs").describe_services(cluster=f"cosyworld-{cid}-dev", services=["app"])
        assert after["services"][0]["taskDefinition"] == before
        assert aws("ecs").list_task_definitions()["taskDefinitionArns"] == families
        locks = aws("dynamodb").scan(TableName="cosyworld-deploy-locks")["Items"]
        assert not [i for i in locks if cid in json.dumps(i)], locks
        back = cosy("-o", "json", "status", cid, "--env", "dev")
        assert json.loads(back.stdout)[0]["version"] == "r1"
    finally:
        iam.delete_role_policy(RoleName=role["name"], PolicyName="cosydeploy")
        iam.delete_role(RoleName=role["name"])
        stage.retire(cid)
