"""ONE Jinja environment for everything cosydeploy renders: tfvars, the backend
configuration, task definitions and the manifest scaffold.

Templates are looked up in the project's own ``templates/`` directory first
(``paths.templates`` in cosydeploy.yaml), then in the defaults the package ships
(``cosydeploy/templates``), so an installed cosydeploy renders without a checkout and
a project overrides any template by placing a file of the same name. Rendering is loud
on any undefined value (StrictUndefined) and deterministic (sorted JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosydeploy.errors import ConfigError

if TYPE_CHECKING:
    from cosydeploy.config.project import Project
    from cosydeploy.config.resolve import ClientEnv

PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"


def to_json(value: Any, indent: int | None = None) -> str:
    """JSON with sorted keys and no HTML escaping: byte-identical for equal inputs."""
    return json.dumps(value, sort_keys=True, indent=indent, ensure_ascii=False)


class Templates:
    """The one Jinja environment: the project's templates over the package's defaults."""

    def __init__(self, project_dir: Path | None = None) -> None:
        import jinja2

        search = [str(project_dir)] if project_dir and Path(project_dir).is_dir() else []
        self.search_path = [*search, str(PACKAGE_TEMPLATES)]
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.search_path),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
            trim_blocks=False,
        )
        self._env.filters["tojson"] = to_json

    def render(self, template: str, **values: Any) -> str:
        """Render one template; an undefined name is an error naming the template."""
        import jinja2

        try:
            return str(self._env.get_template(template).render(**values))
        except jinja2.TemplateNotFound:
            raise ConfigError(
                f"template {template} not found in {', '.join(self.search_path)}",
                hint="the project's templates path is set in cosydeploy.yaml (paths.templates)",
            ) from None
        except jinja2.UndefinedError as exc:
            raise ConfigError(
                f"template {template}: {exc.message}", hint="a value the template needs is missing"
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(
                f"template syntax: {exc.message}", file=exc.filename or template, line=exc.lineno
            ) from None


@lru_cache(maxsize=16)
def templates(project_dir: str | None = None) -> Templates:
    """The environment for a project's templates directory (None: the package's only)."""
    return Templates(Path(project_dir) if project_dir else None)


def project_templates(project: Project) -> Templates:
    return templates(str(project.templates_dir))


def ecr_repository_url(project: Project, c: ClientEnv) -> str:
    img = project.config.image
    account = img.registry_account_id or c.account_id
    region = img.registry_region or c.region
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{img.repository}"


def placeholder_image(project: Project, c: ClientEnv) -> str:
    """The image a client's stack starts with, before its first release: the task
    definition Terraform makes runs it, and a serving revision with it is "never released"."""
    return ecr_repository_url(project, c) + ":bootstrap"


def paying_interface_endpoints(c: ClientEnv) -> tuple[str, ...]:
    """The VPC interface endpoints that pay for themselves at the client's tier profile
    (the cost model decides; S3 and DynamoDB always have gateway endpoints)."""
    from cosydeploy import cost

    profile = cost.usage_profile_for(c.tier, c.env)
    inp = cost.CostInput(client=c.client, env=c.env, usage_profile=profile)
    return cost.paying_interface_endpoints(inp, cost.load_prices())


def state_key(project: Project, c: ClientEnv) -> str:
    st = project.config.state
    return f"{st.key_prefix}/{c.client}/{st.key_name}"


def monthly_budget(tfvars: dict[str, Any], tier: str | None) -> int | None:
    """The monthly budget of a client/env in whole USD: ``cosydeploy cost``'s estimate of
    exactly these tfvars at the maximum task count, rounded up; None when the price file
    does not price what they run (no budget is made then)."""
    import math

    from cosydeploy import cost

    try:
        inp = cost.cost_input_from_tfvars(tfvars, tier=tier)
        return math.ceil(cost.estimate(inp, cost.load_prices()).total_at_max)
    except cost.PricingError:
        return None


def render_tfvars(project: Project, c: ClientEnv) -> str:
    """The client stack's ``terraform.tfvars.json`` (normalised: sorted keys, 2-space indent).

    Rendered twice: the budget is the cost estimate of the tfvars themselves."""
    data = _tfvars(project, c, monthly_budget_usd=None)
    data = _tfvars(project, c, monthly_budget_usd=monthly_budget(data, c.tier))
    return to_json(data, indent=2) + "\n"


def _tfvars(project: Project, c: ClientEnv, **values: Any) -> dict[str, Any]:
    text = project_templates(project).render(
        "tfvars.json.j2",
        c=c,
        ecr_repository_url=ecr_repository_url(project, c),
        initial_image=placeholder_image(project, c),
        interface_endpoints=list(paying_interface_endpoints(c)),
        dns=project.config.dns.model_dump() if project.config.dns else None,
        alert_subscriptions=project.config.alerts.subscriptions(),
        test_listener=project.config.release,
        **values,
    )
    try:
        return dict(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"tfvars.json.j2 rendered invalid JSON: {exc.msg}", line=exc.lineno
        ) from None


def backend_settings(project: Project, c: ClientEnv) -> dict[str, str]:
    """The S3 backend settings of a client/env: exactly the dict Terraform is initialised
    with (a platform adds its endpoint settings) and what ``render`` writes as backend.hcl."""
    from cosydeploy.identity import state_bucket

    st = project.config.state
    return {
        "bucket": state_bucket(project.config, c.account_id),
        "key": state_key(project, c),
        "region": st.region,
        "use_lockfile": "true" if st.use_lockfile else "false",
        "encrypt": "true",
    }


def render_backend(project: Project, c: ClientEnv) -> str:
    """backend.hcl for ``terraform init -backend-config=backend.hcl``, from backend_settings."""
    return project_templates(project).render(
        "backend.hcl.j2", c=c, settings=backend_settings(project, c)
    )


@dataclass(frozen=True)
class Rendered:
    tfvars: str
    backend: str
    backend_settings: dict[str, str]

    def files(self) -> dict[str, str]:
        return {"terraform.tfvars.json": self.tfvars, "backend.hcl": self.backend}


def render_client(project: Project, c: ClientEnv) -> Rendered:
    return Rendered(
        tfvars=render_tfvars(project, c),
        backend=render_backend(project, c),
        backend_settings=backend_settings(project, c),
    )


def fingerprint(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render_manifest(project: Project, **values: Any) -> str:
    """A manifest scaffold for onboarding."""
    return project_templates(project).render("manifest.yaml.j2", **values)
