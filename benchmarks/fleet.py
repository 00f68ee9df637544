"""Fleet benchmarks (sandbox); each prints measured numbers and ratios against a baseline
from the same run, never asserts a timing.

Real containers (the sample app on the local Docker engine), 1 vs 8 clients:
- release of one image to 8 clients vs to 1 client (``--parallel 8``): wall time
  (target <= 1.5x) and CPU seconds of the release process per additional client
  (target <= 0.15 s);
- DescribeServices calls per poll round with 8 deployments in flight:
  (a) in the fleet run above, where each client has its own cluster
      (cluster = project-client-env): calls per round, and per round per cluster;
  (b) 8 services of ONE cluster followed by one Poller (moto only, no Docker):
      calls per round (target 1).

A paper fleet (the sandbox runs every task without a container: ``sandbox up --paper``),
1, 8 and 200 clients released with ``--parallel 50``, each from the same state (the
stack's first revision), the release in its own process beside the sandbox's:
- CPU seconds of the release process per additional client, 1 -> 200 (target <= 0.15 s);
- wall time, 200 vs 1 (target <= 2x);
- peak memory (RSS high-water, the process's own ``VmHWM``) of the release process, 200
  vs 8 (target <= 2x);
- ``status`` of the whole fleet: wall time (target <= 3 s);
- then 200 more, spread over 20 accounts of 10 clients (each reached through a role in
  it, as a client in its own account is): each account has a token bucket of its own, so
  one account's read rate no longer sets the wall time: what spreading a fleet over
  accounts buys, and what is left when the rate is not the bound; ``status`` again, of
  all of them;
- for each release, the run's own account of its AWS reads (the line it prints): how
  many, per client a minute of rollout, and the most in any one second against its
  token bucket's bound;
- the CPU the sandbox (moto, driver, load balancer) and dockerd used meanwhile.

``COSY_BENCH_READS=R`` sets the project's ECS reads a second (default 5, ECS allows 20);
``COSY_BENCH_PAPER=N`` changes the 200; ``COSY_BENCH_ACCOUNTS=K`` the 20 accounts;
``COSY_BENCH_PARALLEL=P`` the paper releases' ``--parallel 50``;
``COSY_BENCH_ONLY=paper|containers`` runs one part;
``COSY_BENCH_MEMPROBE=DIR`` runs each paper release under ``memprobe.py`` (tracemalloc:
what its peak holds, written to DIR; its times and CPU are then not the tool's own).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

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
PAPER = int(os.environ.get("COSY_BENCH_PAPER", "200"))
PAPER_PARALLEL = int(os.environ.get("COSY_BENCH_PARALLEL", "50"))
ACCOUNTS = int(os.environ.get("COSY_BENCH_ACCOUNTS", "20"))


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process used so far, its threads included."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """The process and its live descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in task.read_text().split()]
    return out


def _dockerd() -> int | None:
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip() == "dockerd":
                return int(stat.parent.name)
        except OSError:
            pass
    return None


class Usage:
    """CPU of the sandbox's process tree and of dockerd between start() and stop()."""

    def __init__(self, sandbox_pid: int) -> None:
        self.pids = {"sandbox": sandbox_pid, "dockerd": _dockerd()}

    def _now(self) -> dict[str, float]:
        return {
            k: sum(_proc_cpu(p) for p in _tree(pid)) if pid else 0.0 for k, pid in self.pids.items()
        }

    def __enter__(self) -> Usage:
        self.before = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        after = self._now()
        self.used = {k: after[k] - self.before[k] for k in after}


def _hwm_mb(pid: int) -> float:
    """The process's own RSS high-water mark (VmHWM), 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float | int | str]:
    """Run ``cmd``; its wall time, CPU seconds (its own and its waited children's) from the
    kernel's accounting of that one process, and its RSS high-water (MB).

    The high-water is the process's own ``VmHWM``, read every 20 ms while it runs: the
    ``ru_maxrss`` that ``wait4`` gives is at least the RSS of this (parent) process at the
    fork, as Linux carries the old memory's high-water over the exec (measured: a child
    that only runs ``pass`` reported 311 MB under a parent holding 300)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out_box: dict[str, str] = {}
    hwm = [0.0]
    done = threading.Event()

    def drain(name: str, stream) -> None:  # type: ignore[no-untyped-def]
        out_box[name] = stream.read()

    def watch_memory() -> None:
        while not done.is_set():
            hwm[0] = max(hwm[0], _hwm_mb(proc.pid))
            done.wait(0.02)

    threads = [
        threading.Thread(target=drain, args=("out", proc.stdout)),
        threading.Thread(target=drain, args=("err", proc.stderr)),
        threading.Thread(target=watch_memory),
    ]
    for t in threads:
        t.start()
    # Reaped only after the last look: until then its pid is its own (a zombie's status
    # has no VmHWM, and no other process can take the pid).
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    done.set()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    for t in threads:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall": wall,
        "cpu": ru.ru_utime + ru.ru_stime,
        "rss_mb": hwm[0],
        "code": proc.returncode,
        "stdout": out_box.get("out", ""),
        "stderr": out_box.get("err", ""),
    }


def pace_lines(got: dict) -> list[str]:
    """The lines a fleet release prints of what it asked of each account: its reads, the
    most in any one second and the bucket's bound, per client a minute of rollout."""
    return [x for x in str(got["stderr"]).splitlines() if x.startswith("AWS reads in ")]


def pace_of(got: dict) -> str:
    return "; ".join(pace_lines(got)) or "(no pace line printed)"


def _project(root: Path, clients: int = N + 1) -> Path:
    dest = root / "project"
    dest.mkdir()
    cfg = (REPO / "cosydeploy.yaml").read_text()
    cfg = re.sub(r"health_check_grace_period: \d+", "health_check_grace_period: 6", cfg)
    # A bake of 1 s: what is measured is the tool's cost per client, not the waiting.
    cfg = re.sub(r"(\n    database: \{[^\n]*\})", r"\1\n    release: {bake: 1s}", cfg)
    if reads := os.environ.get("COSY_BENCH_READS"):  # ECS reads a second (default 5)
        cfg = cfg.replace("\n  ecs_reads_per_second: 5\n", f"\n  ecs_reads_per_second: {reads}\n")
        assert f"ecs_reads_per_second: {reads}\n" in cfg
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
    for i in range(clients):
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

            def timed(cids: list[str]) -> dict:
                # As a user runs it: its own process, beside the sandbox's (which holds
                # the rollout driver and moto), so the two do not share one interpreter.
                cmd = [sys.executable, "-m", "cosydeploy", *args_for("b1", cids)]
                got = run_measured(cmd)
                if got["code"]:
                    sys.exit(f"benchmark release failed ({got['code']}):\n{got['stderr']}")
                return got

            one = timed(clients[:1])
            eight = timed(clients[1:])
            print(f"fleet of {N}: {pace_of(eight)}")
            print(
                f"fleet wall: {N} clients {eight['wall']:.1f} s vs 1 client {one['wall']:.1f} s "
                f"-> {eight['wall'] / one['wall']:.2f}x (target <= 1.5x)"
            )
            per = (eight["cpu"] - one["cpu"]) / (N - 1)
            print(
                f"fleet CPU of the release process: {N} clients {eight['cpu']:.2f} s, 1 client "
                f"{one['cpu']:.2f} s -> {per:.3f} s per additional client (target <= 0.15 s)"
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


def bench_paper_fleet() -> None:
    """1, 8 and PAPER clients on paper, each released from the stack's first revision;
    then PAPER more, spread over ACCOUNTS accounts."""
    sys.path.insert(0, str(REPO / "tests"))
    from paper_fleet import onboard_paper, write_manifests

    from cosydeploy.sandbox import runner

    with tempfile.TemporaryDirectory() as d:
        proj = _project(Path(d), clients=0)
        one, eight = ["p0"], [f"p{i}" for i in range(1, 9)]
        fleet = [f"p{i}" for i in range(9, 9 + PAPER)]
        write_manifests(proj, one + eight + fleet)
        state = proj / ".cosydeploy" / "sandbox" / "state.json"
        info = runner.start_detached(state_file=state, paper=["*"])
        saved = dict(os.environ)
        try:
            os.environ.update(info.env())
            os.environ.update(COSYDEPLOY_PROJECT_DIR=str(proj), COSYDEPLOY_SANDBOX="1")
            t0 = time.perf_counter()
            onboard_paper(proj, one + eight + fleet)
            print(
                f"paper fleet: {len(one + eight + fleet)} clients set up without Terraform "
                f"in {time.perf_counter() - t0:.1f} s (not a target)"
            )
            _must("build", "b1", "--push", "--client", "p0", "--env", "dev")

            def release(cids: list[str]) -> dict:
                args = ["release", "b1", "--env", "dev", "--parallel", str(PAPER_PARALLEL)]
                for c in cids:
                    args += ["--client", c]
                run = [sys.executable, "-m", "cosydeploy"]
                if probe := os.environ.get("COSY_BENCH_MEMPROBE"):
                    out = Path(probe) / f"release-{len(cids)}.txt"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    run = [sys.executable, str(REPO / "benchmarks" / "memprobe.py"), str(out)]
                began = time.time()
                with Usage(info.pid) as usage:
                    got = run_measured([*run, "-o", "json", *args])
                if got["code"]:
                    sys.exit(f"paper release failed ({got['code']}):\n{got['stderr'][-4000:]}")
                outcomes = {r["outcome"] for r in json.loads(str(got["stdout"]))}
                if outcomes != {"succeeded"}:
                    sys.exit(f"paper release: outcomes {outcomes}")
                got["timeline"] = _timeline(proj, cids, began)
                return {**got, **{f"{k}_cpu": v for k, v in usage.used.items()}}

            def show(label: str, r: dict) -> None:
                print(
                    f"paper release to {label} client(s): wall {r['wall']:6.1f} s, release "
                    f"process CPU {r['cpu']:6.2f} s, peak RSS {r['rss_mb']:6.0f} MB; meanwhile "
                    f"sandbox CPU {r['sandbox_cpu']:6.2f} s, dockerd {r['dockerd_cpu']:5.2f} s"
                )
                for line in pace_lines(r) or ["(no pace line printed)"]:
                    print(f"    {line}")
                print(f"    {r['timeline']}")

            if os.environ.get("COSY_BENCH_ONLY") == "paper-status":
                _status(proj, one + eight + fleet, 1, info.pid)  # nothing released
                if os.environ.get("COSY_BENCH_PROFILE"):
                    _profile_status(Path(os.environ["COSY_BENCH_PROFILE"]), info.pid, proj)
                return
            r1, r8, rn = release(one), release(eight), release(fleet)
            for label, r in (("1", r1), ("8", r8), (str(PAPER), rn)):
                show(f"{label:>3}", r)
            per = (rn["cpu"] - r1["cpu"]) / (PAPER - 1)
            print(
                f"paper CPU of the release process per additional client (1 -> {PAPER}): "
                f"{per:.3f} s (target <= 0.15 s)"
            )
            print(
                f"paper wall, {PAPER} vs 1 client (--parallel {PAPER_PARALLEL}): "
                f"{rn['wall'] / r1['wall']:.2f}x (target <= 2x)"
            )
            print(
                f"paper peak RSS of the release process, {PAPER} vs 8 clients: "
                f"{rn['rss_mb']:.0f} MB vs {r8['rss_mb']:.0f} MB -> "
                f"{rn['rss_mb'] / r8['rss_mb']:.2f}x (target <= 2x)"
            )
            _status(proj, one + eight + fleet, 1, info.pid)

            # The same number again, client i in account i mod ACCOUNTS (none in the
            # sandbox's own), each reached through a role there.
            spread = [f"s{i}" for i in range(PAPER)]
            accounts = {c: f"{200000000000 + i % ACCOUNTS:012d}" for i, c in enumerate(spread)}
            write_manifests(proj, spread, accounts)
            onboard_paper(proj, spread)
            rs = release(spread)
            show(f"{PAPER} in {ACCOUNTS} accounts", rs)
            print(
                f"paper wall, {PAPER} clients in {ACCOUNTS} accounts vs 1 client: "
                f"{rs['wall'] / r1['wall']:.2f}x; CPU per additional client "
                f"{(rs['cpu'] - r1['cpu']) / (PAPER - 1):.3f} s"
            )
            _status(proj, one + eight + fleet + spread, ACCOUNTS + 1, info.pid)
            if os.environ.get("COSY_BENCH_PROFILE"):
                _profile_status(Path(os.environ["COSY_BENCH_PROFILE"]), info.pid, proj)
        finally:
            os.environ.clear()
            os.environ.update(saved)
            runner.stop_detached(state)


def _timeline(proj: Path, cids: list[str], began: float) -> str:
    """When the clients' releases started and ended (their ledger records, to the
    second), from the run's start: how long preparing took, how the rounds of
    ``--parallel`` went, how long one client's release took."""
    from cosydeploy.adapters.platform import platform_for
    from cosydeploy.config.load import load_project
    from cosydeploy.config.targets import client_env
    from cosydeploy.ledger import Ledger

    project = load_project(proj)
    platform: Any = platform_for(project, True)
    sessions: dict[str | None, Any] = {}
    starts, ends, spans = [], [], []
    for cid in cids:
        c = client_env(project, cid, "dev")
        if c.role_arn not in sessions:
            sessions[c.role_arn] = platform.session(c, guard=False)
        db = sessions[c.role_arn].client("dynamodb")
        rec = Ledger(db, project.config.release.ledger_table).history(cid, "dev", 1)[0]
        start = _epoch(rec.started_at) - began
        end = _epoch(rec.ended_at) - began
        starts.append(start)
        ends.append(end)
        spans.append(end - start)
    return (
        f"ledger: releases started {min(starts):.0f}-{max(starts):.0f} s into the run, "
        f"the last ended at {max(ends):.0f} s; one client's release took "
        f"{statistics.median(spans):.0f} s (median; {min(spans):.0f}-{max(spans):.0f})"
    )


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _status(proj: Path, clients: list[str], accounts: int, sandbox_pid: int) -> None:
    """``status`` of the whole fleet (every manifest), no Terraform reachable."""
    with Usage(sandbox_pid) as usage:
        st = run_measured(
            [sys.executable, "-m", "cosydeploy", "-o", "json", "status", "--env", "dev"],
            env={**os.environ, "COSYDEPLOY_TERRAFORM": str(proj / "no-such-terraform")},
        )
    rows = json.loads(str(st["stdout"])) if not st["code"] else []
    print(
        f"paper status of {len(clients)} clients in {accounts} account(s): wall "
        f"{st['wall']:.2f} s, CPU {st['cpu']:.2f} s, {len(rows)} rows, exit {st['code']} "
        f"(target <= 3 s for 200); meanwhile sandbox CPU {usage.used['sandbox']:.2f} s"
    )


def _profile_status(out: Path, sandbox_pid: int, proj: Path) -> None:
    """``status`` again, every thread of it and of the sandbox sampled by py-spy
    (collapsed stacks, ``COSY_BENCH_PROFILE=DIR``): where its wall time goes."""
    spy = str(Path(sys.executable).with_name("py-spy"))
    out.mkdir(parents=True, exist_ok=True)
    side = subprocess.Popen(
        [spy, "record", "-s", "-r", "200", "-f", "raw", "-o", str(out / "status-sandbox.txt"),
         "--pid", str(sandbox_pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)
    st = run_measured(
        [spy, "record", "-s", "-r", "200", "-f", "raw", "-o", str(out / "status-cli.txt"), "--",
         sys.executable, "-m", "cosydeploy", "-o", "json", "status", "--env", "dev"],
        env={**os.environ, "COSYDEPLOY_TERRAFORM": str(proj / "no-such-terraform")},
    )  # fmt: skip
    side.send_signal(2)
    side.wait(timeout=60)
    print(f"paper status profiled (py-spy, every thread): wall {st['wall']:.2f} s -> {out}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    only = os.environ.get("COSY_BENCH_ONLY", "")
    if only in ("", "containers"):
        bench_one_cluster_polls()
        bench_fleet_wall_and_polls()
    if only in ("", "paper", "paper-status"):
        bench_paper_fleet()
