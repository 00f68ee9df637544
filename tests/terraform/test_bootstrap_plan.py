"""`terraform plan` of the bootstrap stack: what every account gets, whichever roles it has."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .conftest import ROOT, Terraform, managed, one

VARS = {"region": "us-east-1", "account_id": "123456789012", "github_repository": "acme/cosyworld"}


def test_bootstrap_plans_the_state_bucket_tables_and_repository(terraform: Terraform) -> None:
    plan = terraform.plan("bootstrap", "bootstrap", VARS)
    assert {
        tuple(c["change"]["actions"]) for c in plan["resource_changes"] if c["mode"] == "managed"
    } == {("create",)}
    bucket = one(plan, "aws_s3_bucket.state")["values"]
    assert bucket["bucket"] == "cosyworld-terraform-state-123456789012"
    assert len(bucket["bucket"]) <= 63
    versioning = one(plan, "aws_s3_bucket_versioning.state")["values"]
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"
    access = one(plan, "aws_s3_bucket_public_access_block.state")["values"]
    assert all(
        access[k]
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    tables = {r["values"]["name"]: r["values"] for r in managed(plan, "aws_dynamodb_table")}
    assert set(tables) == {"cosyworld-deploy-locks", "cosyworld-releases"}
    assert tables["cosyworld-deploy-locks"]["hash_key"] == "lock_id"
    assert tables["cosyworld-releases"]["range_key"] == "release_id"
    assert all(t["billing_mode"] == "PAY_PER_REQUEST" for t in tables.values())
    repo = one(plan, "aws_ecr_repository.app")["values"]
    assert repo["name"] == "cosyworld" and repo["image_tag_mutability"] == "IMMUTABLE"
    assert repo["image_scanning_configuration"][0]["scan_on_push"] is True


def test_bootstrap_uses_an_existing_github_oidc_provider(terraform: Terraform) -> None:
    arn = f"arn:aws:iam::{VARS['account_id']}:oidc-provider/token.actions.githubusercontent.com"
    plan = terraform.plan("bootstrap", "bootstrap-oidc", {**VARS, "github_oidc_provider_arn": arn})
    assert managed(plan, "aws_iam_openid_connect_provider") == []
    roles = managed(plan, "aws_iam_role")
    assert roles
    for role in roles:
        trust = json.loads(role["values"]["assume_role_policy"])
        assert trust["Statement"][0]["Principal"]["Federated"] == arn
    # Without it, the stack creates the provider, as before.
    created = terraform.plan("bootstrap", "bootstrap", VARS)
    assert len(managed(created, "aws_iam_openid_connect_provider")) == 1


def test_bootstrap_refuses_another_accounts_oidc_provider(terraform: Terraform) -> None:
    directory = terraform.copy / "stacks" / "bootstrap"
    wrong = "arn:aws:iam::999999999999:oidc-provider/token.actions.githubusercontent.com"
    (directory / "wrong.tfvars.json").write_text(
        json.dumps({**VARS, "github_oidc_provider_arn": wrong})
    )
    text = " ".join(terraform.plan_error(directory, "-var-file=wrong.tfvars.json").split())
    assert "github_oidc_provider_arn must be arn:aws:iam::123456789012:oidc-provider/" in text


def infra_policies(plan: dict) -> list[dict]:
    return [
        json.loads(r["values"]["policy"])
        for r in managed(plan, "aws_iam_role_policy")
        if "infra" in r["values"]["name"]
    ]


def test_the_infra_roles_assume_the_dns_role_only_when_there_is_one(
    terraform: Terraform, tmp_path: Path
) -> None:
    """With `dns` in cosydeploy.yaml the infra roles may assume that role (the client
    stack's aws.dns provider) and may manage the alerting the stack makes."""
    without = infra_policies(terraform.plan("bootstrap", "bootstrap", VARS))
    assert without
    for policy in without:
        assert not [s for s in policy["Statement"] if s["Action"] == "sts:AssumeRole"]
        actions = next(s for s in policy["Statement"] if s["Sid"] == "ClientInfrastructure")
        assert {"events:*", "sns:*", "budgets:*"} <= set(actions["Action"])

    config = yaml.safe_load((ROOT / "cosydeploy.yaml").read_text())
    role = "arn:aws:iam::111122223333:role/cosyworld-dns"
    config["dns"] = {"account_id": "111122223333", "role_arn": role}
    path = tmp_path / "cosydeploy.yaml"
    path.write_text(yaml.safe_dump(config))
    plan = terraform.plan("bootstrap", "bootstrap-dns", {**VARS, "project_config": str(path)})
    with_dns = infra_policies(plan)
    assert len(with_dns) == len(without)
    for policy in with_dns:
        assume = [s for s in policy["Statement"] if s.get("Sid") == "RecordsInTheDnsAccount"]
        assert assume == [
            {
                "Sid": "RecordsInTheDnsAccount",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": [role],
            }
        ]


def test_the_release_roles_may_follow_and_steer_ecs_deployments_of_their_stacks_only(
    tmp_path: Path,
) -> None:
    """A blue/green, canary or linear release follows ECS's deployment record, continues or
    rolls back the paused deployment and reads the rules' weights: each ECS action on the
    environment's services and on their deployments (or revisions), as the service
    authorization reference asks for both; the ELB read has no resource-level scope. (The
    policies as the stack's provider-free `names` module renders them.)"""
    from bootstrap_roles import bootstrap_names

    account = VARS["account_id"]
    names = bootstrap_names(
        tmp_path, account_id=account, clients=["acme", "docbank"], repository="acme/cosyworld"
    )
    policies = {k: json.loads(r["policy"]) for k, r in names["roles"].items() if "release" in k}
    assert set(policies) == {"release-dev", "release-staging", "release-prod"}
    steering = {
        "ecs:ContinueServiceDeployment",
        "ecs:StopServiceDeployment",
        "ecs:DescribeServiceDeployments",
    }
    for key, policy in policies.items():
        env = key.removeprefix("release-")
        # Every client stack of the environment, by the client stack's naming pattern.
        stacks = [f"cosyworld-*-{env}"]
        by_sid = {s["Sid"]: s for s in policy["Statement"]}
        services = by_sid["EcsServices"]
        reads = {"ecs:ListServiceDeployments", "ecs:DescribeServiceRevisions"}
        assert steering | reads <= set(services["Action"])
        assert services["Resource"] == [f"arn:aws:ecs:*:{account}:service/{s}/*" for s in stacks]
        deployments = by_sid["EcsServiceDeployments"]
        assert set(deployments["Action"]) == steering
        assert deployments["Resource"] == [
            f"arn:aws:ecs:*:{account}:service-deployment/{s}/*" for s in stacks
        ]
        revisions = by_sid["EcsServiceRevisions"]
        assert revisions["Action"] == "ecs:DescribeServiceRevisions"
        assert revisions["Resource"] == [
            f"arn:aws:ecs:*:{account}:service-revision/{s}/*" for s in stacks
        ]
        assert "elasticloadbalancing:DescribeRules" in by_sid["TargetHealth"]["Action"]
        # No other statement acts on deployments, and none on "*".
        for statement in policy["Statement"]:
            actions = statement["Action"]
            actions = {actions} if isinstance(actions, str) else set(actions)
            if steering & actions:
                assert statement["Sid"] in {"EcsServices", "EcsServiceDeployments"}
