"""The live view of rollouts: one row per client/env, and only new service events.

On a terminal the rows are one table redrawn in place (rich Live, drawn on the same
console as every message, so events and steps are printed above the table and never
glued onto its last line; its width follows the terminal at each redraw); under CI, in
a pipe or with NO_COLOR's plain console, a row is printed as a line whenever it
changes, so logs stay readable. Under ``--quiet`` it shows nothing.

Events are shortened (ARNs to names, long ids to short ones) unless ``--debug``, and
an event already shown for a client/env (the rollback's watch sees the failed
rollout's events again) is not shown twice.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from cosydeploy.ui import console

COLUMNS = (
    "CLIENT/ENV",
    "VERSION",
    "ROLLOUT",
    "RUNNING",
    "PENDING",
    "DESIRED",
    "FAILED",
    "ELAPSED",
    "BAKE",
)


class RolloutView:
    """Collects watch updates (``cosydeploy.ecs.watch.Watch``) and shows them."""

    def __init__(self, live: bool | None = None) -> None:
        self.quiet = console.is_quiet()
        self.live_enabled = (console.is_interactive() if live is None else live) and not self.quiet
        self.rows: dict[str, tuple[str, ...]] = {}
        self._printed: dict[str, tuple[str, ...]] = {}
        # key -> (started_at, finished_at or None): the elapsed column moves between polls
        self._clock: dict[str, tuple[float | None, float | None]] = {}
        self._seen: dict[str, set[str]] = {}
        self._bake: dict[str, str] = {}  # key -> the BAKE cell (time left, baked, FAILED)
        self._bake_left: dict[str, float | None] = {}  # key -> seconds left when last said
        self._live: Any = None
        self._lock = threading.RLock()

    def __enter__(self) -> RolloutView:
        if self.live_enabled:
            self._live = _live_class()(
                console=console.err(),
                get_renderable=self._renderable,
                refresh_per_second=4,
                # Results go to stdout after the view closes; stdout is never rerouted
                # onto the terminal's stderr (a script reading stdout must get them).
                redirect_stdout=False,
            )
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    @staticmethod
    def row_of(w: Any, now: float | None = None) -> tuple[str, ...]:
        v = w.verdict
        elapsed = (now or time.time()) - w.started_at if w.started_at else 0.0
        return (
            w.key,
            w.label or "-",
            (v.rollout_state or v.phase.value) + (f" ({v.traffic})" if v.traffic else ""),
            str(v.running),
            str(v.pending),
            str(v.desired),
            str(v.failed_tasks),
            f"{elapsed:.0f}s",
        )

    def update(self, w: Any) -> None:
        """A watch was polled: refresh its row (printed only when it changed)."""
        now = time.time()
        row = self.row_of(w, now)
        # Draw outside the lock: the live display's refresh thread takes its own lock,
        # then this one (in _table); taking them the other way round would deadlock.
        with self._lock:
            if self.rows.get(w.key, row)[1] != row[1]:
                self._bake.pop(w.key, None)  # another rollout (a rollback) on this row
            self.rows[w.key] = row
            done = getattr(w.verdict.phase, "done", False)
            self._clock[w.key] = (w.started_at, now if done else None)
            live = self._live
            changed = self._printed.get(w.key, ())[:-1] != row[:-1]  # elapsed alone is no news
            if changed:
                self._printed[w.key] = row
        if self.quiet:
            return
        if live is not None:
            live.refresh()
            return
        if changed:
            key, version, state, running, pending, desired, failed, elapsed = row
            console.info(
                f"  [{key}] {version} {state} running {running}/{desired} "
                f"pending {pending} failed {failed} ({elapsed})"
            )

    def bake(self, key: str, stage: str, remaining: float, total: float, text: str) -> None:
        """The bake after a verified rollout, in the BAKE column: the time left, then
        baked or FAILED. A plain console prints its start, a line about every 30 s, and
        its end (with what was seen when it failed)."""
        if stage == "baking":
            cell = f"{remaining:.0f}s left"
        else:
            cell = "baked" if stage == "baked" else "FAILED"
        with self._lock:
            was = self._bake_left.get(key)
            self._bake_left[key] = remaining if stage == "baking" else None
            self._bake[key] = cell
            live = self._live
            version = self.rows.get(key, (key, "-"))[1]
        if self.quiet:
            return
        if live is not None:
            live.refresh()
            if stage == "failed":
                console.info(f"  [{key}] bake failed: {text}")
            return
        # Plain output: the first countdown, one line per 30 s, the end.
        if (
            stage == "baking"
            and was is not None
            and math.ceil(was / 30) == math.ceil(remaining / 30)
        ):
            return
        said = {"baking": f"baking, {cell}", "baked": "baked", "failed": f"bake failed: {text}"}
        console.info(f"  [{key}] {version} {said.get(stage, stage)}")

    def events(self, w: Any, events: list[dict[str, Any]]) -> None:
        """Service events not seen before for this client/env, oldest first."""
        fresh = []
        with self._lock:
            seen = self._seen.setdefault(w.key, set())
            for e in events:
                ident = str(e.get("id") or (e.get("createdAt"), e.get("message")))
                if ident not in seen:
                    seen.add(ident)
                    fresh.append(str(e.get("message", "")))
        for message in fresh:  # printed outside the lock (see update)
            console.event(f"  [{w.key}] ", message)

    def _elapsed(self, key: str, shown: str, now: float) -> str:
        started, finished = self._clock.get(key, (None, None))
        if not started:
            return shown
        return f"{(finished or now) - started:.0f}s"

    def _table(self) -> Any:
        from rich.table import Table

        now = time.time()
        t = Table(box=None, pad_edge=False)
        for c in COLUMNS:
            # On a narrow terminal the version folds onto more lines; the rest is cut
            # (with an ellipsis) only when even that is not enough.
            if c == "VERSION":
                t.add_column(c, overflow="fold", min_width=10)
            else:
                t.add_column(c, no_wrap=True, overflow="ellipsis")
        with self._lock:
            for key, row in self.rows.items():
                t.add_row(*row[:-1], self._elapsed(key, row[-1], now), self._bake.get(key, "-"))
        return t

    def _renderable(self) -> Any:
        return _Measured(self._table(), self._live)


class _Measured:
    """Renders the table and tells the live display how wide each line came out."""

    def __init__(self, renderable: Any, live: Any) -> None:
        self.renderable = renderable
        self.live = live

    def __rich_console__(self, con: Any, options: Any) -> Any:
        from rich.segment import Segment

        lines = con.render_lines(self.renderable, options, pad=False)
        if self.live is not None:
            self.live.drawn_widths = [Segment.get_line_length(line) for line in lines]
        for i, line in enumerate(lines):
            yield from line
            if i < len(lines) - 1:
                yield Segment.line()


_LIVE: Any = None


def _live_class() -> Any:
    """rich's Live, resize-safe: before a redraw on a narrower terminal, the lines the
    terminal re-wrapped (reflowed) are counted, so all of the old table is erased and
    no half of it stays on screen as a second header."""
    global _LIVE
    if _LIVE is not None:
        return _LIVE
    from rich.live import Live

    class ResizeSafeLive(Live):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.drawn_widths: list[int] = []

        def process_renderables(self, renderables: list[Any]) -> list[Any]:
            shape = self._live_render._shape
            width = self.console.width
            if shape is not None and self.drawn_widths and width > 0:
                rows = sum(max(1, -(-w // width)) for w in self.drawn_widths)
                if rows > shape[1]:
                    self._live_render._shape = (shape[0], rows)
            return super().process_renderables(renderables)

    _LIVE = ResizeSafeLive
    return _LIVE
