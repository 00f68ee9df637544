"""The release policy (strategy, bake, alarms, verify): parsing, layering, bad input; the
bake's judges; the version check and the smoke command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cosydeploy.release import bake as bk
from cosydeploy.release import verify as vf

MANIFEST = """\
client: acme
name: Acme
contact: ops@acme.test
tier: small
aws:
  account_id: "123456789012"
  region: us-east-1
environments:
  dev: {}
  staging: {}
  prod:
    release:
      bake: 10m
      verify: {smoke: ./smoke.sh}
release:
  bake: 90
  alarms: [acme-custom]
  verify: {version: true}
database:
  engine: atlas
"""


def _write(project: Path, text: str) -> Path:
    path = project / "clients" / "acme.yaml"
    path.write_text(text)
    return path


def _show(cli, project: Path, env: str) -> dict:
    r = cli("--project-dir", str(project), "-o", "json", "clients", "show", "acme", "--env", env)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["release"]


# ------------------------------------------------------------------ config


def test_built_in_bakes_go_by_environment(cli) -> None:
    bakes = {
        env: json.loads(cli("-o", "json", "clients", "show", "example", "--env", env).stdout)[
            "release"
        ]
        for env in ("dev", "staging", "prod")
    }
    assert {env: b["bake"] for env, b in bakes.items()} == {
        "dev": "30s",
        "staging": "120s",
        "prod": "300s",
    }
    assert bakes["prod"] == {
        "strategy": "rolling",
        "bake": "300s",
        "alarms": "the stack's critical alarms",
        "verify": "health /health/ready",
    }


def test_layers_environment_over_client_over_tier(cli, project_copy: Path) -> None:
    config = project_copy / "cosydeploy.yaml"
    text = config.read_text()
    text = text.replace(
        "    database: {engine: atlas, atlas_tier: M30}\n",
        "    database: {engine: atlas, atlas_tier: M30}\n"
        "    release: {bake: 45s, verify: {smoke_timeout: 30}}\n",
    )
    config.write_text(text)
    _write(project_copy, MANIFEST)
    assert _show(cli, project_copy, "dev") == {
        "strategy": "rolling",
        "bake": "90s",  # the client's, over the tier's 45s
        "alarms": ["acme-custom"],
        "verify": "health /health/ready, version /version",
    }
    prod = _show(cli, project_copy, "prod")
    assert prod["bake"] == "600s"  # the environment's 10m
    # smoke from the environment, its timeout from the tier, version from the client
    assert prod["verify"] == (
        "health /health/ready, version /version, smoke './smoke.sh' (timeout 30s)"
    )


def test_alarms_empty_list_means_none(cli, project_copy: Path) -> None:
    _write(project_copy, MANIFEST.replace("alarms: [acme-custom]", "alarms: []"))
    assert _show(cli, project_copy, "dev")["alarms"] == []


@pytest.mark.parametrize(
    ("name", "edit", "line", "field", "expected", "hint"),
    [
        (
            "unknown strategy",
            ("  bake: 90\n", "  bake: 90\n  strategy: bluegreen\n"),
            17,
            "release.strategy",
            "strategy 'bluegreen' is not supported: use rolling or blue_green",
            "one of rolling, blue_green, canary, linear",
        ),
        (
            "canary bake not whole minutes",
            ("  bake: 90\n", "  bake: 90\n  canary: {percent: 10, bake: 90s}\n"),
            17,
            "release.canary.bake",
            "not whole minutes",
            "like '1m' or '5m'",
        ),
        (
            "canary percent out of range",
            ("  bake: 90\n", "  bake: 90\n  canary: {percent: 100}\n"),
            17,
            "release.canary.percent",
            "less than 100",
            "cosydeploy schema",
        ),
        (
            "bake not a duration",
            ("  bake: 90\n", "  bake: soon\n"),
            16,
            "release.bake",
            "'soon' is not a duration",
            "'90s' or '5m'",
        ),
        (
            "bake too long",
            ("      bake: 10m\n", "      bake: 2h\n"),
            13,
            "environments.prod.release.bake",
            "not a duration",
            "'90s' or '5m'",
        ),
        (
            "unknown key in verify",
            ("  verify: {version: true}\n", "  verify: {versoin: true}\n"),
            18,
            "release.verify",
            "unknown key 'versoin'",
            "spelling",
        ),
    ],
)
def test_bad_release_block_is_exit_2(
    cli, project_copy: Path, name: str, edit, line: int, field: str, expected: str, hint: str
) -> None:
    assert edit[0] in MANIFEST
    _write(project_copy, MANIFEST.replace(edit[0], edit[1]))
    r = cli("--project-dir", str(project_copy), "validate", "acme")
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"error: clients/acme.yaml:{line}: {field}: "), first
    assert expected in first, first
    assert hint in r.stderr, r.stderr


def test_bake_over_an_hour_is_refused(cli, project_copy: Path) -> None:
    _write(project_copy, MANIFEST.replace("  bake: 90\n", "  bake: 3601\n"))
    r = cli("--project-dir", str(project_copy), "validate", "acme")
    assert r.exit_code == 2
    assert "3601s is outside 0s-60m" in r.stderr.splitlines()[0]


def test_schema_describes_the_release_block(cli) -> None:
    r = cli("schema")
    assert r.exit_code == 0, r.output
    defs = json.loads(r.stdout)["$defs"]
    fields = defs["ReleaseSpec"]["properties"]
    assert set(fields) == {
        "strategy",
        "bake",
        "alarms",
        "verify",
        "canary",
        "linear",
        "pause_timeout",
    }
    assert "critical alarms" in fields["alarms"]["description"]
    assert "blue_green" in fields["strategy"]["description"]
    assert set(defs["CanarySpec"]["properties"]) == {"percent", "bake"}
    assert set(defs["LinearSpec"]["properties"]) == {"step", "bake"}
    assert set(defs["VerifySpec"]["properties"]) == {"version", "smoke", "smoke_timeout"}


# ------------------------------------------------------------------ the judges


BASE = bk.Baseline("ecs-svc/1", "arn:td/app:7", running=2, desired=2, since=100.0)


def _service(*deployments: dict, desired: int = 2, events: list | None = None) -> dict:
    return {
        "status": "ACTIVE",
        "desiredCount": desired,
        "deployments": list(deployments),
        "events": events or [],
    }


def _dep(id_: str = "ecs-svc/1", td: str = "arn:td/app:7", **kw) -> dict:
    d = {
        "id": id_,
        "taskDefinition": td,
        "status": "PRIMARY",
        "rolloutState": "COMPLETED",
        "runningCount": 2,
        "desiredCount": 2,
    }
    d.update(kw)
    return d


@pytest.mark.parametrize(
    ("service", "kind", "text"),
    [
        (_service(_dep()), None, ""),
        (_service(_dep(runningCount=3, desiredCount=3), desired=3), None, ""),  # scaled out
        (_service(_dep(runningCount=1, desiredCount=1), desired=1), None, ""),  # scaled in
        (_service(_dep(runningCount=1)), "task_stopped", "1/2 running (was 2)"),
        (None, "deployment", "the service is gone"),
        (
            _service(_dep("ecs-svc/2", "arn:td/app:6")),
            "deployment",
            "ecs-svc/1 was replaced by ecs-svc/2 (app:6)",
        ),
        (
            _service(
                _dep("ecs-svc/2", "arn:td/app:6", rolloutState="IN_PROGRESS"), _dep(status="ACTIVE")
            ),
            "deployment",
            "replaced by ecs-svc/2",
        ),
        (
            _service(_dep(rolloutState="FAILED", rolloutStateReason="circuit breaker")),
            "deployment",
            "failed: circuit breaker",
        ),
    ],
)
def test_judge_service(service, kind, text) -> None:
    signal = bk.judge_service(service, BASE)
    if kind is None:
        assert signal is None
    else:
        assert signal is not None and signal.kind == kind and text in signal.text, signal


def _event(at: float, message: str) -> dict:
    return {"id": str(at), "createdAt": at, "message": message}


@pytest.mark.parametrize(
    ("events", "desired", "expected"),
    [
        ([_event(90, "(service app) has started 2 tasks: (task a) (task b).")], 2, None),
        ([_event(101, "(service app) has reached a steady state.")], 2, None),
        ([_event(101, "(service app) has started 1 tasks: (task c).")], 2, "replaced a task"),
        ([_event(101, "(service app) has started 1 tasks: (task c).")], 3, None),  # scale-out
        ([_event(101, "(service app) has stopped 1 running tasks: (task a).")], 1, None),
        ([_event(101, "(service app) has stopped 1 running tasks: (task a).")], 2, "stopped"),
        (
            [_event(102, "(service app) (task a) failed ELB health checks in (target-group x).")],
            2,
            "failed ELB health checks",
        ),
    ],
)
def test_judge_events(events, desired: int, expected: str | None) -> None:
    signal = bk.judge_events(events, BASE, desired)
    if expected is None:
        assert signal is None
    else:
        assert signal is not None and signal.kind == "task_stopped" and expected in signal.text


def test_judge_targets_and_alarms() -> None:
    healthy = {"Target": {"Id": "10.0.0.1", "Port": 3000}, "TargetHealth": {"State": "healthy"}}
    draining = {"Target": {"Id": "10.0.0.2", "Port": 3000}, "TargetHealth": {"State": "draining"}}
    sick = {
        "Target": {"Id": "10.0.0.3", "Port": 3000},
        "TargetHealth": {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch"},
    }
    assert bk.judge_targets([healthy, draining]) is None
    signal = bk.judge_targets([healthy, sick])
    assert signal is not None and signal.text == (
        "1 target(s) unhealthy (first 10.0.0.3:3000, Target.ResponseCodeMismatch)"
    )
    assert bk.judge_alarms([{"AlarmName": "a", "StateValue": "OK"}]) is None
    signal = bk.judge_alarms(
        [
            {"AlarmName": "a", "StateValue": "INSUFFICIENT_DATA"},
            {"AlarmName": "b", "StateValue": "ALARM", "StateReason": "5xx above 10 %"},
        ]
    )
    assert signal == bk.Signal("alarm", "alarm b is in ALARM: 5xx above 10 %")


def test_strikes_need_failures_in_a_row() -> None:
    s = bk.Strikes(2)
    assert [s.add(f) for f in (True, False, True, True)] == [False, False, False, True]


# ------------------------------------------------------------------ verification


def _answers(*replies: tuple[int, str]):
    queue = list(replies)
    return lambda url: queue.pop(0) if len(queue) > 1 else queue[0]


def test_version_check() -> None:
    ok, why = vf.check_version(
        "http://app/version", "v2", get=_answers((200, "v2")), sleep=lambda s: None
    )
    assert ok and why == "http://app/version answered v2"
    ok, why = vf.check_version(
        "http://app/version", "v2", get=_answers((200, "v1")), sleep=lambda s: None
    )
    assert not ok and why == "http://app/version answered 'v1', not 'v2'"
    ok, why = vf.check_version(
        "http://app/version", "v2", get=_answers((404, "")), sleep=lambda s: None
    )
    assert not ok and "HTTP 404" in why
    ok, _ = vf.check_version(
        "http://app/version",
        "v2",
        get=_answers((200, "v1"), (200, "v2"), (200, "v2")),
        sleep=lambda s: None,
    )
    assert ok  # a last old task draining, then the release


def test_smoke_command_gets_the_url_and_version(tmp_path: Path) -> None:
    ok, why = vf.run_smoke(
        'test "$APP_URL" = http://app && test "$VERSION" = v3 && pwd > seen',
        app_url="http://app",
        version="v3",
        cwd=tmp_path,
    )
    assert ok, why
    assert (tmp_path / "seen").read_text().strip() == str(tmp_path)
    ok, why = vf.run_smoke(
        "echo checking; echo 'GET /api 500' >&2; exit 4", app_url="u", version="v", cwd=tmp_path
    )
    assert not ok
    assert (
        why
        == "smoke command \"echo checking; echo 'GET /api 500' >&2; exit 4\" exited 4: checking | GET /api 500"
    )


def test_smoke_command_is_bounded_by_its_timeout(tmp_path: Path) -> None:
    ok, why = vf.run_smoke("sleep 30 & sleep 30", app_url="u", version="v", timeout=0.5)
    assert not ok
    assert why == "smoke command 'sleep 30 & sleep 30' did not finish within 0.5s", why


def test_release_role_may_read_the_alarms_of_its_stacks_only() -> None:
    from cosydeploy.sandbox.authz import Request, calls_for

    req = Request(
        "monitoring",
        "DescribeAlarms",
        "us-east-1",
        "POST",
        "/",
        {"AlarmNames": ["cosyworld-acme-dev-no-healthy-targets"]},
    )
    (call,) = calls_for(req, "123456789012")
    assert (call.action, call.resource) == (
        "cloudwatch:DescribeAlarms",
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cosyworld-acme-dev-no-healthy-targets",
    )
