"""Infrastructure of one client/env: its Terraform workspace, plan, apply, onboarding.

Terraform runs in the platform's stack, with the platform's backend settings; a
successful apply records the tfvars fingerprint and the stack outputs in the ledger
(so releases skip the plan while the tfvars are unchanged, and status, history and
rollback need no Terraform), then runs the platform's after-apply work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cosydeploy import events as ev
from cosydeploy.errors import CosydeployError, UsageError
from cosydeploy.render import backend_settings, fingerprint, render_tfvars

if TYPE_CHECKING:
    from cosydeploy.adapters.platform import AwsPlatform
    from cosydeploy.adapters.terraform.engine import PlanSummary, Workspace
    from cosydeploy.config.project import Project
    from cosydeploy.config.resolve import ClientEnv


@dataclass
class InfraResult:
    client: str
    env: str
    workspace: str
    plan: PlanSummary | None = None
    applied: bool = False
    outputs: dict[str, Any] = field(default_factory=dict)
    tfvars_fingerprint: str = ""

    @property
    def state(self) -> str:
        if self.applied:
            return "applied"
        return "no changes" if self.plan and not self.plan.has_changes else "not applied"

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


class Infra:
    """Terraform for the clients of one project, on one platform."""

    def __init__(self, project: Project, platform: AwsPlatform, emit: ev.Sink = ev.ignore) -> None:
        self.project = project
        self.platform = platform
        self.emit = emit

    def workspace(self, c: ClientEnv) -> Workspace:
        """The ``<client>-<env>`` workspace in the platform's stack (one data dir each)."""
        from cosydeploy.adapters.terraform.engine import Workspace, make_engine

        proj = self.project
        tf_root = proj.path("terraform")
        stack_path = self.platform.stack_path()
        try:
            stack = str(stack_path.relative_to(tf_root))
        except ValueError:
            raise UsageError(
                f"the stack {stack_path} is not under {tf_root}",
                hint="keep stacks under terraform/ (paths.stack in cosydeploy.yaml)",
            ) from None
        return Workspace(
            engine=make_engine(proj.config.terraform.binary),
            terraform_root=tf_root,
            stack=stack,
            name=c.workspace,
            work_root=proj.root / ".cosydeploy" / "tf",
            backend_config=self.platform.backend_settings(backend_settings(proj, c)),
            plugin_cache=proj.root / ".cosydeploy" / "plugin-cache",
        )

    def plan(self, c: ClientEnv, ws: Workspace | None = None) -> InfraResult:
        """Render the tfvars, prepare the workspace (init once, select), plan to a saved file."""
        ws = ws or self.workspace(c)
        tfvars = render_tfvars(self.project, c)
        ws.prepare(tfvars)
        label = f"terraform plan {ws.name}"
        self.emit(ev.LongStep(c.target, label))
        try:
            summary = ws.plan(self.platform.terraform_vars())
        finally:
            self.emit(ev.LongStep(c.target, label, done=True))
        return InfraResult(
            c.client, c.env, ws.name, plan=summary, tfvars_fingerprint=fingerprint(tfvars)
        )

    def apply(
        self,
        c: ClientEnv,
        result: InfraResult,
        ws: Workspace,
        confirm: Callable[[PlanSummary], bool],
    ) -> InfraResult:
        """Apply the saved plan when it changes anything and ``confirm`` agrees; read the
        outputs, record them with the tfvars fingerprint, run the platform's after-apply."""
        assert result.plan is not None
        if result.plan.has_changes:
            if not confirm(result.plan):
                return result
            label = f"terraform apply {ws.name}"
            self.emit(ev.LongStep(c.target, label))
            try:
                ws.apply(expected_workspace=f"{result.client}-{result.env}")
            finally:
                self.emit(ev.LongStep(c.target, label, done=True))
            result.applied = True
        result.outputs = ws.outputs()
        if result.outputs:
            note = self.platform.after_apply(c, result.outputs)
            if note:
                self.emit(ev.Info(c.target, note))
        self.record(c, result)
        return result

    def onboard(
        self,
        client: str,
        envs: list[str] | None,
        answers: Callable[[], Any],
        *,
        dry_run: bool = False,
    ) -> list[ClientEnv] | None:
        """Write the manifest of a new client (``answers()`` gathers it), then return the
        client/envs to plan and apply, checked before anything is applied. None when a
        dry run only showed the manifest it would write."""
        from cosydeploy.config.load import load_manifest, manifest_path
        from cosydeploy.config.resolve import resolve
        from cosydeploy.onboard import write_manifest

        proj = self.project
        path = manifest_path(proj, client)
        if path.exists():
            self.emit(ev.Info("", f"manifest {proj.display(path)} exists; using it unchanged"))
        else:
            text = write_manifest(proj, answers(), dry_run=dry_run)
            if dry_run:
                self.emit(ev.Info("", f"would write {proj.display(path)}:\n{text.rstrip()}"))
                return None
            self.emit(ev.Info("", f"wrote {proj.display(path)}"))
        manifest, _ = load_manifest(proj, client)
        chosen = envs or list(manifest.environments)
        unknown = [e for e in chosen if e not in manifest.environments]
        if unknown:
            raise UsageError(
                f"client {client!r} has no environment {unknown[0]!r}",
                hint=f"its environments: {', '.join(manifest.environments)}",
            )
        return [resolve(proj, manifest, env) for env in chosen]

    def _stack_revision(self, c: ClientEnv, session: Any, outputs: Any) -> str:
        """The stack's own revision if the service runs it ("" when it does not, or when
        ECS cannot say: status then reads the image from ECS, as before)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from cosydeploy.release.infra_check import stack_revision
        from cosydeploy.render import placeholder_image

        try:
            initial = placeholder_image(self.project, c)
            return stack_revision(session.client("ecs"), outputs or {}, initial)
        except (BotoCoreError, ClientError, KeyError):
            return ""

    def record(self, c: ClientEnv, result: InfraResult) -> None:
        """Keep the applied tfvars' fingerprint and the stack outputs in the ledger; a ledger
        that cannot be written only warns: the apply itself succeeded."""
        if not (result.applied or (result.plan and not result.plan.has_changes)):
            return
        from cosydeploy.ledger import Ledger
        from cosydeploy.release.infra_check import record_applied

        try:
            session = self.platform.session(c, guard=False)
            ledger = Ledger(session.client("dynamodb"), self.project.config.release.ledger_table)
            record_applied(
                ledger,
                c.client,
                c.env,
                render_tfvars(self.project, c),
                outputs=result.outputs,
                stack_revision=self._stack_revision(c, session, result.outputs),
            )
        except CosydeployError as exc:
            self.emit(
                ev.Warning(c.target, f"applied, but the ledger did not record it: {exc.message}")
            )
