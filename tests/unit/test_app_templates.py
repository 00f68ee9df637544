"""The app's own templates: templates/Dockerfile and templates/docker-compose.yml.

scripts/check-templates.sh runs hadolint and Docker Compose's own `config` validation
(both installed from PyPI wheels into .cache/); a checker that cannot be installed fails
these tests, never skips them. The properties a release relies on are asserted on the
parsed files.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check-templates.sh"
DOCKERFILE = REPO / "templates" / "Dockerfile"
COMPOSE = REPO / "templates" / "docker-compose.yml"


def run_checks(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *map(str, files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_templates_pass_hadolint_and_compose_config() -> None:
    proc = run_checks()
    assert proc.returncode == 0, (
        "scripts/check-templates.sh failed (a checker that cannot be installed is a failure "
        f"too):\n{proc.stdout}\n{proc.stderr}"
    )
    assert "hadolint" in proc.stderr and "docker-compose config" in proc.stderr
    assert "check-templates: ok" in proc.stderr


def test_the_checkers_do_catch_mistakes(tmp_path: Path) -> None:
    bad_compose = tmp_path / "docker-compose.yml"
    bad_compose.write_text(COMPOSE.read_text().replace("service_healthy", "service_ready", 1))
    bad_dockerfile = tmp_path / "Dockerfile"
    bad_dockerfile.write_text("FROM node:latest\nRUN cd /app && npm install\n")
    for path, expected in ((bad_compose, "depends_on.mongo.condition"), (bad_dockerfile, "DL3003")):
        proc = run_checks(path)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert expected in proc.stdout + proc.stderr


# ------------------------------------------------------------------ the Dockerfile


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    out = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(text):
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def test_dockerfile_is_multi_stage_on_a_pinned_node_18() -> None:
    all_stages = stages(DOCKERFILE.read_text())
    assert len(all_stages) >= 2
    for stage in all_stages:
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"node:18\.\d+\.\d+-[a-z-]+(@sha256:[0-9a-f]{64})?", image), image
    names = [s[0][1].split()[-1] for s in all_stages]
    final = all_stages[-1]
    assert any(k == "COPY" and "--from=" in a for k, a in final), (
        "the final stage copies from a build stage"
    )
    deps = [
        s for s in all_stages[:-1] if any(k == "RUN" and "npm ci --omit=dev" in a for k, a in s)
    ]
    assert deps, "a build stage installs production dependencies with npm ci --omit=dev"
    assert any(f"--from={n}" in a for n in names[:-1] for k, a in final if k == "COPY")


def test_dockerfile_final_stage_runs_as_non_root_with_an_init_and_a_healthcheck() -> None:
    final = stages(DOCKERFILE.read_text())[-1]
    users = [a for k, a in final if k == "USER"]
    assert users, "the final stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}

    (entrypoint,) = [a for k, a in final if k == "ENTRYPOINT"]
    argv = json.loads(entrypoint)  # exec form, so the init is PID 1
    assert Path(argv[0]).name in {"tini", "dumb-init"}, argv

    (healthcheck,) = [a for k, a in final if k == "HEALTHCHECK"]
    assert "/health/live" in healthcheck and ":3000" in healthcheck
    assert ("EXPOSE", "3000") in final
    env = " ".join(a for k, a in final if k == "ENV")
    assert "NODE_ENV=production" in env
    cmd = [a for k, a in final if k == "CMD"][-1]
    assert json.loads(cmd)[0] == "node", "node runs directly (npm would not pass signals on)"


# ------------------------------------------------------------------ docker-compose.yml


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_the_app_mongodb_and_redis_each_with_a_health_check(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"app", "mongo", "redis"}
    for name, svc in services.items():
        test = svc.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, name
    app_test = " ".join(services["app"]["healthcheck"]["test"])
    assert "/health/ready" in app_test and "/health/live" in app_test
    assert "mongosh" in services["mongo"]["healthcheck"]["test"]
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]


def test_compose_app_waits_for_healthy_dependencies_and_reads_dot_env(compose: dict) -> None:
    app = compose["services"]["app"]
    assert app["build"]["dockerfile"] == "Dockerfile"
    assert app["depends_on"] == {
        "mongo": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert ".env" in app["env_file"]
    assert app["environment"]["MONGO_URI"].startswith("mongodb://mongo:")
    assert app["environment"]["REDIS_HOST"] == "redis"
    assert "3000:3000" in app["ports"]


def test_compose_keeps_data_in_named_volumes(compose: dict) -> None:
    named = set(compose["volumes"])
    for name in ("mongo", "redis"):
        mounts = compose["services"][name]["volumes"]
        sources = {m.split(":", 1)[0] for m in mounts}
        assert sources and sources <= named, (name, mounts)
