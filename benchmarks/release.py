"""Release benchmarks (issue 5): one in-process sandbox, ratios from one run.

1. AWS API calls for one client's release with a ~60 s rollout, counted with botocore
   ``before-call`` hooks on the session the release uses (target <= 40).
2. Detection latency: from the rollout driver marking a deployment COMPLETED to the
   watcher's SUCCEEDED verdict, median over several fast releases (target <= 2 s).
3. Side by side with ecs-deploy (its own virtualenv under ``.cache/bench-ecs-deploy``):
   the same image (by digest) to the same sandbox service, both as CLI commands;
   wall time and API calls (counted on the moto server by the SDK's user-agent app id).
   Also a crash-on-start image: does ecs-deploy call the rolled-back deployment a success?

Timings are printed, never asserted: exit 0 even when a target is MISSED; non-zero only
when the benchmark itself could not run. Progress goes to a log file in the temp
directory (named at the end); the report goes to stdout.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ECS_DEPLOY_VERSION = "1.17.0"
ECS_DEPLOY_VENV = REPO / ".cache" / "bench-ecs-deploy"
SLOW_SECONDS = 52  # the slow image sleeps this long before serving: a ~60 s rollout
GRACE_SECONDS = 90  # above SLOW_SECONDS, so slow tasks are not killed as unhealthy
TARGET_CALLS = 40
TARGET_DETECT = 2.0
DETECT_RUNS = 5
CLIENT, ENV = "example", "dev"
APP_INPROC, APP_COSY, APP_ECSD = "bench-inproc", "bench-cosydeploy", "bench-ecs-deploy"


# ----------------------------------------------------------------------------- counting


class CallCounter:
    """botocore ``before-call`` hook: one entry per API call (retries are not extra calls)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, event_name: str = "", **_: Any) -> None:
        _, service, op = event_name.split(".", 2)
        with self._lock:
            self.calls.append(f"{service}.{op}")

    def mark(self) -> int:
        return len(self.calls)

    def since(self, mark: int) -> Counter[str]:
        with self._lock:
            return Counter(self.calls[mark:])


class RequestTally:
    """WSGI middleware on the moto server: requests per user-agent ``app/<id>``.

    Counts what reaches AWS from any process (ecs-deploy, the cosydeploy CLI,
    Terraform) without hooks in it: each run sets ``AWS_SDK_UA_APP_ID``.
    """

    _APP = re.compile(r"\bapp/([A-Za-z0-9._-]+)")
    _SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/")

    def __init__(self, app: Any) -> None:
        self.app = app
        self.rows: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        m = self._APP.search(environ.get("HTTP_USER_AGENT", ""))
        if m:
            scope = self._SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
            service = scope.group(1) if scope else "?"
            op = environ.get("HTTP_X_AMZ_TARGET", "").rsplit(".", 1)[-1]
            if not op and "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
                # Query protocol (STS, ...): the action is in the body; put the body back.
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                environ["wsgi.input"] = io.BytesIO(body)
                op = (parse_qs(body.decode(errors="replace")).get("Action") or [""])[0]
            if not op:
                op = f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')[:40]}"
            with self._lock:
                self.rows.append((m.group(1), f"{service}.{op}"))
        return self.app(environ, start_response)

    def mark(self) -> int:
        return len(self.rows)

    def since(self, mark: int, app_id: str) -> Counter[str]:
        with self._lock:
            return Counter(call for who, call in self.rows[mark:] if who == app_id)


def top(calls: Counter[str], n: int = 6) -> str:
    return ", ".join(f"{k} x{v}" for k, v in calls.most_common(n))


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# ----------------------------------------------------------------------------- setup


def make_project(dest: Path) -> Path:
    """A private project copy: grace period above the slow image's warm-up, SLOW_SECONDS."""
    dest.mkdir(parents=True)
    cfg = (REPO / "cosydeploy.yaml").read_text()
    cfg, n = re.subn(
        r"health_check_grace_period: \d+", f"health_check_grace_period: {GRACE_SECONDS}", cfg
    )
    if n != 1:
        raise RuntimeError("cosydeploy.yaml has no release.health_check_grace_period to set")
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
    text, n = re.subn(
        r"(\n  environment:\n)",
        rf'\1    SLOW_SECONDS: "{SLOW_SECONDS}"\n',
        manifest.read_text(),
        count=1,
    )
    if n != 1:
        raise RuntimeError(f"{manifest.name} has no app.environment to add SLOW_SECONDS to")
    manifest.write_text(text)
    return dest


def cli(*args: str, input: str | None = None) -> str:
    """Run the cosydeploy CLI in-process (like the e2e tests); fail loudly on a non-zero exit."""
    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    r = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    if r.exit_code != 0:
        raise RuntimeError(
            f"cosydeploy {' '.join(args)} exited {r.exit_code}:\n{r.stdout}{r.stderr}"
        )
    return r.stdout + r.stderr


def ensure_ecs_deploy(log: Any) -> Path:
    """ecs-deploy in its own virtualenv (it pins its own boto3); pinned version."""
    ecs = ECS_DEPLOY_VENV / "bin" / "ecs"
    pip = ECS_DEPLOY_VENV / "bin" / "pip"
    if ecs.exists():
        show = subprocess.run(
            [str(pip), "show", "ecs-deploy"], capture_output=True, text=True, check=False
        )
        if f"Version: {ECS_DEPLOY_VERSION}" in show.stdout:
            return ecs
    subprocess.run(
        [sys.executable, "-m", "venv", str(ECS_DEPLOY_VENV)], check=True, stdout=log, stderr=log
    )
    subprocess.run(
        [str(pip), "install", "-q", f"ecs-deploy=={ECS_DEPLOY_VERSION}"],
        check=True,
        stdout=log,
        stderr=log,
    )
    return ecs


# ----------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, root: Path, log: Any) -> None:
        self.root = root
        self.log = log
        self.box: Any = None
        self.tally: RequestTally | None = None
        self.images: dict[str, Any] = {}
        self.lines: list[str] = []

    # -- plumbing

    def say(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)

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
        server = self.box._moto._server  # peek: count every request the moto server answers
        self.tally = RequestTally(server.app)
        server.app = self.tally
        os.environ.update(self.box.env())
        os.environ.update(
            {
                "COSYDEPLOY_PROJECT_DIR": str(self.project),
                "COSYDEPLOY_SANDBOX": "1",
                "NO_COLOR": "1",
                "CHECKPOINT_DISABLE": "1",
            }
        )
        os.environ.pop("AWS_SDK_UA_APP_ID", None)
        with self.quiet():
            t0 = time.perf_counter()
            self.progress(cli("onboard", CLIENT, "--env", ENV, "--yes"))
            self.onboard_s = time.perf_counter() - t0

            from cosydeploy.adapters.aws import guard_account, open_session
            from cosydeploy.cli.app import App

            self.g = App(str(self.project), True, "text", False)
            self.proj, self.c = self.g.project, self.g.client_env(CLIENT, ENV)
            for name in self.c.secrets:
                cli("secrets", "set", CLIENT, "--env", ENV, name, input=f"bench-{name.lower()}")
            # The session every in-process release uses: hooked, and tagged for the tally.
            self.aws = open_session(self.c.region)
            self.aws.session._session.set_config_variable("user_agent_appid", APP_INPROC)
            self.counter = CallCounter()
            self.aws.session.events.register(
                "before-call.*.*", self.counter, unique_id="cosydeploy-bench-calls"
            )
            guard_account(self.aws, self.c.account_id, "bench")
            self.releaser = self.g.releaser
            self.releaser._sessions[(self.c.client, self.c.env)] = self.aws
            self.target = self.releaser.target(self.c, self.releaser.stack_outputs(self.c))

    def build(self, version: str, **build_args: str) -> Any:
        with self.quiet():
            img = self.releaser.image_for(self.c, version, build_args, None)
        self.images[version] = img
        return img

    def release(self, version: str, *, expect_ok: bool = True) -> dict[str, Any]:
        """One in-process release through the pipeline; calls, verdict time, driver times."""
        from cosydeploy import events as ev
        from cosydeploy.ecs.watch import Phase
        from cosydeploy.release.model import ReleaseOptions
        from cosydeploy.release.pipeline import release_one

        seen: dict[str, Any] = {}

        def on_update(w: Any) -> None:
            if w.verdict.phase is Phase.SUCCEEDED and "verdict_at" not in seen:
                seen["verdict_at"] = time.time()
                seen["deployment_id"] = w.deployment_id

        def emit(e: Any) -> None:
            if isinstance(e, ev.Rollout):
                on_update(e.watch)
            elif isinstance(e, ev.Step | ev.Info):
                self.progress(e.text)

        mark, tmark = self.counter.mark(), self.tally.mark()
        t0 = time.perf_counter()
        with self.quiet():
            result = release_one(self.target, self.images[version], ReleaseOptions(), emit=emit)
        wall = time.perf_counter() - t0
        if expect_ok and result.outcome != "succeeded":
            raise RuntimeError(f"release {version}: {result.outcome}: {result.message}")
        out = {
            "result": result,
            "wall": wall,
            "calls": self.counter.since(mark),
            "server": self.tally.since(tmark, APP_INPROC),
            **seen,
        }
        dep = self.driver_deployment(seen.get("deployment_id"))
        if dep is not None:
            out["completed_at"] = dep.updated_at.timestamp()
            out["rollout"] = dep.updated_at.timestamp() - dep.created_at.timestamp()
        return out

    def driver_deployment(self, dep_id: str | None) -> Any:
        """Peek into the rollout driver: the deployment it completed, with its timestamps."""
        if not dep_id:
            return None
        for state in list(self.box.driver.states.values()):
            for dep in [state.last_completed, *state.deployments]:
                if dep is not None and dep.id == dep_id and dep.rollout_state == "COMPLETED":
                    return dep
        return None

    def serving_image(self) -> str:
        o = self.target.outputs
        ecs = self.aws.client("ecs")
        resp = ecs.describe_services(cluster=o.cluster_name, services=[o.service_name])
        svc = resp["services"][0]
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        return next(
            cd["image"] for cd in td["containerDefinitions"] if cd["name"] == o.container_name
        )

    def run_tool(self, app_id: str, cmd: list[str]) -> dict[str, Any]:
        """A CLI command as a subprocess; its AWS calls counted on the server by app id."""
        env = dict(os.environ, AWS_SDK_UA_APP_ID=app_id)
        mark = self.tally.mark()
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, check=False, timeout=600
        )
        wall = time.perf_counter() - t0
        self.progress(f"$ {' '.join(cmd)}  (exit {proc.returncode})\n{proc.stdout}{proc.stderr}")
        return {
            "rc": proc.returncode,
            "wall": wall,
            "calls": self.tally.since(mark, app_id),
            "out": proc.stdout + proc.stderr,
        }

    def cosydeploy_cli(self, version: str) -> dict[str, Any]:
        return self.run_tool(
            APP_COSY,
            [
                sys.executable,
                "-m",
                "cosydeploy",
                "--sandbox",
                "release",
                version,
                "--client",
                CLIENT,
                "--env",
                ENV,
            ],
        )

    def ecs_deploy(self, ecs: Path, version: str) -> dict[str, Any]:
        o = self.target.outputs
        return self.run_tool(
            APP_ECSD,
            [
                str(ecs),
                "deploy",
                o.cluster_name,
                o.service_name,
                "--image",
                o.container_name,
                self.images[version].uri,
                "--region",
                self.target.region,
                "--timeout",
                "300",
                "--no-deregister",
            ],
        )

    # -- the benchmarks

    def run(self) -> None:
        with self.quiet():
            ecs = ensure_ecs_deploy(self.log)
        t0 = time.perf_counter()
        self.setup()
        self.say(
            f"setup: sandbox + onboard {CLIENT}/{ENV} in {time.perf_counter() - t0:.0f} s "
            f"(onboard {self.onboard_s:.0f} s); ecs-deploy {ECS_DEPLOY_VERSION}"
        )
        self.build("bench-a")
        self.build("bench-b")
        self.build("bench-slow", BREAK="slow")
        self.build("bench-crash", BREAK="crash")
        self.release("bench-a")  # warm-up: the first real deployment of the service

        # 2. detection latency over fast releases (alternating, so each is a real rollout)
        lat, fast_calls, fast_server, fast_wall = [], [], [], []
        for i in range(DETECT_RUNS):
            r = self.release("bench-b" if i % 2 == 0 else "bench-a")
            if "completed_at" in r:
                lat.append(r["verdict_at"] - r["completed_at"])
            fast_calls.append(sum(r["calls"].values()))
            fast_server.append(sum(r["server"].values()))
            fast_wall.append(r["wall"])

        # 1. API calls for a ~60 s rollout
        slow = self.release("bench-slow")
        n = sum(slow["calls"].values())
        self.say("")
        self.say(
            f"1. API calls, one release with a {slow.get('rollout', 0):.0f} s rollout "
            f"(botocore before-call hooks): {n} -> {n / TARGET_CALLS:.2f}x of the "
            f"{TARGET_CALLS} target ({verdict(n <= TARGET_CALLS)})"
        )
        self.say(f"   {top(slow['calls'], 8)}")
        self.say(
            f"   the same release counted on the moto server: {sum(slow['server'].values())}; "
            f"wall {slow['wall']:.0f} s; a fast release: {statistics.median(fast_calls):.0f}"
            " calls"
        )

        self.say("")
        if lat:
            med = statistics.median(lat)
            self.say(
                f"2. detection latency (driver COMPLETED -> watcher verdict), median of "
                f"{len(lat)}: {med:.2f} s -> {med / TARGET_DETECT:.2f}x of the "
                f"{TARGET_DETECT:.0f} s target ({verdict(med <= TARGET_DETECT)}); "
                f"min {min(lat):.2f} s, max {max(lat):.2f} s"
            )
        else:
            self.say("2. detection latency: MISSED (no completed deployment was seen)")
        if "completed_at" in slow:
            self.say(
                f"   the ~60 s rollout: {slow['verdict_at'] - slow['completed_at']:.2f} s (one sample; "
                "polling has backed off to its 3 s cap by then, so expect 0-3 s)"
            )

        # 3. side by side, the same image by digest to the same service, both as CLIs
        self.release("bench-b")  # same starting point for both
        cosy = self.cosydeploy_cli("bench-a")
        ok_cosy = cosy["rc"] == 0 and self.serving_image() == self.images["bench-a"].uri
        self.release("bench-b")
        ed = self.ecs_deploy(ecs, "bench-a")
        a_uri = self.images["bench-a"].uri
        self.say("")
        self.say(
            f"3. side by side, fast image {a_uri.rsplit('@', 1)[-1][:19]} (from the same "
            f"starting revision), CLI commands, calls counted on the moto server:"
        )
        cc, ec = sum(cosy["calls"].values()), sum(ed["calls"].values())
        self.say(
            f"   wall: cosydeploy {cosy['wall']:.1f} s (exit {cosy['rc']}) vs ecs-deploy "
            f"{ed['wall']:.1f} s (exit {ed['rc']}) -> {cosy['wall'] / ed['wall']:.2f}x"
        )
        self.say(
            f"   calls: cosydeploy {cc} vs ecs-deploy {ec} -> {cc / max(ec, 1):.2f}x "
            "(cosydeploy's include the account guard, Terraform's state reads, secrets "
            "preflight, lock and ledger)"
        )
        pipeline_wall = statistics.median(fast_wall)
        self.say(
            f"   cosydeploy's pipeline alone (in-process, median of the fast releases): "
            f"{pipeline_wall:.1f} s, incl. verify (3 x 200 from the health path, 1 s apart); "
            f"the rest is the CLI: start-up, account guard, Terraform outputs, ECR lookup"
        )
        self.say(f"   cosydeploy: {top(cosy['calls'], 12)}")
        self.say(f"   ecs-deploy: {top(ed['calls'], 12)}")
        overhead = cc - statistics.median(fast_server)
        full = n + overhead
        self.say(
            f"   -> a whole `cosydeploy release` command with the ~60 s rollout: about {n} + "
            f"{overhead:.0f} (CLI: this run's {cc} minus the pipeline's "
            f"{statistics.median(fast_server):.0f}) = {full:.0f} calls -> "
            f"{full / TARGET_CALLS:.2f}x of the {TARGET_CALLS} target "
            f"({verdict(full <= TARGET_CALLS)})"
        )
        if not ok_cosy or ed["rc"] != 0:
            self.say("   note: a side-by-side run did not end serving the image (see the log)")

        self.release("bench-b")
        eds = self.ecs_deploy(ecs, "bench-slow")
        sc = sum(eds["calls"].values())
        self.say(
            f"   ~60 s rollout: cosydeploy's pipeline {n} calls in {slow['wall']:.0f} s vs "
            f"ecs-deploy {sc} in {eds['wall']:.0f} s (exit {eds['rc']}) -> calls "
            f"{n / max(sc, 1):.2f}x, wall {slow['wall'] / eds['wall']:.2f}x"
        )

        # the point of the product: a crash-on-start image, rolled back by the circuit breaker
        before = self.serving_image()
        crash_uri = self.images["bench-crash"].uri

        def what(uri: str) -> str:
            names = {img.uri: v for v, img in self.images.items()}
            return names.get(uri, uri) + (" (the crash image)" if uri == crash_uri else "")

        crash = self.ecs_deploy(ecs, "bench-crash")
        after = self.serving_image()
        said_ok = crash["rc"] == 0 and "Deployment successful" in crash["out"]
        said = 'said "Deployment successful"' if said_ok else "reported a failure"
        self.say("")
        self.say(
            f"   crash-on-start image, ecs-deploy: exit {crash['rc']} ({said}) in "
            f"{crash['wall']:.0f} s; serving afterwards: {what(after)} "
            f"(before: {what(before)})"
        )
        if said_ok and after != crash_uri:
            self.say("   -> ecs-deploy called a rolled-back deployment a success")
        before = after
        cr = self.cosydeploy_cli("bench-crash")
        after = self.serving_image()
        self.say(
            f"   crash-on-start image, cosydeploy: exit {cr['rc']} (1 = failed, back on the "
            f"last good release) in {cr['wall']:.0f} s; serving afterwards: {what(after)} "
            f"(before: {what(before)})"
        )

    def cleanup(self) -> None:
        if self.box is None:
            return
        registry = self.box.info.registry if self.box.info else None
        with self.quiet():
            self.box.stop()
        if registry:
            with contextlib.suppress(Exception):
                from cosydeploy.adapters.docker import docker_client

                dc = docker_client()
                for image in dc.images.list():
                    if any(t.startswith(registry + "/") for t in image.tags):
                        for t in image.tags:
                            with contextlib.suppress(Exception):
                                dc.images.remove(t, noprune=False)


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="cosydeploy-bench-release-"))
    log_path = root / "bench.log"
    rc = 0
    with open(log_path, "w") as log:
        bench = Bench(root, log)
        try:
            bench.run()
        except Exception:
            traceback.print_exc(file=log)
            print(
                f"release benchmark could not run: {traceback.format_exc().splitlines()[-1]}"
                f" (log: {log_path})",
                file=sys.stderr,
            )
            rc = 1
        finally:
            bench.cleanup()
    if rc == 0:
        shutil.rmtree(root, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
