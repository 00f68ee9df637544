"""Infrastructure flows over one client/env: render, plan, apply, outputs.

Adapters (the Terraform workspace, the sandbox provisioner) are passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cosydeploy.config.load import Project
from cosydeploy.config.resolve import ClientEnv
from cosydeploy.render import fingerprint, render_tfvars
from cosydeploy.terraform.engine import PlanSummary, Workspace


@dataclass
class InfraResult:
    client: str
    env: str
    workspace: str
    plan: PlanSummary | None = None
    applied: bool = False
    outputs: dict[str, Any] = field(default_factory=dict)
    tfvars_fingerprint: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "env": self.env,
            "workspace": self.workspace,
            "plan": self.plan.as_dict() if self.plan else None,
            "applied": self.applied,
            "changed": bool(self.plan and self.plan.has_changes),
            "outputs": self.outputs,
            "tfvars_fingerprint": self.tfvars_fingerprint,
        }


def plan(
    project: Project, c: ClientEnv, ws: Workspace, extra_vars: dict[str, str] | None = None
) -> InfraResult:
    """Render the tfvars, prepare the workspace (init once, select) and plan to a saved file."""
    tfvars = render_tfvars(project, c)
    ws.prepare(tfvars)
    summary = ws.plan(extra_vars)
    return InfraResult(
        c.client, c.env, ws.name, plan=summary, tfvars_fingerprint=fingerprint(tfvars)
    )


def apply(
    result: InfraResult,
    ws: Workspace,
    confirm: Callable[[PlanSummary], bool],
    after_apply: Callable[[dict[str, Any]], None] | None = None,
) -> InfraResult:
    """Apply the saved plan when it changes anything and the user agrees; read the outputs."""
    assert result.plan is not None
    if result.plan.has_changes:
        if not confirm(result.plan):
            return result
        from cosydeploy.ui import console

        with console.progress(f"terraform apply {ws.name} ..."):
            ws.apply(expected_workspace=f"{result.client}-{result.env}")
        result.applied = True
    result.outputs = ws.outputs()
    if after_apply and result.outputs:
        after_apply(result.outputs)
    return result
