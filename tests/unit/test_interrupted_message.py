"""Ctrl-C's message says only what was true: where the run was when it stopped."""

from __future__ import annotations

from types import SimpleNamespace

from cosydeploy import events as ev
from cosydeploy.ui.present import Presenter


def test_during_the_build_nothing_was_deployed_and_no_lock_is_claimed() -> None:
    p = Presenter()
    p.emit(ev.Step("acme/dev", "image cosyworld:v1"))
    p._track(ev.BuildOutput("acme/dev", "Step 1/4 : FROM scratch"))
    text = p.interrupted()
    assert text == "interrupted during the build or push: nothing was deployed"
    assert "lock" not in text and "ECS" not in text


def test_after_the_lock_before_the_rollout_nothing_changed() -> None:
    p = Presenter()
    p._track(ev.BuildOutput("acme/dev", "Step 1/4"))
    p._track(ev.Step("acme/dev", "lock"))
    assert "nothing changed on ECS" in p.interrupted()


def test_during_a_rollout_it_names_who_was_rolling_out() -> None:
    p = Presenter()
    p._track(ev.Step("acme/dev", "lock"))
    p._track(ev.Rollout("acme/dev", SimpleNamespace()))
    p._track(ev.Step("beta/dev", "lock"))
    text = p.interrupted()
    assert text.startswith("interrupted while acme/dev rolled out")
    assert "beta/dev" not in text and "goes on" in text
