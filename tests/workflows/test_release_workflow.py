"""release.yml for a v* tag, rehearsed with act against the sandbox: the image built
once by the build role, then each client dev -> staging -> prod on that digest, every
job under its own role (each call decided by that role's policy)."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import ACCOUNT, APP_REPO, CLIENTS, ENVS, GITHUB_REPO, admin

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

TAG = {"ref": "refs/tags/v1.0.0", "repository": {"full_name": GITHUB_REPO}}


def releases(sandbox, client: str, env: str) -> list[dict]:
    from boto3.dynamodb.types import TypeDeserializer

    ddb = admin(sandbox, "dynamodb")
    items = ddb.scan(TableName="cosyworld-releases")["Items"]
    plain = [{k: TypeDeserializer().deserialize(v) for k, v in i.items()} for i in items]
    return [
        r
        for r in plain
        if r.get("client") == client and r.get("env") == env and r.get("kind") == "release"
    ]


def assumed_roles() -> Counter:
    from moto.sts.models import sts_backends

    return Counter(
        a.role_arn.rsplit("/", 1)[1] for a in sts_backends[ACCOUNT]["global"].assumed_roles
    )


def test_a_tag_releases_every_client_through_every_environment_on_one_digest(act, sandbox):
    before = assumed_roles()
    r = act.run(
        "push",
        "release.yml",
        TAG,
        {"COSYDEPLOY_APP_REPOSITORY": APP_REPO, "COSYDEPLOY_RELEASE_CLIENTS": " ".join(CLIENTS)},
    )
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-6000:]
    images = admin(sandbox, "ecr").describe_images(repositoryName="cosyworld")["imageDetails"]
    tagged = [i for i in images if "v1.0.0" in i.get("imageTags", [])]
    assert len(tagged) == 1, images
    digest = tagged[0]["imageDigest"]
    for cid in CLIENTS:
        for env in ENVS:
            done = [x for x in releases(sandbox, cid, env) if x.get("version") == "v1.0.0"]
            assert [x["outcome"] for x in done] == ["succeeded"], (cid, env, done)
            assert done[0]["digest"] == digest, (cid, env)
    used = assumed_roles() - before
    assert used == Counter(
        {
            "cosyworld-github-build": 1,
            "cosyworld-dev-release": 2,
            "cosyworld-staging-release": 2,
            "cosyworld-prod-release": 2,
        }
    ), used


def test_a_failed_dev_leg_stops_that_client_only(act, sandbox, repos, world, tmp_path):
    """The dev release role made for globex only (acme not yet in the bootstrap stack's
    clients): acme's dev job is refused its first call, so its staging and prod never
    run; globex goes on to prod."""
    from bootstrap_roles import bootstrap_names
    from conftest import git

    iam = admin(sandbox, "iam")
    narrow = bootstrap_names(
        tmp_path / "names",
        account_id=ACCOUNT,
        clients=["globex"],
        repository=GITHUB_REPO,
        environments=("dev",),
        project=repos["project"],
    )["roles"]["release-dev"]
    full = world["names"]["roles"]["release-dev"]
    for repo in (repos["project"], repos["app"]):
        git(repo, "tag", "v1.0.1")
    iam.put_role_policy(
        RoleName=narrow["name"], PolicyName="cosydeploy", PolicyDocument=narrow["policy"]
    )
    try:
        r = act.run(
            "push",
            "release.yml",
            {**TAG, "ref": "refs/tags/v1.0.1"},
            {
                "COSYDEPLOY_APP_REPOSITORY": APP_REPO,
                "COSYDEPLOY_RELEASE_CLIENTS": " ".join(CLIENTS),
            },
        )
    finally:
        iam.put_role_policy(
            RoleName=full["name"], PolicyName="cosydeploy", PolicyDocument=full["policy"]
        )
    log = r.stdout + r.stderr
    assert r.returncode != 0, log[-6000:]
    (denied,) = {
        line.split("::error::", 1)[1]
        for line in log.splitlines()
        if "[acme" in line and "/dev]" in line and "::error::AWS denied" in line
    }
    assert "cosyworld-acme-dev" in denied and denied.endswith("to role cosyworld-dev-release")
    for env in ENVS:
        acme = [x for x in releases(sandbox, "acme", env) if x.get("version") == "v1.0.1"]
        globex = [x for x in releases(sandbox, "globex", env) if x.get("version") == "v1.0.1"]
        assert [x["outcome"] for x in globex] == ["succeeded"], (env, globex)
        if env == "dev":
            assert all(x["outcome"] != "succeeded" for x in acme), acme
        else:
            assert acme == [], (env, acme)  # never started
