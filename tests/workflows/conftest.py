"""The GitHub workflows rehearsed with `act` on this host, against the sandbox.

One sandbox for the tier, with the bootstrap stack's roles made in its IAM from the
`names` module's documents (so every call a job makes is decided by its role's policy),
and three clients onboarded in dev, staging and prod (released in two shards). A project
repository (this one's workflows, action and sources, the clients) and an app repository
are local git repositories; act runs the workflows of the first with stand-ins for the third-party
actions (tests/workflows/actions): checkout copies a local repository, setup-python
gives each job a virtualenv of its own, configure-aws-credentials assumes the job's role
with the OIDC subject the job would present. cosydeploy itself is built into a wheel and
installed in each job by action.yml, as on GitHub.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from bootstrap_roles import bootstrap_names, create_roles

REPO = Path(__file__).resolve().parents[2]
ACTIONS = Path(__file__).resolve().parent / "actions"
ACCOUNT = "123456789012"  # the sandbox's
GITHUB_REPO = "cosyworld/deploy"
APP_REPO = "cosyworld/app"
# Released in 2 shards (ci.max_clients_per_shard: 2 below): acme and hooli, then globex.
CLIENTS = ("acme", "globex", "hooli")
SHARDS = (("acme", "hooli"), ("globex",))
ENVS = ("dev", "staging", "prod")
PINNED = {
    "actions/checkout@df4cb1c069e1874edd31b4311f1884172cec0e10": "checkout",
    "actions/setup-python@ece7cb06caefa5fff74198d8649806c4678c61a1": "setup-python",
    "aws-actions/configure-aws-credentials@e6de054238d6b7531b4efff3b6587d9aade6a06c": (
        "configure-aws-credentials"
    ),
}
SECRETS = (
    "DISCORD_BOT_TOKEN",
    "ENCRYPTION_KEY",
    "GOOGLE_AI_API_KEY",
    "MONGO_URI",
    "OPENROUTER_API_KEY",
    "TELEGRAM_BOT_TOKEN",
)


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    r = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def manifest(cid: str) -> str:
    text = (REPO / "clients" / "example.yaml").read_text()
    return text.replace("client: example", f"client: {cid}").replace(
        "CostCenter: example", f"CostCenter: {cid}"
    )


@pytest.fixture(scope="session")
def repos(tmp_path_factory) -> dict[str, Path]:
    """The deploy repository (this project) and the app repository, tagged v1.0.0."""
    root = tmp_path_factory.mktemp("repos")
    project = root / "deploy"
    project.mkdir()
    for name in ("action.yml", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, project / name)
    ignore = shutil.ignore_patterns("__pycache__", ".terraform*", "*.tfstate*")
    for d in (".github", "cosydeploy", "templates", "terraform"):
        shutil.copytree(REPO / d, project / d, ignore=ignore)
    cfg = (REPO / "cosydeploy.yaml").read_text()
    cfg = re.sub(r"health_check_grace_period: \d+", "health_check_grace_period: 6", cfg)
    cfg = re.sub(r"\n  timeout: \d+", "\n  timeout: 120", cfg)
    cfg = re.sub(r"(\n    database: \{[^\n]*\})", r"\1\n    release: {bake: 1s}", cfg)
    cfg = re.sub(r"max_clients_per_shard: \d+", "max_clients_per_shard: 2", cfg)
    (project / "cosydeploy.yaml").write_text(cfg)
    (project / "clients").mkdir()
    for cid in CLIENTS:
        (project / "clients" / f"{cid}.yaml").write_text(manifest(cid))
    (project / ".gitignore").write_text(".cosydeploy/\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "remote", "add", "origin", f"https://github.com/{GITHUB_REPO}.git")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "deploy")
    git(project, "tag", "v1.0.0")

    app = root / "app"
    shutil.copytree(REPO / "examples" / "app", app)
    busybox = Path(shutil.which("busybox") or "/bin/busybox").resolve()
    shutil.copy2(busybox, app / "busybox")
    git(app, "init", "-q", "-b", "main")
    git(app, "add", "-A")
    git(app, "commit", "-qm", "app")
    git(app, "tag", "v1.0.0")
    return {"project": project, "app": app}


@pytest.fixture(scope="session")
def runner_site(tmp_path_factory) -> Path:
    """The runtime dependencies the jobs' Pythons see (this environment's, without
    cosydeploy: each job installs that from its wheel)."""
    site = Path(sysconfig.get_paths()["purelib"])
    out = tmp_path_factory.mktemp("runner-site")
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(("cosydeploy", "__editable__", "_cosydeploy")) or name.endswith(".pth"):
            continue
        (out / entry.name).symlink_to(entry)
    return out


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Iterator[object]:
    from cosydeploy.adapters.docker import docker_client
    from cosydeploy.sandbox.server import Sandbox

    docker_client()
    box = Sandbox(state_dir=tmp_path_factory.mktemp("sandbox"), driver_interval=0.25)
    box.start()
    yield box
    box.stop()


def admin(sandbox, service: str):
    import boto3

    return boto3.client(
        service,
        endpoint_url=sandbox.info.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def cli(env: dict[str, str], *args: str, input: str | None = None) -> str:
    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        r = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert r.exit_code == 0, f"cosydeploy {' '.join(args)}:\n{r.stdout}{r.stderr}"
    return r.stdout


@pytest.fixture(scope="session")
def world(repos, sandbox, tmp_path_factory) -> dict[str, object]:
    """Roles from the bootstrap documents; both clients onboarded in every environment
    (as an administrator would, before the first tag)."""
    names = bootstrap_names(
        tmp_path_factory.mktemp("names"),
        account_id=ACCOUNT,
        clients=list(CLIENTS),
        repository=GITHUB_REPO,
        environments=ENVS,
        project=repos["project"],
    )
    create_roles(admin(sandbox, "iam"), names["roles"])
    env = {**sandbox.env(), "COSYDEPLOY_PROJECT_DIR": str(repos["project"])}
    for cid in CLIENTS:
        for e in ENVS:
            cli(env, "onboard", cid, "--env", e, "--yes")
            for name in SECRETS:
                cli(env, "secrets", "set", cid, "--env", e, name, input=f"{cid}-{name.lower()}")
    return {"names": names, "env": env}


class Act:
    """`act` on the deploy repository, with the stand-ins and the sandbox."""

    def __init__(self, repos, sandbox, runner_site: Path, tmp: Path) -> None:
        self.repos, self.sandbox, self.site, self.tmp = repos, sandbox, runner_site, tmp

    def command(
        self,
        event: str,
        workflow: str,
        payload: dict,
        variables: dict[str, str],
        extra: tuple[str, ...] = (),
    ):
        path = self.tmp / f"event-{workflow}.json"
        path.write_text(json.dumps(payload))
        cmd = [
            str(Path(sys.executable).parent / "act"),
            event,
            "-W",
            f".github/workflows/{workflow}",
        ]
        cmd += ["-e", str(path), "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode"]
        for pinned, local in PINNED.items():
            cmd += ["--local-repository", f"{pinned}={ACTIONS / local}"]
        for key, value in variables.items():
            cmd += ["--var", f"{key}={value}"]
        return cmd + list(extra)

    def env(self) -> dict[str, str]:
        info = self.sandbox.info
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "COSYDEPLOY_", "GITHUB_", "VIRTUAL_ENV", "PYTHON"))
        }
        return env | {
            "AWS_ENDPOINT_URL": info.endpoint_url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "COSYDEPLOY_SANDBOX": "1",
            "COSYDEPLOY_SANDBOX_STATE": info.state_file,
            "STANDIN_PYTHON": sys.executable,
            "STANDIN_SITE": str(self.site),
            "STANDIN_REPOSITORIES": json.dumps(
                {GITHUB_REPO: str(self.repos["project"]), APP_REPO: str(self.repos["app"])}
            ),
            "NO_COLOR": "1",
        }

    def run(self, event, workflow, payload, variables, *, timeout=900, extra=()):
        return subprocess.run(
            self.command(event, workflow, payload, variables, extra),
            cwd=self.repos["project"],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, event, workflow, payload, variables) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(event, workflow, payload, variables),
            cwd=self.repos["project"],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


@pytest.fixture(scope="session")
def act(repos, sandbox, runner_site, world, tmp_path_factory) -> Act:
    return Act(repos, sandbox, runner_site, tmp_path_factory.mktemp("act"))
