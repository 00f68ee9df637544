"""The application object every command gets (``ctx.obj``): output mode and the
project, platform and services, each built once and only when a command needs it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from typer.core import TyperGroup

from cosydeploy.errors import EXIT_INTERRUPTED, EXIT_NOT_RECOVERED, CosydeployError

if TYPE_CHECKING:
    from cosydeploy.adapters.platform import AwsPlatform
    from cosydeploy.config.project import Project
    from cosydeploy.config.resolve import ClientEnv
    from cosydeploy.infra import Infra
    from cosydeploy.release.service import Releaser
    from cosydeploy.ui.present import Presenter


@dataclass
class App:
    """Options every command sees (flag > COSYDEPLOY_* env var > default), and the edge
    where adapters are built and handed inward."""

    project_dir: str | None = None
    sandbox: bool = False
    output: str = "text"
    debug: bool = False
    _made: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def json(self) -> bool:
        return self.output == "json"

    def json_for(self, override: Any = None) -> bool:
        """A command's own ``--output`` when given, else the global one (flag or
        COSYDEPLOY_OUTPUT)."""
        return (str(override) if override is not None else self.output) == "json"

    def _once(self, name: str, make: Any) -> Any:
        if name not in self._made:
            self._made[name] = make()
        return self._made[name]

    @property
    def project(self) -> Project:
        from cosydeploy.config.load import load_project

        def load() -> Project:
            from cosydeploy.ui import console

            project = load_project(self.project_dir)
            # Warnings shown once per cause across runs are remembered beside the workspaces.
            console.configure(memory=project.root / ".cosydeploy" / "warned.json")
            return project

        return self._once("project", load)

    @property
    def platform(self) -> AwsPlatform:
        from cosydeploy.adapters.platform import platform_for

        return self._once("platform", lambda: platform_for(self.project, self.sandbox))

    @property
    def present(self) -> Presenter:
        from cosydeploy.ui.present import Presenter

        return self._once("present", lambda: Presenter(json=self.json, debug=self.debug))

    @property
    def releaser(self) -> Releaser:
        from cosydeploy.release.service import Releaser

        return self._once(
            "releaser", lambda: Releaser(self.project, self.platform, self.present.emit)
        )

    @property
    def infra(self) -> Infra:
        from cosydeploy.infra import Infra

        return self._once("infra", lambda: Infra(self.project, self.platform, self.present.emit))

    def client_env(self, client: str, env: str | None) -> ClientEnv:
        from cosydeploy.config.targets import client_env

        return client_env(self.project, client, env)

    def client_envs(self, clients: list[str] | None, env: str | None) -> list[ClientEnv]:
        from cosydeploy.config.targets import all_client_envs

        return all_client_envs(self.project, clients, env)

    def fleet_envs(self, clients: list[str] | None, all_clients: bool, env: str | None) -> list:
        from cosydeploy.config.targets import fleet_envs

        return fleet_envs(self.project, list(clients or []), env, all_clients=all_clients)


def app_of(ctx: Any) -> App:
    """The App of a Typer/click context (a default one outside the root command)."""
    root = ctx.find_root() if hasattr(ctx, "find_root") else None
    obj = root.obj if root is not None else None
    if not isinstance(obj, App):
        obj = App()
        if root is not None:
            root.obj = obj
    return obj


def _debug(ctx: Any) -> bool:
    obj = ctx.find_root().obj if ctx is not None else None
    return bool((isinstance(obj, App) and obj.debug) or os.environ.get("COSYDEPLOY_DEBUG"))


class ErrorsGroup(TyperGroup):
    """Translates every CosydeployError into one line, a hint and its exit code; any
    other failure into one line and exit 3 (no traceback without --debug)."""

    def invoke(self, ctx: Any) -> Any:
        from cosydeploy.ui import present

        try:
            return super().invoke(ctx)
        except CosydeployError as exc:
            present.report_error(exc, debug=_debug(ctx))
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            present.report_interrupted(app_of(ctx)._made.get("present"))
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if type(exc).__module__.split(".")[0] in {"typer", "click"}:
                raise  # exits, aborts and usage errors: the CLI framework reports those
            # A failure no adapter translated: the state of a release in flight is unknown.
            present.report_unexpected(exc, debug=_debug(ctx))
            ctx.exit(EXIT_NOT_RECOVERED)
