"""A result line: whole for scripts, shortened for a person on a terminal."""

from __future__ import annotations

import io
import sys

import pytest

from cosydeploy.ui import console

LINE = (
    "example/dev: release v2 rolled_back: v2 failed (deployment ecs-svc/1 was replaced by "
    "ecs-svc/2 (arn:aws:ecs:us-east-1:123456789012:task-definition/cosyworld-example-dev:2))"
)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_result_keeps_the_whole_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    console.result(LINE)
    assert out.getvalue() == LINE + "\n"


def test_terminal_result_names_the_task_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    out = Tty()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.delenv("COSYDEPLOY_DEBUG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    console.result(LINE)
    text = out.getvalue()
    assert "arn:aws" not in text
    assert "(cosyworld-example-dev:2))" in text


def test_terminal_result_under_debug_keeps_the_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    out = Tty()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv("COSYDEPLOY_DEBUG", "1")
    monkeypatch.setenv("COLUMNS", "400")
    console.result(LINE)
    assert "arn:aws:ecs:us-east-1:123456789012:task-definition/cosyworld-example-dev:2" in (
        out.getvalue().replace("\n  ", " ")
    )
