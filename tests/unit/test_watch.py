"""The rollout state machine (table) and the batched poller (botocore Stubber)."""

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from cosydeploy.ecs.poller import Poller
from cosydeploy.ecs.watch import Phase, Watch, evaluate, new_events

OURS = "ecs-svc/1111"
OLD = "ecs-svc/0000"
TD_NEW = "arn:aws:ecs:us-east-1:123456789012:task-definition/fam:5"
TD_OLD = "arn:aws:ecs:us-east-1:123456789012:task-definition/fam:4"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def dep(
    id_=OURS,
    status="PRIMARY",
    rollout="IN_PROGRESS",
    running=0,
    desired=2,
    pending=0,
    td=TD_NEW,
    failed=0,
    reason="",
):
    d = {
        "id": id_,
        "status": status,
        "rolloutState": rollout,
        "runningCount": running,
        "desiredCount": desired,
        "pendingCount": pending,
        "taskDefinition": td,
        "failedTasks": failed,
        "createdAt": T0,
    }
    if reason:
        d["rolloutStateReason"] = reason
    return d


def svc(*deployments, status="ACTIVE", name="app", events=()):
    return {
        "serviceName": name,
        "status": status,
        "deployments": list(deployments),
        "events": list(events),
        "serviceArn": f"arn:aws:ecs:us-east-1:123456789012:service/c/{name}",
    }


HEALTHY = [
    {"Target": {"Id": "10.0.0.1", "Port": 3000}, "TargetHealth": {"State": "healthy"}},
    {"Target": {"Id": "10.0.0.2", "Port": 3000}, "TargetHealth": {"State": "healthy"}},
]
UNHEALTHY = [
    HEALTHY[0],
    {
        "Target": {"Id": "10.0.0.3", "Port": 3000},
        "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout"},
    },
]
DRAINING_OLD = [*HEALTHY, {"Target": {"Id": "10.0.0.9"}, "TargetHealth": {"State": "draining"}}]

TABLE = [
    # name, service, our id, has tg, target health, now, phase
    (
        "in progress",
        svc(dep(running=1), dep(OLD, "ACTIVE", "COMPLETED", 2, td=TD_OLD)),
        OURS,
        False,
        None,
        0,
        Phase.IN_PROGRESS,
    ),
    ("completed", svc(dep(rollout="COMPLETED", running=2)), OURS, False, None, 0, Phase.SUCCEEDED),
    (
        "completed but running < desired",
        svc(dep(rollout="COMPLETED", running=1)),
        OURS,
        False,
        None,
        0,
        Phase.IN_PROGRESS,
    ),
    (
        "completed, targets healthy",
        svc(dep(rollout="COMPLETED", running=2)),
        OURS,
        True,
        HEALTHY,
        0,
        Phase.SUCCEEDED,
    ),
    (
        "completed, draining old target ignored",
        svc(dep(rollout="COMPLETED", running=2)),
        OURS,
        True,
        DRAINING_OLD,
        0,
        Phase.SUCCEEDED,
    ),
    (
        "completed, a target unhealthy",
        svc(dep(rollout="COMPLETED", running=2)),
        OURS,
        True,
        UNHEALTHY,
        0,
        Phase.IN_PROGRESS,
    ),
    (
        "completed, targets not read",
        svc(dep(rollout="COMPLETED", running=2)),
        OURS,
        True,
        None,
        0,
        Phase.IN_PROGRESS,
    ),
    (
        "completed, unhealthy at deadline",
        svc(dep(rollout="COMPLETED", running=2)),
        OURS,
        True,
        UNHEALTHY,
        100,
        Phase.TIMED_OUT,
    ),
    (
        "circuit breaker FAILED",
        svc(
            dep(status="ACTIVE", rollout="FAILED", failed=3, reason="circuit breaker"),
            dep(OLD, "PRIMARY", "IN_PROGRESS", 1, td=TD_OLD),
        ),
        OURS,
        False,
        None,
        0,
        Phase.FAILED,
    ),
    # A rollback deployment that COMPLETED is not our success.
    (
        "completed but rolled back",
        svc(
            dep(OLD, "PRIMARY", "COMPLETED", 2, td=TD_OLD),
            dep(status="INACTIVE", rollout="COMPLETED", running=2),
        ),
        OURS,
        False,
        None,
        0,
        Phase.FAILED,
    ),
    (
        "ours gone, other primary completed",
        svc(dep(OLD, "PRIMARY", "COMPLETED", 2, td=TD_OLD)),
        OURS,
        False,
        None,
        0,
        Phase.FAILED,
    ),
    (
        "replaced while in progress",
        svc(dep(status="ACTIVE", running=1), dep("ecs-svc/2222", "PRIMARY", td=TD_OLD)),
        OURS,
        False,
        None,
        0,
        Phase.FAILED,
    ),
    ("deadline passed", svc(dep(running=1)), OURS, False, None, 100, Phase.TIMED_OUT),
    ("service draining", svc(dep(), status="DRAINING"), OURS, False, None, 0, Phase.FAILED),
    ("service missing", None, OURS, False, None, 0, Phase.FAILED),
    (
        "id unknown: found by task definition",
        svc(dep(rollout="COMPLETED", running=2)),
        None,
        False,
        None,
        0,
        Phase.SUCCEEDED,
    ),
    (
        "id unknown: not started yet",
        svc(dep(OLD, td=TD_OLD, rollout="COMPLETED", running=2)),
        None,
        False,
        None,
        0,
        Phase.IN_PROGRESS,
    ),
    (
        "id unknown: never started",
        svc(dep(OLD, td=TD_OLD, rollout="COMPLETED", running=2)),
        None,
        False,
        None,
        100,
        Phase.TIMED_OUT,
    ),
]


@pytest.mark.parametrize(
    ("name", "service", "dep_id", "tg", "health", "now", "phase"), TABLE, ids=[t[0] for t in TABLE]
)
def test_evaluate(name, service, dep_id, tg, health, now, phase):
    v = evaluate(
        service,
        dep_id,
        now=now,
        deadline=100,
        task_definition_arn=TD_NEW,
        has_target_group=tg,
        target_health=health,
    )
    assert v.phase is phase, v.reason
    assert v.reason
    if phase is Phase.FAILED and service and dep_id:
        assert "replaced" in v.reason or "circuit" in v.reason or "DRAINING" in v.reason


def test_evaluate_asks_for_target_health_only_when_completed():
    running = evaluate(svc(dep(running=1)), OURS, now=0, deadline=9, has_target_group=True)
    done = evaluate(
        svc(dep(rollout="COMPLETED", running=2)), OURS, now=0, deadline=9, has_target_group=True
    )
    assert not running.needs_target_health and done.needs_target_health
    assert done.deployment_id == OURS and (done.running, done.desired) == (2, 2)


def test_new_events_only_once_and_in_order():
    seen: set[str] = set()
    e1 = {"id": "1", "message": "a", "createdAt": T0}
    e2 = {"id": "2", "message": "b", "createdAt": datetime(2025, 1, 2, tzinfo=UTC)}
    assert [e["id"] for e in new_events([e2, e1], seen)] == ["1", "2"]
    assert new_events([e2, e1], seen) == []


class FakeClock:
    def __init__(self):
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.sleeps.append(s)
        self.t += s


def _client(service):
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_poller_batches_by_cluster_and_ten_services():
    ecs = _client("ecs")
    clock = FakeClock()
    names = [f"svc{i}" for i in range(12)]
    watches = [
        Watch(
            key=f"c{i}/dev",
            ecs=ecs,
            cluster="blue",
            service=n,
            deployment_id=OURS,
            deadline=clock.t + 60,
        )
        for i, n in enumerate(names)
    ]
    watches.append(
        Watch(
            key="other/dev",
            ecs=ecs,
            cluster="green",
            service="app",
            deployment_id=OURS,
            deadline=clock.t + 60,
        )
    )
    done = [svc(dep(rollout="COMPLETED", running=2), name=n) for n in names]
    with Stubber(ecs) as stub:
        stub.add_response(
            "describe_services",
            {"services": done[:10]},
            {"cluster": "blue", "services": names[:10]},
        )
        stub.add_response(
            "describe_services",
            {"services": done[10:]},
            {"cluster": "blue", "services": names[10:]},
        )
        stub.add_response(
            "describe_services",
            {"services": [svc(dep(rollout="COMPLETED", running=2))]},
            {"cluster": "green", "services": ["app"]},
        )
        poller = Poller(clock=clock, sleep=clock.sleep)
        result = poller.follow(watches)
        stub.assert_no_pending_responses()
    assert poller.describe_calls == 3
    assert all(v.phase is Phase.SUCCEEDED for v in result.values())
    assert clock.sleeps == []


def test_poller_rollback_is_failure_and_events_are_new_only():
    ecs = _client("ecs")
    clock = FakeClock()
    ev = [{"id": "e1", "message": "has started 2 tasks", "createdAt": T0}]
    ev2 = [
        {
            "id": "e2",
            "message": "circuit breaker triggered",
            "createdAt": datetime(2025, 1, 1, 0, 1, tzinfo=UTC),
        },
        *ev,
    ]
    snaps = [
        svc(dep(running=1), dep(OLD, "ACTIVE", "COMPLETED", 2, td=TD_OLD), events=ev),
        svc(dep(running=1), dep(OLD, "ACTIVE", "COMPLETED", 2, td=TD_OLD), events=ev),
        # ECS rolled back: the old revision is PRIMARY and COMPLETED again.
        svc(
            dep(OLD, "PRIMARY", "COMPLETED", 2, td=TD_OLD),
            dep(status="ACTIVE", rollout="FAILED", failed=2, reason="circuit breaker"),
            events=ev2,
        ),
    ]
    seen_events: list[str] = []
    updates: list[str] = []
    w = Watch(
        key="acme/prod",
        ecs=ecs,
        cluster="c",
        service="app",
        deployment_id=OURS,
        deadline=clock.t + 60,
    )
    with Stubber(ecs) as stub:
        for s in snaps:
            stub.add_response(
                "describe_services", {"services": [s]}, {"cluster": "c", "services": ["app"]}
            )
        poller = Poller(clock=clock, sleep=clock.sleep)
        verdict = poller.watch(
            w,
            on_update=lambda w: updates.append(w.verdict.phase.value),
            on_events=lambda w, es: seen_events.extend(e["id"] for e in es),
        )
        result = {w.key: verdict}
    assert result["acme/prod"].phase is Phase.FAILED
    assert "circuit breaker" in result["acme/prod"].reason
    assert seen_events == ["e1", "e2"]
    assert updates == ["in_progress", "in_progress", "failed"]
    assert poller.describe_calls == 3
    assert clock.sleeps == [1.0, 1.5]


def test_poller_backs_off_and_never_sleeps_past_deadline():
    ecs = _client("ecs")
    clock = FakeClock()
    w = Watch(
        key="a/dev", ecs=ecs, cluster="c", service="app", deployment_id=OURS, deadline=clock.t + 10
    )
    with Stubber(ecs) as stub:
        for _ in range(6):
            stub.add_response(
                "describe_services",
                {"services": [svc(dep(running=1))]},
                {"cluster": "c", "services": ["app"]},
            )
        poller = Poller(clock=clock, sleep=clock.sleep, initial_interval=1.0, max_interval=3.0)
        verdict = poller.follow([w])["a/dev"]
        stub.assert_no_pending_responses()
    assert verdict.phase is Phase.TIMED_OUT
    assert clock.sleeps == [1.0, 1.5, 2.25, 3.0, 2.25]
    assert clock.t == 1010.0
    assert poller.describe_calls == 6  # at t+0, 1, 2.5, 4.75, 7.75 and the deadline


def test_poller_reads_target_health_only_after_completed():
    ecs, elbv2 = _client("ecs"), _client("elbv2")
    clock = FakeClock()
    tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/a-dev/0000000000000000"
    w = Watch(
        key="a/dev",
        ecs=ecs,
        cluster="c",
        service="app",
        deployment_id=OURS,
        deadline=clock.t + 60,
        elbv2=elbv2,
        target_group_arn=tg,
    )
    with Stubber(ecs) as se, Stubber(elbv2) as sl:
        se.add_response("describe_services", {"services": [svc(dep(running=1))]})
        se.add_response(
            "describe_services", {"services": [svc(dep(rollout="COMPLETED", running=2))]}
        )
        se.add_response(
            "describe_services", {"services": [svc(dep(rollout="COMPLETED", running=2))]}
        )
        sl.add_response(
            "describe_target_health",
            {"TargetHealthDescriptions": UNHEALTHY},
            {"TargetGroupArn": tg},
        )
        sl.add_response(
            "describe_target_health", {"TargetHealthDescriptions": HEALTHY}, {"TargetGroupArn": tg}
        )
        verdict = Poller(clock=clock, sleep=clock.sleep).follow([w])["a/dev"]
        se.assert_no_pending_responses()
        sl.assert_no_pending_responses()
    assert verdict.phase is Phase.SUCCEEDED


def test_an_older_deployment_of_the_same_revision_is_never_ours():
    """Rolling back to the revision an ACTIVE deployment still runs: without an id in the
    update response, only a deployment that did not exist before the update is ours."""
    td = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:2"
    t = datetime(2026, 1, 1, tzinfo=UTC)
    old = {
        "id": "ecs-svc/old",
        "status": "ACTIVE",
        "taskDefinition": td,
        "rolloutState": "COMPLETED",
        "desiredCount": 2,
        "runningCount": 2,
        "pendingCount": 0,
        "createdAt": t,
    }
    other = {
        "id": "ecs-svc/other",
        "status": "PRIMARY",
        "taskDefinition": td[:-1] + "3",
        "rolloutState": "IN_PROGRESS",
        "desiredCount": 2,
        "runningCount": 2,
        "createdAt": t,
    }
    service = {
        "status": "ACTIVE",
        "desiredCount": 2,
        "runningCount": 4,
        "deployments": [other, old],
    }
    before = frozenset({"ecs-svc/old", "ecs-svc/other"})
    v = evaluate(service, None, now=1.0, deadline=100.0, task_definition_arn=td, exclude_ids=before)
    assert v.phase is Phase.IN_PROGRESS and v.deployment_id is None
    ours = dict(old, id="ecs-svc/new", status="PRIMARY", rolloutState="IN_PROGRESS", runningCount=0)
    service["deployments"] = [ours, dict(other, status="ACTIVE"), old]
    v = evaluate(service, None, now=2.0, deadline=100.0, task_definition_arn=td, exclude_ids=before)
    assert v.deployment_id == "ecs-svc/new" and v.phase is Phase.IN_PROGRESS
