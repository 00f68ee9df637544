"""Rendering with Jinja2 over ``templates/``: loud on any undefined value, deterministic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cosydeploy.config.load import Project
from cosydeploy.config.resolve import ClientEnv
from cosydeploy.errors import ConfigError


def to_json(value: Any, indent: int | None = None) -> str:
    """JSON with sorted keys and no HTML escaping: byte-identical for equal inputs."""
    return json.dumps(value, sort_keys=True, indent=indent, ensure_ascii=False)


@lru_cache(maxsize=8)
def _environment(templates_dir: str) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=False,
    )
    env.filters["tojson"] = to_json
    return env


def render_template(templates_dir: Path, template: str, **values: Any) -> str:
    """Render one template; an undefined name is an error naming the template."""
    import jinja2

    try:
        return str(_environment(str(templates_dir)).get_template(template).render(**values))
    except jinja2.TemplateNotFound:
        raise ConfigError(
            f"template {template} not found in {templates_dir}",
            hint="the templates path is set in cosydeploy.yaml (paths.templates)",
        ) from None
    except jinja2.UndefinedError as exc:
        raise ConfigError(
            f"template {template}: {exc.message}", hint="a value the template needs is missing"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(
            f"template syntax: {exc.message}", file=exc.filename or template, line=exc.lineno
        ) from None


def ecr_repository_url(project: Project, c: ClientEnv) -> str:
    img = project.config.image
    account = img.registry_account_id or c.account_id
    region = img.registry_region or c.region
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{img.repository}"


def state_key(project: Project, c: ClientEnv) -> str:
    st = project.config.state
    return f"{st.key_prefix}/{c.client}/{st.key_name}"


def render_tfvars(project: Project, c: ClientEnv) -> str:
    """The client stack's ``terraform.tfvars.json`` (normalised: sorted keys, 2-space indent)."""
    text = render_template(
        project.templates_dir,
        "tfvars.json.j2",
        c=c,
        ecr_repository_url=ecr_repository_url(project, c),
    )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"tfvars.json.j2 rendered invalid JSON: {exc.msg}", line=exc.lineno
        ) from None
    return to_json(data, indent=2) + "\n"


def render_backend(project: Project, c: ClientEnv) -> str:
    from cosydeploy.identity import state_bucket

    return render_template(
        project.templates_dir,
        "backend.hcl.j2",
        c=c,
        state=project.config.state,
        bucket=state_bucket(project.config, c.account_id),
        key=state_key(project, c),
    )


@dataclass(frozen=True)
class Rendered:
    tfvars: str
    backend: str

    def files(self) -> dict[str, str]:
        return {"terraform.tfvars.json": self.tfvars, "backend.hcl": self.backend}


def render_client(project: Project, c: ClientEnv) -> Rendered:
    return Rendered(tfvars=render_tfvars(project, c), backend=render_backend(project, c))


def fingerprint(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render_manifest(project: Project, **values: Any) -> str:
    """A manifest scaffold for onboarding."""
    return render_template(project.templates_dir, "manifest.yaml.j2", **values)
