"""The project: its config (cosydeploy.yaml) and where it lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cosydeploy.config.models import ProjectConfig


@dataclass(frozen=True)
class Project:
    """The project config and where it lives."""

    root: Path
    config: ProjectConfig

    def path(self, rel: str) -> Path:
        return (self.root / rel).resolve()

    @property
    def clients_dir(self) -> Path:
        return self.path(self.config.paths.clients)

    @property
    def templates_dir(self) -> Path:
        return self.path(self.config.paths.templates)

    def display(self, p: Path) -> str:
        """A path as the user should see it: relative to the project when inside it."""
        try:
            return str(p.resolve().relative_to(self.root))
        except ValueError:
            return str(p)
