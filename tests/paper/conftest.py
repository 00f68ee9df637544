"""A paper fleet of 200 clients on one sandbox (its own process, every task on paper).

The sandbox runs with ``--paper '*'`` (no containers) and ``--paper-fail
'cosyworld-broke*,after=1'``: the ``broke`` clients' first deployment completes, every
later one fails at start, ECS's circuit breaker rolls it back. The fleet is set up by
``paper_fleet.onboard_paper`` (no Terraform per client; the tier checks it records what
a real onboard does), once for the session.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from paper_fleet import onboard_paper, write_manifests

REPO = Path(__file__).resolve().parents[2]
SIZE = int(os.environ.get("COSY_PAPER_CLIENTS", "200"))
BROKEN = ("broke1", "broke2", "broke3")


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("paper") / "project"
    dest.mkdir()
    # A bake of 1 s: the tier is about the fleet's rollouts, not the waiting. Reads at
    # ECS's full sustained rate for one account (20 a second; the sandbox has no limit,
    # the default 5 leaves room for CI shards): the pace under throttles is the faults
    # tier's, and the release here takes about a minute instead of four.
    cfg = (REPO / "cosydeploy.yaml").read_text()
    cfg = re.sub(r"(\n    database: \{[^\n]*\})", r"\1\n    release: {bake: 1s}", cfg)
    cfg = cfg.replace("\n  ecs_reads_per_second: 5\n", "\n  ecs_reads_per_second: 20\n")
    # A client's rollout that never ends times out (and the failure names it) well inside
    # the tier's own timeout, instead of the test being stopped with nothing said.
    cfg = cfg.replace("\nrelease:\n  timeout: 900\n", "\nrelease:\n  timeout: 240\n")
    assert "ecs_reads_per_second: 20" in cfg and "  timeout: 240\n" in cfg
    (dest / "cosydeploy.yaml").write_text(cfg)
    for d in ("templates", "terraform", "examples"):
        shutil.copytree(
            REPO / d,
            dest / d,
            symlinks=True,
            ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "busybox"),
        )
    (dest / "clients").mkdir()
    return dest


@pytest.fixture(scope="session")
def sandbox(project: Path) -> Iterator[object]:
    """The sandbox in a process of its own (as ``sandbox up --detach`` runs it)."""
    from cosydeploy.adapters.docker import docker_client
    from cosydeploy.sandbox import runner

    docker_client()  # fails loudly (not a skip) when the engine is missing
    state = project / ".cosydeploy" / "sandbox" / "state.json"
    info = runner.start_detached(
        state_file=state, paper=["*"], paper_fail=["cosyworld-broke*,after=1"]
    )
    yield info
    runner.stop_detached(state)


@pytest.fixture(scope="session")
def sandbox_env(sandbox, project: Path) -> dict[str, str]:
    return {
        **sandbox.env(),  # type: ignore[attr-defined]
        "COSYDEPLOY_PROJECT_DIR": str(project),
        "COSYDEPLOY_SANDBOX": "1",
    }


@pytest.fixture(scope="session")
def fleet(project: Path, sandbox_env: dict[str, str]) -> list[str]:
    """SIZE clients (the three ``broke`` ones among them) onboarded in dev on paper."""
    clients = [*BROKEN, *(f"paper{i:03d}" for i in range(SIZE - len(BROKEN)))]
    write_manifests(project, clients)
    saved = dict(os.environ)
    os.environ.update(sandbox_env)
    try:
        onboard_paper(project, clients)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return clients


@pytest.fixture(scope="session")
def broken() -> tuple[str, ...]:
    """The clients whose deployments fail after their first (``--paper-fail``)."""
    return BROKEN


@pytest.fixture
def cosy(sandbox_env: dict[str, str]):
    """``cosy(*args)``: the CLI in-process, pointed at the paper sandbox."""
    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    def run(*args: str, env: dict[str, str] | None = None):
        saved = dict(os.environ)
        os.environ.update({**sandbox_env, **(env or {})})
        try:
            return CliRunner().invoke(app, list(args), catch_exceptions=False)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    return run


@pytest.fixture(scope="session")
def aws(sandbox_env: dict[str, str]):
    """``aws("ecs")``: a boto3 client on the sandbox, as its own account."""
    import boto3

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=sandbox_env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client
