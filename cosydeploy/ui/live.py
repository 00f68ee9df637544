"""The live view of rollouts: one row per client/env, and only new service events.

On a terminal the rows are a table redrawn in place (rich Live) with events printed
above it; under CI, in a pipe or with NO_COLOR's plain console, a row is printed as a
line whenever it changes, so logs stay readable.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from cosydeploy.ui import console

COLUMNS = ("CLIENT/ENV", "VERSION", "ROLLOUT", "RUNNING", "PENDING", "DESIRED", "FAILED", "ELAPSED")


class RolloutView:
    """Collects watch updates (``cosydeploy.ecs.watch.Watch``) and shows them."""

    def __init__(self, live: bool | None = None) -> None:
        self.live_enabled = console.is_interactive() if live is None else live
        self.rows: dict[str, tuple[str, ...]] = {}
        self._printed: dict[str, tuple[str, ...]] = {}
        self._live: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> RolloutView:
        if self.live_enabled:
            from rich.live import Live

            self._live = Live(self._table(), console=console.err(), refresh_per_second=4)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None

    @staticmethod
    def row_of(w: Any, now: float | None = None) -> tuple[str, ...]:
        v = w.verdict
        elapsed = (now or time.time()) - w.started_at if w.started_at else 0.0
        return (
            w.key,
            w.label or "-",
            v.rollout_state or v.phase.value,
            str(v.running),
            str(v.pending),
            str(v.desired),
            str(v.failed_tasks),
            f"{elapsed:.0f}s",
        )

    def update(self, w: Any) -> None:
        """A watch was polled: refresh its row (printed only when it changed)."""
        row = self.row_of(w)
        with self._lock:
            self.rows[w.key] = row
            if self._live is not None:
                self._live.update(self._table())
                return
            if self._printed.get(w.key, ())[:-1] != row[:-1]:  # elapsed alone is no news
                self._printed[w.key] = row
                key, version, state, running, pending, desired, failed, elapsed = row
                console.info(
                    f"  [{key}] {version} {state} running {running}/{desired} "
                    f"pending {pending} failed {failed} ({elapsed})"
                )

    def events(self, w: Any, events: list[dict[str, Any]]) -> None:
        """Service events not seen before, oldest first."""
        with self._lock:
            for e in events:
                console.info(f"  [{w.key}] {e.get('message', '')}")

    def _table(self) -> Any:
        from rich.table import Table

        t = Table(box=None, pad_edge=False)
        for c in COLUMNS:
            t.add_column(c)
        for row in self.rows.values():
            t.add_row(*row)
        return t
