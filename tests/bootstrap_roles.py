"""The bootstrap stack's roles, for tests that run as them in the sandbox.

The names and policy documents come from real Terraform running the bootstrap stack's
provider-free `names` module over terraform/policies (what the stack itself applies);
`create_roles` makes those roles in the sandbox's IAM with the same documents.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def terraform(chdir: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "cosydeploy.adapters.terraform._worker", str(chdir), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "CHECKPOINT_DISABLE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def bootstrap_names(
    workdir: Path,
    *,
    account_id: str,
    clients: list[str],
    repository: str,
    environments: tuple[str, ...] = ("dev", "staging", "prod"),
    project: Path = REPO,
    kms_key_arn: str | None = None,
) -> dict[str, Any]:
    """The `names` module's outputs (roles with trust and policy JSON) for one account."""
    workdir.mkdir(parents=True, exist_ok=True)
    kms = kms_key_arn or f"arn:aws:kms:us-east-1:{account_id}:key/state"
    (workdir / "main.tf").write_text(
        'module "names" {\n'
        f'  source = "{REPO / "terraform/stacks/bootstrap/names"}"\n'
        f'  config_path = "{project / "cosydeploy.yaml"}"\n'
        f'  policies_dir = "{REPO / "terraform/policies"}"\n'
        f'  account_id = "{account_id}"\n'
        f"  environments = {json.dumps(list(environments))}\n"
        f"  clients = {json.dumps(clients)}\n"
        f'  github_repository = "{repository}"\n'
        '  github_oidc_subject = { format = "name" }\n'
        f'  kms_key_arn = "{kms}"\n'
        "}\n"
        'output "names" { value = module.names }\n'
    )
    terraform(workdir, "init", "-no-color", "-input=false")
    terraform(workdir, "apply", "-auto-approve", "-no-color", "-input=false")
    return json.loads(terraform(workdir, "output", "-json"))["names"]["value"]


def create_roles(iam: Any, roles: dict[str, dict[str, str]], *, policy_name: str = "cosydeploy"):
    """Create (or replace) every role in the sandbox's IAM with its trust and policy."""
    for role in roles.values():
        try:
            iam.create_role(RoleName=role["name"], AssumeRolePolicyDocument=role["trust"])
        except iam.exceptions.EntityAlreadyExistsException:
            iam.update_assume_role_policy(RoleName=role["name"], PolicyDocument=role["trust"])
        iam.put_role_policy(
            RoleName=role["name"], PolicyName=policy_name, PolicyDocument=role["policy"]
        )


def without_action(policy: str, action: str) -> str:
    """The policy document with one action taken out of every statement that names it."""
    doc = json.loads(policy)
    kept = []
    for st in doc["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        rest = [a for a in actions if a != action]
        if rest:
            kept.append({**st, "Action": rest})
    assert kept != doc["Statement"], f"{action} is in no statement"
    return json.dumps({**doc, "Statement": kept})


def refusing_stack(policy: str, stack: str, account_id: str) -> str:
    """The policy document with every action on one client stack's ECS service and its
    deployments denied (a role that must not release that client yet)."""
    doc = json.loads(policy)
    arns = [
        f"arn:aws:ecs:*:{account_id}:{kind}/{stack}/*"
        for kind in ("service", "service-deployment", "service-revision")
    ]
    deny = {"Sid": "NotThisClient", "Effect": "Deny", "Action": "*", "Resource": arns}
    return json.dumps({**doc, "Statement": [*doc["Statement"], deny]})
