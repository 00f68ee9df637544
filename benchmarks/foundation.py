"""Foundation benchmarks; each prints a ratio against a baseline measured in the same run.

- `cosydeploy --help` wall time vs a bare Typer app with the same command names (target <= 1.2x)
- validate and render 500 generated manifests (target <= 2 s on 2 cores; printed against the target)
- a second `plan` in a workspace vs the first (target <= 0.5x)
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BARE_APP = """
import typer
app = typer.Typer(add_completion=False)
for name in {names!r}:
    app.command(name)(lambda: None)
app()
"""


def _wall(cmd: list[str], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _cpu(cmd: list[str], runs: int = 11) -> float:
    """Median CPU seconds (user + system) of a child: steadier than wall time on a busy
    machine."""
    import resource

    times = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, capture_output=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times)


def bench_help() -> None:
    # Typer comes byte-compiled from its wheel; compile ours too, or the comparison would
    # time Python's compiler (PYTHONDONTWRITEBYTECODE keeps imports from writing .pyc).
    import compileall

    compileall.compile_dir(str(REPO / "cosydeploy"), quiet=1)
    names = [
        "validate",
        "schema",
        "clients",
        "render",
        "plan",
        "apply",
        "onboard",
        "build",
        "release",
        "rollback",
        "status",
        "history",
        "unlock",
        "secrets",
        "cost",
        "sandbox",
    ]
    bare_cmd = [sys.executable, "-c", BARE_APP.format(names=names), "--help"]
    ours_cmd = [sys.executable, "-m", "cosydeploy", "--help"]
    bare, ours = _wall(bare_cmd), _wall(ours_cmd)
    print(
        f"help: cosydeploy {ours * 1000:.0f} ms vs bare Typer {bare * 1000:.0f} ms -> {ours / bare:.2f}x (target <= 1.2x)"
    )
    bare, ours = _cpu(bare_cmd), _cpu(ours_cmd)
    print(
        f"help CPU: cosydeploy {ours * 1000:.0f} ms vs bare Typer {bare * 1000:.0f} ms -> {ours / bare:.2f}x"
    )


def bench_validate_render() -> None:
    sys.path.insert(0, str(REPO))
    from cosydeploy.config.load import load_manifest, load_project
    from cosydeploy.config.resolve import resolve
    from cosydeploy.render import render_client

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        shutil.copy(REPO / "cosydeploy.yaml", root)
        shutil.copytree(REPO / "templates", root / "templates")
        (root / "clients").mkdir()
        example = (REPO / "clients" / "example.yaml").read_text()
        ids = [f"client{i:03d}" for i in range(500)]
        for cid in ids:
            (root / "clients" / f"{cid}.yaml").write_text(
                example.replace("client: example", f"client: {cid}")
            )
        project = load_project(root)
        t0 = time.perf_counter()
        one = 0.0
        for i, cid in enumerate(ids):
            m, _ = load_manifest(project, cid)
            for env in m.environments:
                render_client(project, resolve(project, m, env))
            if i == 0:
                one = time.perf_counter() - t0
        total = time.perf_counter() - t0
    print(
        f"validate+render 500 manifests (x3 envs): {total:.2f} s -> {total / 2.0:.2f}x of the 2 s target "
        f"(first manifest {one * 1000:.0f} ms, includes template compile)"
    )


def bench_second_plan() -> None:
    from moto.server import ThreadedMotoServer

    from cosydeploy.adapters.platform import SandboxPlatform, sandbox_backend
    from cosydeploy.adapters.terraform.engine import Workspace, make_engine

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
        import os

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        SandboxPlatform._ensure_bucket(url, "bench-state", "us-east-1")
        with tempfile.TemporaryDirectory() as d:
            tf = Path(d) / "terraform"
            shutil.copytree(REPO / "tests" / "fixtures" / "terraform", tf)
            backend = {
                "bucket": "bench-state",
                "key": "b/terraform.tfstate",
                "region": "us-east-1",
                "use_lockfile": "true",
                **sandbox_backend(url),
            }
            ws = Workspace(
                make_engine(None), tf, "stacks/fixture", "bench-dev", Path(d) / "work", backend
            )
            tfvars = '{"client": "bench", "size": 1}'
            t0 = time.perf_counter()
            ws.prepare(tfvars)
            ws.plan()
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            ws.prepare(tfvars)
            ws.plan()
            second = time.perf_counter() - t0
        print(
            f"plan: first {first:.2f} s (with init), second {second:.2f} s -> {second / first:.2f}x (target <= 0.5x)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    bench_help()
    bench_validate_render()
    bench_second_plan()
