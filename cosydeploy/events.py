"""What the core reports while it works. The core emits events; the CLI presents them
(text, live view, JSON, GitHub output). The core never prints, prompts or exits.

An event sink is any callable taking one event; ``ignore`` drops them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    key: str  # "client/env", or "" for the run as a whole


@dataclass(frozen=True)
class Step(Event):
    """A step begins (``lock``, ``rolling out``, ``rolling back to v2``)."""

    text: str


@dataclass(frozen=True)
class Info(Event):
    text: str


@dataclass(frozen=True)
class Warning(Event):
    text: str
    cause: str = ""  # the same cause is shown once per run


@dataclass(frozen=True)
class DiffShown(Event):
    diff: Any  # cosydeploy.ecs.taskdef.TaskDefDiff


@dataclass(frozen=True)
class Rollout(Event):
    """A watched deployment changed (counts, rollout state)."""

    watch: Any  # cosydeploy.ecs.watch.Watch


@dataclass(frozen=True)
class ServiceEvents(Event):
    """New ECS service events of a watched deployment."""

    watch: Any
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Diagnosed(Event):
    diagnosis: Any  # cosydeploy.ecs.diagnose.Diagnosis


@dataclass(frozen=True)
class Verified(Event):
    ok: bool | None  # None: skipped
    text: str


@dataclass(frozen=True)
class Baking(Event):
    """The bake after a verified release: ``stage`` baking (``remaining`` of ``total``
    seconds), baked, or failed (``text`` says what was seen)."""

    stage: str
    remaining: float
    total: float
    text: str = ""


@dataclass(frozen=True)
class BuildOutput(Event):
    line: str


@dataclass(frozen=True)
class PushProgress(Event):
    layer: str
    status: str
    current: int | None = None
    total: int | None = None


@dataclass(frozen=True)
class WaveStarted(Event):
    index: int
    clients: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ClientDone(Event):
    result: Any  # cosydeploy.release.result.ReleaseResult


@dataclass(frozen=True)
class LongStep(Event):
    """A step with no progress of its own (Terraform plan/apply): ``done`` closes it."""

    text: str
    done: bool = False


Sink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A sink that drops every event."""
