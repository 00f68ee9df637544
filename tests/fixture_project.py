"""The project the fixture manifests (tests/fixtures/terraform/clients) are loaded with.

This repository's cosydeploy.yaml, with one change: its test listener may be reached
from a documentation range. Some fixtures release with blue/green, which verifies on
the test listener; a project that lets nobody reach it refuses them (exit 2)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from cosydeploy.config.load import load_project
from cosydeploy.config.project import Project

ROOT = Path(__file__).resolve().parents[1]
TEST_LISTENER_CIDRS = ["203.0.113.0/24"]


def fixture_project(**changes: Any) -> Project:
    """The project, its config changed by ``changes`` (top-level keys, whole values)."""
    project = load_project(ROOT)
    data = project.config.model_dump()
    data["release"] = {**data["release"], "test_listener_cidrs": TEST_LISTENER_CIDRS}
    config = project.config.model_validate({**data, **changes})
    return dataclasses.replace(project, config=config)
