"""What the GitHub workflows need to know, from the manifests and cosydeploy.yaml alone
(no AWS call): the registry the image is pushed to once, and per client its targets,
accounts, regions and the roles each job assumes."""

from __future__ import annotations

import re
from typing import Any

from cosydeploy.config.load import client_ids, load_manifest
from cosydeploy.config.project import Project
from cosydeploy.config.resolve import resolve
from cosydeploy.config.targets import resolve_env
from cosydeploy.errors import UsageError
from cosydeploy.identity import registry, role_arn

VERSION = re.compile(r"v[0-9][0-9A-Za-z.+_-]*")
# The jobs of .github/workflows/release-client.yml, in promotion order.
WORKFLOW_ENVS = ("dev", "staging", "prod")


def target_row(proj: Any, c: Any) -> dict[str, str]:
    """Account, region and the roles a job for this client/env assumes."""
    cfg = proj.config
    return {
        "client": c.client,
        "env": c.env,
        "account_id": c.account_id,
        "region": c.region,
        "release_role_arn": role_arn(cfg, "release", c.account_id, c.env),
        "infra_role_arn": role_arn(cfg, "infra", c.account_id, c.env),
    }


def release_plan(proj: Project, version: str, clients: list[str] | None) -> dict[str, Any]:
    """The release workflow's plan: where the image is pushed (and as which role), and per
    client its dev, staging and prod targets (None where it has no such environment)."""
    cfg = proj.config
    if not VERSION.fullmatch(version):
        raise UsageError(
            f"{version!r} is not a release tag", hint="tags look like v1.4.0 (they start with v)"
        )
    unknown = [e for e in cfg.environments if e not in WORKFLOW_ENVS]
    if unknown:
        raise UsageError(
            f"cosydeploy.yaml: environments: the release workflow has jobs for "
            f"{', '.join(WORKFLOW_ENVS)} only, not {', '.join(unknown)}",
            hint="add a job per environment to .github/workflows/release-client.yml",
        )
    known = set(client_ids(proj))
    chosen: list[str] = []
    for cid in clients or []:
        for word in cid.replace(",", " ").split():
            if word not in known:
                raise UsageError(
                    f"COSYDEPLOY_RELEASE_CLIENTS names {word!r}, which has no manifest",
                    hint=f"clients: {', '.join(sorted(known)) or 'none'}",
                )
            if word not in chosen:
                chosen.append(word)
    rows = []
    accounts: list[tuple[str, str]] = []
    for cid in chosen:
        manifest, _ = load_manifest(proj, cid)
        row: dict[str, Any] = {"client": cid}
        for env in WORKFLOW_ENVS:
            if env in manifest.environments:
                c = resolve(proj, manifest, resolve_env(proj, env))
                row[env] = target_row(proj, c)
                accounts.append((c.account_id, c.region))
            else:
                row[env] = None
        rows.append(row)
    where = registry(cfg, accounts)
    if rows and where is None:
        raise UsageError(
            "cosydeploy.yaml: image.registry_account_id: the clients use several accounts "
            "and no registry account is named",
            hint="name the account that holds the ECR repository (and bootstrap it with "
            "registry_account = true)",
        )
    reg: dict[str, str] | None = None
    if where is not None:
        account, region = where
        reg = {
            "account_id": account,
            "region": region,
            "build_role_arn": role_arn(cfg, "build", account),
            "repository_uri": f"{account}.dkr.ecr.{region}.amazonaws.com/{cfg.image.repository}",
        }
    return {"version": version, "registry": reg, "clients": rows}
