"""rollback.yml and onboard.yml, dispatched with inputs, rehearsed with act against the
sandbox: each job under the role of its environment."""

from __future__ import annotations

import json
import urllib.request

import pytest
from conftest import ACCOUNT, GITHUB_REPO, admin, cli, manifest
from test_release_workflow import assumed_roles

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def dispatch(**inputs: str) -> dict:
    return {
        "ref": "refs/heads/main",
        "repository": {"full_name": GITHUB_REPO},
        "inputs": inputs,
    }


def serving(sandbox, client: str, env: str) -> str:
    """What the client's app answers on /version behind the sandbox's load balancer."""
    ecs = admin(sandbox, "ecs")
    (svc,) = ecs.describe_services(cluster=f"cosyworld-{client}-{env}", services=["app"])[
        "services"
    ]
    group = svc["loadBalancers"][0]["targetGroupArn"].split(":targetgroup/")[1].split("/")[0]
    url = f"{sandbox.info.alb_url}/{group}/version"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode().strip()


def test_rollback_goes_back_to_the_last_good_release(act, sandbox, repos, world):
    env = world["env"]
    for version in ("v1.0.8", "v1.0.9"):
        built = json.loads(
            cli(env, "-o", "json", "build", version, "--push", "--context", str(repos["app"]))
        )
        cli(
            env,
            "release",
            version,
            "--client",
            "acme",
            "--env",
            "staging",
            "--digest",
            built["digest"],
            "--skip-infra",
        )
    assert serving(sandbox, "acme", "staging") == "v1.0.9"
    before = assumed_roles()
    r = act.run("workflow_dispatch", "rollback.yml", dispatch(client="acme", env="staging"), {})
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-6000:]
    assert serving(sandbox, "acme", "staging") == "v1.0.8"
    assert assumed_roles() - before == {"cosyworld-staging-release": 1}


def test_onboard_applies_the_stack_of_a_new_client(act, sandbox, repos):
    (repos["project"] / "clients" / "initech.yaml").write_text(manifest("initech"))
    ecs = admin(sandbox, "ecs")
    assert not any(a.endswith("/cosyworld-initech-dev") for a in ecs.list_clusters()["clusterArns"])
    before = assumed_roles()
    r = act.run("workflow_dispatch", "onboard.yml", dispatch(client="initech", env="dev"), {})
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-6000:]
    assert assumed_roles() - before == {"cosyworld-dev-infra": 1}
    (svc,) = ecs.describe_services(cluster="cosyworld-initech-dev", services=["app"])["services"]
    assert svc["status"] == "ACTIVE"
    state = admin(sandbox, "s3").list_objects_v2(Bucket=f"cosyworld-terraform-state-{ACCOUNT}")
    keys = [o["Key"] for o in state.get("Contents", [])]
    assert any("initech" in k and "dev" in k for k in keys), keys
