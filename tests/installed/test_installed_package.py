"""The package as a user installs it: a wheel in a fresh virtualenv, run from a project
of its own (not the source tree), on a sandbox started by the installed package.

Only the wheel and the project's files come from the checkout; the project refers to
nothing outside its own directory, and every command is the installed console script.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# Building the wheel and installing its dependencies takes a minute on a warm pip cache.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
CLIENT = "shop"
SECRETS = (
    "DISCORD_BOT_TOKEN",
    "ENCRYPTION_KEY",
    "GOOGLE_AI_API_KEY",
    "MONGO_URI",
    "OPENROUTER_API_KEY",
    "TELEGRAM_BOT_TOKEN",
)


def run(cmd: list[str], *, cwd: Path, env: dict[str, str], input: str | None = None, timeout=600):
    return subprocess.run(
        cmd, cwd=cwd, env=env, input=input, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (the build writes next to them)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "cosydeploy", src / "cosydeploy", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (built,) = out.glob("cosydeploy-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory) -> Path:
    """A fresh virtualenv outside the checkout with the wheel and its sandbox extra."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    r = subprocess.run(
        [str(root / "bin" / "pip"), "install", "-q", f"{wheel}[sandbox]"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return root


def find_busybox() -> Path:
    found = shutil.which("busybox") or "/bin/busybox"
    assert Path(found).is_file(), "a static busybox is needed (scripts/services.sh installs it)"
    return Path(found).resolve()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project of its own: cosydeploy.yaml, one client, an app, the Terraform stacks."""
    root = tmp_path_factory.mktemp("installed") / "shopfront"
    root.mkdir()
    cfg = (REPO / "cosydeploy.yaml").read_text()
    cfg = re.sub(r"health_check_grace_period: \d+", "health_check_grace_period: 6", cfg)
    cfg = re.sub(r"\n  timeout: \d+", "\n  timeout: 120", cfg)
    cfg = re.sub(r"(\n    database: \{[^\n]*\})", r"\1\n    release: {bake: 1s}", cfg)
    cfg = cfg.replace("  context: examples/app\n", "  context: app\n")
    assert "  context: app\n" in cfg
    (root / "cosydeploy.yaml").write_text(cfg)
    (root / "clients").mkdir()
    manifest = (REPO / "clients" / "example.yaml").read_text()
    manifest = manifest.replace("client: example", f"client: {CLIENT}")
    (root / "clients" / f"{CLIENT}.yaml").write_text(manifest)
    # The app: a FROM scratch image running a static busybox, ready to build as it is.
    app = root / "app"
    app.mkdir()
    for name in ("Dockerfile", "start.sh"):
        shutil.copy(REPO / "examples" / "app" / name, app / name)
    shutil.copy2(find_busybox(), app / "busybox")
    shutil.copytree(
        REPO / "terraform",
        root / "terraform",
        ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"),
    )
    return root


@pytest.fixture(scope="module")
def user_env(venv: Path) -> dict[str, str]:
    """A shell of a user who installed the package: its bin first, nothing of the checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COSYDEPLOY_", "AWS_", "PYTHON", "VIRTUAL_ENV", "GITHUB_"))
        and k != "CI"
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    env["CHECKPOINT_DISABLE"] = "1"
    return env


@pytest.fixture(scope="module")
def cosy(venv: Path, project: Path, user_env: dict[str, str]):
    """The installed console script, run from the project directory."""
    script = str(venv / "bin" / "cosydeploy")

    def cosy(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run([script, *args], cwd=project, env=user_env, input=input)

    return cosy


@pytest.fixture(scope="module")
def sandbox(cosy, project: Path) -> Iterator[None]:
    """A sandbox started by the installed package, stopped afterwards."""
    r = cosy("sandbox", "up", "--detach")
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        yield
    finally:
        down = cosy("sandbox", "down")
        assert down.returncode == 0, down.stdout + down.stderr


def test_the_package_runs_from_site_packages(venv: Path, project: Path, user_env) -> None:
    r = run(
        [str(venv / "bin" / "python"), "-c", "import cosydeploy; print(cosydeploy.__file__)"],
        cwd=project,
        env=user_env,
    )
    assert r.returncode == 0, r.stderr
    where = Path(r.stdout.strip())
    assert "site-packages" in where.parts and REPO not in where.parents, where


def test_onboard_release_rollback_from_an_installed_package(sandbox, cosy, project: Path) -> None:
    r = cosy("--sandbox", "validate")
    assert r.returncode == 0, r.stdout + r.stderr

    r = cosy("--sandbox", "-o", "json", "onboard", CLIENT, "--env", "dev", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    url = json.loads(r.stdout)[0]["outputs"]["app_url"]
    for name in SECRETS:
        r = cosy("--sandbox", "secrets", "set", CLIENT, name, "--env", "dev", input=f"{name}-x")
        assert r.returncode == 0, r.stdout + r.stderr

    for version in ("v1", "v2"):
        r = cosy("--sandbox", "-o", "json", "release", version, "--client", CLIENT, "--env", "dev")
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(r.stdout)["outcome"] == "succeeded", r.stdout
        assert serving(url) == version

    r = cosy("--sandbox", "-o", "json", "rollback", CLIENT, "--env", "dev")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["version"] == "v1"
    assert serving(url) == "v1"

    # The project's own templates/ wins over the templates the package ships.
    shipped = (REPO / "cosydeploy" / "templates" / "taskdef.json.j2").read_text()
    marked = shipped.replace(
        '"essential": true,', '"essential": true,\n      "dockerLabels": {"made-by": "shopfront"},'
    )
    assert marked != shipped
    (project / "templates").mkdir()
    (project / "templates" / "taskdef.json.j2").write_text(marked)
    r = cosy(
        "--sandbox", "-o", "json", "release", "v3", "--client", CLIENT, "--env", "dev", "--dry-run"
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert any(
        "dockerLabels" in line and "shopfront" in line for line in json.loads(r.stdout)["diff"]
    )

    r = cosy("--sandbox", "-o", "json", "status", CLIENT, "--env", "dev")
    assert r.returncode == 0, r.stdout + r.stderr
    (row,) = json.loads(r.stdout)
    assert (row["version"], row["rollout"]) == ("v1", "COMPLETED"), row
    # Everything the run wrote stays in the project (its .cosydeploy/), none in the checkout.
    assert (project / ".cosydeploy").is_dir()


def serving(url: str) -> str:
    """What the app behind the sandbox's load balancer says it is."""
    with urllib.request.urlopen(f"{url}/version", timeout=5) as resp:
        return resp.read().decode().strip()
