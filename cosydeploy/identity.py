"""Names shared with terraform/stacks/bootstrap: state bucket, table region, GitHub roles.

cosydeploy.yaml is the one source. The bootstrap stack reads the same file (its ``names``
module), and tests/unit/test_identity_names.py runs that module with real Terraform and
compares its outputs with these functions.
"""

from __future__ import annotations

from typing import Any, Literal

RoleKind = Literal["build", "release", "infra"]


def state_bucket(config: Any, account_id: str) -> str:
    """The Terraform state bucket of one AWS account (``{account_id}`` filled in)."""
    return str(config.state.bucket).replace("{account_id}", account_id)


def tables_region(config: Any) -> str:
    """Region of the lock and ledger tables: the account's bootstrap region, not the client's."""
    return str(config.state.region)


def role_name(config: Any, kind: RoleKind, env: str | None = None) -> str:
    """Name of a role the workflows assume (release and infra roles exist per environment)."""
    roles = config.github
    if kind == "build":
        return str(roles.build_role)
    if env is None:
        raise ValueError(f"the {kind} role is per environment: give env")
    template = roles.release_role if kind == "release" else roles.infra_role
    return str(template).replace("{env}", env)


def role_arn(
    config: Any, kind: RoleKind, account_id: str, env: str | None = None, partition: str = "aws"
) -> str:
    return f"arn:{partition}:iam::{account_id}:role/{role_name(config, kind, env)}"


def registry(config: Any, accounts: list[tuple[str, str]]) -> tuple[str, str] | None:
    """(account, region) of the ECR repository the release workflow pushes to once.

    ``image.registry_account_id``/``registry_region`` when set; otherwise the single
    account all clients share (None when they span several: a central one must be named).
    """
    img = config.image
    if img.registry_account_id:
        return img.registry_account_id, img.registry_region or config.state.region
    distinct = {a for a, _ in accounts}
    if len(distinct) == 1:
        return next(iter(distinct)), config.state.region
    return None
