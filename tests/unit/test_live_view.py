"""The rollout view: a row per client/env; plain lines only when a row changes."""

from __future__ import annotations

import io
import re
import time
from types import SimpleNamespace

import pytest
from rich.console import Console

from cosydeploy.ecs.watch import Phase, Verdict
from cosydeploy.ui import console
from cosydeploy.ui.live import COLUMNS, RolloutView


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


# ------------------------------------------------------------------ on a terminal


@pytest.fixture
def terminal(monkeypatch):
    """The one stderr console as a 120-column terminal, recorded."""
    buf = io.StringIO()
    term = Console(file=buf, force_terminal=True, width=120, no_color=True, soft_wrap=False)
    monkeypatch.setattr(console, "err", lambda: term)
    monkeypatch.setattr(console, "is_interactive", lambda: True)
    return buf


@pytest.fixture(autouse=True)
def plain_mode(monkeypatch):
    monkeypatch.delenv("COSYDEPLOY_QUIET", raising=False)
    monkeypatch.delenv("COSYDEPLOY_DEBUG", raising=False)
    console.configure(quiet=False, debug=False)
    console._warned.clear()
    yield
    console.configure(quiet=False, debug=False)


def screen(raw: str) -> list[str]:
    """What a terminal shows after ``raw``: cursor-up and erase-line applied."""
    lines: list[str] = [""]
    row = 0
    for token in re.split(r"(\x1b\[[0-9;]*[A-Za-z]|\r|\n)", raw):
        if not token:
            continue
        if token == "\n":
            row += 1
            if row == len(lines):
                lines.append("")
        elif token == "\r":
            pass  # the column is not tracked: every write here starts a line
        elif token.startswith("\x1b["):
            if token.endswith("A"):
                row -= int(token[2:-1] or 1)
            elif token.endswith("K"):
                lines[row] = ""
        else:
            lines[row] += token
    return [ln.rstrip() for ln in lines if ln.strip()]


TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/example-dev/0000000000000000"


def test_messages_during_the_live_table_are_printed_above_it(terminal) -> None:
    with RolloutView() as view:
        view.update(watch("IN_PROGRESS", 1, key="example/dev"))
        view.events(
            watch("IN_PROGRESS", 1, key="example/dev"),
            [{"id": "e1", "message": f"(service app) registered 1 targets in (target-group {TG})"}],
        )
        console.info("  verify: OK http://127.0.0.1:5000/health/ready")
        view.update(watch("COMPLETED", 2, key="example/dev"))
    shown = screen(terminal.getvalue())
    assert (
        shown[0]
        == "  [example/dev] (service app) registered 1 targets in (target-group example-dev)"
    )
    assert shown[1] == "  verify: OK http://127.0.0.1:5000/health/ready"
    assert shown[2].split() == list(COLUMNS)
    assert shown[3].split()[:4] == ["example/dev", "v2", "app:7", "COMPLETED"]
    assert len(shown) == 4  # one table, one header
    assert all(len(line) <= 120 for line in shown)


def test_an_event_shown_once_is_not_shown_again_by_the_rollback_watch(capsys) -> None:
    e = {"id": "e1", "message": "(service app) has started 1 tasks: (task " + "ab12cd34" * 4 + ")."}
    with RolloutView(live=False) as view:
        view.events(watch("IN_PROGRESS", 0), [e])
        view.events(watch("IN_PROGRESS", 0), [e, {"id": "e2", "message": "rolled back"}])
    assert capsys.readouterr().err.splitlines() == [
        "  [acme/dev] (service app) has started 1 tasks: (task ab12cd34).",
        "  [acme/dev] rolled back",
    ]


def test_debug_keeps_the_full_event(capsys) -> None:
    console.configure(debug=True)
    with RolloutView(live=False) as view:
        view.events(watch("IN_PROGRESS", 0), [{"id": "1", "message": f"in {TG}"}])
    assert capsys.readouterr().err == f"  [acme/dev] in {TG}\n"


def test_quiet_shows_no_rows_no_events_no_messages(capsys) -> None:
    console.configure(quiet=True)
    with RolloutView() as view:
        view.update(watch("IN_PROGRESS", 1))
        view.events(watch("IN_PROGRESS", 1), [{"id": "1", "message": "x"}])
        console.info("info")
        console.step("step")
        console.warn("warn")
        console.result("acme/dev: release v2 succeeded")
    captured = capsys.readouterr()
    assert (captured.err, captured.out) == ("", "acme/dev: release v2 succeeded\n")


def test_a_narrow_terminal_gets_lines_no_longer_than_itself(monkeypatch) -> None:
    buf = io.StringIO()
    term = Console(file=buf, force_terminal=True, width=72, no_color=True, soft_wrap=False)
    monkeypatch.setattr(console, "err", lambda: term)
    with RolloutView(live=True) as view:
        view.update(watch("IN_PROGRESS", 1, key="a-long-client-name/staging"))
        view.events(
            watch("IN_PROGRESS", 1, key="a-long-client-name/staging"),
            [{"id": "1", "message": "(service app) " + "word " * 40}],
        )
    shown = screen(buf.getvalue())
    assert shown and all(len(line) <= 72 for line in shown)
    assert sum(line.startswith("CLIENT/ENV") for line in shown) == 1


# ------------------------------------------------------------------ warnings, build, push


def test_a_warning_is_shown_once_per_cause(capsys, tmp_path) -> None:
    assert console.warn_once("tag:app:git-1", "tag kept")
    assert not console.warn_once("tag:app:git-1", "tag kept")
    assert console.warn_once("tag:app:git-2", "other tag kept")
    assert capsys.readouterr().err == "warning: tag kept\nwarning: other tag kept\n"


def test_a_remembered_warning_is_shown_once_across_runs(capsys, tmp_path) -> None:
    memory = tmp_path / ".cosydeploy" / "warned.json"
    console.configure(memory=memory)
    try:
        assert console.warn_once("k", "first run", remember=True)
        console._warned.clear()  # a new process
        assert not console.warn_once("k", "second run", remember=True)
        console.configure(debug=True)
        assert console.warn_once("k", "with --debug", remember=True)
    finally:
        console._memory = None
    assert capsys.readouterr().err == "warning: first run\nwarning: with --debug\n"


BUILD = ["Step 1/2 : FROM scratch", " ---> Using cache", "Step 2/2 : COPY busybox /bin/", "ok"]


def test_build_in_a_log_prints_a_line_per_step(capsys) -> None:
    with console.build_progress("docker build app:v2") as p:
        for line in BUILD:
            p.line(line)
    assert capsys.readouterr().err.splitlines() == [
        "docker build app:v2 ...",
        "  build: Step 1/2 : FROM scratch",
        "  build: Step 2/2 : COPY busybox /bin/",
    ]


def test_build_on_a_terminal_is_one_line_left_at_the_last_step(terminal) -> None:
    with console.build_progress("docker build app:v2") as p:
        for line in BUILD:
            p.line(line)
    shown = screen(terminal.getvalue())
    assert shown == ["docker build app:v2: 2 steps"]
    assert "Step 2/2 : COPY busybox /bin/" in terminal.getvalue()


def test_build_with_debug_prints_every_line(capsys) -> None:
    console.configure(debug=True)
    with console.build_progress("docker build app:v2") as p:
        for line in BUILD:
            p.line(line)
    assert len(capsys.readouterr().err.splitlines()) == 1 + len(BUILD)


def test_push_in_a_log_prints_each_layer_once_when_done(capsys) -> None:
    with console.push_progress("push app:v2") as p:
        p("aaaaaaaaaaaa11", "Preparing")
        p("aaaaaaaaaaaa11", "Pushing", 10, 100)
        p("aaaaaaaaaaaa11", "Pushed")
        p("bbbbbbbbbbbb22", "Layer already exists")
        p("bbbbbbbbbbbb22", "Layer already exists")
    assert capsys.readouterr().err.splitlines() == [
        "push app:v2 ...",
        "  push aaaaaaaaaaaa: Pushed",
        "  push bbbbbbbbbbbb: Layer already exists",
    ]


def test_push_on_a_terminal_draws_a_bar_per_layer_then_one_summary(terminal) -> None:
    from cosydeploy.image import PushProgress

    with console.push_progress("push app:v2") as p:
        p.update(PushProgress("aaaaaaaaaaaa11", "Pushing", 50, 100))
        p._bars.refresh()
        p.update(PushProgress("aaaaaaaaaaaa11", "Pushed"))
        p.update(PushProgress("bbbbbbbbbbbb22", "Layer already exists"))
    raw = terminal.getvalue()
    assert "aaaaaaaaaaaa" in raw and "Pushing" in raw  # the bar was drawn
    assert screen(raw) == ["push app:v2: 2 layers (1 layer already exists, 1 pushed)"]


# ------------------------------------------------------------------ shortening


@pytest.mark.parametrize(
    ("text", "short"),
    [
        (
            f"registered 1 targets in (target-group {TG})",
            "registered 1 targets in (target-group example-dev)",
        ),
        (
            "arn:aws:ecs:us-east-1:123456789012:task/cosyworld-example-dev/5c7d0cf8fc1a4b8c9d1f39b0b9b7dbd2",
            "5c7d0cf8",
        ),
        ("(task 5c7d0cf8fc1a4b8c9d1f39b0b9b7dbd2) stopped", "(task 5c7d0cf8) stopped"),
        (
            "arn:aws:ecs:us-east-1:123456789012:task-definition/cosyworld-example-dev:3",
            "cosyworld-example-dev:3",
        ),
        (
            "arn:aws:ecs:us-east-1:123456789012:service/c/cosyworld-example-dev.",
            "cosyworld-example-dev.",
        ),
        (
            "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/cosy-lb/50dc6c495c0c9188",
            "cosy-lb",
        ),
        (
            "arn:aws:secretsmanager:us-east-1:1:secret:cosyworld/example/dev/MONGO_URI-AbCdEf",
            "MONGO_URI-AbCdEf",
        ),
        ("was sha256:" + "0123456789ab" + "f" * 52 + ", now", "was sha256:0123456789ab, now"),
        (
            "deployment ecs-svc/1234567890123456789 completed",
            "deployment ecs-svc/1234567890123456789 completed",
        ),
    ],
)
def test_events_are_shortened_to_names_and_short_ids(text: str, short: str) -> None:
    from cosydeploy.ui.text import has_raw_arn, shorten

    assert shorten(text) == short
    assert not has_raw_arn(shorten(text))


def test_a_uuid_task_id_is_shortened_too() -> None:
    from cosydeploy.ui.text import shorten

    assert (
        shorten(
            "(task 8215ffab-6897-4dc0-b4a2-6746f718b2c9) (task 2b11f34f-11d3-4abb-9564-de7a070ba372)."
        )
        == "(task 8215ffab) (task 2b11f34f)."
    )


def test_on_a_terminal_messages_are_shortened_and_events_cut_to_one_line(terminal) -> None:
    console.info(f"  + secrets.X: {TG}")
    console.event("  [a/dev] ", "(service app) " + "x" * 200)
    shown = screen(terminal.getvalue())
    assert shown[0] == "  + secrets.X: example-dev"
    assert len(shown) == 2 and len(shown[1]) == 120 and shown[1].endswith("…")


def test_the_bake_counts_down_in_plain_lines(capsys) -> None:
    with RolloutView(live=False) as view:
        view.update(watch("COMPLETED", 2))
        for left in (300.0, 295.5, 271.0, 269.9, 240.2, 238.6):
            view.bake("acme/dev", "baking", left, 300.0, "")
        view.bake("acme/dev", "failed", 0.0, 300.0, "alarm a is in ALARM")
    lines = capsys.readouterr().err.splitlines()[1:]
    assert lines == [
        "  [acme/dev] v2 app:7 baking, 300s left",
        "  [acme/dev] v2 app:7 baking, 270s left",
        "  [acme/dev] v2 app:7 baking, 239s left",
        "  [acme/dev] v2 app:7 bake failed: alarm a is in ALARM",
    ]


def test_the_bake_column_of_the_live_table(terminal) -> None:
    with RolloutView() as view:
        view.update(watch("COMPLETED", 2, key="example/dev"))
        view.bake("example/dev", "baking", 42.4, 60.0, "")
        view.bake("example/dev", "baked", 0.0, 60.0, "")
    shown = screen(terminal.getvalue())
    assert shown[0].split() == list(COLUMNS)
    assert shown[1].split()[-1] == "baked"
    assert len(shown) == 2
