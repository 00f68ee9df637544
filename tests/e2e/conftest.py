"""End to end through the sandbox: real Docker, real registry, real Terraform, moto.

One sandbox and one project copy for the session (``make test`` runs two pytest workers,
a test file at a time: a sandbox and a project each). Every scenario sets up the clients
it needs through the CLI, as a user would (``stage``): a client id of its own,
onboarded, its secrets set, the releases it starts from. A scenario never builds on
what another one left, so each test passes alone and in any order. Scenarios that
end in the state they started in (and assert it) may share a module-scoped client.

The CLI runs in-process (Typer's runner) except where a real signal is needed (a
subprocess). The imports of the package's internals are in this file only.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CANARY = "canary-7f3a9d1e-never-print-me"
SECRETS = (
    "DISCORD_BOT_TOKEN",
    "ENCRYPTION_KEY",
    "GOOGLE_AI_API_KEY",
    "MONGO_URI",
    "OPENROUTER_API_KEY",
    "TELEGRAM_BOT_TOKEN",
)
HOME_ACCOUNT = "123456789012"  # the sandbox's own account
# Seconds an ECS "minute" lasts in the sandbox (bakes, canary and linear steps, pause
# timeouts): a strategy's 1m bake takes 5 s here.
SANDBOX_MINUTE = 5.0


@pytest.fixture(scope="session")
def e2e_project(tmp_path_factory) -> Path:
    """A private project copy with short grace periods and timeouts, so failures fail fast."""
    dest = tmp_path_factory.mktemp("e2e") / "project"
    dest.mkdir()
    cfg = (REPO / "cosydeploy.yaml").read_text()
    cfg = re.sub(r"health_check_grace_period: \d+", "health_check_grace_period: 6", cfg)
    cfg = re.sub(r"\n  timeout: \d+", "\n  timeout: 120", cfg)
    # Bakes of a second (the built-in ones are 30 s to 5 min): every release still
    # bakes, and the scenarios about the bake set their own in their manifests. Rolling
    # in every environment (prod would be blue/green, the test listener being reachable
    # here): the strategies' scenarios set theirs in their manifests.
    cfg = re.sub(
        r"(\n    database: \{[^\n]*\})", r"\1\n    release: {bake: 1s, strategy: rolling}", cfg
    )
    # Blue/green, canary and linear verify on the test listener, which admits only these
    # (the sandbox's load balancer is asked from loopback); the project's own admits nobody.
    assert "test_listener_cidrs: []" in cfg
    cfg = cfg.replace("test_listener_cidrs: []", "test_listener_cidrs: [127.0.0.0/8]")
    (dest / "cosydeploy.yaml").write_text(cfg)
    for d in ("clients", "templates", "terraform", "examples"):
        shutil.copytree(
            REPO / d,
            dest / d,
            symlinks=True,
            ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "busybox"),
        )
    return dest


@pytest.fixture(scope="session")
def sandbox(e2e_project: Path) -> Iterator[object]:
    from cosydeploy.adapters.docker import docker_client
    from cosydeploy.sandbox.server import Sandbox

    docker_client()  # fails loudly (not a skip) when the engine is missing
    box = Sandbox(
        state_dir=e2e_project / ".cosydeploy" / "sandbox",
        driver_interval=0.25,
        minute=SANDBOX_MINUTE,
    )
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="session")
def sandbox_env(sandbox, e2e_project: Path) -> dict[str, str]:
    env = dict(sandbox.env())
    env["COSYDEPLOY_PROJECT_DIR"] = str(e2e_project)
    env["COSYDEPLOY_SANDBOX"] = "1"
    return env


class Result:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.exit_code = code
        self.stdout = stdout
        self.stderr = stderr

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Transcript:
    """Everything the CLI printed during the session, to search for secret values."""

    def __init__(self) -> None:
        self.chunks: list[str] = []

    def add(self, *texts: str) -> None:
        self.chunks.extend(texts)

    def text(self) -> str:
        return "\n".join(self.chunks)


def invoke(env: dict[str, str], transcript: Transcript, args, input: str | None = None) -> Result:
    """``cosydeploy ARGS`` in-process with ``env`` added to the environment for the call."""
    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        r = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    transcript.add(r.stdout, r.stderr)
    return Result(r.exit_code, r.stdout, r.stderr)


def aws_client(sandbox_env: dict[str, str], service: str):
    """A boto3 client on the sandbox's endpoint, as its own account."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=sandbox_env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def ledger_infra_state(sandbox_env: dict[str, str], client: str, env: str) -> dict:
    """The ledger's record of what Terraform last applied or planned for client/env."""
    from cosydeploy.ledger import Ledger

    return Ledger(aws_client(sandbox_env, "dynamodb"), "cosyworld-releases").infra_state(
        client, env
    )


def ledger_history(sandbox_env: dict[str, str], client: str, env: str) -> list[dict]:
    """The release ledger's records of client/env, newest first (as dicts)."""
    from cosydeploy.ledger import Ledger

    ledger = Ledger(aws_client(sandbox_env, "dynamodb"), "cosyworld-releases")
    return [r.as_dict() for r in ledger.history(client, env)]


def example_manifest(cid: str) -> str:
    """The sample client's manifest under another client id."""
    text = (REPO / "clients" / "example.yaml").read_text()
    text = text.replace("client: example", f"client: {cid}")
    return text.replace("CostCenter: example", f"CostCenter: {cid}")


class Stage:
    """Sets up the clients a scenario needs, through the CLI, as a user would."""

    _ids = itertools.count(1)

    def __init__(self, project: Path, env: dict[str, str], transcript: Transcript) -> None:
        self.project = project
        self.env = env
        self.transcript = transcript
        self.urls: dict[tuple[str, str], str] = {}

    def new_id(self, prefix: str) -> str:
        """A client id no other scenario of the session uses."""
        return f"{prefix}{next(self._ids)}"

    def cli(self, *args: str, input: str | None = None) -> Result:
        """Run a set-up step; it must succeed."""
        r = invoke(self.env, self.transcript, args, input=input)
        assert r.exit_code == 0, f"cosydeploy {' '.join(args)}:\n{r.output}"
        return r

    def manifest(self, cid: str) -> Path:
        return self.project / "clients" / f"{cid}.yaml"

    def write_manifest(self, cid: str, text: str | None = None) -> Path:
        path = self.manifest(cid)
        path.write_text(example_manifest(cid) if text is None else text)
        return path

    def onboard(
        self,
        cid: str,
        *,
        envs: tuple[str, ...] = ("dev",),
        manifest: str | None = None,
        secrets: tuple[str, ...] = SECRETS,
        value=lambda cid, name: CANARY if name == "DISCORD_BOT_TOKEN" else f"{cid}-{name.lower()}",
    ) -> str:
        """Write the manifest (the sample client's by default), onboard each env, set the
        secrets (DISCORD_BOT_TOKEN is the canary that must never be printed)."""
        self.write_manifest(cid, manifest)
        for env in envs:
            r = self.cli("-o", "json", "onboard", cid, "--env", env, "--yes")
            self.urls[(cid, env)] = json.loads(r.stdout)[0]["outputs"]["app_url"]
            for name in secrets:
                self.cli("secrets", "set", cid, "--env", env, name, input=value(cid, name))
        return cid

    def url(self, cid: str, env: str = "dev") -> str:
        """The app URL onboarding reported for client/env."""
        return self.urls[(cid, env)]

    def release(self, version: str, *clients: str, env: str = "dev", parallel: int = 4) -> None:
        """Release ``version`` to the clients (one run); every client must succeed."""
        args = ["release", version, "--env", env, "--parallel", str(parallel)]
        for cid in clients:
            args += ["--client", cid]
        self.cli(*args)

    def retire(self, *clients: str, env: str = "dev") -> None:
        """Take the clients out of the project (other scenarios list every client) and
        scale their services to zero, so the sandbox runs only what live scenarios need."""
        ecs = aws_client(self.env, "ecs")
        for cid in clients:
            self.manifest(cid).unlink(missing_ok=True)
            with contextlib.suppress(ecs.exceptions.ClientError):  # not in this account
                ecs.update_service(cluster=f"cosyworld-{cid}-{env}", service="app", desiredCount=0)


@pytest.fixture(scope="session")
def aws(sandbox_env: dict[str, str]):
    """``aws("ecs")``: a boto3 client on the sandbox, as its own account."""
    return lambda service: aws_client(sandbox_env, service)


@pytest.fixture(scope="session")
def infra_record(sandbox_env: dict[str, str]):
    """``infra_record(client, env="dev")``: the ledger's record of the last apply/plan."""
    return lambda client, env="dev": ledger_infra_state(sandbox_env, client, env)


@pytest.fixture(scope="session")
def notices(sandbox_env: dict[str, str]):
    """``notices(topic_arn)``: the messages the sandbox kept for an SNS topic (their JSON
    bodies), oldest first (GET /_sandbox/sns)."""
    from cosydeploy.sandbox.outbox import published

    endpoint = sandbox_env["AWS_ENDPOINT_URL"]
    return lambda topic: [json.loads(m["message"]) for m in published(endpoint, topic)]


@pytest.fixture(scope="session")
def ledger_records(sandbox_env: dict[str, str]):
    """``ledger_records(client, env="dev")``: the ledger's records, newest first, read
    straight from the table (while a release runs, too)."""
    return lambda client, env="dev": ledger_history(sandbox_env, client, env)


@pytest.fixture(scope="session")
def canary_value() -> str:
    return CANARY


@pytest.fixture(scope="session")
def transcript() -> Transcript:
    return Transcript()


@pytest.fixture(scope="session")
def stage(e2e_project: Path, sandbox_env: dict[str, str], transcript: Transcript) -> Stage:
    return Stage(e2e_project, sandbox_env, transcript)


@pytest.fixture
def cosy(sandbox_env: dict[str, str], transcript: Transcript):
    """Run `cosydeploy --sandbox ...` in-process against the session's sandbox."""

    def run(*args: str, input: str | None = None) -> Result:
        return invoke(sandbox_env, transcript, args, input=input)

    return run


@pytest.fixture(scope="session")
def onboarded(stage: Stage) -> str:
    """The sample client ``example`` onboarded in dev with every secret set (one a canary).

    Shared by the session: no scenario changes what it serves or its secrets (the
    guards change its manifest for one test and put it back).
    """
    return stage.onboard("example")


@pytest.fixture
def cosy_as(sandbox_env: dict[str, str], transcript: Transcript):
    """``cosy_as(credentials)("release", ...)``: the CLI run with these AWS credentials
    (an assumed role's session) in its environment instead of the sandbox's own keys."""

    def as_caller(credentials: dict[str, str]):
        def run(*args: str, input: str | None = None) -> Result:
            return invoke({**sandbox_env, **credentials}, transcript, args, input=input)

        return run

    return as_caller
