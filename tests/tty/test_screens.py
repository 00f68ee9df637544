"""A release, a failing release rolled back, a fleet of three and an interactive
onboard, each run in tmux and judged by its final screen (see conftest.py).

The cases run in file order, each from the state the previous one left: tty1 is
onboarded through its prompts, then released to with example and tty2 as a fleet.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tmuxterm import Terminal, assert_clean, keep_screen

SECRETS = (
    "DISCORD_BOT_TOKEN",
    "ENCRYPTION_KEY",
    "GOOGLE_AI_API_KEY",
    "MONGO_URI",
    "OPENROUTER_API_KEY",
    "TELEGRAM_BOT_TOKEN",
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ENV = "--sandbox"


def set_secrets(sandbox_env: dict[str, str], client: str) -> None:
    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    saved = dict(os.environ)
    os.environ.update(sandbox_env)
    try:
        for name in SECRETS:
            r = CliRunner().invoke(
                app, ["secrets", "set", client, "--env", "dev", name], input=f"{client}-{name}"
            )
            assert r.exit_code == 0, r.stdout + r.stderr
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.timeout(240)
def test_onboard_answered_through_its_prompts(terminal: Terminal, sandbox_env, e2e_project: Path):
    screen = terminal.run(
        f"cosydeploy {ENV} onboard tty1 --env dev",
        timeout=180,
        answers=(
            (r"^Name \[Tty1\]:", ""),
            (r"^Contact:", "ops@tty1.example.com"),
            (r"^Tier \[\w+\]:", ""),
            (r"^Account id:", "123456789012"),
            (r"^Region \[[\w-]+\]:", ""),
            (r"^Domain \[[\w.]+\]:", ""),
            (r"Apply this plan\? \[y/N\]:", "y"),
        ),
    )
    keep_screen("onboard", screen)
    assert screen.exit_code == 0, screen.text
    assert (e2e_project / "clients" / "tty1.yaml").is_file()
    assert screen.count(r"^wrote clients/tty1\.yaml$") == 1, screen.text
    assert screen.count(r"Apply this plan\? \[y/N\]: y$") == 1, screen.text
    assert_clean(screen)
    set_secrets(sandbox_env, "tty1")


@pytest.mark.timeout(240)
def test_release(terminal: Terminal, onboarded: str) -> None:
    screen = terminal.run(f"cosydeploy {ENV} release v1 --client example --env dev", timeout=200)
    keep_screen("release", screen)
    assert screen.exit_code == 0, screen.text
    assert screen.count(r"^CLIENT/ENV\s+VERSION\s+ROLLOUT") == 1, screen.text
    assert screen.count(r"^example/dev\s+v1 \S+\s+COMPLETED\s") == 1, screen.text
    assert screen.count(r"^example/dev: release v1 succeeded \(sha256:[0-9a-f]{12}\)") == 1, (
        screen.text
    )
    assert screen.count(r"verify: OK") == 1, screen.text
    assert_clean(screen)


@pytest.mark.timeout(300)
def test_failing_release_is_rolled_back(terminal: Terminal, onboarded: str) -> None:
    screen = terminal.run(
        f"cosydeploy {ENV} release v2 --client example --env dev --build-arg BREAK=crash",
        timeout=260,
    )
    keep_screen("release-rolled-back", screen)
    assert screen.exit_code == 1, screen.text
    # One table: the rollback's row replaces the failed rollout's row.
    assert screen.count(r"^CLIENT/ENV\s+VERSION\s+ROLLOUT") == 1, screen.text
    assert screen.count(r"^example/dev\s+back to v1\b") == 1, screen.text
    assert screen.count(r"^example/dev: release v2 rolled_back\b") == 1, screen.text
    assert_clean(screen)


@pytest.mark.timeout(420)
def test_fleet_of_three(terminal: Terminal, sandbox_env, onboarded: str, e2e_project: Path):
    if not (e2e_project / "clients" / "tty1.yaml").is_file():
        pytest.fail("tty1 was not onboarded (see the onboard case)")
    onboard = terminal.run(
        f"cosydeploy {ENV} onboard tty2 --env dev --yes "
        "--contact ops@tty2.example.com --account-id 123456789012",
        timeout=180,
    )
    assert onboard.exit_code == 0, onboard.text
    set_secrets(sandbox_env, "tty2")
    screen = terminal.run(
        f"cosydeploy {ENV} release v3 --env dev --client example --client tty1 --client tty2",
        timeout=300,
    )
    keep_screen("fleet", screen)
    assert screen.exit_code == 0, screen.text
    assert screen.count(r"^CLIENT/ENV\s+VERSION\s+ROLLOUT") == 1, screen.text
    for cid in ("example", "tty1", "tty2"):
        assert screen.count(rf"^{cid}/dev\s+v3 \S+\s+COMPLETED\s") == 1, screen.text
        assert screen.count(rf"^{cid}\s+dev\s+v3\s+succeeded\s") == 1, screen.text
    assert screen.count(r"^CLIENT\s+ENV\s+VERSION\s+OUTCOME") == 1, screen.text
    assert_clean(screen)
