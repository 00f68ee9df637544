"""The rollout view: a row per client/env; plain lines only when a row changes."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

from rich.console import Console

from cosydeploy.ecs.watch import Phase, Verdict
from cosydeploy.ui import console
from cosydeploy.ui.live import RolloutView


def watch(state: str, running: int, *, key: str = "acme/dev", started: float | None = None):
    verdict = Verdict(
        Phase.IN_PROGRESS,
        "",
        "ecs-svc/1",
        rollout_state=state,
        running=running,
        pending=2 - running,
        desired=2,
    )
    return SimpleNamespace(
        key=key, label="v2 app:7", verdict=verdict, started_at=started or time.time()
    )


def test_plain_rows_are_printed_only_when_they_change(capsys) -> None:
    view = RolloutView(live=False)
    with view:
        view.update(watch("IN_PROGRESS", 0))
        view.update(watch("IN_PROGRESS", 0, started=time.time() - 5))  # only elapsed moved
        view.update(watch("IN_PROGRESS", 1))
        view.update(watch("COMPLETED", 2))
        view.events(
            watch("COMPLETED", 2), [{"message": "(service app) has reached a steady state."}]
        )
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split(" (")[0] for ln in lines[:3]] == [
        "  [acme/dev] v2 app:7 IN_PROGRESS running 0/2 pending 2 failed 0",
        "  [acme/dev] v2 app:7 IN_PROGRESS running 1/2 pending 1 failed 0",
        "  [acme/dev] v2 app:7 COMPLETED running 2/2 pending 0 failed 0",
    ]
    assert lines[3] == "  [acme/dev] (service app) has reached a steady state."


def test_live_table_has_a_row_per_client(monkeypatch) -> None:
    buf = io.StringIO()
    term = Console(file=buf, force_terminal=True, width=120, no_color=True)
    monkeypatch.setattr(console, "err", lambda: term)
    with RolloutView(live=True) as view:
        view.update(watch("IN_PROGRESS", 1, key="acme/dev"))
        view.update(watch("COMPLETED", 2, key="zeta/dev"))
    out = buf.getvalue()
    for text in ("CLIENT/ENV", "acme/dev", "zeta/dev", "COMPLETED", "IN_PROGRESS", "v2 app:7"):
        assert text in out
