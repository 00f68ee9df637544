"""Presenting: events of the core as text, the live view and spinners (stderr), results
as text or JSON (stdout) and as GitHub Actions outputs. The only CLI code that draws."""

from __future__ import annotations

import sys
import threading
from contextlib import ExitStack, contextmanager
from typing import Any

from cosydeploy import events as ev
from cosydeploy.ui import console, github


class Presenter:
    """Turns events into output. Thread-safe: releases in a wave emit from their threads."""

    def __init__(self, *, json: bool = False, debug: bool = False) -> None:
        self.json = json
        self.debug = debug
        self.single = False  # a run of one client: its result line says it all
        self._view: Any = None
        self._live_wanted = False
        self._plain: Any = None
        self._lock = threading.RLock()
        self._spinners: dict[str, ExitStack] = {}
        self._build: dict[str, Any] = {}  # key -> console.BuildProgress while it builds
        self._push: dict[str, Any] = {}  # key -> console.PushProgress while it pushes
        self._stage: dict[str, str] = {}  # key -> how far its run got (for Ctrl-C's message)

    # ------------------------------------------------------------------ events

    def emit(self, e: ev.Event) -> None:
        with self._lock:
            self._track(e)
            self._show(e)

    def _track(self, e: ev.Event) -> None:
        stage = self._stage.get(e.key, "")
        if isinstance(e, ev.BuildOutput | ev.PushProgress):
            stage = stage or "build"
        elif isinstance(e, ev.Step) and e.text == "lock":
            stage = "locked"
        elif isinstance(e, ev.Rollout) or (
            isinstance(e, ev.Step) and e.text.startswith(("registered", "rolling back"))
        ):
            stage = "rollout"
        elif isinstance(e, ev.Baking):
            stage = "bake"
        elif isinstance(e, ev.ClientDone):
            stage = "done"
        if stage:
            self._stage[e.key] = stage

    def interrupted(self) -> str:
        """What Ctrl-C left, from how far each run got: only what was true."""
        with self._lock:
            stages = dict(self._stage)
        rolling = sorted(k for k, s in stages.items() if s == "rollout" and k)
        baking = sorted(k for k, s in stages.items() if s == "bake" and k)
        if baking and not rolling:
            return (
                f"interrupted while {', '.join(baking)} baked: each run recorded "
                "'interrupted' and released its lock; the new version serves, unwatched "
                "(see cosydeploy status / history, or cosydeploy rollback)"
            )
        if rolling:
            return (
                f"interrupted while {', '.join(rolling)} rolled out: each run recorded "
                "'interrupted' and released its lock; the deployment ECS started goes on "
                "(see cosydeploy status / history, or cosydeploy rollback)"
            )
        if any(s == "locked" for s in stages.values()):
            return "interrupted before any deployment started: nothing changed on ECS"
        if any(s == "build" for s in stages.values()):
            return "interrupted during the build or push: nothing was deployed"
        return "interrupted: nothing was deployed"

    def _tag(self, e: ev.Event) -> str:
        return f"  [{e.key}] " if e.key else "  "

    def _show(self, e: ev.Event) -> None:
        if isinstance(e, ev.Step):
            console.step(f"{e.key}: {e.text}" if e.key else e.text)
        elif isinstance(e, ev.Info):
            console.info(f"{self._tag(e)}{e.text}" if e.key else e.text)
        elif isinstance(e, ev.Warning):
            text = f"{e.key}: {e.text}" if e.key else e.text
            if e.cause:  # the same cause once (a kept tag: once across runs too)
                console.warn_once(f"{e.cause}:{e.text}", text, remember=e.cause == "tag-kept")
            else:
                console.warn_once(f"{e.key}:{e.text}", text)
        elif isinstance(e, ev.DiffShown):
            for line in e.diff.lines():
                console.info(f"  {line}")
        elif isinstance(e, ev.Rollout):
            self._rollouts().update(e.watch)
        elif isinstance(e, ev.ServiceEvents):
            self._rollouts().events(e.watch, e.events)
        elif isinstance(e, ev.Diagnosed):
            for line in e.diagnosis.lines():
                console.info(f"{self._tag(e)}{line}")
        elif isinstance(e, ev.Baking):
            self._rollouts().bake(e.key, e.stage, e.remaining, e.total, e.text)
        elif isinstance(e, ev.Verified):
            word = "SKIP" if e.ok is None else "OK" if e.ok else "NG"
            console.info(f"{self._tag(e)}verify: {word} {e.text}")
        elif isinstance(e, ev.BuildOutput):
            if e.key not in self._build:
                self._build[e.key] = console.build_progress(f"docker build {e.key}".strip())
                self._build[e.key].__enter__()
            self._build[e.key].line(e.line)
        elif isinstance(e, ev.PushProgress):
            if e.key in self._build:
                self._end_progress(e.key)
            if e.key not in self._push:
                self._push[e.key] = console.push_progress(f"push {e.key}".strip())
                self._push[e.key].__enter__()
            self._push[e.key](e.layer, e.status, e.current, e.total)
        elif isinstance(e, ev.WaveStarted):
            console.step(f"wave {e.index}: {', '.join(e.clients)}")
        elif isinstance(e, ev.ClientDone):
            if self.single:
                return
            r = e.result
            console.info(f"  [{r.key}] {r.outcome}" + (f": {r.message}" if r.message else ""))
        elif isinstance(e, ev.LongStep):
            self._long_step(e)

    def _end_progress(self, key: str) -> None:
        for running in (self._build, self._push):
            progress = running.pop(key, None)
            if progress is not None:
                progress.__exit__(None, None, None)

    def close(self) -> None:
        """End every progress line still open (the run is over)."""
        for key in list(self._build) + list(self._push):
            self._end_progress(key)

    def _long_step(self, e: ev.LongStep) -> None:
        if e.done:
            stack = self._spinners.pop(e.text, None)
            if stack is not None:
                stack.close()
            return
        stack = ExitStack()
        stack.enter_context(console.progress(f"{e.text} ..."))
        self._spinners[e.text] = stack

    def _rollouts(self) -> Any:
        if self._view is not None:
            return self._view
        if self._live_wanted:
            # The table opens with the first rollout, after builds and plans (each a live
            # line of its own: a terminal shows one live display at a time).
            from cosydeploy.ui.live import RolloutView

            self.close()
            self._view = RolloutView().__enter__()
            return self._view
        if self._plain is None:
            from cosydeploy.ui.live import RolloutView

            self._plain = RolloutView(live=False)
        return self._plain

    @contextmanager
    def live(self):
        """While a run goes on, rollouts show in the live view (from the first one)."""
        self._live_wanted = True
        try:
            yield
        finally:
            with self._lock:
                self.close()
                self._live_wanted = False
                if self._view is not None:
                    self._view.__exit__(None, None, None)
                    self._view = None

    # ------------------------------------------------------------------ results

    def data(self, value: Any) -> None:
        """A result as JSON on stdout."""
        console.print_json(value)

    def line(self, text: str) -> None:
        """A result line on stdout (shown under --quiet too)."""
        console.result(text)

    def run(self, run: Any, *, single: bool) -> None:
        """The results of a release, promotion or rollback: GitHub outputs and summary,
        then one line (a single client) or a table, or JSON (an object for a single
        client, a list otherwise)."""
        results = run.results
        link = github.run_url() or ""
        if not single:
            for r in results:
                with github.group(f"{r.client}/{r.env}: {r.outcome}"):
                    for text in [f"infra: {r.infra}"] * bool(r.infra) + r.warnings + r.diagnosis:
                        console.info(f"  [{r.client}/{r.env}] {text}")
        github.write_summary(
            [
                {
                    "client": r.client,
                    "env": r.env,
                    "version": r.version,
                    "outcome": r.outcome,
                    "duration": r.elapsed,
                    "diagnosis": link if r.diagnosis else "",
                }
                for r in results
            ]
        )
        worst = next((r for r in results if r.exit_code == run.exit_code), None)
        github.set_outputs(
            {
                "version": results[0].version if results else "",
                "digest": run.digest,
                "outcome": worst.outcome if worst and run.exit_code else "succeeded",
                "exit_code": run.exit_code,
            }
        )
        for r in results:
            for note in r.notes:  # cleanup failures: after the outcome, never instead
                console.info(f"[{r.key}] {note}" if not single else note)
            if not single and r.exit_code:  # a fleet's failed client, on the run's page
                github.annotate_error(r.message or r.outcome, title=r.key)
        if worst is not None and worst.hint and run.exit_code and not self.json:
            console.info(f"hint: {worst.hint}")
        if not single:
            for p in run.pace:  # what the run asked of each account (stderr, JSON too)
                console.info(_pace_line(p))
        if self.json:
            self.data(
                results[0].as_dict() if single and results else [r.as_dict() for r in results]
            )
            return
        if single and results:
            r = results[0]
            text = f"{r.client}/{r.env}: {r.kind} {r.version} {r.outcome}"
            if r.digest:
                text += f" ({r.digest[:19]})"
            if r.message:
                text += f": {r.message}"
            self.line(text)
            if r.snapshot:
                self.line(f"{r.key}: {_snapshot_line(r)}")
            return
        console.table(
            None,
            ["CLIENT", "ENV", "VERSION", "OUTCOME", "DURATION", "DIAGNOSIS"],
            [
                [
                    r.client,
                    r.env,
                    r.version,
                    r.outcome,
                    f"{r.elapsed:.0f}s",
                    (r.diagnosis[0] if r.diagnosis else r.message)[:120],
                ]
                for r in results
            ],
            to_stdout=True,
        )

    def rows(self, title: str | None, columns: list[str], rows: list[dict[str, Any]]) -> None:
        """Rows of dicts: JSON as they are, or a table of the given columns."""
        if self.json:
            self.data(rows)
            return
        console.table(
            title,
            [c.upper() for c in columns],
            [[r.get(k, "") for k in columns] for r in rows],
            to_stdout=True,
        )

    def status(self, rows: list[dict[str, Any]]) -> None:
        cols = ["client", "env", "version", "digest", "revision", "running", "desired"]
        self.rows(None, [*cols, "rollout", "last", "outcome"], rows)

    def built(self, version: str, img: Any) -> None:
        """What ``build`` made: the local tags (not pushed), or the image by digest."""
        self.close()
        if isinstance(img, list):
            if self.json:
                self.data({"version": version, "image": img[0], "pushed": False})
            else:
                self.line(img[0])
            return
        outcome = "built" if img.built else "reused"
        github.set_outputs({"version": version, "digest": img.digest, "outcome": outcome})
        if self.json:
            self.data(
                {"version": version, "digest": img.digest, "uri": img.uri, "built": img.built}
            )
        else:
            self.line(img.uri)

    def unlocked(self, c: Any, holder: Any) -> None:
        if self.json:
            self.data({"client": c.client, "env": c.env, "was_held": bool(holder)})
        elif holder:
            self.line(f"{c.target}: lock removed (was held by {holder.describe()})")
        else:
            self.line(f"{c.target}: no lock was held")

    def cutover(self, result: Any) -> None:
        """A cutover step: one line (what moved, or why it went back), its checks on stderr."""
        self.close()
        if self.json:
            self.data(result.as_dict())
            return
        for check in result.checks:
            console.info(f"  {check}")
        done = {"dry_run": "dry run: ", "rolled_back": "FAILED, weights back: "}
        self.line(f"{result.client}/{result.env}: {done.get(result.outcome, '')}{result.message}")

    def history(self, title: str, records: list[Any]) -> None:
        if self.json:
            self.data([r.as_dict() for r in records])
            return
        console.table(
            title,
            ["STARTED", "KIND", "VERSION", "DIGEST", "OUTCOME", "STAGE", "ACTOR", "REVISION"],
            [
                [
                    r.started_at,
                    r.kind,
                    r.version,
                    r.digest[7:19],
                    r.outcome + (" (reconciled)" if r.reconciled_at else ""),
                    r.stage or "-",
                    r.actor,
                    r.task_definition_arn.rsplit("/", 1)[-1],
                ]
                for r in records
            ],
            to_stdout=True,
        )

    def mapping(self, title: str, data: dict[str, Any]) -> None:
        """One object: JSON as it is, or a KEY/VALUE table."""
        if self.json:
            self.data(data)
            return
        console.table(
            title, ["KEY", "VALUE"], [[k, _fmt(v)] for k, v in data.items()], to_stdout=True
        )

    def plan(self, summary: Any) -> None:
        rows = [
            [ch.action, ch.address] for ch in summary.changes if ch.action not in {"no-op", "read"}
        ]
        if rows:
            console.table(None, ["ACTION", "ADDRESS"], rows)
        console.info(
            f"plan: {summary.adds} to add, {summary.updates} to change, {summary.destroys} to destroy"
            + ("" if summary.has_changes else " (no changes)")
        )

    def infra_results(self, results: list[Any]) -> None:
        if self.json:
            self.data([r.as_dict() for r in results])
            return
        for r in results:
            self.line(f"{r.client}/{r.env}: {r.state}; app_url {r.outputs.get('app_url') or '-'}")


def _pace_line(p: Any) -> str:
    """A run's reads in one account/region (a ``cosydeploy.release.model.Pace``)."""
    said = [f"{p.retried} attempt(s) throttled by AWS"] if p.retried else []
    if p.throttled:
        said.append(f"{p.throttled} still refused after the SDK's retries, waited out")
    throttled = ", ".join(said) or "none throttled"
    return (
        f"AWS reads in {p.account}/{p.region}: {p.reads} for {p.clients} client/env(s) in "
        f"{p.minutes:.1f} min, {p.per_client_per_minute:.1f} a client a minute; at most "
        f"{p.peak_per_second} in any second (bound {p.bound_per_second:g}); {throttled}"
    )


def _snapshot_line(r: Any) -> str:
    """The Redis snapshot of a result: taken before this release, or before the release a
    rollback went back from (restoring from it is a person's decision)."""
    if r.kind == "rollback":
        return (
            f"redis snapshot taken before the release rolled back from: {r.snapshot} (not restored)"
        )
    if r.outcome == "rolled_back":
        return f"redis snapshot taken before this release: {r.snapshot} (not restored)"
    return f"redis snapshot taken before this release: {r.snapshot}"


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items()) or "-"
    if isinstance(v, list | tuple):
        return ", ".join(map(str, v)) or "-"
    return "-" if v is None else str(v)


def report_error(exc: Any, *, debug: bool = False) -> None:
    """One line of what and where, then the hint; an annotation under GitHub Actions.
    With --debug, the traceback and a tool's own output first."""
    if debug:
        import traceback

        traceback.print_exc()
        if getattr(exc, "output", ""):
            print(exc.output, file=sys.stderr)
    console.err().print(f"error: {exc.message}", markup=False)
    if exc.hint:
        console.err().print(f"hint: {exc.hint}", markup=False)
    for line in getattr(exc, "also", None) or []:
        console.err().print(line, markup=False)  # cleanup failures: after the cause
    github.annotate_error(
        getattr(exc, "detail", exc.message),
        file=getattr(exc, "file", None),
        line=getattr(exc, "line", None),
    )


def report_interrupted(shown: Presenter | None) -> None:
    """What Ctrl-C left: how far each run had got (only what was true)."""
    print(shown.interrupted() if shown else "interrupted", file=sys.stderr)


def report_unexpected(exc: BaseException, *, debug: bool = False) -> None:
    """A failure no adapter translated (a bug, or an AWS answer nobody expected): one
    line, and what to check, since a release in flight may be in any state."""
    if debug:
        import traceback

        traceback.print_exc()
    console.err().print(f"error: unexpected {type(exc).__name__}: {exc}", markup=False)
    console.err().print(
        "hint: if a release or rollback was running, check `cosydeploy status`; "
        "run again with --debug for the traceback",
        markup=False,
    )
