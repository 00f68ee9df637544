"""CI-native output under GITHUB_ACTIONS=true: exactly what reaches the log and the files."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from cosydeploy.errors import ConfigError
from cosydeploy.ui import github


@pytest.fixture
def gha(tmp_path, monkeypatch):
    """A GitHub Actions job environment with temp summary and output files."""
    summary = tmp_path / "step_summary.md"
    output = tmp_path / "output.txt"
    summary.write_text("")
    output.write_text("")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_WORKSPACE": str(tmp_path / "repo"),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "cosyworld/deploy",
        "GITHUB_RUN_ID": "4242",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def no_gha(tmp_path, monkeypatch):
    """A laptop: not GitHub Actions, even though the file variables happen to be set."""
    summary = tmp_path / "step_summary.md"
    output = tmp_path / "output.txt"
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    return summary, output


# --- escaping -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("100%", "100%25", "100%25"),
        ("a\nb", "a%0Ab", "a%0Ab"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("k: v, w", "k: v, w", "k%3A v%2C w"),
        ("%0A", "%250A", "%250A"),  # an escape sequence in the input stays literal
    ],
)
def test_escaping(raw, data, prop):
    assert github.escape_data(raw) == data
    assert github.escape_property(raw) == prop


# --- annotations ----------------------------------------------------------------------


def test_error_annotation_with_file_and_line(gha):
    stream = io.StringIO()
    assert github.annotate_error(
        "service.cpu: must be one of 256, 512", "clients/acme.yaml", 12, "manifest", stream=stream
    )
    assert stream.getvalue() == (
        "::error file=clients/acme.yaml,line=12,title=manifest::"
        "service.cpu: must be one of 256, 512\n"
    )


def test_error_annotation_escapes_properties_and_message(gha):
    stream = io.StringIO()
    github.annotate_error(
        "bad value 50%\nsecond line", "clients/a,b:c.yaml", 3, "t: x, y", stream=stream
    )
    assert stream.getvalue() == (
        "::error file=clients/a%2Cb%3Ac.yaml,line=3,title=t%3A x%2C y::"
        "bad value 50%25%0Asecond line\n"
    )


def test_error_annotation_makes_workspace_paths_relative(gha):
    stream = io.StringIO()
    absolute = gha["GITHUB_WORKSPACE"] + "/clients/acme.yaml"
    github.annotate_error("wrong", absolute, 4, stream=stream)
    assert stream.getvalue() == "::error file=clients/acme.yaml,line=4::wrong\n"


def test_error_annotation_without_file_drops_line(gha):
    stream = io.StringIO()
    github.annotate_error("lock held by alice", line=7, stream=stream)
    assert stream.getvalue() == "::error::lock held by alice\n"


def test_warning_annotation(gha):
    stream = io.StringIO()
    assert github.annotate_warning("drift", "terraform/stacks/client/main.tf", 9, stream=stream)
    assert stream.getvalue() == "::warning file=terraform/stacks/client/main.tf,line=9::drift\n"


def test_config_error_becomes_a_file_annotation(gha):
    exc = ConfigError(
        "must be at most 20 characters",
        file="clients/acme.yaml",
        line=2,
        field="client",
        hint="shorten the client id",
    )
    stream = io.StringIO()
    assert github.annotate_exception(exc, stream=stream)
    assert stream.getvalue() == (
        "::error file=clients/acme.yaml,line=2,title=cosydeploy%3A ConfigError::"
        "client: must be at most 20 characters%0Ahint: shorten the client id\n"
    )


def test_annotations_go_to_stderr_by_default(gha, capsys):
    github.annotate_error("boom")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "::error::boom\n"


# --- groups and masks -------------------------------------------------------------------


def test_group_per_client(gha):
    stream = io.StringIO()
    for client in ("acme", "globex"):
        with github.group(f"{client}/prod", stream=stream) as opened:
            assert opened is True
            stream.write(f"deploying {client}\n")
    assert stream.getvalue().splitlines() == [
        "::group::acme/prod",
        "deploying acme",
        "::endgroup::",
        "::group::globex/prod",
        "deploying globex",
        "::endgroup::",
    ]


def test_group_closes_on_error(gha):
    stream = io.StringIO()
    with pytest.raises(RuntimeError), github.group("acme/dev", stream=stream):
        raise RuntimeError("rollout failed")
    assert stream.getvalue() == "::group::acme/dev\n::endgroup::\n"


def test_mask_each_line(gha):
    stream = io.StringIO()
    assert github.mask("s3cr%t\nline-two\n", stream=stream)
    assert stream.getvalue() == "::add-mask::s3cr%25t\n::add-mask::line-two\n"


def test_mask_skips_empty(gha):
    stream = io.StringIO()
    assert github.mask("", stream=stream) is False
    assert github.mask(None, stream=stream) is False
    assert stream.getvalue() == ""


# --- step summary -----------------------------------------------------------------------


def test_summary_table_rows(gha):
    rows = [
        github.SummaryRow("acme", "prod", "v1.4.0", "success", 185.2, "https://x.test/a"),
        {
            "client": "globex",
            "env": "prod",
            "version": "v1.4.0",
            "outcome": "rolled-back",
            "duration": 42,
            "diagnosis": None,
        },
    ]
    assert github.write_summary(rows, title="release v1.4.0")
    assert github.write_summary(
        [github.SummaryRow("initech", "dev", "v1|2", "failed", 3700.0, None)], title=None
    )
    text = Path(gha["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert text == (
        "### release v1.4.0\n"
        "\n"
        "| client | env | version | outcome | duration | diagnosis |\n"
        "|---|---|---|---|---|---|\n"
        "| acme | prod | v1.4.0 | success | 3m 05s | [diagnosis](https://x.test/a) |\n"
        "| globex | prod | v1.4.0 | rolled-back | 42s |  |\n"
        "\n"
        "\n"
        "| client | env | version | outcome | duration | diagnosis |\n"
        "|---|---|---|---|---|---|\n"
        "| initech | dev | v1\\|2 | failed | 1h 01m |  |\n"
        "\n"
    )


def test_summary_appends_to_existing_content(gha):
    with open(gha["GITHUB_STEP_SUMMARY"], "w", encoding="utf-8") as fh:
        fh.write("earlier step\n")
    github.write_summary([github.SummaryRow("acme", "dev")], title=None)
    text = Path(gha["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert text == (
        "earlier step\n"
        "\n"
        "| client | env | version | outcome | duration | diagnosis |\n"
        "|---|---|---|---|---|---|\n"
        "| acme | dev |  |  |  |  |\n"
        "\n"
    )


def test_run_url(gha):
    assert github.run_url() == "https://github.com/cosyworld/deploy/actions/runs/4242"


# --- outputs ----------------------------------------------------------------------------


def test_outputs_single_line(gha):
    assert github.set_outputs(
        {
            "version": "v1.4.0",
            "digest": "sha256:" + "ab" * 32,
            "outcome": "success",
            "rolled_back": False,
            "note": None,
        }
    )
    assert Path(gha["GITHUB_OUTPUT"]).read_text(encoding="utf-8") == (
        f"version=v1.4.0\ndigest=sha256:{'ab' * 32}\noutcome=success\nrolled_back=false\nnote=\n"
    )


def test_outputs_multi_line_use_heredoc(gha):
    github.set_outputs({"events": "first\nsecond", "outcome": "failed"})
    text = Path(gha["GITHUB_OUTPUT"]).read_text(encoding="utf-8")
    match = re.fullmatch(
        r"events<<(ghadelimiter_[0-9a-f]{32})\nfirst\nsecond\n\1\noutcome=failed\n", text
    )
    assert match, text
    assert github.parse_outputs(text) == {"events": "first\nsecond", "outcome": "failed"}


def test_outputs_reject_bad_names(gha):
    with pytest.raises(ValueError):
        github.set_outputs({"a=b": "x"})
    with pytest.raises(ValueError):
        github.format_outputs({"x": "one\nEOF\n"}, delimiter="EOF")


# --- off GitHub: nothing at all ----------------------------------------------------------


def test_everything_is_a_no_op_off_github(no_gha, capsys):
    summary, output = no_gha
    stream = io.StringIO()
    assert github.is_github() is False
    assert github.annotate_error("x", "f.yaml", 1, stream=stream) is False
    assert github.annotate_warning("x", stream=stream) is False
    assert github.mask("secret", stream=stream) is False
    with github.group("acme", stream=stream) as opened:
        assert opened is False
    assert github.write_summary([github.SummaryRow("acme", "dev")]) is False
    assert github.set_outputs({"version": "v1"}) is False
    assert github.run_url() is None
    assert stream.getvalue() == ""
    assert not summary.exists()
    assert not output.exists()
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("value", ["1", "TRUE", "yes", ""])
def test_only_exactly_true_counts(value):
    assert github.is_github({"GITHUB_ACTIONS": value}) is False
    assert github.is_github({"GITHUB_ACTIONS": "true"}) is True


def test_missing_files_are_a_no_op(tmp_path):
    env = {"GITHUB_ACTIONS": "true"}
    assert github.write_summary([github.SummaryRow("acme", "dev")], environ=env) is False
    assert github.set_outputs({"a": "b"}, environ=env) is False


def test_a_secret_set_under_github_actions_is_masked_first(monkeypatch, capsys) -> None:
    """`secrets set` asks the runner to redact the value before anything else happens."""
    from types import SimpleNamespace

    import cosydeploy.secrets as secrets_mod
    from cosydeploy.cli import secrets as cli_secrets

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    seen: list[str] = []
    target = SimpleNamespace(
        client="acme", env="dev", project="cosyworld", required=(), label="acme/dev"
    )
    monkeypatch.setattr(cli_secrets, "load_target", lambda ctx, client, env: target)
    monkeypatch.setattr(secrets_mod, "read_value_from_stdin_or_prompt", lambda name: "s3cr3t-value")
    monkeypatch.setattr(
        cli_secrets, "set_value", lambda t, name, value: seen.append(value) or "set"
    )
    cli_secrets.set_command(None, "acme", "DISCORD_BOT_TOKEN", "dev")
    captured = capsys.readouterr()
    assert "::add-mask::s3cr3t-value" in captured.err + captured.out
    assert seen == ["s3cr3t-value"]


def test_a_fleets_failed_clients_are_annotated_by_name(gha, capsys):
    # A shard's job releases many clients: the run's page names each that failed.
    from cosydeploy.release.model import ReleaseResult, RunResult
    from cosydeploy.ui.present import Presenter

    run = RunResult(
        [
            ReleaseResult("acme", "dev", "v1", outcome="error", message="AWS denied x", code=2),
            ReleaseResult("globex", "dev", "v1", outcome="succeeded"),
            ReleaseResult("hooli", "dev", "v1", outcome="rolled_back", message="FAILED: y"),
            ReleaseResult("umbrella", "dev", "v1", outcome="skipped", message="not through"),
        ]
    )
    Presenter(json=True).run(run, single=False)
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("::error")]
    assert errors == ["::error title=acme/dev::AWS denied x", "::error title=hooli/dev::FAILED: y"]
