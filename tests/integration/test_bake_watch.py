"""The bake's reads against a moto server and a local HTTP app: what it watches, how it
ends, what it does when CloudWatch cannot be read."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from cosydeploy.release.bake import Bake


@pytest.fixture
def service(aws_session) -> dict:
    """An ECS service in moto (two tasks wanted) and two alarms, OK."""
    ecs = aws_session.client("ecs")
    ecs.create_cluster(clusterName="c")
    td = ecs.register_task_definition(
        family="app",
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 128}],
    )["taskDefinition"]["taskDefinitionArn"]
    svc = ecs.create_service(cluster="c", serviceName="app", taskDefinition=td, desiredCount=2)
    cw = aws_session.client("cloudwatch")
    for name in ("acme-dev-no-healthy-targets", "acme-dev-5xx-rate-critical"):
        cw.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/ApplicationELB",
            MetricName="HealthyHostCount",
            Statistic="Minimum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="LessThanThreshold",
        )
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test")
    return {
        "ecs": ecs,
        "cloudwatch": cw,
        "td": td,
        "deployment": svc["service"]["deployments"][0]["id"],
    }


class _App(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def app() -> Iterator[tuple[str, type[_App]]]:
    handler = type("App", (_App,), {"status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health/ready", handler
    server.shutdown()
    server.server_close()


def bake(service: dict, **kw) -> Bake:
    args = dict(
        key="acme/dev",
        seconds=2.0,
        ecs=service["ecs"],
        cluster="c",
        service="app",
        deployment_id=service["deployment"],
        task_definition_arn=service["td"],
        cloudwatch=service["cloudwatch"],
        alarms=("acme-dev-no-healthy-targets", "acme-dev-5xx-rate-critical"),
        interval=0.3,
    )
    args.update(kw)
    return Bake(**args)


def test_a_quiet_bake_lasts_its_time_and_says_which_alarms_it_could_not_find(service, app):
    url, _ = app
    events: list = []
    b = bake(
        service,
        alarms=("acme-dev-no-healthy-targets", "acme-dev-redis-down-1"),
        health_url=url,
        emit=events.append,
    )
    result = b.run()
    assert result.ok, result.signal
    assert result.elapsed >= 2.0
    assert result.notes == ["alarm(s) not found, not watched: acme-dev-redis-down-1"]
    calls = result.calls
    assert calls["ecs:DescribeServices"] == result.ticks
    # every other tick, plus the first and the last look
    assert 2 <= calls["cloudwatch:DescribeAlarms"] <= result.ticks // 2 + 2, calls
    stages = [e.stage for e in events if type(e).__name__ == "Baking"]
    assert stages[0] == "baking" and stages[-1] == "baked"


def test_an_alarm_going_off_ends_the_bake(service):
    def later() -> None:
        time.sleep(0.5)
        service["cloudwatch"].set_alarm_state(
            AlarmName="acme-dev-5xx-rate-critical", StateValue="ALARM", StateReason="5xx 12 %"
        )

    threading.Thread(target=later, daemon=True).start()
    result = bake(service, seconds=20.0).run()
    assert result.signal is not None and result.signal.kind == "alarm"
    assert result.signal.text == "alarm acme-dev-5xx-rate-critical is in ALARM: 5xx 12 %"
    assert result.elapsed < 5, result.elapsed


def test_the_health_path_failing_twice_ends_the_bake(service, app):
    url, handler = app

    def later() -> None:
        time.sleep(0.5)
        handler.status = 503

    threading.Thread(target=later, daemon=True).start()
    result = bake(service, seconds=20.0, health_url=url).run()
    assert result.signal is not None and result.signal.kind == "health"
    assert result.signal.text == f"{url} answered HTTP 503"


def test_alarms_that_cannot_be_read_are_said_and_the_bake_goes_on(service, monkeypatch):
    import boto3
    from botocore.config import Config

    monkeypatch.delenv("AWS_ENDPOINT_URL")
    unreachable = boto3.Session(region_name="eu-west-1").client(
        "cloudwatch",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1),
    )
    result = bake(service, cloudwatch=unreachable).run()
    assert result.ok
    assert len(result.notes) == 1 and result.notes[0].startswith(
        "could not read the alarms, not watched: "
    ), result.notes
    assert result.calls["cloudwatch:DescribeAlarms"] == 1


def test_the_first_look_is_the_watchs_last_one_not_a_second_read(service):
    """The rollout's watch read the service (and its targets) as it judged it done: the
    bake takes that as its first look and reads again only from its second tick on."""
    snapshot = service["ecs"].describe_services(cluster="c", services=["app"])["services"][0]
    result = bake(service, seconds=1.0, alarms=(), first=(snapshot, [])).run()
    assert result.ok, result.signal
    assert result.ticks >= 2
    assert result.calls["ecs:DescribeServices"] == result.ticks - 1, result.calls

    # And what it was given is judged like a look of its own: a snapshot where another
    # deployment has taken over ends the bake at once, without a read.
    replaced = {
        **snapshot,
        "deployments": [
            {**d, "id": "ecs-svc/other", "taskDefinition": "arn:td/other:1"}
            for d in snapshot["deployments"]
        ],
    }
    result = bake(service, seconds=20.0, alarms=(), first=(replaced, [])).run()
    assert result.signal is not None and result.signal.kind == "deployment", result.signal
    assert "was replaced by ecs-svc/other" in result.signal.text
    assert result.ticks == 1 and "ecs:DescribeServices" not in result.calls, result.calls
