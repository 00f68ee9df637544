"""What the GitHub workflows need to know, from the manifests and cosydeploy.yaml alone
(no AWS call): the registry the image is pushed to once, per client its targets,
accounts, regions and the roles each job assumes, and the shards the release workflow
runs (one runner per shard, releasing its clients as a fleet)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from typing import Any

from cosydeploy.config.load import client_ids, load_manifest
from cosydeploy.config.project import Project
from cosydeploy.config.resolve import resolve
from cosydeploy.config.targets import resolve_env
from cosydeploy.errors import UsageError
from cosydeploy.identity import registry, role_arn

VERSION = re.compile(r"v[0-9][0-9A-Za-z.+_-]*")
# The jobs of .github/workflows/release-shard.yml, in promotion order.
WORKFLOW_ENVS = ("dev", "staging", "prod")
# GitHub runs at most this many jobs from one matrix.
MATRIX_LIMIT = 256


def _rank(client: str, shard: int) -> bytes:
    return hashlib.sha256(f"{shard}\0{client}".encode()).digest()


def split_shards(clients: Sequence[str], count: int, cap: int | None = None) -> list[list[str]]:
    """``clients`` in ``count`` shards of at most ``cap`` (default: an even share,
    ceil(clients / count)); pure and deterministic, the clients sorted within a shard.

    Rendezvous hashing with a bound on load: every client ranks the shards by a hash
    of (shard, client id) and goes to the best-ranked one that still has room, the
    clients taken in the order of their own hash. A client's shard depends on its id,
    not on where it sorts among the others: adding or removing a client moves few others
    (a split of the sorted list would shift every client after it).
    """
    unique = sorted(set(clients))
    count = max(1, min(count, len(unique)))
    even = math.ceil(len(unique) / count) if unique else 0
    cap = max(even, cap or 0)
    shards: list[list[str]] = [[] for _ in range(count)]
    for c in sorted(unique, key=lambda c: hashlib.sha256(c.encode()).digest()):
        for i in sorted(range(count), key=lambda i: _rank(c, i), reverse=True):
            if len(shards[i]) < cap:
                shards[i].append(c)
                break
    return [sorted(s) for s in shards if s]


def shard_count(clients: int, max_per_shard: int) -> int:
    """How many shards keep every shard at or under ``max_per_shard`` clients."""
    return max(1, math.ceil(clients / max(1, max_per_shard)))


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


def release_plan(
    proj: Project, version: str, clients: list[str] | None, shards: int | None = None
) -> dict[str, Any]:
    """The release workflow's plan: where the image is pushed (and as which role), per
    client its dev, staging and prod targets (None where it has no such environment), and
    the shards (``shards`` per group of clients sharing their accounts, default from
    ``ci.max_clients_per_shard``) with the matrix's max-parallel and each runner's
    --parallel."""
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
            hint="add a job per environment to .github/workflows/release-shard.yml",
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
    ci = cfg.ci
    return {
        "version": version,
        "registry": reg,
        "clients": rows,
        "shards": plan_shards(rows, shards, ci.max_clients_per_shard),
        "max_parallel": ci.max_parallel_shards,
        "parallel": ci.parallel,
    }


def plan_shards(
    rows: list[dict[str, Any]], count: int | None, max_per_shard: int
) -> list[dict[str, Any]]:
    """The matrix of the release workflow: one entry per shard, with per environment the
    role its job assumes and the --client arguments of the clients that have it (None
    where none does). A job assumes one role in one account, so only clients whose
    environments live in the same accounts share a shard."""
    exact: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple((row[e] or {}).get("account_id") for e in WORKFLOW_ENVS)
        exact.setdefault(key, []).append(row)
    # A client without an environment joins a group whose other accounts it shares
    # (clients with every environment first, then in account order: deterministic).
    groups: list[tuple[dict[str, str], list[dict[str, Any]]]] = []
    for key in sorted(exact, key=lambda k: (k.count(None), tuple(a or "" for a in k))):
        accounts = {e: a for e, a in zip(WORKFLOW_ENVS, key, strict=True) if a}
        for have, members_of in groups:
            if all(have.get(e, a) == a for e, a in accounts.items()):
                have.update(accounts)
                members_of.extend(exact[key])
                break
        else:
            groups.append((accounts, list(exact[key])))
    out: list[dict[str, Any]] = []
    for _, group in groups:
        members = {r["client"]: r for r in group}
        if count is None:
            n, cap = shard_count(len(members), max_per_shard), max_per_shard
        else:
            n, cap = count, None
        for part in split_shards(list(members), n, cap):
            entry: dict[str, Any] = {"clients": part}
            for env in WORKFLOW_ENVS:
                present = [c for c in part if members[c][env]]
                if not present:
                    entry[env] = None
                    continue
                first = members[present[0]][env]
                entry[env] = {
                    "account_id": first["account_id"],
                    "region": first["region"],
                    "release_role_arn": first["release_role_arn"],
                    "args": " ".join(f"--client {c}" for c in present),
                }
            out.append(entry)
    if len(out) > MATRIX_LIMIT:
        raise UsageError(
            f"the release would need {len(out)} shards; a GitHub matrix runs at most "
            f"{MATRIX_LIMIT}",
            hint="raise ci.max_clients_per_shard in cosydeploy.yaml",
        )
    for i, entry in enumerate(out, start=1):
        entry["shard"] = f"{i}-of-{len(out)}"
    return out
