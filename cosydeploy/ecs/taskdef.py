"""The task definition of a release: rendered from a template, compared as data.

``render_task_definition`` is pure (values in, a dict out); ``diff_task_definitions``
compares two task definitions after normalising away what ECS adds on registration
(ARNs, revision, status, defaults), so the diff shows only what a person changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cosydeploy.errors import ConfigError, UsageError
from cosydeploy.stack import StackOutputs

if TYPE_CHECKING:
    from cosydeploy.render import Templates

TEMPLATE_NAME = "taskdef.json.j2"

# Keys register_task_definition does not accept; describe_task_definition returns them.
READ_ONLY_KEYS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequested",
)


def render_task_definition(
    *,
    outputs: StackOutputs,
    image_uri: str,
    region: str,
    container_port: int,
    cpu: int,
    memory: int,
    environment: Mapping[str, Any],
    secret_names: list[str] | tuple[str, ...] = (),
    stop_timeout: int = 30,
    health_check_path: str = "/health/live",
    health_start_period: int = 30,
    tags: Mapping[str, str] | None = None,
    templates: Templates | None = None,
) -> dict[str, Any]:
    """Render the task definition (a dict ready for ``register_task_definition``).

    The image must be pinned by digest. Secrets become ``valueFrom`` ARNs taken from
    ``outputs.secret_arns``; a required secret with no ARN is a ConfigError. Like the
    stack's first task definition, the container also gets every other secret the stack
    made (``REDIS_AUTH_TOKEN``) and every SSM parameter it keeps (``WEB_PORT``,
    ``REDIS_HOST``, feature flags ...) as ``valueFrom``; a plain environment variable of
    the same name wins over a parameter.
    """
    from cosydeploy.image import ImageRef
    from cosydeploy.render import templates as package_templates

    ref = ImageRef.parse(image_uri)
    if not ref.digest:
        raise UsageError(
            f"task definitions use images by digest, got {image_uri!r}",
            hint="resolve the tag to its digest: cosydeploy build VERSION --push",
        )
    missing = [n for n in secret_names if n not in outputs.secret_arns]
    if missing:
        raise ConfigError(
            f"the stack has no secret ARN for {', '.join(sorted(missing))}",
            field="app.secret_names",
            hint="apply the client's stack so it creates these secrets",
        )
    clash = sorted(set(environment) & set(secret_names))
    if clash:
        raise ConfigError(
            f"{', '.join(clash)} is both an environment variable and a secret",
            field="app.environment",
        )
    text = (templates or package_templates()).render(
        TEMPLATE_NAME,
        family=outputs.task_family,
        execution_role_arn=outputs.execution_role_arn,
        task_role_arn=outputs.task_role_arn,
        container_name=outputs.container_name,
        log_group=outputs.log_group_name,
        region=region,
        image=str(ref),
        container_port=container_port,
        cpu=cpu,
        memory=memory,
        environment=dict(environment),
        secrets=container_secrets(outputs, region, secret_names, environment),
        stop_timeout=stop_timeout,
        health_check_path=health_check_path,
        health_start_period=health_start_period,
        tags=dict(tags or {}),
    )
    return json.loads(text)


def parameter_arn(region: str, execution_role_arn: str, name: str) -> str:
    """The ARN of an SSM parameter in the task's account (taken from its execution role)."""
    account = execution_role_arn.split(":")[4] if execution_role_arn.count(":") >= 5 else ""
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def container_secrets(
    outputs: StackOutputs,
    region: str,
    secret_names: list[str] | tuple[str, ...],
    environment: Mapping[str, Any],
) -> dict[str, str]:
    """Name -> valueFrom for the container: the stack's secrets and parameters."""
    out = {n: outputs.secret_arns[n] for n in secret_names}
    for name, arn in outputs.secret_arns.items():
        out.setdefault(name, arn)
    for key, param in outputs.parameter_names.items():
        if key not in environment and key not in out:
            out[key] = parameter_arn(region, outputs.execution_role_arn, param)
    return out


def to_json(taskdef: Mapping[str, Any]) -> str:
    """Deterministic JSON for files and comparisons."""
    return json.dumps(taskdef, indent=2, sort_keys=True) + "\n"


def registrable(
    described: Mapping[str, Any], tags: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """Turn a ``describe_task_definition`` result into ``register_task_definition`` input."""
    td = {k: v for k, v in described.items() if k not in READ_ONLY_KEYS}
    if tags:
        td["tags"] = tags
    return td


# ---------------------------------------------------------------- normalisation + diff

_CONTAINER_DEFAULTS: dict[str, Any] = {"essential": True, "cpu": 0}


def _prune(value: Any) -> Any:
    """Drop None, empty lists and empty dicts, recursively."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _keyed(
    items: list[dict[str, Any]] | None, key: str, value_key: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        name = str(item.get(key))
        out[name] = (
            item.get(value_key) if value_key else {k: v for k, v in item.items() if k != key}
        )
    return out


def normalise(
    taskdef: Mapping[str, Any] | None, tags: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """A comparable form: read-only keys gone, lists keyed by name, ECS defaults removed."""
    if not taskdef:
        return {}
    td = {k: v for k, v in taskdef.items() if k not in READ_ONLY_KEYS}
    if tags is None:
        tags = td.get("tags")
    td.pop("tags", None)
    for k in ("cpu", "memory"):
        if k in td and td[k] is not None:
            td[k] = str(td[k])
    containers = {}
    for c in td.get("containerDefinitions") or []:
        c = dict(c)
        name = c.pop("name", "?")
        for k, default in _CONTAINER_DEFAULTS.items():
            if c.get(k) == default:
                c.pop(k)
        c["environment"] = _keyed(c.get("environment"), "name", "value")
        c["secrets"] = _keyed(c.get("secrets"), "name", "valueFrom")
        c["portMappings"] = {
            str(p.get("containerPort")): {
                k: v
                for k, v in p.items()
                if k != "containerPort" and not (k == "protocol" and v == "tcp")
            }
            for p in c.get("portMappings") or []
        }
        containers[name] = c
    td["containerDefinitions"] = containers
    if tags:
        td["tags"] = _keyed(tags, "key", "value")
    return _prune(td)


@dataclass(frozen=True)
class Change:
    """One changed value: ``kind`` is ``+`` added, ``-`` removed, ``~`` changed."""

    path: str
    kind: str
    old: Any = None
    new: Any = None

    def line(self) -> str:
        def fmt(v: Any) -> str:
            return json.dumps(v, sort_keys=True) if not isinstance(v, str) else v

        if self.kind == "+":
            return f"+ {self.path}: {fmt(self.new)}"
        if self.kind == "-":
            return f"- {self.path}: {fmt(self.old)}"
        return f"~ {self.path}: {fmt(self.old)} -> {fmt(self.new)}"


@dataclass(frozen=True)
class TaskDefDiff:
    """The change from the running task definition to the new one, as data."""

    changes: tuple[Change, ...] = field(default_factory=tuple)
    first_release: bool = False

    @property
    def empty(self) -> bool:
        return not self.changes and not self.first_release

    def only(self, prefix: str) -> TaskDefDiff:
        return TaskDefDiff(
            tuple(c for c in self.changes if c.path.startswith(prefix)), self.first_release
        )

    def without(self, prefix: str) -> TaskDefDiff:
        return TaskDefDiff(
            tuple(c for c in self.changes if not c.path.startswith(prefix)), self.first_release
        )

    def lines(self) -> list[str]:
        """Printable lines (no colour; the console decides)."""
        if self.first_release:
            head = ["(no running task definition: everything is new)"]
            return head + [c.line() for c in self.changes]
        if not self.changes:
            return ["(no changes)"]
        return [c.line() for c in self.changes]


def _walk(path: str, old: Any, new: Any, out: list[Change]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k not in old:
                out.append(Change(sub, "+", new=new[k]))
            elif k not in new:
                out.append(Change(sub, "-", old=old[k]))
            else:
                _walk(sub, old[k], new[k], out)
    elif old != new:
        out.append(Change(path, "~", old, new))


def diff_task_definitions(
    running: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    *,
    running_tags: list[dict[str, str]] | None = None,
) -> TaskDefDiff:
    """Compare the running revision (as described, or None) with a new rendering."""
    old_n = normalise(running, running_tags)
    new_n = normalise(new)
    changes: list[Change] = []
    _walk("", old_n, new_n, changes)
    return TaskDefDiff(tuple(changes), first_release=not running)


def container_image(taskdef: Mapping[str, Any], container_name: str) -> str | None:
    """The image of the named container, or None."""
    for c in taskdef.get("containerDefinitions") or []:
        if c.get("name") == container_name:
            return c.get("image")
    return None
