"""Finding and loading the project config and client manifests.

Precedence, resolved here and nowhere else: flag > ``COSYDEPLOY_*`` environment
variable > manifest (environment section, then client) > tier preset > project
config > built-in defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cosydeploy.config.models import ClientManifest, ProjectConfig, explain_pattern
from cosydeploy.config.project import Project
from cosydeploy.config.resolve import LayeringError, resolve
from cosydeploy.config.yamlsrc import Source, dotted, load_yaml
from cosydeploy.errors import ConfigError, UsageError

PROJECT_FILE = "cosydeploy.yaml"
M = TypeVar("M", bound=BaseModel)


def find_project_dir(
    explicit: str | os.PathLike[str] | None = None, start: Path | None = None
) -> Path:
    """The project root: ``--project-dir`` > ``COSYDEPLOY_PROJECT_DIR`` > walk up from cwd."""
    chosen = explicit or os.environ.get("COSYDEPLOY_PROJECT_DIR")
    if chosen:
        root = Path(chosen).expanduser().resolve()
        if not (root / PROJECT_FILE).is_file():
            raise UsageError(
                f"{root}: no {PROJECT_FILE} here",
                hint="point --project-dir (or COSYDEPLOY_PROJECT_DIR) at the repository root",
            )
        return root
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / PROJECT_FILE).is_file():
            return d
    raise UsageError(
        f"no {PROJECT_FILE} found in {here} or any parent directory",
        hint="run inside the cosydeploy repository or pass --project-dir",
    )


def validation_error(exc: ValidationError, src: Source) -> ConfigError:
    """The first pydantic error as one ConfigError naming file, line and field path."""
    err = exc.errors()[0]
    loc = _data_path(err["loc"], src.data)
    if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
        loc = (*loc, "engine")
    field = dotted(loc) or None
    message = _message(err)
    hint = "see clients/example.yaml, or `cosydeploy schema` for every field and type"
    if err["type"] == "extra_forbidden":
        field_name = loc[-1] if loc else "?"
        message = f"unknown key {field_name!r}"
        field = dotted(loc[:-1]) or None
        hint = "check the spelling; `cosydeploy schema` lists every allowed key"
    elif err["type"] == "missing":
        message = "required field is missing"
        hint = "see clients/example.yaml for a complete manifest"
    elif loc and loc[-1] == "strategy":
        hint = "one of rolling, blue_green, canary, linear (docs: README, 'Release strategies')"
    elif loc and loc[-1] == "bake" and len(loc) > 1 and loc[-2] in ("canary", "linear"):
        hint = "whole minutes, like '1m' or '5m' (ECS counts a step's bake in minutes)"
    elif loc and loc[-1] == "pause_timeout":
        hint = "whole minutes between '1m' and '1440m'; ECS rolls back when it runs out"
    elif loc and loc[-1] == "bake":
        hint = "a bake is seconds (90) or a string like '90s' or '5m'; 0 turns it off"
    return ConfigError(message, file=src.file, line=src.line_of(loc), field=field, hint=hint)


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[str | int, ...]:
    """Drop pydantic's union/type tags from an error location, keeping real data keys."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        if (isinstance(cur, dict) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and part < len(cur)
        ):
            out.append(part)
            cur = cur[part]
        elif (
            isinstance(part, str)
            and (
                part.startswith(("function-", "literal", "tagged-union", "constrained"))
                or part in {"atlas", "documentdb", "[key]", "int", "str"}
            )
        ) or part == "[key]":
            continue
        else:
            out.append(part)
            cur = None
    return tuple(out)


def _message(err: Any) -> str:
    ctx = err.get("ctx") or {}
    if err["type"] == "string_pattern_mismatch":
        meaning = explain_pattern(ctx.get("pattern", ""))
        got = err.get("input")
        return f"{meaning or 'has the wrong format'} (got {got!r})"
    if err["type"] == "value_error":
        return str(ctx.get("error", err["msg"]))
    if err["type"] == "union_tag_invalid":
        return f"must be one of {ctx.get('expected_tags')} (got {ctx.get('tag')!r})"
    if err["type"] == "union_tag_not_found":
        return "needs an 'engine' key: atlas or documentdb"
    got = err.get("input")
    msg = str(err["msg"])
    if isinstance(got, str | int | float | bool) and err["type"] not in {"missing"}:
        return f"{msg[0].lower()}{msg[1:]} (got {got!r})"
    return f"{msg[0].lower()}{msg[1:]}"


def parse_model(model: type[M], src: Source) -> M:
    """Validate parsed YAML against a strict model; errors carry file:line."""
    if not isinstance(src.data, dict):
        raise ConfigError(
            "the top level must be a mapping of keys to values",
            file=src.file,
            line=1,
            hint="start from clients/example.yaml",
        )
    try:
        return model.model_validate(src.data)
    except ValidationError as exc:
        raise validation_error(exc, src) from None


def load_project(project_dir: str | os.PathLike[str] | None = None) -> Project:
    """Find and load ``cosydeploy.yaml``."""
    root = find_project_dir(project_dir)
    src = load_yaml(root / PROJECT_FILE, PROJECT_FILE)
    config = parse_model(ProjectConfig, src)
    return Project(root=root, config=config)


def client_ids(project: Project) -> list[str]:
    """Every client with a manifest, sorted (``example`` included)."""
    d = project.clients_dir
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.yaml") if not p.name.startswith("."))


def manifest_path(project: Project, client: str) -> Path:
    return project.clients_dir / f"{client}.yaml"


def load_manifest(project: Project, client: str) -> tuple[ClientManifest, Source]:
    """Load and validate ``clients/<client>.yaml``, cross-checked against the project."""
    path = manifest_path(project, client)
    if not path.is_file():
        known = client_ids(project)
        raise UsageError(
            f"unknown client {client!r}: {project.display(path)} does not exist",
            hint=(f"known clients: {', '.join(known)}" if known else "no clients yet")
            + f"; create one with: cosydeploy onboard {client}",
        )
    return load_manifest_file(project, path)


def load_manifest_file(
    project: Project, path: Path, display: str | None = None
) -> tuple[ClientManifest, Source]:
    """Load and validate one manifest file (any path)."""
    src = load_yaml(path, display or project.display(path))
    manifest = parse_model(ClientManifest, src)
    _cross_check(project, manifest, src, path)
    return manifest, src


def _cross_check(project: Project, m: ClientManifest, src: Source, path: Path) -> None:
    cfg = project.config
    if path.stem != m.client:
        raise ConfigError(
            f"client id {m.client!r} does not match the file name {path.name!r}",
            file=src.file,
            line=src.line_of(("client",)),
            field="client",
            hint=f"rename the file to {m.client}.yaml or set client: {path.stem}",
        )
    clash = next((seg for seg in m.client.split("-")[1:] if seg in cfg.environments), None)
    if clash:
        # The release roles reach the stacks of an environment by the name pattern
        # "<project>-*-<env>": "acme-prod" in dev would make "<project>-acme-prod-dev",
        # whose resources the prod pattern's "-prod-*" would also reach.
        raise ConfigError(
            f"client id {m.client!r} has an environment's name ({clash!r}) after its first part",
            file=src.file,
            line=src.line_of(("client",)),
            field="client",
            hint="each environment's release role reaches stacks named <project>-*-<env>: "
            f"choose an id without -{clash} (environments: {', '.join(cfg.environments)})",
        )
    tiers = ", ".join(cfg.tiers)
    if m.tier not in cfg.tiers:
        raise ConfigError(
            f"unknown tier {m.tier!r}",
            file=src.file,
            line=src.line_of(("tier",)),
            field="tier",
            hint=f"tiers defined in cosydeploy.yaml: {tiers}",
        )
    for env, spec in m.environments.items():
        where = ("environments", env)
        if env not in cfg.environments:
            raise ConfigError(
                f"unknown environment {env!r}",
                file=src.file,
                line=src.line_of(where),
                field=dotted(where),
                hint=f"environments in cosydeploy.yaml: {', '.join(cfg.environments)}",
            )
        if spec and spec.tier and spec.tier not in cfg.tiers:
            raise ConfigError(
                f"unknown tier {spec.tier!r}",
                file=src.file,
                line=src.line_of((*where, "tier")),
                field=dotted((*where, "tier")),
                hint=f"tiers defined in cosydeploy.yaml: {tiers}",
            )
        # layering can only fail in ways we report against the manifest's lines
        try:
            resolved = resolve(project, m, env)
        except LayeringError as exc:
            path_ = (*where, *exc.field)
            raise ConfigError(
                exc.message,
                file=src.file,
                line=src.line_of(path_),
                field=dotted(path_),
                hint="check the task sizes and scaling bounds of this environment",
            ) from None
        if resolved.release.shifts_traffic and not cfg.release.test_listener_cidrs:
            raise _unreachable_test_listener(project, m, src, env, resolved.tier)


def _unreachable_test_listener(
    project: Project, m: ClientManifest, src: Source, env: str, tier: str
) -> ConfigError:
    """A traffic-shifting strategy with a test listener nobody may reach: every release
    would wait on test traffic it cannot verify until ECS's pause timed out. Named where
    the strategy was set: the environment, the client, or the tier preset."""
    spec = m.environments.get(env)
    strategy = next(
        s.strategy
        for s in (spec.release if spec else None, m.release, project.config.tiers[tier].release)
        if s is not None and s.strategy is not None
    )
    message = (
        f"strategy {strategy} verifies on the test listener, and "
        "cosydeploy.yaml release.test_listener_cidrs lets nobody reach it"
    )
    hint = (
        "set release.test_listener_cidrs in cosydeploy.yaml to where releases run "
        "(the CI runners' egress range, a VPN), or use strategy: rolling"
    )
    for path_ in (("environments", env, "release", "strategy"), ("release", "strategy")):
        if _has(src.data, path_):
            return ConfigError(
                message, file=src.file, line=src.line_of(path_), field=dotted(path_), hint=hint
            )
    cfg_src = load_yaml(project.root / PROJECT_FILE, PROJECT_FILE)
    path_ = ("tiers", tier, "release", "strategy")
    return ConfigError(
        message, file=cfg_src.file, line=cfg_src.line_of(path_), field=dotted(path_), hint=hint
    )


def _has(data: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


__all__ = [
    "PROJECT_FILE",
    "Project",
    "client_ids",
    "find_project_dir",
    "load_manifest",
    "load_project",
    "manifest_path",
]


def validate_manifests(project: Project, clients: list[str] | None = None) -> list[dict[str, Any]]:
    """Load every manifest (or the named ones); one row each: valid, or the error and hint."""
    rows: list[dict[str, Any]] = []
    for cid in clients or client_ids(project):
        row: dict[str, Any] = {"client": cid, "file": project.display(manifest_path(project, cid))}
        try:
            load_manifest(project, cid)
            row["valid"] = True
        except (ConfigError, UsageError) as exc:
            row.update(valid=False, error=exc.message, hint=exc.hint, exception=exc)
        rows.append(row)
    return rows
