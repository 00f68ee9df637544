"""Guards before anything changes: the account guard, and apply's confirmation."""

from __future__ import annotations

import json
from pathlib import Path


def test_wrong_account_is_refused_naming_both(onboarded, cosy, e2e_project: Path) -> None:
    manifest = e2e_project / "clients" / "example.yaml"
    original = manifest.read_text()
    manifest.write_text(
        original.replace('account_id: "123456789012"', 'account_id: "111111111111"')
    )
    try:
        for args in (
            ("plan", "example", "--env", "dev"),
            ("release", "v9", "--client", "example", "--env", "dev"),
        ):
            r = cosy(*args)
            assert r.exit_code == 2, r.output
            first = r.stderr.splitlines()[0]
            assert first.startswith("error: clients/example.yaml: aws.account_id:"), first
            assert "111111111111" in first and "123456789012" in first
            assert "Traceback" not in r.output
    finally:
        manifest.write_text(original)


def test_apply_without_a_terminal_needs_yes(onboarded, cosy, e2e_project: Path) -> None:
    manifest = e2e_project / "clients" / "example.yaml"
    original = manifest.read_text()
    manifest.write_text(
        original.replace(
            "secrets: [TELEGRAM_BOT_TOKEN]", "secrets: [TELEGRAM_BOT_TOKEN, EXTRA_TOKEN]"
        )
    )
    try:
        r = cosy("apply", "example", "--env", "dev")
        assert r.exit_code == 2, r.output
        assert "refusing to apply without a terminal" in r.stderr
        plan = cosy("-o", "json", "plan", "example", "--env", "dev")
        assert plan.exit_code == 0, plan.output
        assert json.loads(plan.stdout)["changed"] is True  # nothing was applied
    finally:
        manifest.write_text(original)
    again = cosy("-o", "json", "plan", "example", "--env", "dev")
    assert json.loads(again.stdout)["changed"] is False


def test_status_of_an_environment_never_onboarded(onboarded, cosy) -> None:
    r = cosy("-o", "json", "status", "example", "--env", "staging")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [
        {"client": "example", "env": "staging", "rollout": "not onboarded"}
    ]
