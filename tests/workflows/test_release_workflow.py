"""release.yml for a v* tag, rehearsed with act against the sandbox: the image built
once by the build role, then the clients in two shards, each shard's clients
dev -> staging -> prod on that digest as a fleet, every job under its own role (each
call decided by that role's policy). act runs the matrix's legs one after another
(GitHub runs up to max-parallel at once; tests/ci checks the matrix's shape)."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from conftest import ACCOUNT, APP_REPO, CLIENTS, ENVS, GITHUB_REPO, SHARDS, admin

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
    """The roles assumed so far, by name. ECS (the sandbox's driver) assumes each service's
    infrastructure role (``*-ecs-infra``) to move its listener rules: ECS's sessions, not a
    workflow's, so they are not counted."""
    from moto.sts.models import sts_backends

    return Counter(
        name
        for a in sts_backends[ACCOUNT]["global"].assumed_roles
        if not (name := a.role_arn.rsplit("/", 1)[1]).endswith("-ecs-infra")
    )


def released_by(log: str, env: str) -> dict[str, set[str]]:
    """Which clients each shard's job of ``env`` released, from act's log (each line starts
    with the job's name, e.g. ``[shard 1-of-2-1/release-shard/dev]``, and a client's
    steps with ``==> client/env:``)."""
    found: dict[str, set[str]] = {}
    for line in log.splitlines():
        m = re.match(rf"\[shard (\d+-of-\d+)\S*/release-shard/{env}\s*\].*==> (\w+)/{env}:", line)
        if m:
            found.setdefault(m.group(1), set()).add(m.group(2))
    return found


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
    # Three clients, two shards: one job (one role session) per shard and environment,
    # each releasing its shard's clients.
    used = assumed_roles() - before
    assert used == Counter(
        {
            "cosyworld-github-build": 1,
            "cosyworld-dev-release": 2,
            "cosyworld-staging-release": 2,
            "cosyworld-prod-release": 2,
        }
    ), used
    for env in ENVS:
        assert released_by(log, env) == {
            f"{i}-of-{len(SHARDS)}": set(shard) for i, shard in enumerate(SHARDS, start=1)
        }, (env, log[-6000:])


def test_a_failed_dev_leg_stops_that_client_only_and_a_rerun_of_its_shard_finishes_it(
    act, sandbox, repos, world
):
    """The dev release role refusing acme's service (a policy that denies it): acme is
    refused its first call on it in its shard's dev job, so it is never released to
    staging or prod; hooli, in the same shard, and globex, in the other, go on to prod.
    Then, the role fixed, the shard of acme and hooli runs again: acme goes dev ->
    staging -> prod; hooli already runs the digest everywhere and is left as it is;
    globex's shard does not run."""
    from bootstrap_roles import refusing_stack
    from conftest import git

    iam = admin(sandbox, "iam")
    full = world["names"]["roles"]["release-dev"]
    narrow = {
        "name": full["name"],
        "policy": refusing_stack(full["policy"], "cosyworld-acme-dev", ACCOUNT),
    }
    for repo in (repos["project"], repos["app"]):
        git(repo, "tag", "v1.0.1")
    tag = {**TAG, "ref": "refs/tags/v1.0.1"}
    variables = {
        "COSYDEPLOY_APP_REPOSITORY": APP_REPO,
        "COSYDEPLOY_RELEASE_CLIENTS": " ".join(CLIENTS),
    }
    iam.put_role_policy(
        RoleName=narrow["name"], PolicyName="cosydeploy", PolicyDocument=narrow["policy"]
    )
    try:
        r = act.run("push", "release.yml", tag, variables)
    finally:
        iam.put_role_policy(
            RoleName=full["name"], PolicyName="cosydeploy", PolicyDocument=full["policy"]
        )
    log = r.stdout + r.stderr
    assert r.returncode != 0, log[-6000:]
    (denied,) = {  # the run's page names the client and what was refused
        line.split("::error title=acme/dev::", 1)[1]
        for line in log.splitlines()
        if "::error title=acme/dev::AWS denied" in line
    }
    assert "cosyworld-acme-dev" in denied and denied.endswith("to role cosyworld-dev-release")

    def outcomes(cid: str, env: str) -> list[str]:
        done = [x for x in releases(sandbox, cid, env) if x.get("version") == "v1.0.1"]
        return [x["outcome"] for x in sorted(done, key=lambda x: x["release_id"])]

    for env in ENVS:
        assert outcomes("globex", env) == ["succeeded"], env
        assert outcomes("hooli", env) == ["succeeded"], env
        if env == "dev":
            assert "succeeded" not in outcomes("acme", env)
        else:
            assert outcomes("acme", env) == [], env  # never started

    # The shard of acme and hooli once more (as "Re-run failed jobs" would).
    first = SHARDS.index(("acme", "hooli")) + 1
    r = act.run("push", "release.yml", tag, variables, extra=("--matrix", f"shard:{first}-of-2"))
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-6000:]
    for env in ENVS:
        assert outcomes("acme", env)[-1:] == ["succeeded"], env
        assert outcomes("hooli", env) == ["succeeded", "noop"], env  # left as it was
        assert outcomes("globex", env) == ["succeeded"], env  # the other shard: not run
