"""Fixtures for integration tests: a moto server over HTTP, a real registry, Docker."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ACCOUNT = "123456789012"
# moto keeps its state per process: the sandbox of the e2e and sandbox tests drives
# us-east-1 in this same process, so these tests live in another region.
REGION = "eu-west-1"
# moto's ECR token decodes to this user:password; the registry is told to accept it.
ECR_USER, ECR_PASSWORD = "AWS", f"{ACCOUNT}-auth-token"


@pytest.fixture(scope="session")
def fault_injector():
    """The rules of the moto server's fault injector (the sandbox's own)."""
    from cosydeploy.sandbox.faults import FaultInjector

    return FaultInjector()


# ECS's service-deployment records (moto has none): the sandbox's book, which the
# in-process rollout stand-ins of these tests write as the sandbox's driver does.
DEPLOYMENTS: list = []


def deployment_book():
    """The book the moto server of this session answers service-deployment calls from."""
    from cosydeploy.sandbox.deployments import DeploymentBook, moto_ecs

    if not DEPLOYMENTS:
        DEPLOYMENTS.append(DeploymentBook(moto_ecs))
    return DEPLOYMENTS[0]


@pytest.fixture(scope="session")
def moto_server(fault_injector):
    """A moto server on a free loopback port (in-process), behind the sandbox's fault
    injector and its service-deployment API; yields its URL."""
    from cosydeploy.sandbox.deployments import DeploymentsApi
    from cosydeploy.sandbox.faults import FaultyMotoServer

    book = deployment_book()
    server = FaultyMotoServer(fault_injector, inner=lambda app: DeploymentsApi(app, book))
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def faults(fault_injector, monkeypatch):
    """Faults for one test (cleared after it); two attempts per AWS call, so a fault that
    lasts outlives the SDK's retries quickly."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    fault_injector.clear()
    yield fault_injector
    fault_injector.clear()


@pytest.fixture
def aws_session(moto_server, monkeypatch):
    """A boto3 session whose clients reach the moto server (via AWS_ENDPOINT_URL).

    moto's state is reset first so each test starts empty.
    """
    import boto3

    urllib.request.urlopen(
        urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10
    ).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return boto3.Session(region_name=REGION)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def docker_client():
    """The running Docker engine (skips when there is none)."""
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"no Docker engine (make test starts one): {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """Debian's docker-registry on a free port, basic auth with ECR's user:password.

    Yields ``host:port``. Stopped by its PID.
    """
    binary = shutil.which("docker-registry")
    if not binary:
        pytest.fail("docker-registry is not installed (make test installs it)")
    import bcrypt

    root = tmp_path_factory.mktemp("registry")
    htpasswd = root / "htpasswd"
    hashed = bcrypt.hashpw(ECR_PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    htpasswd.write_text(f"{ECR_USER}:{hashed}\n")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: cosydeploy-test\n    path: {htpasswd}\n"
    )
    log = (root / "registry.log").open("w")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v2/"
    deadline = time.time() + 20
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except urllib.error.HTTPError:
            break  # 401: it is up and asks for auth
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(
                    "docker-registry did not start: " + (root / "registry.log").read_text()[-2000:]
                )
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def busybox_context(tmp_path: Path) -> Path:
    """A build context for a FROM scratch image with the static busybox (unique per test)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not Path(busybox).exists():
        pytest.fail("static busybox not installed (make test installs it)")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    shutil.copy(busybox, ctx / "busybox")
    (ctx / "Dockerfile").write_text(
        "FROM scratch\n"
        "ARG NONCE\n"
        f'LABEL org.cosydeploy.test="{uuid.uuid4().hex}"\n'
        "COPY busybox /bin/busybox\n"
        'CMD ["/bin/busybox", "httpd", "-f", "-p", "3000"]\n'
    )
    return ctx


@pytest.fixture
def image_cleanup(docker_client):
    """Collects image refs the test created; removes them afterwards."""
    refs: list[str] = []
    yield refs
    for r in refs:
        with contextlib.suppress(Exception):
            docker_client.api.remove_image(r, force=True, noprune=False)
