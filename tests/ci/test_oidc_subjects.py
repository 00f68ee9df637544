"""Every job that assumes a role presents the OIDC subject that role trusts, and no other
job does; and the names the bootstrap stack makes are the ones cosydeploy.yaml and the CLI
use. The trust and permission documents come from real Terraform running the bootstrap
stack's provider-free `names` module over terraform/policies, as the stack itself does."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cosydeploy.config.load import load_project
from cosydeploy.identity import role_arn, state_bucket, tables_region
from cosydeploy.sandbox.iam import Call, evaluate, web_identity_call

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
OIDC_ACTION = "aws-actions/configure-aws-credentials@"
HOST = "token.actions.githubusercontent.com"
ACCOUNT = "210987654321"
REPO = "cosyworld/deploy"
OWNER_ID, REPO_ID = "1234567", "89012345"
ENVS = ["dev", "staging", "prod"]


def terraform(chdir: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "cosydeploy.adapters.terraform._worker", str(chdir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CHECKPOINT_DISABLE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def run_names(
    tmp: Path, subject: dict[str, str], clients: tuple[str, ...] = ("acme", "globex")
) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "main.tf").write_text(
        'module "names" {\n'
        f'  source = "{ROOT / "terraform/stacks/bootstrap/names"}"\n'
        f'  config_path = "{ROOT / "cosydeploy.yaml"}"\n'
        f'  policies_dir = "{ROOT / "terraform/policies"}"\n'
        f'  account_id = "{ACCOUNT}"\n'
        f"  environments = {json.dumps(ENVS)}\n"
        f"  clients = {json.dumps(list(clients))}\n"
        f'  github_repository = "{REPO}"\n'
        f"  github_oidc_subject = {json.dumps(subject).replace(':', ' =')}\n"
        f'  kms_key_arn = "arn:aws:kms:us-east-1:{ACCOUNT}:key/k"\n'
        "}\n"
        'output "names" { value = module.names }\n'
    )
    terraform(tmp, "init", "-no-color", "-input=false")
    terraform(tmp, "apply", "-auto-approve", "-no-color", "-input=false")
    return json.loads(terraform(tmp, "output", "-json"))["names"]["value"]


@pytest.fixture(scope="module")
def names(tmp_path_factory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("names")
    return {
        "name": run_names(base / "name", {"format": "name"}),
        "immutable": run_names(
            base / "immutable",
            {"format": "immutable", "owner_id": OWNER_ID, "repository_id": REPO_ID},
        ),
    }


def prefix(fmt: str) -> str:
    owner, repo = REPO.split("/")
    return f"repo:{REPO}" if fmt == "name" else f"repo:{owner}@{OWNER_ID}/{repo}@{REPO_ID}"


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def oidc_jobs() -> list[tuple[str, str, dict, list[str], str]]:
    """(workflow, job, step, environments it can run in, role kind) for every OIDC step."""
    found = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        data = load(path)
        on = data["on"]
        for job_id, job in data["jobs"].items():
            for step in job.get("steps", []):
                if not str(step.get("uses", "")).startswith(OIDC_ACTION):
                    continue
                expr = step["with"]["role-to-assume"]
                kind = re.search(r"\.(build|release|infra)_role_arn \}\}$", expr)
                assert kind, f"{path.name}:{job_id}: role-to-assume {expr!r} names no known role"
                env = job.get("environment")
                if env is None:
                    envs = []
                elif env == "${{ inputs.env }}":
                    envs = on["workflow_dispatch"]["inputs"]["env"]["options"]
                else:
                    envs = [env]
                found.append((path.name, job_id, step, envs, kind.group(1)))
    return found


def presented_subjects(workflow: str, envs: list[str], fmt: str) -> list[str]:
    """What GitHub puts in `sub` for the job: its environment, else the ref that triggered it."""
    if envs:
        return [f"{prefix(fmt)}:environment:{e}" for e in envs]
    on = load(WORKFLOWS / workflow)["on"]
    assert on == {"push": {"tags": ["v*"]}}, f"{workflow}: a job without environment"
    return [f"{prefix(fmt)}:ref:refs/tags/v1.4.0"]


def assume(role: dict, sub: str, account: str = ACCOUNT) -> bool:
    claims = {"sub": sub, "aud": "sts.amazonaws.com"}
    provider = f"arn:aws:iam::{account}:oidc-provider/{HOST}"
    return evaluate([role["trust"]], web_identity_call(provider, claims, HOST), trust=True).allowed


def role_key(kind: str, env: str | None) -> str:
    return "build" if kind == "build" else f"{kind}-{env}"


def test_every_oidc_step_is_found():
    jobs = {(w, j, k) for w, j, _, _, k in oidc_jobs()}
    assert ("release.yml", "build", "build") in jobs
    for env in ENVS:
        assert ("release-shard.yml", env, "release") in jobs
    assert ("onboard.yml", "onboard", "infra") in jobs
    assert ("onboard.yml", "onboard", "release") in jobs
    assert ("rollback.yml", "rollback", "release") in jobs
    assert ("unlock.yml", "unlock", "release") in jobs


@pytest.mark.parametrize("fmt", ["name", "immutable"])
def test_each_job_can_assume_its_role_and_no_other(names, fmt):
    roles = names[fmt]["roles"]
    for workflow, job, _step, envs, kind in oidc_jobs():
        for sub in presented_subjects(workflow, envs, fmt):
            env = sub.rsplit(":", 1)[1] if ":environment:" in sub else None
            own = role_key(kind, env)
            assert assume(roles[own], sub), f"{workflow}:{job} ({sub}) cannot assume {own}"
            for other, role in roles.items():
                if other == own or (env and other.endswith(f"-{env}")):
                    continue  # the environment's other role trusts the same jobs, by design
                assert not assume(role, sub), f"{workflow}:{job} ({sub}) could assume {other}"


@pytest.mark.parametrize("fmt", ["name", "immutable"])
def test_the_other_subject_format_is_refused(names, fmt):
    other = "immutable" if fmt == "name" else "name"
    roles = names[fmt]["roles"]
    assert not assume(roles["release-prod"], f"{prefix(other)}:environment:prod")
    assert not assume(roles["build"], f"{prefix(other)}:ref:refs/tags/v1.4.0")


def test_what_no_job_should_get(names):
    roles = names["name"]["roles"]
    p = prefix("name")
    # a branch push, a pull request, another repository, a tag that is no version
    for sub in (
        f"{p}:ref:refs/heads/main",
        f"{p}:pull_request",
        "repo:someone/else:environment:prod",
        f"{p}:ref:refs/tags/nightly",
    ):
        assert not any(assume(r, sub) for r in roles.values()), sub
    # a dev job never takes a prod role, even when both live in one account
    assert not assume(roles["release-prod"], f"{p}:environment:dev")
    assert not assume(roles["infra-prod"], f"{p}:environment:staging")
    # the right subject with the wrong audience, or through another account's provider
    claims = {"sub": f"{p}:environment:prod", "aud": "sigstore"}
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
    call = web_identity_call(provider, claims, HOST)
    assert not evaluate([roles["release-prod"]["trust"]], call, trust=True).allowed
    assert not assume(roles["release-prod"], f"{p}:environment:prod", account="111111111111")


def test_bootstrap_cosydeploy_yaml_and_the_cli_agree(names):
    out = names["name"]
    cfg = load_project(str(ROOT)).config
    assert (
        out["state_bucket"] == state_bucket(cfg, ACCOUNT) == f"cosyworld-terraform-state-{ACCOUNT}"
    )
    assert out["region"] == tables_region(cfg) == cfg.state.region
    assert out["lock_table"] == cfg.release.lock_table
    assert out["ledger_table"] == cfg.release.ledger_table
    assert out["repository"] == cfg.image.repository
    for key, role in out["roles"].items():
        kind, _, env = key.partition("-")
        assert f"arn:aws:iam::{ACCOUNT}:role/{role['name']}" == role_arn(
            cfg, kind, ACCOUNT, env or None
        )


def test_ci_plan_names_the_roles_bootstrap_makes(names, tmp_path):
    cli = Path(sys.executable).parent / "cosydeploy"
    proc = subprocess.run(
        [str(cli), "--project-dir", str(ROOT), "ci", "plan", "v1.4.0", "example"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    made = {r["name"] for r in names["name"]["roles"].values()}
    assert plan["registry"]["build_role_arn"].rsplit("/", 1)[1] in made
    for row in plan["clients"]:
        for env in ENVS:
            if row[env]:
                assert row[env]["release_role_arn"].rsplit("/", 1)[1] in made
                assert row[env]["infra_role_arn"].rsplit("/", 1)[1] in made


def release_call(action: str, resource: str, **context: str) -> Call:
    return Call(action=action, resource=resource, context=context)


def test_release_role_least_privilege(names):
    roles = names["name"]["roles"]
    dev = [roles["release-dev"]["policy"]]
    a = ACCOUNT
    svc = f"arn:aws:ecs:eu-west-1:{a}:service/cosyworld-acme-dev/app"
    assert evaluate(dev, release_call("ecs:UpdateService", svc)).allowed
    # another environment's service, another environment's task role
    prod_svc = f"arn:aws:ecs:eu-west-1:{a}:service/cosyworld-acme-prod/app"
    assert not evaluate(dev, release_call("ecs:UpdateService", prod_svc)).allowed
    role = f"arn:aws:iam::{a}:role/cosyworld-acme-dev-task"
    ok = release_call("iam:PassRole", role, **{"iam:PassedToService": "ecs-tasks.amazonaws.com"})
    assert evaluate(dev, ok).allowed
    for bad in (
        release_call("iam:PassRole", role, **{"iam:PassedToService": "lambda.amazonaws.com"}),
        release_call(
            "iam:PassRole",
            f"arn:aws:iam::{a}:role/cosyworld-acme-prod-task",
            **{"iam:PassedToService": "ecs-tasks.amazonaws.com"},
        ),
        release_call("iam:PassRole", f"arn:aws:iam::{a}:role/cosyworld-dev-infra"),
        release_call("ecr:PutImage", f"arn:aws:ecr:us-east-1:{a}:repository/cosyworld"),
        release_call("s3:PutObject", f"arn:aws:s3:::cosyworld-terraform-state-{a}/env:/acme-dev/x"),
    ):
        assert not evaluate(dev, bad).allowed, bad
    state = (
        f"arn:aws:s3:::cosyworld-terraform-state-{a}/env:/acme-dev/clients/acme/terraform.tfstate"
    )
    assert evaluate(dev, release_call("s3:GetObject", state)).allowed
    table = f"arn:aws:dynamodb:us-east-1:{a}:table/cosyworld-deploy-locks"
    assert evaluate(dev, release_call("dynamodb:PutItem", table)).allowed
    # the tables are looked up in the bootstrap region, not the client's
    elsewhere = f"arn:aws:dynamodb:eu-west-1:{a}:table/cosyworld-deploy-locks"
    assert not evaluate(dev, release_call("dynamodb:PutItem", elsewhere)).allowed


def test_infra_role_cannot_touch_the_deploy_identities(names):
    infra = [names["name"]["roles"]["infra-dev"]["policy"]]
    a = ACCOUNT
    ok = release_call("iam:CreateRole", f"arn:aws:iam::{a}:role/cosyworld-acme-dev-task")
    assert evaluate(infra, ok).allowed
    for target in ("cosyworld-prod-release", "cosyworld-dev-infra", "cosyworld-github-build"):
        call = release_call("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{a}:role/{target}")
        decision = evaluate(infra, call)
        assert not decision.allowed and decision.statement == "NeverTheDeployIdentities"


def test_build_role_pushes_and_nothing_else(names):
    build = [names["name"]["roles"]["build"]["policy"]]
    repo = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/cosyworld"
    assert evaluate(build, release_call("ecr:PutImage", repo)).allowed
    assert evaluate(build, release_call("ecr:GetAuthorizationToken", "*")).allowed
    other = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/other"
    assert not evaluate(build, release_call("ecr:PutImage", other)).allowed
    svc = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/cosyworld-acme-dev/app"
    assert not evaluate(build, release_call("ecs:UpdateService", svc)).allowed


def test_release_role_moves_only_its_clients_cutover_weights(names):
    """`cosydeploy cutover`: UPSERT of CNAME records named after the environment's own
    clients (`<client>.<zone>` in the last environment), nothing else in Route 53."""
    roles = names["name"]["roles"]
    dev, prod = [roles["release-dev"]["policy"]], [roles["release-prod"]["policy"]]
    zone = "arn:aws:route53:::hostedzone/Z0123"

    def change(names_: list[str], types: list[str] = ["CNAME"], actions=("UPSERT",)) -> Call:  # noqa: B006
        context = {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": names_,
            "route53:ChangeResourceRecordSetsRecordTypes": types,
            "route53:ChangeResourceRecordSetsActions": list(actions),
        }
        return Call(action="route53:ChangeResourceRecordSets", resource=zone, context=context)

    assert evaluate(dev, change(["acme-dev.cosyworld.ai"] * 2)).allowed
    assert evaluate(prod, change(["globex.cosyworld.ai"])).allowed
    for bad in (
        change(["acme-prod.cosyworld.ai"]),  # another environment's hostname
        change(["acme-dev.cosyworld.ai", "initech-dev.cosyworld.ai"]),  # not a client here
        change(["acme-dev.cosyworld.ai"], types=["A"]),
        change(["acme-dev.cosyworld.ai"], actions=("DELETE",)),
        change(["acme-dev.cosyworld.ai"], actions=("UPSERT", "CREATE")),
    ):
        assert not evaluate(dev, bad).allowed, bad.context
    assert not evaluate(prod, change(["acme-dev.cosyworld.ai"])).allowed
    for read in ("route53:ListResourceRecordSets", "route53:GetChange"):
        assert evaluate(dev, release_call(read, zone)).allowed
    assert not evaluate(dev, release_call("route53:DeleteHostedZone", zone)).allowed


def test_a_fleet_of_250_clients_in_one_account_fits_the_iam_policy_quota(tmp_path):
    """A role's inline policies hold 10,240 characters (white space not counted); the
    release roles name the stacks by pattern, so only the cutover's record names grow
    with the clients (the sandbox refuses a policy past the quota, as IAM does)."""
    from cosydeploy.sandbox.iam import INLINE_POLICIES_MAX, policy_size

    clients = tuple(f"client{i:03d}" for i in range(250))
    roles = run_names(tmp_path / "fleet", {"format": "name"}, clients)["roles"]
    sizes = {name: policy_size(role["policy"]) for name, role in roles.items()}
    assert max(sizes.values()) <= INLINE_POLICIES_MAX, sizes
    # and still every client's stacks, of its own environment only
    dev = [roles["release-dev"]["policy"]]
    svc = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:service/cosyworld-client249-dev/app"
    assert evaluate(dev, release_call("ecs:UpdateService", svc)).allowed
    prod_svc = svc.replace("-dev/", "-prod/")
    assert not evaluate(dev, release_call("ecs:UpdateService", prod_svc)).allowed
