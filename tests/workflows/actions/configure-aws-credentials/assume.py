"""The stand-in's work: the job's OIDC subject, the role's trust policy, the session.

GitHub puts in `sub` the job's environment when it has one, else the ref that triggered
the run; act does not expose the environment, so it is read from the job's definition
(the workflow file act runs, by GITHUB_WORKFLOW and GITHUB_JOB), `${{ inputs.env }}`
from the dispatch event's inputs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import boto3
import yaml

from cosydeploy.sandbox.iam import evaluate, web_identity_call

HOST = "token.actions.githubusercontent.com"


def job_environment() -> str | None:
    workflows = Path(os.environ["GITHUB_WORKSPACE"]) / ".github" / "workflows"
    event = json.loads(Path(os.environ["GITHUB_EVENT_PATH"]).read_text())
    for path in sorted(workflows.glob("*.yml")):
        data = yaml.safe_load(path.read_text())
        if data.get("name") != os.environ["GITHUB_WORKFLOW"]:
            continue
        job = data["jobs"].get(os.environ["GITHUB_JOB"])
        if job is None:
            continue
        env = job.get("environment")
        if isinstance(env, dict):
            env = env.get("name")
        if env == "${{ inputs.env }}":
            env = (event.get("inputs") or {}).get("env")
        if env is not None and "${{" in str(env):
            sys.exit(
                f"stand-in: cannot read the environment of {path.name}:{os.environ['GITHUB_JOB']}"
            )
        return env
    sys.exit(f"stand-in: no workflow named {os.environ['GITHUB_WORKFLOW']!r}")


def main() -> int:
    role_arn, region = os.environ["ROLE"], os.environ["REGION"]
    account = role_arn.split(":")[4]
    env = job_environment()
    repo = os.environ["GITHUB_REPOSITORY"]
    sub = f"repo:{repo}:environment:{env}" if env else f"repo:{repo}:ref:{os.environ['GITHUB_REF']}"
    admin = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    )
    iam = admin.client("iam")
    try:
        trust = iam.get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"][
            "AssumeRolePolicyDocument"
        ]
    except iam.exceptions.NoSuchEntityException:
        print(f"::error::Could not assume role with OIDC: no role {role_arn}")
        return 1
    provider = f"arn:aws:iam::{account}:oidc-provider/{HOST}"
    claims = {"sub": sub, "aud": "sts.amazonaws.com", "repository": repo}
    decision = evaluate([trust], web_identity_call(provider, claims, HOST), trust=True)
    if not decision.allowed:
        print(
            "::error::Could not assume role with OIDC: Not authorized to perform "
            f"sts:AssumeRoleWithWebIdentity ({role_arn}, sub {sub})"
        )
        return 1
    creds = admin.client("sts").assume_role_with_web_identity(
        RoleArn=role_arn,
        RoleSessionName=os.environ["SESSION"][:64],
        WebIdentityToken=f"sandbox-oidc-token-for:{sub}",
        DurationSeconds=int(os.environ["DURATION"] or 3600),
    )["Credentials"]
    allowed = [a.strip() for a in os.environ.get("ALLOWED", "").split(",") if a.strip()]
    if allowed and account not in allowed:
        print(f"::error::The role's account {account} is not in allowed-account-ids")
        return 1
    with open(os.environ["GITHUB_ENV"], "a") as out:
        out.write(f"AWS_ACCESS_KEY_ID={creds['AccessKeyId']}\n")
        out.write(f"AWS_SECRET_ACCESS_KEY={creds['SecretAccessKey']}\n")
        out.write(f"AWS_SESSION_TOKEN={creds['SessionToken']}\n")
        out.write(f"AWS_REGION={region}\nAWS_DEFAULT_REGION={region}\n")
    print(f"assumed {role_arn} as {sub}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
