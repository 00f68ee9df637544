"""What the cost and secrets commands get from the application object."""

from __future__ import annotations

from typing import Any

from cosydeploy.cli.app import App, app_of


def globals_of(ctx: Any) -> App:
    return app_of(ctx)


def cost_inputs(ctx: Any, client: str | None, env: str | None) -> list[Any]:
    """One CostInput per client/env, from exactly the tfvars that would be deployed."""
    import json

    from cosydeploy.cost import cost_input_from_tfvars
    from cosydeploy.render import render_tfvars

    a = app_of(ctx)
    envs = a.client_envs([client] if client else None, env)
    return [
        cost_input_from_tfvars(json.loads(render_tfvars(a.project, c)), tier=c.tier) for c in envs
    ]


def cost_explorer_client(ctx: Any) -> Any:
    """Cost Explorer (a global service, in us-east-1) as the caller's identity."""
    return app_of(ctx).platform.caller_session("us-east-1").client("ce")


def secrets_target(ctx: Any, client: str, env: str) -> tuple[Any, str, list[str]]:
    """Secrets Manager as the client's identity (account-guarded), the project and required names."""
    a = app_of(ctx)
    c = a.client_env(client, env)
    return a.platform.session(c).client("secretsmanager"), c.project, list(c.secrets)
