"""Shell completion: client ids and environments from the manifests, versions from git.

Completion runs on every Tab press, so it reads files and nothing else: the project
file and the manifests with plain YAML (no validation), no AWS, Docker or Terraform.
Versions come from the repository's git tags; the release ledger lives in DynamoDB,
and asking it would put an AWS round trip (and boto3's import) behind every Tab.

A bad or missing project completes to nothing rather than printing an error into the
middle of the person's command line.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

PROJECT_FILE = "cosydeploy.yaml"


def _yaml(path: Path) -> Any:
    try:
        import yaml

        return yaml.safe_load(path.read_text())
    except Exception:  # completion must never fail loudly
        return None


def project_root(ctx: Any = None) -> Path | None:
    """The project's root: --project-dir, COSYDEPLOY_PROJECT_DIR, or walking up from here."""
    given = None
    if ctx is not None:
        given = (ctx.find_root().params or {}).get("project_dir")
    given = given or os.environ.get("COSYDEPLOY_PROJECT_DIR")
    if given:
        root = Path(given)
        return root if (root / PROJECT_FILE).is_file() else None
    here = Path.cwd()
    for d in (here, *here.parents):
        if (d / PROJECT_FILE).is_file():
            return d
    return None


def _config(root: Path) -> dict[str, Any]:
    data = _yaml(root / PROJECT_FILE)
    return data if isinstance(data, dict) else {}


def _clients_dir(root: Path) -> Path:
    paths = _config(root).get("paths") or {}
    return root / str(paths.get("clients") or "clients")


def client_ids(root: Path) -> list[str]:
    d = _clients_dir(root)
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.yaml") if not p.name.startswith("."))


def environments(root: Path, client: str | None = None) -> list[str]:
    """A client's environments (its manifest's), else the project's."""
    if client:
        data = _yaml(_clients_dir(root) / f"{client}.yaml")
        envs = data.get("environments") if isinstance(data, dict) else None
        if isinstance(envs, dict) and envs:
            return [str(e) for e in envs]
    envs = _config(root).get("environments")
    return [str(e) for e in envs] if isinstance(envs, list) else []


def versions(root: Path) -> list[str]:
    """The repository's git tags, newest first (a release's version is usually one)."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "tag", "--list", "--sort=-creatordate"],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [t for t in proc.stdout.split() if t] if proc.returncode == 0 else []


def _chosen_client(ctx: Any, args: list[str]) -> str | None:
    """The one client named so far: --client/-c, else the command's first argument.

    A half-typed option (``--env`` with no value yet) stops click's own parsing, so
    ``ctx.params`` may not have it: then the words the shell passed (COMP_WORDS for
    bash, _TYPER_COMPLETE_ARGS for zsh and fish) are read.
    """
    for name in ("client", "clients"):
        value = (ctx.params or {}).get(name) if ctx is not None else None
        if isinstance(value, str) and value:
            return value
        if isinstance(value, (list, tuple)) and len(value) == 1:
            return str(value[0])
    line = os.environ.get("_TYPER_COMPLETE_ARGS") or os.environ.get("COMP_WORDS") or ""
    words = list(args) or line.split()[1:]
    named = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("--client", "-c")]
    if named:
        return named[0] if len(set(named)) == 1 else None
    # Skip global options and the command (and a sub-command: "secrets set").
    rest = [w for w in words if not w.startswith("-")]
    root = project_root(ctx)
    known = set(client_ids(root)) if root else set()
    return next((w for w in rest[1:3] if w in known), None)


# The functions Typer calls (``autocompletion=``): ctx and the word typed so far.


def complete_client(ctx: Any, incomplete: str) -> list[str]:
    root = project_root(ctx)
    return [c for c in client_ids(root) if c.startswith(incomplete)] if root else []


def complete_env(ctx: Any, args: list[str], incomplete: str) -> list[str]:
    root = project_root(ctx)
    if root is None:
        return []
    client = _chosen_client(ctx, args)
    return [e for e in environments(root, client) if e.startswith(incomplete)]


def complete_version(ctx: Any, incomplete: str) -> list[str]:
    root = project_root(ctx)
    return [v for v in versions(root) if v.startswith(incomplete)] if root else []


def complete_output(incomplete: str) -> list[str]:
    return [o for o in ("text", "json") if o.startswith(incomplete)]
