"""Choosing client/envs: one client in one environment, every client of an environment."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from cosydeploy.config.load import client_ids, load_manifest
from cosydeploy.config.project import Project
from cosydeploy.config.resolve import ClientEnv, resolve
from cosydeploy.errors import UsageError


def resolve_env(project: Project, env: str | None) -> str:
    """``--env`` > ``COSYDEPLOY_ENV`` > the first environment of cosydeploy.yaml."""
    envs = project.config.environments
    chosen = env or os.environ.get("COSYDEPLOY_ENV") or envs[0]
    if chosen not in envs:
        raise UsageError(f"unknown environment {chosen!r}", hint=f"environments: {', '.join(envs)}")
    return chosen


def previous_env(order: Sequence[str], has: Iterable[str], env: str) -> str | None:
    """The environment a version goes through before ``env`` for a client that has the
    environments ``has``: the last one before ``env`` in the promotion ``order``
    (cosydeploy.yaml's environments) that the client has; None when ``env`` is its first."""
    mine = set(has)
    before = list(order)[: list(order).index(env)] if env in order else []
    return next((e for e in reversed(before) if e in mine), None)


def client_env(project: Project, client: str, env: str | None) -> ClientEnv:
    """Load, validate and resolve one client in one environment."""
    manifest, src = load_manifest(project, client)
    name = resolve_env(project, env)
    if name not in manifest.environments:
        raise UsageError(
            f"{src.file}: environments: client {client!r} has no environment {name!r}",
            hint=f"its environments: {', '.join(manifest.environments)}",
        )
    return resolve(project, manifest, name)


def all_client_envs(
    project: Project, clients: list[str] | None = None, env: str | None = None
) -> list[ClientEnv]:
    """Every ClientEnv of the given clients (all when None), in one env or all of theirs."""
    out = []
    for cid in clients or client_ids(project):
        manifest, _ = load_manifest(project, cid)
        envs = [resolve_env(project, env)] if env else list(manifest.environments)
        out += [resolve(project, manifest, e) for e in envs if e in manifest.environments]
    return out


def fleet_envs(
    project: Project, clients: list[str], env: str | None, *, all_clients: bool = False
) -> list[ClientEnv]:
    """The ClientEnvs of a run: named clients (each must have the env), or with
    ``all_clients`` every client that has the environment; one of the two."""
    if all_clients and clients:
        raise UsageError("give --all or --client, not both")
    if not all_clients and not clients:
        raise UsageError("which clients?", hint="--client C (repeatable) or --all")
    if clients:
        return [client_env(project, c, env) for c in dict.fromkeys(clients)]
    chosen = resolve_env(project, env)
    envs = all_client_envs(project, None, chosen)
    if not envs:
        raise UsageError("no client has this environment", hint="see cosydeploy clients list")
    return envs
