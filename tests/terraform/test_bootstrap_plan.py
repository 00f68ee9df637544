"""`terraform plan` of the bootstrap stack: what every account gets, whichever roles it has."""

from __future__ import annotations

from .conftest import Terraform, managed, one

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
