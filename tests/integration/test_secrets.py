"""Secrets round trip against a moto server over HTTP: set, list, check.

The value must appear in no output (stdout, stderr) and no log record, even at DEBUG.
"""

from __future__ import annotations

import io
import json
import logging
import secrets as pysecrets
import sys
import types

import pytest

from cosydeploy import secrets
from cosydeploy.errors import EXIT_USAGE, UsageError

PROJECT = "cosyworld"
REQUIRED = ("DISCORD_BOT_TOKEN", "ENCRYPTION_KEY", "MONGO_URI")


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def sm(moto_endpoint):
    import boto3
    import requests

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    return boto3.client(
        "secretsmanager",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def cli(sm, monkeypatch):
    """The secrets Typer app, with a context module that resolves every target to moto."""
    from typer.testing import CliRunner

    from cosydeploy.cli import secrets as secrets_cli

    context = types.ModuleType("cosydeploy.cli.context")

    def secrets_target(ctx, client, env):
        return sm, PROJECT, list(REQUIRED)

    context.secrets_target = secrets_target
    monkeypatch.setitem(sys.modules, "cosydeploy.cli.context", context)
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(secrets_cli.app, list(args), input=input)

    return invoke


def _terraform_creates_secret_resources(sm, client, env):
    # What the client stack does: the secret resources, never their values.
    for name in REQUIRED:
        sm.create_secret(Name=secrets.secret_name(PROJECT, client, env, name))


def test_round_trip_never_shows_the_value(sm, cli, caplog):
    caplog.set_level(logging.DEBUG)
    value = "v-" + pysecrets.token_hex(16)
    _terraform_creates_secret_resources(sm, "acme", "dev")
    outputs: list[str] = []

    # check: all three exist, none has a value
    res = cli("check", "acme", "--env", "dev")
    assert isinstance(res.exception, secrets.MissingSecretsError)
    assert res.exception.exit_code == EXIT_USAGE == 2
    for name in REQUIRED:
        assert name in str(res.exception)

    # set: value from stdin
    res = cli("set", "acme", "DISCORD_BOT_TOKEN", "--env", "dev", input=value + "\n")
    assert res.exit_code == 0, res.output
    assert "updated cosyworld/acme/dev/DISCORD_BOT_TOKEN" in res.stdout
    outputs += [res.stdout, res.stderr]

    # list (json and text)
    res = cli("list", "acme", "--env", "dev", "--output", "json")
    assert res.exit_code == 0, res.output
    outputs += [res.stdout, res.stderr]
    rows = {r["name"]: r for r in json.loads(res.stdout)["secrets"]}
    assert set(rows) == set(REQUIRED)
    assert rows["DISCORD_BOT_TOKEN"]["has_value"] is True
    assert rows["DISCORD_BOT_TOKEN"]["last_changed"]
    assert rows["ENCRYPTION_KEY"] == {**rows["ENCRYPTION_KEY"], "exists": True, "has_value": False}
    res = cli("list", "acme", "--env", "dev")
    assert res.exit_code == 0 and "DISCORD_BOT_TOKEN" in res.stdout
    outputs += [res.stdout, res.stderr]

    # check: names exactly the two still without a value
    res = cli("check", "acme", "--env", "dev", "--output", "json")
    outputs += [res.stdout, res.stderr]
    assert json.loads(res.stdout)["missing"] == ["ENCRYPTION_KEY", "MONGO_URI"]
    assert isinstance(res.exception, secrets.MissingSecretsError)
    assert "DISCORD_BOT_TOKEN" not in str(res.exception)

    # set the rest, then check passes
    for name in ("ENCRYPTION_KEY", "MONGO_URI"):
        res = cli("set", "acme", name, "--env", "dev", input=value + name)
        assert res.exit_code == 0, res.output
        outputs += [res.stdout, res.stderr]
    res = cli("check", "acme", "--env", "dev")
    assert res.exit_code == 0, res.output
    outputs += [res.stdout, res.stderr]

    logs = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert caplog.records, "expected botocore records at DEBUG (the check would be vacuous)"
    for text in [*outputs, logs]:
        assert value not in text

    # Only now read the value back (this read itself is logged by botocore at DEBUG).
    stored = sm.get_secret_value(SecretId="cosyworld/acme/dev/DISCORD_BOT_TOKEN")
    assert stored["SecretString"] == value


def test_set_creates_a_secret_terraform_has_not_made(sm, cli):
    res = cli("set", "newco", "OPENROUTER_API_KEY", "--env", "prod", input="abc")
    assert res.exit_code == 0, res.output
    assert "created cosyworld/newco/prod/OPENROUTER_API_KEY" in res.stdout
    assert "abc" not in res.stdout + res.stderr
    status = secrets.list_secrets(sm, PROJECT, "newco", "prod", ["OPENROUTER_API_KEY"])
    assert [(s.name, s.exists, s.has_value) for s in status] == [("OPENROUTER_API_KEY", True, True)]


def test_list_separates_targets_and_reports_extras(sm):
    _terraform_creates_secret_resources(sm, "acme", "dev")
    _terraform_creates_secret_resources(sm, "acme", "prod")
    _terraform_creates_secret_resources(sm, "acme-eu", "dev")  # shares the "acme" prefix
    secrets.set_secret(sm, "cosyworld/acme/dev/LEGACY_TOKEN", "x1")
    status = secrets.list_secrets(sm, PROJECT, "acme", "dev", ["MONGO_URI", "TELEGRAM_TOKEN"])
    got = [(s.name, s.required, s.exists, s.has_value) for s in status]
    assert got == [
        ("MONGO_URI", True, True, False),
        ("TELEGRAM_TOKEN", True, False, False),
        ("DISCORD_BOT_TOKEN", False, True, False),
        ("ENCRYPTION_KEY", False, True, False),
        ("LEGACY_TOKEN", False, True, True),
    ]
    assert secrets.missing_values(status) == ["MONGO_URI", "TELEGRAM_TOKEN"]


def test_set_rejects_empty_stdin_and_bad_names(cli):
    res = cli("set", "acme", "MONGO_URI", "--env", "dev", input="")
    assert isinstance(res.exception, UsageError) and "empty" in str(res.exception)
    res = cli("set", "acme", "bad-name", "--env", "dev", input="x")
    assert isinstance(res.exception, UsageError) and "bad-name" in str(res.exception)


def test_reader_strips_one_newline_from_piped_input():
    assert secrets.read_value_from_stdin_or_prompt(stdin=io.StringIO("a b\n\n")) == "a b\n"
    assert secrets.read_value_from_stdin_or_prompt(stdin=io.StringIO("tok\r\n")) == "tok"
    with pytest.raises(UsageError):
        secrets.read_value_from_stdin_or_prompt(stdin=io.StringIO("  \n"))


def test_reader_uses_a_hidden_prompt_on_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    prompts = []

    def fake_getpass(prompt, stream=None):
        prompts.append(prompt)
        return "typed"

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    assert secrets.read_value_from_stdin_or_prompt("MONGO_URI", stdin=Tty("ignored")) == "typed"
    assert prompts == ["MONGO_URI (input hidden): "]
