"""`cosydeploy doctor` against the sandbox: all OK, then one thing broken at a time.

The broken cases use clients of their own (``docclient``, ``wrongacct``); the all-OK
case the sample client ``example``, onboarded for the session.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.slow

CLIENT_ROWS = {"aws credentials", "aws account", "secrets"}
ACCOUNT_ROWS = {"state bucket", "lock table", "ledger table", "ecr repository", "dns zone"}
LOCAL_ROWS = {"python", "packages", "docker engine", "terraform"}


def manifest(client: str, account_id: str) -> str:
    return (
        f"client: {client}\n"
        f"name: Doctor test {client}\n"
        "contact: ops@example.com\n"
        "tier: dev\n"
        "aws:\n"
        f'  account_id: "{account_id}"\n'
        "  region: us-east-1\n"
        "domain: cosyworld.ai\n"
        "environments:\n"
        "  dev: {}\n"
        "app:\n"
        "  secrets: [TELEGRAM_BOT_TOKEN]\n"
    )


REQUIRED_BUT_ONE = (  # every required secret but TELEGRAM_BOT_TOKEN
    "DISCORD_BOT_TOKEN",
    "ENCRYPTION_KEY",
    "GOOGLE_AI_API_KEY",
    "MONGO_URI",
    "OPENROUTER_API_KEY",
)


@pytest.fixture(scope="module")
def extra_clients(stage) -> Iterator[None]:
    """docclient onboarded with one required secret unset; wrongacct in another account.

    The doctor only reads: the scenarios share them."""
    stage.onboard(
        "docclient",
        manifest=manifest("docclient", "123456789012"),
        secrets=REQUIRED_BUT_ONE,
        value=lambda cid, name: f"doc-{name}-value",
    )
    stage.write_manifest("wrongacct", manifest("wrongacct", "111111111111"))
    yield
    stage.retire("docclient", "wrongacct")


def rows_of(stdout: str) -> list[dict[str, str]]:
    rows = json.loads(stdout)
    assert isinstance(rows, list) and rows
    return rows


def by_check(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {r["check"]: r for r in rows}


def test_doctor_is_all_ok_against_the_sandbox(onboarded, cosy) -> None:
    r = cosy("-o", "json", "doctor", onboarded, "--env", "dev")
    assert r.exit_code == 0, r.output
    rows = by_check(rows_of(r.stdout))
    assert set(rows) == LOCAL_ROWS | CLIENT_ROWS | ACCOUNT_ROWS
    for name, row in rows.items():
        expected = "SKIP" if name == "dns zone" else "OK"
        assert row["status"] == expected, row
    assert "sandbox" in rows["dns zone"]["detail"]
    assert rows["secrets"]["target"] == "example/dev"
    assert rows["aws account"]["detail"].startswith("123456789012")
    assert rows["lock table"]["detail"].startswith("cosyworld-deploy-locks")
    assert rows["ledger table"]["detail"].startswith("cosyworld-releases")
    assert "cosyworld-terraform-state" in rows["state bucket"]["detail"]

    text = cosy("doctor", onboarded, "--env", "dev")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].split()[:4] == ["CHECK", "TARGET", "STATUS", "DETAIL"]
    dns = next(ln for ln in lines if ln.startswith("dns zone"))
    assert " SKIP " in dns
    assert "hint for" not in text.stdout
    assert f"{len(rows) - 1} ok, 0 failed, 1 skipped" in text.stderr


def test_doctor_fails_the_secrets_row_naming_the_missing_one(
    onboarded, extra_clients, cosy
) -> None:
    required = REQUIRED_BUT_ONE
    r = cosy("-o", "json", "doctor", "docclient", "--env", "dev")
    assert r.exit_code == 2, r.output
    rows = rows_of(r.stdout)
    failed = [row for row in rows if row["status"] == "FAIL"]
    assert [row["check"] for row in failed] == ["secrets"], failed
    (row,) = failed
    assert row["target"] == "docclient/dev"
    assert row["detail"] == "required secrets without a value: TELEGRAM_BOT_TOKEN"
    assert "cosydeploy secrets set docclient --env dev" in row["hint"]
    assert "error: doctor: 1 check failed: secrets (docclient/dev)" in r.stderr
    assert {row["check"] for row in rows} == LOCAL_ROWS | CLIENT_ROWS | ACCOUNT_ROWS
    assert "doc-DISCORD_BOT_TOKEN-value" not in r.output

    text = cosy("doctor", "docclient", "--env", "dev")
    assert text.exit_code == 2
    assert "hint for secrets (docclient/dev): cosydeploy secrets set docclient" in text.stdout
    assert not [v for v in required if f"doc-{v}-value" in text.output]


def test_doctor_fails_the_account_row_naming_both_ids(onboarded, extra_clients, cosy) -> None:
    r = cosy("-o", "json", "doctor", "wrongacct", "--env", "dev")
    assert r.exit_code == 2, r.output
    rows = rows_of(r.stdout)
    failed = [row for row in rows if row["status"] == "FAIL"]
    assert [row["check"] for row in failed] == ["aws account"], failed
    (row,) = failed
    assert "111111111111" in row["detail"] and "123456789012" in row["detail"]
    assert "clients/wrongacct.yaml" in row["detail"]
    # With the wrong account nothing else is looked at as that client.
    after = rows[[x["check"] for x in rows].index("aws account") + 1 :]
    assert after and all(x["status"] == "SKIP" for x in after), after
    assert by_check(rows)["aws credentials"]["status"] == "OK"


def test_doctor_without_a_client_checks_every_client(onboarded, extra_clients, cosy) -> None:
    r = cosy("-o", "json", "doctor", "--env", "dev")
    assert r.exit_code == 2, r.output
    rows = rows_of(r.stdout)
    failed = sorted((row["check"], row["target"]) for row in rows if row["status"] == "FAIL")
    assert failed == [("aws account", "wrongacct/dev"), ("secrets", "docclient/dev")]
    assert ("secrets", "example/dev", "OK") in {
        (x["check"], x["target"], x["status"]) for x in rows
    }
    # Account-wide rows once per account, however many clients share it.
    checked = [x for x in rows if x["check"] == "lock table" and x["status"] != "SKIP"]
    assert len(checked) == 1, checked
