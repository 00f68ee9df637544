"""`--output json` on every command that has a result: one JSON document on stdout,
nothing else there; the same with COSYDEPLOY_OUTPUT=json instead of the flag.

One client of this module's own, onboarded in dev and staging, serving j2 after j1 in
dev. Every row leaves it able to run every other row (a rollback goes to the other
good release; the promotion of j1 is a release or a no-op).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.slow

C = "{client}"  # replaced by the module's client id

# (command id, arguments, stdin)
COMMANDS: list = [
    ("validate", ("validate", C), None),
    ("schema", ("schema",), None),
    ("clients list", ("clients", "list", "--env", "dev"), None),
    ("clients show", ("clients", "show", C, "--env", "dev"), None),
    ("render", ("render", C, "--env", "dev"), None),
    ("plan", ("plan", C, "--env", "dev"), None),
    ("apply", ("apply", C, "--env", "dev", "--yes"), None),
    ("onboard", ("onboard", C, "--env", "dev", "--yes"), None),
    ("build", ("build", "j1"), None),
    ("build --push", ("build", "j1", "--push", "--client", C, "--env", "dev"), None),
    ("release --dry-run", ("release", "j3", "--client", C, "--env", "dev", "--dry-run"), None),
    ("promote", ("promote", "j1", "--from", "dev", "--to", "staging", "--client", C), None),
    ("rollback", ("rollback", C, "--env", "dev"), None),
    ("status", ("status", C, "--env", "dev"), None),
    ("history", ("history", C, "--env", "dev"), None),
    ("unlock", ("unlock", C, "--env", "dev"), None),
    ("cost", ("cost", C, "--env", "dev"), None),
    ("doctor", ("doctor", C, "--env", "dev"), None),
    ("secrets set", ("secrets", "set", C, "MONGO_URI", "--env", "dev"), "mongodb://j"),
    ("secrets list", ("secrets", "list", C, "--env", "dev"), None),
    ("secrets check", ("secrets", "check", C, "--env", "dev"), None),
    ("sandbox status", ("sandbox", "status"), None),
]


def _id(row) -> str:
    name = row.values[0] if hasattr(row, "values") else row[0]
    return name.replace(" --", "-").replace(" ", "-")


@pytest.fixture(scope="module")
def client(stage) -> Iterator[str]:
    cid = stage.onboard(stage.new_id("json"), envs=("dev", "staging"))
    stage.release("j1", cid)
    stage.release("j2", cid)
    yield cid
    stage.retire(cid)
    stage.retire(cid, env="staging")


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize(
    ("name", "args", "stdin"),
    COMMANDS,
    ids=[_id(c) for c in COMMANDS],
)
def test_one_json_document_on_stdout(
    client, cosy, monkeypatch: pytest.MonkeyPatch, how: str, name: str, args, stdin
) -> None:
    argv = [a.replace(C, client) for a in args]
    if how == "flag":
        r = cosy("--output", "json", *argv, input=stdin)
    else:
        monkeypatch.setenv("COSYDEPLOY_OUTPUT", "json")
        r = cosy(*argv, input=stdin)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip(), f"{name}: nothing on stdout"
    try:
        json.loads(r.stdout)  # the whole of stdout: one document, nothing before or after
    except json.JSONDecodeError as exc:
        pytest.fail(f"{name}: stdout is not one JSON document ({exc}):\n{r.stdout}")
