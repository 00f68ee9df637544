"""Bake benchmarks: one in-process sandbox, ratios from one run.

1. AWS API calls per minute while a bake watches a release, against the same release's
   rolling watch (from update_service to the SUCCEEDED verdict; a ~30 s rollout of the
   slow image), counted with botocore ``before-call`` hooks on the release's session
   (target: ratio <= 1).
2. From a task stopping during the bake (the benchmark kills one task's container at a
   random moment of the bake, as an OOM kill would) to the rollback starting (the
   pipeline's "rolling back" step), median over several releases (target <= 5 s).

``COSY_BENCH_STRATEGY=blue_green`` (or canary, linear): after the rolling release that
gives the baseline, the client is switched to that strategy (manifest and apply), and
both measures are taken on its bake (ECS's, 1 minute; the rollback is cosydeploy's
``StopServiceDeployment``, its step "rolling back through ECS"), still against the
rolling watch.

Timings are printed, never asserted: exit 0 even when a target is MISSED; non-zero only
when the benchmark itself could not run. Progress goes to a log file in the temp
directory (named at the end); the report goes to stdout.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CLIENT, ENV = "example", "dev"
STRATEGY = os.environ.get("COSY_BENCH_STRATEGY", "rolling")
SLOW_SECONDS = 30  # the slow image's warm-up: a ~30 s rolling watch
BAKE_SECONDS = 60
KILL_RUNS = 5
KILL_WINDOW = (1.0, 15.0)  # seconds into the bake
TARGET_RATIO = 1.0
TARGET_REACTION = 5.0


class CallLog:
    """botocore ``before-call`` hook: (time, service.operation) per API call."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __call__(self, event_name: str = "", **_: Any) -> None:
        _, service, op = event_name.split(".", 2)
        with self._lock:
            self.calls.append((time.time(), f"{service}.{op}"))

    def between(self, start: float, end: float) -> list[str]:
        with self._lock:
            return [op for at, op in self.calls if start <= at <= end]


def make_project(dest: Path) -> Path:
    """A private project copy whose client warms up slowly on demand."""
    dest.mkdir(parents=True)
    cfg = (REPO / "cosydeploy.yaml").read_text()
    cfg = re.sub(r"health_check_grace_period: \d+", "health_check_grace_period: 60", cfg)
    cfg = re.sub(r"\n  timeout: \d+", "\n  timeout: 300", cfg)
    (dest / "cosydeploy.yaml").write_text(cfg)
    for d in ("clients", "templates", "terraform", "examples"):
        shutil.copytree(
            REPO / d,
            dest / d,
            symlinks=True,
            ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "busybox"),
        )
    manifest = dest / "clients" / f"{CLIENT}.yaml"
    extra = f'    SLOW_SECONDS: "{SLOW_SECONDS}"\n'
    text, n = re.subn(r"(\n  environment:\n)", rf"\1{extra}", manifest.read_text(), count=1)
    if n != 1:
        raise RuntimeError(f"{manifest.name} has no app.environment to add to")
    manifest.write_text(
        text.replace("  dev: {}\n", "  dev:\n    release: {verify: {version: true}}\n")
    )
    return dest


def cli(*args: str, input: str | None = None) -> str:
    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    r = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    if r.exit_code != 0:
        raise RuntimeError(f"cosydeploy {' '.join(args)} exited {r.exit_code}:\n{r.output}")
    return r.output


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


class Bench:
    def __init__(self, root: Path, log: Any) -> None:
        self.root = root
        self.log = log

    def progress(self, msg: str) -> None:
        self.log.write(msg + "\n")
        self.log.flush()

    @contextlib.contextmanager
    def quiet(self):
        with contextlib.redirect_stderr(self.log):
            yield

    def setup(self) -> None:
        from cosydeploy.sandbox.server import Sandbox

        self.project = make_project(self.root / "project")
        self.box = Sandbox(state_dir=self.project / ".cosydeploy" / "sandbox", driver_interval=0.25)
        self.box.start()
        os.environ.update(self.box.env())
        os.environ.update(
            {
                "COSYDEPLOY_PROJECT_DIR": str(self.project),
                "COSYDEPLOY_SANDBOX": "1",
                "NO_COLOR": "1",
                "CHECKPOINT_DISABLE": "1",
            }
        )
        with self.quiet():
            self.progress(cli("onboard", CLIENT, "--env", ENV, "--yes"))
            from cosydeploy.adapters.aws import guard_account, open_session
            from cosydeploy.cli.app import App

            g = App(str(self.project), True, "text", False)
            self.c = g.client_env(CLIENT, ENV)
            for name in self.c.secrets:
                cli("secrets", "set", CLIENT, "--env", ENV, name, input=f"bench-{name.lower()}")
            self.aws = open_session(self.c.region)
            self.log_calls = CallLog()
            self.aws.session.events.register(
                "before-call.*.*", self.log_calls, unique_id="cosydeploy-bench-bake"
            )
            guard_account(self.aws, self.c.account_id, "bench")
            self.releaser = g.releaser
            # The release's calls go through this session (the releaser keeps one per
            # identity), so that the call log sees every one of them.
            self.releaser._sessions[self.releaser.identity(self.c)] = self.aws
            self.target = self.releaser.target(self.c, self.releaser.stack_outputs(self.c))

    def switch_strategy(self, strategy: str) -> None:
        """The client released with ``strategy`` from now on: manifest, apply, target."""
        from cosydeploy.cli.app import App

        manifest = self.project / "clients" / f"{CLIENT}.yaml"
        block = f"{{strategy: {strategy}, bake: 1m, verify: {{version: true}}}}"
        manifest.write_text(
            manifest.read_text().replace("release: {verify: {version: true}}", f"release: {block}")
        )
        config = self.project / "cosydeploy.yaml"
        # Verification runs on the test listener, which admits only these addresses.
        config.write_text(
            config.read_text().replace(
                "test_listener_cidrs: []", "test_listener_cidrs: [127.0.0.0/8]"
            )
        )
        with self.quiet():
            self.progress(cli("apply", CLIENT, "--env", ENV, "--yes"))
            self.c = App(str(self.project), True, "text", False).client_env(CLIENT, ENV)
            self.target = self.releaser.target(self.c, self.releaser.stack_outputs(self.c))

    def release(
        self, version: str, bake: int, on_bake: Any = None, **build_args: str
    ) -> dict[str, Any]:
        """Build ``version`` and release it in-process with a bake of ``bake`` seconds;
        the times of its steps and of its watch's verdict. ``on_bake()`` is called in a
        thread of its own when the bake begins."""
        from cosydeploy import events as ev
        from cosydeploy.ecs.watch import Phase
        from cosydeploy.release.pipeline import release_one

        with self.quiet():
            image = self.releaser.image_for(self.c, version, build_args, None)
        seen: dict[str, Any] = {}

        def emit(e: Any) -> None:
            now = time.time()
            if isinstance(e, ev.Rollout) and e.watch.verdict.phase is Phase.SUCCEEDED:
                seen.setdefault("verdict_at", now)
            elif isinstance(e, ev.Baking):
                if "bake_at" not in seen and on_bake is not None:
                    threading.Thread(target=on_bake, daemon=True).start()
                seen.setdefault("bake_at", now)
            elif isinstance(e, ev.Step):
                if e.text.startswith("rolling back"):
                    seen.setdefault("rollback_at", now)
                self.progress(e.text)
            elif isinstance(e, ev.Info):
                self.progress(e.text)

        target = replace(self.target, release=replace(self.target.release, bake=bake))
        started = time.time()
        with self.quiet():
            result = release_one(target, image, emit=emit)
        return {"result": result, "started": started, "ended": time.time(), **seen}

    def rolling_window(self, run: dict[str, Any]) -> tuple[float, int]:
        """Minutes and AWS calls from update_service to the watch's verdict."""
        update = next(
            at
            for at, op in self.log_calls.calls
            if op == "ecs.UpdateService" and at >= run["started"]
        )
        watched = self.log_calls.between(update, run["verdict_at"])
        return (run["verdict_at"] - update) / 60, len(watched) - 1  # not update_service

    def kill_one_task(self) -> float | None:
        """Kill the container of one running task of the revision the service runs (the
        sandbox runs each task as a container labelled with its task ARN); when."""
        from cosydeploy.adapters.docker import docker_client

        o = self.target.outputs
        ecs = self.aws.client("ecs")
        service = ecs.describe_services(cluster=o.cluster_name, services=[o.service_name])
        revision = service["services"][0]["taskDefinition"]
        arns = ecs.list_tasks(cluster=o.cluster_name, desiredStatus="RUNNING").get("taskArns", [])
        tasks = ecs.describe_tasks(cluster=o.cluster_name, tasks=arns)["tasks"] if arns else []
        ours = {t["taskArn"] for t in tasks if t.get("taskDefinitionArn") == revision}
        for container in docker_client().containers.list(filters={"status": "running"}):
            if container.labels.get("cosydeploy.task") in ours:
                container.kill()
                return time.time()
        return None


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="cosydeploy-bench-bake-"))
    log_path = root / "bench.log"
    lines: list[str] = []

    def say(line: str = "") -> None:
        lines.append(line)
        print(line, flush=True)

    with log_path.open("w") as log:
        bench = Bench(root, log)
        try:
            bench.setup()
            first = bench.release("v1", bake=2)
            if first["result"].outcome != "succeeded":
                raise RuntimeError(f"v1: {first['result'].message}")

            # 1. calls per minute: the slow rollout's watch, then its bake.
            run = bench.release("bake-slow", bake=BAKE_SECONDS, BREAK="slow")
            r = run["result"]
            if r.outcome != "succeeded" or not r.bake:
                raise RuntimeError(f"bake-slow: {r.outcome}: {r.message}")
            watch_min, watch_calls = bench.rolling_window(run)
            watch_rate = watch_calls / watch_min
            bake_calls = sum(r.bake["aws_calls"].values())
            bake_rate = bake_calls / (r.bake["elapsed"] / 60)
            ratio = bake_rate / watch_rate
            say(
                f"rolling watch: {watch_calls} calls in {watch_min * 60:.0f}s "
                f"= {watch_rate:.1f}/min"
            )
            say(
                f"bake:          {bake_calls} calls in {r.bake['elapsed']:.0f}s "
                f"= {bake_rate:.1f}/min ({', '.join(f'{k} x{v}' for k, v in r.bake['aws_calls'].items())})"
            )
            say(
                f"calls per minute, bake / rolling watch: {ratio:.2f} "
                f"(target <= {TARGET_RATIO:g}: {verdict(ratio <= TARGET_RATIO)})"
            )
            if STRATEGY != "rolling":
                bench.switch_strategy(STRATEGY)
                run = bench.release(f"{STRATEGY}-slow", bake=BAKE_SECONDS, BREAK="slow")
                r = run["result"]
                if r.outcome != "succeeded" or not r.bake:
                    raise RuntimeError(f"{STRATEGY}-slow: {r.outcome}: {r.message}")
                bake_calls = sum(r.bake["aws_calls"].values())
                bake_rate = bake_calls / (r.bake["elapsed"] / 60)
                ratio = bake_rate / watch_rate
                calls = ", ".join(f"{k} x{v}" for k, v in r.bake["aws_calls"].items())
                say(
                    f"{STRATEGY} bake: {bake_calls} calls in {r.bake['elapsed']:.0f}s "
                    f"= {bake_rate:.1f}/min ({calls})"
                )
                say(
                    f"calls per minute, {STRATEGY} bake / rolling watch: {ratio:.2f} "
                    f"(target <= {TARGET_RATIO:g}: {verdict(ratio <= TARGET_RATIO)})"
                )

            # 2. a task stopping during the bake -> the rollback starting.
            seed = int(os.environ.get("COSY_SEED") or time.time())
            rng = random.Random(seed)
            reactions: list[float] = []
            for i in range(1, KILL_RUNS + 1):
                delay = rng.uniform(*KILL_WINDOW)
                killed: dict[str, float | None] = {}

                def kill(delay: float = delay, killed: dict = killed) -> None:
                    time.sleep(delay)
                    killed["at"] = bench.kill_one_task()

                run = bench.release(f"bake-kill-{seed}-{i}", bake=BAKE_SECONDS, on_bake=kill)
                r = run["result"]
                at = killed.get("at")
                if r.outcome != "rolled_back" or "rollback_at" not in run or at is None:
                    say(f"  run {i}: {r.outcome}: {r.message} (not counted)")
                    continue
                reactions.append(run["rollback_at"] - at)
                bench.progress(f"run {i}: killed {delay:.1f}s into the bake; {reactions[-1]:.2f}s")
            if reactions:
                median = statistics.median(reactions)
                say(
                    f"task stopped -> rollback started: median {median:.2f}s over "
                    f"{len(reactions)} runs ({', '.join(f'{x:.1f}' for x in reactions)}; "
                    f"kills at random moments, seed {seed}) "
                    f"(target <= {TARGET_REACTION:g}s: {verdict(median <= TARGET_REACTION)}; "
                    f"{STRATEGY})"
                )
            else:
                say("task stopped -> rollback started: no run counted")
        except Exception:
            traceback.print_exc(file=log)
            print(f"the benchmark could not run; see {log_path}", file=sys.stderr)
            return 1
        finally:
            with contextlib.suppress(Exception):
                bench.box.stop()
    print(f"(log: {log_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
