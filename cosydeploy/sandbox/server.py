"""The sandbox: moto, a registry standing in for ECR, the rollout driver and an "ALB".

Everything runs on loopback in this process (the registry as a child process), so
the driver can edit moto's state directly. ``Sandbox.stop()`` (also run at exit)
stops it all: containers, registry, threads.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

from cosydeploy.errors import SandboxError
from cosydeploy.sandbox.state import (
    ACCOUNT_ID,
    SandboxInfo,
    default_state_file,
    read_info,
    write_info,
)

log = logging.getLogger("cosydeploy.sandbox")


def _check_port_free(port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise SandboxError(
                f"port {port} on 127.0.0.1 is taken ({exc.strerror})",
                hint="choose another with --port, or stop what listens there",
            ) from exc


def _docker_client():
    """The local Docker engine the rollout driver runs tasks on."""
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except Exception as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise SandboxError(
            f"the Docker engine is not reachable at {where} ({type(exc).__name__})",
            hint="start it (make services, or dockerd) and check `docker info`",
        ) from None


class Sandbox:
    """An offline stand-in for AWS where a whole release runs for real."""

    def __init__(
        self,
        port: int = 0,
        region: str = "us-east-1",
        state_dir: Path | None = None,
        *,
        state_file: Path | None = None,
        driver_interval: float = 0.3,
        faults: list[str] | None = None,
        paper: list[str] | None = None,
        paper_fail: list[str] | None = None,
        minute: float | None = None,
    ) -> None:
        from cosydeploy.sandbox.deployments import sandbox_minute
        from cosydeploy.sandbox.faults import FaultInjector
        from cosydeploy.sandbox.paper import PaperRules

        self.port = port
        self.region = region
        if state_dir is None:
            state_dir = Path(state_file or default_state_file()).parent
        self.state_dir = Path(state_dir)
        self.state_file: Path = Path(state_file) if state_file else self.state_dir / "state.json"
        self.driver_interval = driver_interval
        # Seconds an ECS minute lasts here (bakes, hook timeouts, canary/linear steps):
        # ``minute``, else COSY_SANDBOX_MINUTE, else 60.
        self.minute = minute if minute is not None else sandbox_minute()
        # Services whose tasks run without containers (``--paper``, ``--paper-fail``).
        self.paper = PaperRules.parse(paper, paper_fail)
        # Faults on demand (``--fault`` of ``sandbox up``, or POST /_sandbox/faults).
        self.faults = FaultInjector()
        for spec in faults or ():
            self.faults.add(spec)
        self.id = uuid.uuid4().hex[:10]
        self.info: SandboxInfo | None = None
        self._moto: Any = None
        self._listener: Any = None
        self._registry: Any = None
        self._proxy: Any = None
        self._alb: Any = None
        self._dns: Any = None
        self.driver: Any = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> SandboxInfo:
        """Start everything and write the state file; on any failure nothing is left running."""
        from cosydeploy.sandbox.registry import registry_program

        docker_client = _docker_client()
        if registry_program() is None:
            raise SandboxError(
                "the registry program `docker-registry` is not installed "
                "(and no registry:2 image can be pulled here)",
                hint="install it: apt-get install docker-registry (or run scripts/services.sh up)",
            )
        if self.port:
            _check_port_free(self.port)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            return self._start(docker_client)
        except BaseException:
            self.stop()
            raise

    def _start(self, docker_client) -> SandboxInfo:
        from cosydeploy.sandbox.alb import AlbProxy
        from cosydeploy.sandbox.driver import RolloutDriver, free_port
        from cosydeploy.sandbox.registry import (
            PASSWORD,
            USERNAME,
            PushListener,
            RegistryProcess,
            one_registry_for_every_account,
        )

        one_registry_for_every_account()

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        from cosydeploy.sandbox.authz import RoleAuthorizer
        from cosydeploy.sandbox.deployments import (
            DeploymentBook,
            DeploymentsApi,
            keep_create_service_deployment_configuration,
            moto_ecs,
        )
        from cosydeploy.sandbox.dynamo import query_reads_one_partition
        from cosydeploy.sandbox.elbnames import StableElbArns
        from cosydeploy.sandbox.faults import FaultyMotoServer
        from cosydeploy.sandbox.outbox import SnsOutbox

        keep_create_service_deployment_configuration()
        query_reads_one_partition()
        book = DeploymentBook(moto_ecs)
        # Faults first (as the network would), then the role's policies, then ECS's
        # service deployments (which moto lacks), then moto (whose load balancer ARNs are
        # made stable, as the sandbox stack names them); the SNS messages moto kept are
        # read back at GET /_sandbox/sns.
        self._moto = FaultyMotoServer(
            self.faults,
            "127.0.0.1",
            self.port,
            inner=lambda app: SnsOutbox(RoleAuthorizer(DeploymentsApi(StableElbArns(app), book))),
        )
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"

        def ecr_client():
            import boto3

            return boto3.client(
                "ecr",
                endpoint_url=endpoint,
                region_name=self.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        # The hostname moto's ECR puts in repository URIs.
        ecr_host = f"{ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com"
        self._listener = PushListener(lambda: self._registry.url, ecr_client)
        self._listener.start()
        self._registry = RegistryProcess(self.state_dir, free_port(), self._listener.url)
        self._registry.start()
        from cosydeploy.sandbox.regproxy import RegistryProxy

        # Pushes go through the proxy (immutable tags, faults); tasks pull from behind it.
        self._proxy = RegistryProxy(self._registry.address, self.faults)
        self._proxy.start()
        self._alb = AlbProxy(ACCOUNT_ID, self.region)
        self._alb.start()
        from cosydeploy.sandbox.dns import DnsProxy

        # Resolution by Route 53 weights, for cutovers from an old origin.
        self._dns = DnsProxy(self._alb.url)
        self._dns.start()
        self.driver = RolloutDriver(
            sandbox_id=self.id,
            account_id=ACCOUNT_ID,
            region=self.region,
            endpoint_url=endpoint,
            ecr_host=ecr_host,
            registry=self._registry.address,
            registry_auth={"username": USERNAME, "password": PASSWORD},
            docker_client=docker_client,
            interval=self.driver_interval,
            paper=self.paper,
            book=book,
            minute=self.minute,
        )
        self._alb.local = self.driver.paper_reply
        self.driver.start()
        self.info = SandboxInfo(
            endpoint_url=endpoint,
            region=self.region,
            account_id=ACCOUNT_ID,
            registry=self._proxy.address,
            ecr_host=ecr_host,
            alb_url=self._alb.url,
            dns_url=self._dns.url,
            pid=os.getpid(),
            state_dir=str(self.state_dir),
            state_file=str(self.state_file),
            sandbox_id=self.id,
        )
        write_info(self.info, self.state_file)
        atexit.register(self.stop)
        log.info("sandbox %s up at %s", self.id, endpoint)
        return self.info

    def env(self) -> dict[str, str]:
        """The environment variables pointing SDKs and cosydeploy at this sandbox."""
        if self.info is None:
            raise SandboxError("the sandbox is not started", hint="call start() first")
        return self.info.env()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until ``stop()`` ran (True) or the timeout passed (False)."""
        return self._stopped.wait(timeout)

    def stop(self) -> None:
        """Stop the driver (and its containers), the ALB, the registry and moto. Idempotent."""
        with self._lock:
            if self._stopped.is_set():
                return
            if self.driver is not None:
                with contextlib.suppress(Exception):
                    self.driver.stop()
            for part in (self._dns, self._alb, self._proxy, self._registry, self._listener):
                if part is not None:
                    with contextlib.suppress(Exception):
                        part.stop()
            if self._moto is not None:
                with contextlib.suppress(Exception):
                    self._moto.stop()
            if self.info is not None and self.state_file is not None:
                with contextlib.suppress(Exception):
                    recorded = read_info(self.state_file)
                    if recorded is not None and recorded.sandbox_id == self.id:
                        self.state_file.unlink()
            self._stopped.set()
            with contextlib.suppress(Exception):
                atexit.unregister(self.stop)
