"""Fleet benchmarks (sandbox); each prints a ratio, never asserts a timing.

- release of one image to 8 clients vs to 1 client (``--parallel 8``), wall time
  (target <= 1.5x)
- DescribeServices calls per poll round with 8 deployments in flight:
  (a) in the fleet run above, where each client has its own cluster
      (cluster = project-client-env): calls per round, and per round per cluster;
  (b) 8 services of ONE cluster followed by one Poller (moto only, no Docker):
      calls per round (target 1).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECRETS = (
    "DISCORD_BOT_TOKEN",
    "ENCRYPTION_KEY",
    "GOOGLE_AI_API_KEY",
    "MONGO_URI",
    "OPENROUTER_API_KEY",
    "TELEGRAM_BOT_TOKEN",
)
N = 8


def _project(root: Path) -> Path:
    dest = root / "project"
    dest.mkdir()
    cfg = (REPO / "cosydeploy.yaml").read_text()
    cfg = re.sub(r"health_check_grace_period: \d+", "health_check_grace_period: 6", cfg)
    (dest / "cosydeploy.yaml").write_text(cfg)
    for d in ("templates", "terraform", "examples"):
        shutil.copytree(
            REPO / d,
            dest / d,
            symlinks=True,
            ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "busybox"),
        )
    (dest / "clients").mkdir()
    example = (REPO / "clients" / "example.yaml").read_text()
    for i in range(N + 1):
        cid = f"bench{i}"
        (dest / "clients" / f"{cid}.yaml").write_text(
            example.replace("client: example", f"client: {cid}")
        )
    return dest


def _cli(*args: str, input: str | None = None) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    r = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def _must(*args: str, input: str | None = None) -> str:
    code, out, err = _cli(*args, input=input)
    if code:
        sys.exit(f"benchmark setup failed: cosydeploy {' '.join(args)} -> {code}\n{out}{err}")
    return out


def bench_fleet_wall_and_polls() -> None:
    from cosydeploy.ecs.poller import Poller
    from cosydeploy.release import fleet
    from cosydeploy.sandbox.server import Sandbox

    pollers: list[Poller] = []

    class Recording(Poller):
        def __init__(self, **kw):  # type: ignore[no-untyped-def]
            super().__init__(**kw)
            pollers.append(self)

    fleet.Poller = Recording  # type: ignore[misc]
    with tempfile.TemporaryDirectory() as d:
        proj = _project(Path(d))
        box = Sandbox(state_dir=proj / ".cosydeploy" / "sandbox", driver_interval=0.25)
        box.start()
        saved = dict(os.environ)
        try:
            os.environ.update(box.env())
            os.environ.update(COSYDEPLOY_PROJECT_DIR=str(proj), COSYDEPLOY_SANDBOX="1")
            clients = [f"bench{i}" for i in range(N + 1)]
            for cid in clients:
                _must("onboard", cid, "--env", "dev", "--yes")
                for name in SECRETS:
                    _must("secrets", "set", cid, "--env", "dev", name, input="bench-value")
            _must("build", "b1", "--push", "--client", "bench0", "--env", "dev")

            _must("build", "b2", "--push", "--client", "bench0", "--env", "dev")

            def args_for(version: str, cids: list[str]) -> list[str]:
                args = ["release", version, "--env", "dev", "--parallel", str(len(cids))]
                for c in cids:
                    args += ["--client", c]
                return args

            def timed(cids: list[str]) -> float:
                # As a user runs it: its own process, beside the sandbox's (which holds
                # the rollout driver and moto), so the two do not share one interpreter.
                cmd = [sys.executable, "-m", "cosydeploy", *args_for("b1", cids)]
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                took = time.perf_counter() - t0
                if proc.returncode:
                    sys.exit(f"benchmark release failed ({proc.returncode}):\n{proc.stderr}")
                return took

            one = timed(clients[:1])
            eight = timed(clients[1:])
            print(
                f"fleet wall: {N} clients {eight:.1f} s vs 1 client {one:.1f} s -> "
                f"{eight / one:.2f}x (target <= 1.5x)"
            )
            _must(*args_for("b2", clients[1:]))  # in-process, to read the shared poller
            stats = pollers[-1].calls_per_round()
            print(
                f"describe_services with {N} clients in flight ({N} clusters, one per "
                f"client): {stats['per_round']:.2f} calls per round, "
                f"{stats['per_round_per_cluster']:.2f} per round per cluster "
                f"over {stats.get('rounds', 0):.0f} rounds (target 1 per cluster)"
            )
        finally:
            os.environ.clear()
            os.environ.update(saved)
            box.stop()


def bench_one_cluster_polls() -> None:
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from cosydeploy.ecs.poller import Poller
    from cosydeploy.ecs.watch import Watch

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        ecs = boto3.client(
            "ecs",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        ecs.create_cluster(clusterName="one")
        td = ecs.register_task_definition(
            family="bench",
            containerDefinitions=[{"name": "app", "image": "busybox", "memory": 128}],
        )["taskDefinition"]
        for i in range(N):
            ecs.create_service(
                cluster="one",
                serviceName=f"svc{i}",
                desiredCount=1,
                taskDefinition=td["taskDefinitionArn"],
            )
        poller = Poller(initial_interval=0.2, max_interval=0.5)
        deadline = time.time() + 3
        # Deployments that never show up: each stays in flight until the deadline.
        watches = [
            Watch(
                key=f"svc{i}",
                ecs=ecs,
                cluster="one",
                service=f"svc{i}",
                deployment_id=None,
                deadline=deadline,
                task_definition_arn=td["taskDefinitionArn"] + "-never",
            )
            for i in range(N)
        ]
        threads = [threading.Thread(target=poller.watch, args=(w,)) for w in watches]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        poller.close()
        # Rounds before every watch had joined poll fewer services; count full rounds.
        stats = poller.calls_per_round()
        print(
            f"describe_services with {N} deployments in flight in ONE cluster: "
            f"{stats['per_round']:.2f} calls per round over {stats.get('rounds', 0):.0f} "
            f"rounds (target 1)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    bench_one_cluster_polls()
    bench_fleet_wall_and_polls()
