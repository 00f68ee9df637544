"""A paper fleet: N clients set up as ``onboard`` leaves them, without N Terraform applies.

``onboard`` renders a client's tfvars, applies the sandbox stack (whose outputs are
names computed from the tfvars), lets the platform's after-apply create what the stack
stands for, and records the tfvars fingerprint and the outputs in the ledger. Here the
outputs are computed by ``sandbox_stack_outputs`` (the naming rules of
terraform/stacks/sandbox/main.tf, checked against a real apply by the paper tier), and
everything else is the product's own code: ``render_tfvars`` (so the fingerprint is
exactly the one a real onboard records: releases find Terraform in step, honestly),
``SandboxPlatform.after_apply`` and ``record_applied``. Secrets get values as
``cosydeploy secrets set`` gives them.

Used by tests/paper and benchmarks/fleet.py.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

MANIFEST = """\
client: {cid}
name: Paper client {cid}
contact: ops@{cid}.example.com
tier: dev
aws:
  account_id: "{account}"
  region: us-east-1
{role}domain: cosyworld.ai
environments:
  dev: {{}}
app:
  port: 3000
  health_path: /health/ready
  environment:
    LOG_LEVEL: info
  feature_flags:
    discord: true
    telegram: false
  secrets: [TELEGRAM_BOT_TOKEN]
database:
  engine: atlas
tags:
  CostCenter: {cid}
"""


HOME = "123456789012"  # the sandbox's own account


def write_manifests(
    project_dir: Path, clients: list[str], accounts: dict[str, str] | None = None
) -> None:
    """A manifest per client; ``accounts`` puts a client in an account of its own (reached
    through a role there, as a client in another account is in AWS), the rest in the
    sandbox's."""
    for cid in clients:
        account = (accounts or {}).get(cid, HOME)
        role = f"  role_arn: arn:aws:iam::{account}:role/cosydeploy-deploy\n"
        text = MANIFEST.format(cid=cid, account=account, role=role if account != HOME else "")
        (project_dir / "clients" / f"{cid}.yaml").write_text(text)


def sandbox_stack_outputs(tfvars: dict[str, Any], alb_url: str) -> dict[str, Any]:
    """The outputs terraform/stacks/sandbox gives for these tfvars (its ``locals``)."""
    project, client, env = tfvars["project"], tfvars["client"], tfvars["environment"]
    region, account = tfvars["region"], tfvars["account_id"]
    name, short = f"{project}-{client}-{env}", f"{client}-{env}"
    path = f"{project}/{client}/{env}"
    app = tfvars["app"]
    secrets = [*app["secret_names"], "REDIS_AUTH_TOKEN"]
    keys = [
        "WEB_PORT",
        "MONGO_DB_NAME",
        "NODE_ENV",
        "PUBLIC_URL",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_TLS",
        "REDIS_USERNAME",
    ] + [f"FEATURE_{flag.replace('-', '_').upper()}" for flag in sorted(app["feature_flags"])]
    elb = f"arn:aws:elasticloadbalancing:{region}:{account}"
    rules = f"{elb}:listener-rule/app/{short}/0000000000000000"
    return {
        "cluster_name": name,
        "service_name": "app",
        "container_name": "app",
        "task_family": name,
        "execution_role_arn": f"arn:aws:iam::{account}:role/{name}-exec",
        "task_role_arn": f"arn:aws:iam::{account}:role/{name}-task",
        "log_group_name": f"/ecs/{name}",
        "target_group_arn": f"{elb}:targetgroup/{short}/0000000000000000",
        "alb_dns_name": "",
        "app_url": f"{alb_url}/{short}" if alb_url else "",
        "secret_arns": {
            n: f"arn:aws:secretsmanager:{region}:{account}:secret:{path}/{n}" for n in secrets
        },
        "parameter_names": {k: f"/{path}/{k}" for k in keys},
        "info_topic_arn": f"arn:aws:sns:{region}:{account}:{name}-info",
        "redis_replication_group_id": name,
        "alarm_names": [
            f"{name}-no-healthy-targets",
            f"{name}-all-tasks-unhealthy",
            *(f"{name}-redis-down-{i + 1}" for i in range(tfvars["redis"]["num_nodes"])),
            f"{name}-5xx-rate-critical",
        ],
        "alternate_target_group_arn": f"{elb}:targetgroup/{short}-2/0000000000000000",
        "production_listener_rule_arn": f"{rules}/0000000000000080/0000000000000001",
        "test_listener_rule_arn": f"{rules}/0000000000008443/0000000000000001",
        "test_url": f"{alb_url}/_test/{short}" if alb_url else "",
        "ecs_infrastructure_role_arn": f"arn:aws:iam::{account}:role/{name}-ecs-infra",
        # cutover.tf: a paper client has no old origin.
        "cutover_zone_id": "",
        "cutover_record_name": "",
        "cutover_aws_set_identifier": "",
        "cutover_origin_set_identifier": "",
    }


def onboard_paper(
    project_dir: Path, clients: list[str], env: str = "dev", *, workers: int = 8
) -> dict[str, dict[str, Any]]:
    """Onboard ``clients`` (manifests written before) in ``env`` on the running sandbox
    (``AWS_ENDPOINT_URL`` etc. in the environment), every secret set; returns each
    client's recorded outputs."""
    from cosydeploy.adapters.platform import platform_for
    from cosydeploy.config.load import load_project
    from cosydeploy.config.targets import client_env
    from cosydeploy.ledger import Ledger
    from cosydeploy.release.infra_check import record_applied, stack_revision
    from cosydeploy.render import ecr_repository_url, render_tfvars
    from cosydeploy.secrets import secret_name, set_secret

    os.environ.setdefault("COSYDEPLOY_SANDBOX", "1")
    project = load_project(project_dir)
    platform: Any = platform_for(project, True)
    alb_url = platform.info.alb_url  # exports the sandbox's endpoint to this process

    sessions: dict[tuple[str, str | None], Any] = {}
    lock = threading.Lock()

    def session_of(c: Any) -> Any:  # one per identity, as a release has it
        with lock:
            key = (c.region, c.role_arn)
            if key not in sessions:
                sessions[key] = platform.session(c, guard=False)
            return sessions[key]

    def one(cid: str) -> tuple[str, dict[str, Any]]:
        c = client_env(project, cid, env)
        tfvars = render_tfvars(project, c)
        outputs = sandbox_stack_outputs(json.loads(tfvars), alb_url)
        platform.after_apply(c, outputs)
        session = session_of(c)
        sm = session.client("secretsmanager")
        for name in c.secrets:
            set_secret(sm, secret_name(c.project, c.client, c.env, name), f"{cid}-{name.lower()}")
        ledger = Ledger(session.client("dynamodb"), project.config.release.ledger_table)
        initial = ecr_repository_url(project, c) + ":bootstrap"
        record_applied(
            ledger,
            c.client,
            c.env,
            tfvars,
            outputs=outputs,
            by="paper onboarding",
            stack_revision=stack_revision(session.client("ecs"), outputs, initial),
        )
        return cid, outputs

    # The first of each account alone: it makes what the account's clients share (the
    # tables, the repository).
    firsts: dict[str, str] = {}
    for cid in clients:
        firsts.setdefault(client_env(project, cid, env).account_id, cid)
    done = dict(one(cid) for cid in firsts.values())
    rest = [cid for cid in clients if cid not in done]
    with ThreadPoolExecutor(max_workers=workers) as ex:
        return done | dict(ex.map(one, rest))
