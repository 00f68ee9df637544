"""release() and rollback() over moto (HTTP), with a tiny in-process rollout stand-in.

moto never runs a deployment; ``FakeRollout`` edits moto's ECS backend the way the
sandbox driver does (new PRIMARY deployment, then COMPLETED or FAILED with the old
revision back as PRIMARY). The full end-to-end run through the sandbox is in tests/e2e.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from conftest import deployment_book

from cosydeploy import events as ev
from cosydeploy.adapters.aws import AwsSession
from cosydeploy.ecs.poller import Poller
from cosydeploy.errors import EXIT_NOT_RECOVERED, EXIT_ROLLED_BACK, CosydeployError
from cosydeploy.image import ResolvedImage
from cosydeploy.ledger import Ledger
from cosydeploy.lock import read_holder
from cosydeploy.release.model import ReleaseOptions, ReleaseTarget
from cosydeploy.release.pipeline import preflight_secrets, release_one, rollback_one
from cosydeploy.stack import StackOutputs

# Not us-east-1: the sandbox driver of other tests (same process, shared moto state) drives it.
ACCOUNT, REGION = "123456789012", "eu-west-1"
NAME = "cosyworld-acme-dev"
ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/cosyworld"
SECRETS = ("MONGO_URI", "DISCORD_BOT_TOKEN")
CANARY = f"canary-{uuid.uuid4().hex}"


def image(version: str, ch: str) -> ResolvedImage:
    digest = "sha256:" + ch * 64
    return ResolvedImage(version, ch * 40, digest, f"{ECR}@{digest}")


GOOD1, GOOD2, BAD = image("v1", "1"), image("v2", "2"), image("v3", "b")


class FakeRollout:
    """Watches moto's service; when its task definition changes, rolls it out: images
    whose digest is all ``b`` fail (circuit breaker), others complete."""

    def __init__(self, hang: bool = False) -> None:
        from moto.ecs.models import ecs_backends

        self.backend = ecs_backends[ACCOUNT][REGION]
        self.book = deployment_book()
        self.hang = hang
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def service(self):
        return self.backend.services[f"{NAME}:app"]

    def run(self) -> None:
        seen = self.service().task_definition
        while not self.stop.wait(0.05):
            svc = self.service()
            td = svc.task_definition
            if td == seen:
                continue
            old, seen = seen, td
            now = datetime.now(UTC)
            dep = {
                "id": f"ecs-svc/{uuid.uuid4().int % 10**12}",
                "status": "PRIMARY",
                "taskDefinition": td,
                "desiredCount": 2,
                "runningCount": 0,
                "pendingCount": 2,
                "failedTasks": 0,
                "rolloutState": "IN_PROGRESS",
                "createdAt": now,
                "updatedAt": now,
                "launchType": "FARGATE",
            }
            svc.deployments = [dep] + [dict(d, status="ACTIVE") for d in svc.deployments[:1]]
            record = self.open_record(svc, dep)
            if self.hang:
                continue
            if self.stop.wait(0.3):
                return
            image_ = self.backend.describe_task_definition(td).container_definitions[0]["image"]
            if image_.endswith("b" * 64):
                dep.update(
                    rolloutState="FAILED",
                    failedTasks=2,
                    status="ACTIVE",
                    rolloutStateReason="ECS deployment circuit breaker: tasks failed",
                )
                back = dict(
                    dep,
                    id="ecs-svc/rollback",
                    status="PRIMARY",
                    taskDefinition=old,
                    rolloutState="COMPLETED",
                    runningCount=2,
                    pendingCount=0,
                    failedTasks=0,
                )
                svc.deployments = [back, dep]
                seen = old
                svc.task_definition = old
                with self.book.lock:
                    record.rollback = {"reason": dep["rolloutStateReason"], "startedAt": now}
                    record.set("ROLLBACK_SUCCESSFUL", dep["rolloutStateReason"])
            else:
                dep.update(rolloutState="COMPLETED", runningCount=2, pendingCount=0)
                svc.deployments = [dep]
                with self.book.lock:
                    record.set("SUCCESSFUL")
            svc.events.insert(
                0,
                {
                    "id": uuid.uuid4().hex,
                    "createdAt": datetime.now(UTC),
                    "message": f"(service app) rolled out {td.rsplit('/', 1)[-1]}",
                },
            )

    def open_record(self, svc, dep):
        """ECS's record of the deployment (and its revision), IN_PROGRESS."""
        from cosydeploy.sandbox import deployments as sd

        cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{NAME}"
        rev = sd.revision_arn(REGION, ACCOUNT, NAME, "app", dep["id"])
        self.book.add_revision(
            sd.Revision(rev, svc.arn, cluster_arn, dep["taskDefinition"], [], None, [])
        )
        record = sd.Record(
            sd.record_arn(REGION, ACCOUNT, NAME, "app", dep["id"]),
            svc.arn,
            cluster_arn,
            NAME,
            "app",
            ACCOUNT,
            REGION,
            {"arn": rev, "requestedTaskCount": 2, "runningTaskCount": 0},
            {},
        )
        record.set("IN_PROGRESS")
        return self.book.add_record(record)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


@pytest.fixture
def target(aws_session):
    s = aws_session
    db = s.client("dynamodb")
    db.create_table(
        TableName="cosyworld-deploy-locks",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "lock_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "lock_id", "KeyType": "HASH"}],
    )
    db.create_table(
        TableName="cosyworld-releases",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "target", "AttributeType": "S"},
            {"AttributeName": "release_id", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "target", "KeyType": "HASH"},
            {"AttributeName": "release_id", "KeyType": "RANGE"},
        ],
    )
    sm = s.client("secretsmanager")
    arns = {
        n: sm.create_secret(Name=f"cosyworld/acme/dev/{n}", SecretString=CANARY)["ARN"]
        for n in SECRETS
    }
    ecs = s.client("ecs")
    ecs.create_cluster(clusterName=NAME)
    td = ecs.register_task_definition(
        family=NAME,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": f"{ECR}:bootstrap"}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=NAME, serviceName="app", taskDefinition=td, desiredCount=2, launchType="FARGATE"
    )
    s.client("logs").create_log_group(logGroupName=f"/ecs/{NAME}")
    outputs = StackOutputs(
        cluster_name=NAME,
        service_name="app",
        container_name="app",
        task_family=NAME,
        execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/{NAME}-exec",
        task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/{NAME}-task",
        log_group_name=f"/ecs/{NAME}",
        secret_arns=arns,
    )
    return ReleaseTarget(
        project="cosyworld",
        client="acme",
        env="dev",
        region=REGION,
        account_id=ACCOUNT,
        aws=AwsSession(s, REGION),
        outputs=outputs,
        environment={"NODE_ENV": "production"},
        secret_names=SECRETS,
        timeout=20,
        initial_image=f"{ECR}:bootstrap",
    )


FAST = ReleaseOptions(poll_initial=0.1, poll_max=0.2)


@pytest.fixture
def said():
    lines: list[str] = []

    def emit(e: ev.Event) -> None:
        text = getattr(e, "text", None)
        if isinstance(e, ev.Verified):
            text = f"verify: {'SKIP' if e.ok is None else 'OK' if e.ok else 'NG'} {e.text}"
        if text:
            lines.append(text)

    return lines, emit


def release(target, image, options, emit, **kw):
    return release_one(target, image, options, emit=emit, **kw)


def rollback(target, to, options, emit, **kw):
    return rollback_one(target, to, options, emit=emit, **kw)


def running_image(target):
    ecs = target.aws.client("ecs")
    td = ecs.describe_services(cluster=NAME, services=["app"])["services"][0]["taskDefinition"]
    return ecs.describe_task_definition(taskDefinition=td)["taskDefinition"][
        "containerDefinitions"
    ][0]["image"]


def test_release_noop_failure_rollback_and_explicit_rollback(target, said):
    lines, ui = said
    ledger = Ledger(target.aws.client("dynamodb"))
    with FakeRollout():
        dry = release(target, GOOD1, ReleaseOptions(dry_run=True), ui)
        assert dry.outcome == "dry_run" and dry.diff.first_release is False
        assert any("image" in c.path for c in dry.diff.changes)
        assert running_image(target).endswith(":bootstrap")

        r1 = release(target, GOOD1, FAST, ui)
        assert r1.outcome == "succeeded" and running_image(target) == GOOD1.uri
        assert any("verify: SKIP" in line for line in lines)
        r2 = release(target, GOOD2, FAST, ui)
        assert r2.outcome == "succeeded"

        again = release(target, GOOD2, FAST, ui)
        assert again.outcome == "noop" and again.task_definition_arn == r2.task_definition_arn

        bad = release(target, BAD, FAST, ui)
        assert bad.outcome == "rolled_back" and bad.exit_code == EXIT_ROLLED_BACK
        assert "circuit breaker" in bad.message
        assert running_image(target) == GOOD2.uri

        back = rollback(target, None, FAST, ui)
        assert back.outcome == "succeeded" and back.version == "v1"
        assert running_image(target) == GOOD1.uri
        to_v2 = rollback(target, "v2", FAST, ui)
        assert to_v2.version == "v2" and running_image(target) == GOOD2.uri

    hist = ledger.history("acme", "dev")
    assert [(r.kind, r.version, r.outcome) for r in reversed(hist)] == [
        ("release", "v1", "succeeded"),
        ("release", "v2", "succeeded"),
        ("release", "v2", "noop"),
        ("release", "v3", "rolled_back"),
        ("rollback", "v1", "succeeded"),
        ("rollback", "v2", "succeeded"),
    ]
    # ECS's circuit breaker went back to v2, what served before: followed, verified, and
    # no rollout of cosydeploy's own (no rollback record for it).
    failed = hist[2]
    assert failed.diagnosis and failed.previous_task_definition_arn == r2.task_definition_arn
    assert "ECS rolled back to it, verified" in failed.message
    assert bad.rolled_back_to == r2.task_definition_arn and "back on v2" in bad.message
    assert any("back to what served before: v2" in line for line in lines)
    assert read_holder(target.aws.client("dynamodb"), "acme", "dev") is None
    assert CANARY not in "\n".join(lines)
    assert all(CANARY not in str(r.as_dict()) for r in hist)


def test_deadline_rolls_back_and_reports_not_recovered(target, said):
    _lines, ui = said
    with FakeRollout(hang=True):
        r = release(target, GOOD1, ReleaseOptions(timeout=1.0, poll_initial=0.1, poll_max=0.2), ui)
    # No good release in the ledger: back to the previous revision, which also hangs.
    assert r.outcome == "failed" and r.exit_code == EXIT_NOT_RECOVERED
    assert "timed out" in r.message and "NOT back on a good release" in r.message
    hist = Ledger(target.aws.client("dynamodb")).history("acme", "dev")
    assert [(r.kind, r.outcome) for r in hist] == [("rollback", "failed"), ("release", "failed")]
    assert read_holder(target.aws.client("dynamodb"), "acme", "dev") is None


def test_interrupt_mid_watch_records_interrupted_and_unlocks(target, said):
    """Ctrl-C reaches a release waiting on the poller as the poller's cancel (the main
    thread cancels it on KeyboardInterrupt, as a fleet run does)."""
    import threading

    _, ui = said
    poller = Poller(initial_interval=0.1, max_interval=0.2)
    threading.Timer(1.5, poller.cancel).start()
    with FakeRollout(hang=True), pytest.raises(KeyboardInterrupt):
        release(target, GOOD1, FAST, ui, poller=poller)
    poller.close()
    hist = Ledger(target.aws.client("dynamodb")).history("acme", "dev")
    assert [r.outcome for r in hist] == ["interrupted"]
    assert read_holder(target.aws.client("dynamodb"), "acme", "dev") is None


def test_secret_without_value_is_refused_before_any_change(target):
    sm = target.aws.client("secretsmanager")
    sm.create_secret(Name="cosyworld/acme/dev/ENCRYPTION_KEY")  # no value
    import dataclasses

    t = dataclasses.replace(
        target,
        secret_names=(*SECRETS, "ENCRYPTION_KEY"),
        outputs=dataclasses.replace(
            target.outputs, secret_arns={**target.outputs.secret_arns, "ENCRYPTION_KEY": "arn:x"}
        ),
    )
    with pytest.raises(CosydeployError, match="ENCRYPTION_KEY") as err:
        preflight_secrets(t.aws.client("secretsmanager"), t)
    assert err.value.exit_code == 2
    assert running_image(target).endswith(":bootstrap")
    assert Ledger(target.aws.client("dynamodb")).history("acme", "dev") == []


class HealthByImage:
    """An app URL whose health path answers 500 while the service runs ``broken``'s image."""

    def __init__(self, broken: ResolvedImage) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from moto.ecs.models import ecs_backends

        backend = ecs_backends[ACCOUNT][REGION]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                td = backend.services[f"{NAME}:app"].task_definition
                image_ = backend.describe_task_definition(td).container_definitions[0]["image"]
                self.send_response(500 if image_ == broken.uri else 200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


VERIFY_FAST = ReleaseOptions(
    poll_initial=0.1, poll_max=0.2, verify_interval=0.05, verify_max_tries=4
)


def test_verification_failing_after_completed_rolls_back(target, said) -> None:
    import dataclasses

    _, ui = said
    app = HealthByImage(broken=GOOD2)
    t = dataclasses.replace(target, outputs=dataclasses.replace(target.outputs, app_url=app.url))
    try:
        with FakeRollout():
            ok = release(t, GOOD1, VERIFY_FAST, ui)
            assert ok.outcome == "succeeded" and ok.verified is True
            r = release(t, GOOD2, VERIFY_FAST, ui)
    finally:
        app.close()
    assert r.outcome == "rolled_back" and r.exit_code == EXIT_ROLLED_BACK
    assert r.verified is False and "failed verification" in r.message and "back on v1" in r.message
    assert running_image(target) == GOOD1.uri
    hist = Ledger(target.aws.client("dynamodb")).history("acme", "dev")
    assert [(h.kind, h.version, h.outcome) for h in hist[:2]] == [
        ("rollback", "v1", "succeeded"),
        ("release", "v2", "rolled_back"),
    ]


def test_no_good_release_in_the_ledger_goes_back_to_what_served(target, said) -> None:
    lines, ui = said
    with FakeRollout():
        r = release(target, BAD, FAST, ui)
    assert r.outcome == "rolled_back" and r.exit_code == EXIT_ROLLED_BACK
    assert any("no good release in the ledger" in line for line in lines)
    assert running_image(target).endswith(":bootstrap")


def test_no_rollback_leaves_it_and_says_so(target, said) -> None:
    lines, ui = said
    with FakeRollout():
        release(target, GOOD1, FAST, ui)
        r = release(target, BAD, ReleaseOptions(poll_initial=0.1, poll_max=0.2, rollback=False), ui)
    assert r.outcome == "failed" and r.exit_code == EXIT_NOT_RECOVERED
    assert "NOT back on a good release" in r.message and r.hint
    assert any("--no-rollback" in line for line in lines)
    hist = Ledger(target.aws.client("dynamodb")).history("acme", "dev")
    assert [(h.kind, h.version, h.outcome) for h in hist[:2]] == [
        ("release", "v3", "failed"),
        ("release", "v1", "succeeded"),
    ]


@pytest.fixture
def never_started(target):
    """The service as the client stack creates it: no task, scaling bounds [0, max]."""
    from dataclasses import replace

    s = target.aws
    s.client("ecs").update_service(cluster=NAME, service="app", desiredCount=0)
    s.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{NAME}/app",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=0,
        MaxCapacity=4,
    )
    return replace(target, desired_count=3, min_tasks=2, max_tasks=4)


def scaling_bounds(target) -> tuple[int, int]:
    found = target.aws.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{NAME}/app"]
    )["ScalableTargets"]
    return found[0]["MinCapacity"], found[0]["MaxCapacity"]


def desired(target) -> int:
    ecs = target.aws.client("ecs")
    return ecs.describe_services(cluster=NAME, services=["app"])["services"][0]["desiredCount"]


def test_the_first_release_starts_the_tasks_and_raises_the_scaling_floor(
    never_started, said
) -> None:
    lines, ui = said
    with FakeRollout():
        r = release(never_started, GOOD1, FAST, ui)
    assert r.outcome == "succeeded", r.message
    assert desired(never_started) == 3
    assert scaling_bounds(never_started) == (2, 4)
    assert any("this release starts 3" in line for line in lines)
    # A later release leaves the count to auto-scaling.
    with FakeRollout():
        assert release(never_started, GOOD2, FAST, ui).outcome == "succeeded"
    assert desired(never_started) == 3


def test_a_failed_first_start_goes_back_to_no_task(never_started, said) -> None:
    _, ui = said
    with FakeRollout():
        r = release(never_started, BAD, FAST, ui)
    assert r.outcome == "failed" and r.exit_code == EXIT_NOT_RECOVERED
    assert desired(never_started) == 0
    assert scaling_bounds(never_started) == (0, 4)


# ----------------------------------------------------- revisions deployed outside cosydeploy


def deploy_outside(target, ch: str) -> str:
    """As another tool would: a revision of the same family with an image of its own,
    rolled out with update_service; returns its ARN once its deployment COMPLETED."""
    import time

    ecs = target.aws.client("ecs")
    arn = ecs.register_task_definition(
        family=NAME,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": f"{ECR}@sha256:{ch * 64}"}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=NAME, service="app", taskDefinition=arn)
    deadline = time.time() + 10
    while time.time() < deadline:
        (primary,) = [
            d
            for d in ecs.describe_services(cluster=NAME, services=["app"])["services"][0][
                "deployments"
            ]
            if d["status"] == "PRIMARY"
        ]
        if primary["taskDefinition"] == arn and primary["rolloutState"] == "COMPLETED":
            return arn
        time.sleep(0.05)
    raise AssertionError(f"{arn} never completed")


def serving_arn(target) -> str:
    ecs = target.aws.client("ecs")
    return ecs.describe_services(cluster=NAME, services=["app"])["services"][0]["taskDefinition"]


def test_failed_release_goes_back_to_the_healthy_outside_revision_ecs_already_restored(
    target, said
) -> None:
    lines, ui = said
    ledger = Ledger(target.aws.client("dynamodb"))
    with FakeRollout():
        assert release(target, GOOD1, FAST, ui).outcome == "succeeded"
        outside = deploy_outside(target, "7")
        r = release(target, BAD, FAST, ui)
    assert r.outcome == "rolled_back" and r.exit_code == EXIT_ROLLED_BACK
    assert serving_arn(target) == outside and r.rolled_back_to == outside
    rev = outside.rsplit("/", 1)[-1]
    assert f"back on {rev}" in r.message and "ECS rolled back to it, verified" in r.message
    said_outside = f"runs {rev} (sha256:777777777777), not released by cosydeploy (healthy"
    assert any(said_outside in line for line in lines), lines
    assert any(said_outside in w for w in r.warnings)
    hist = ledger.history("acme", "dev")
    # no rollout of cosydeploy's own after the failure: no rollback record
    assert [(h.kind, h.outcome) for h in hist] == [
        ("release", "rolled_back"),
        ("observed", "healthy"),
        ("release", "succeeded"),
    ]
    seen = hist[1]
    assert (seen.task_definition_arn, seen.version, seen.digest) == (
        outside,
        rev,
        "sha256:" + "7" * 64,
    )
    assert seen.as_dict()["observed"] is True and "found serving" in seen.message


def test_failed_release_with_the_outside_revision_unhealthy_goes_to_the_last_good(
    target, said
) -> None:
    lines, ui = said
    with FakeRollout() as rollout:
        assert release(target, GOOD1, FAST, ui).outcome == "succeeded"
        outside = deploy_outside(target, "7")
        # one of its two tasks is gone: the outside revision is not serving as it should
        rollout.service().deployments[0]["runningCount"] = 1
        r = release(target, BAD, FAST, ui)
    assert r.outcome == "rolled_back" and "back on v1" in r.message
    assert running_image(target) == GOOD1.uri
    rev = outside.rsplit("/", 1)[-1]
    why = (
        f"back to the last good release v1: {rev}, which served before, was not healthy "
        "(deployment COMPLETED, 1/2 running)"
    )
    assert why in lines, lines
    hist = Ledger(target.aws.client("dynamodb")).history("acme", "dev")
    assert [(h.kind, h.version, h.outcome) for h in hist] == [
        ("rollback", "v1", "succeeded"),
        ("release", "v3", "rolled_back"),
        ("observed", rev, "unhealthy"),
        ("release", "v1", "succeeded"),
    ]


def test_rollback_without_to_counts_observed_revisions_and_says_why(target, said) -> None:
    lines, ui = said
    with FakeRollout():
        release(target, GOOD1, FAST, ui)
        release(target, GOOD2, FAST, ui)
        outside = deploy_outside(target, "7")
        rev = outside.rsplit("/", 1)[-1]
        # serving the outside revision (seen here first): back to the release before it
        first = rollback(target, None, FAST, ui)
        assert first.outcome == "succeeded" and first.version == "v2"
        assert running_image(target) == GOOD2.uri
        assert any(
            f"rolling back to v2: it serves {rev} (not released by cosydeploy); "
            "the good release before that is v2" in line
            for line in lines
        ), lines
        # serving v2 again: the change before was the outside revision, so back there
        second = rollback(target, None, FAST, ui)
        assert second.outcome == "succeeded" and second.version == rev
        assert serving_arn(target) == outside
    hist = Ledger(target.aws.client("dynamodb")).history("acme", "dev")
    assert [(h.kind, h.version) for h in hist] == [
        ("rollback", rev),
        ("rollback", "v2"),
        ("observed", rev),
        ("release", "v2"),
        ("release", "v1"),
    ]


# ----------------------------------------------------------------------------- faults


def test_aws_dying_mid_watch_is_an_unknown_outcome_naming_the_first_cause(target, faults):
    """The endpoint goes away while the deployment rolls out (ECS and DynamoDB both
    unreachable): exit 3, the first cause (the watch's describe_services), the deployment
    and the revision, `status` as the next step; the failed ledger note and lock release
    are extra lines, not the error; the record stays in_progress for reconciliation."""

    def emit(e: ev.Event) -> None:
        if isinstance(e, ev.Rollout) and e.watch.deployment_id and not faults.rules():
            faults.add("ecs=unreachable")
            faults.add("dynamodb=unreachable")

    with FakeRollout(hang=True):
        r = release(target, GOOD1, FAST, emit)
    faults.clear()
    assert r.outcome == "failed" and r.exit_code == EXIT_NOT_RECOVERED
    assert "outcome unknown" in r.message and "unreachable" in r.message
    assert "ECS describe_services" in r.message
    assert "deployment ecs-svc/" in r.message and f"{NAME}:2 " in r.message
    assert r.hint == "cosydeploy status acme --env dev"
    assert "deploy lock table" not in r.message
    assert any("could not release the deploy lock" in n for n in r.notes)
    assert any("could not note the unknown outcome" in n for n in r.notes)
    (rec,) = Ledger(target.aws.client("dynamodb")).history("acme", "dev")
    assert rec.outcome == "in_progress" and rec.task_definition_arn.endswith(f"{NAME}:2")


def test_aws_failing_before_any_change_raises_the_translated_cause(target, faults):
    """Throttled past the retries at register_task_definition: nothing changed, exit 2,
    the call named; the ledger says failed; the lock is free."""
    faults.add("ecs=throttle,action=RegisterTaskDefinition")
    with FakeRollout(), pytest.raises(CosydeployError) as err:
        release(target, GOOD1, FAST, ev.ignore)
    faults.clear()
    assert err.value.exit_code == 2 and err.value.fault == "throttled"
    assert "ECS register_task_definition" in err.value.message and err.value.hint
    assert running_image(target).endswith(":bootstrap")
    (rec,) = Ledger(target.aws.client("dynamodb")).history("acme", "dev")
    assert rec.outcome == "failed"
    assert read_holder(target.aws.client("dynamodb"), "acme", "dev") is None


def test_a_deadline_passed_while_aws_throttles_the_watch_is_a_timeout_rolled_back(target, faults):
    """v2 completes, but AWS throttles every poll of it until its deadline: the poller
    never calls that a failure nor a success; the deadline makes it a timeout that says
    AWS throttled us, and (the throttle over) the release is rolled back as any timeout."""
    state = {"armed": False}

    def emit(e: ev.Event) -> None:
        if isinstance(e, ev.Rollout) and not state["armed"]:
            state["armed"] = True
            faults.add("ecs=throttle,action=DescribeServices")
        if isinstance(e, ev.Step) and e.text.startswith("release timed out"):
            faults.clear()

    with FakeRollout():
        assert release(target, GOOD1, FAST, ev.ignore).outcome == "succeeded"
        options = ReleaseOptions(timeout=3.0, poll_initial=0.1, poll_max=0.2)
        r = release(target, GOOD2, options, emit)
    assert state["armed"] and not faults.rules()
    assert r.outcome == "rolled_back" and r.exit_code == EXIT_ROLLED_BACK, r.message
    assert "timed out (timed out while AWS throttled us (ThrottlingException" in r.message
    assert "back on v1" in r.message and running_image(target) == GOOD1.uri
    hist = Ledger(target.aws.client("dynamodb")).history("acme", "dev")
    assert [(h.kind, h.version, h.outcome) for h in hist[:2]] == [
        ("rollback", "v1", "succeeded"),
        ("release", "v2", "rolled_back"),
    ]


def test_a_record_left_in_progress_is_reconciled_from_ecs_once_the_lock_is_free(target, faults):
    """AWS goes away mid-watch and the run ends with its record in_progress and its lock
    held; ECS completes the deployment meanwhile. While the lock is held nothing is
    touched; once it is free (unlock), the record is resolved from ECS and says when and
    how; a record resolved is never resolved twice."""
    from cosydeploy.ledger import new_release_id
    from cosydeploy.lock import force_unlock
    from cosydeploy.release.reconcile import reconcile

    def emit(e: ev.Event) -> None:
        if isinstance(e, ev.Rollout) and e.watch.deployment_id and not faults.rules():
            faults.add("ecs=unreachable")
            faults.add("dynamodb=unreachable")

    with FakeRollout():
        r = release(target, GOOD1, FAST, emit)
        faults.clear()
        assert "outcome unknown" in r.message
        db, ecs = target.aws.client("dynamodb"), target.aws.client("ecs")
        ledger = Ledger(db)
        assert read_holder(db, "acme", "dev") is not None  # its release failed with AWS
        where = dict(cluster=NAME, service="app", client="acme", env="dev")
        force_unlock(db, "acme", "dev")
        import time

        deadline = time.time() + 10  # the stand-in completes the deployment
        while (
            ecs.describe_services(cluster=NAME, services=["app"])["services"][0]["deployments"][0][
                "rolloutState"
            ]
            != "COMPLETED"
        ):
            assert time.time() < deadline
            time.sleep(0.1)
        done = reconcile(ledger, ecs, before=new_release_id(), **where)
    assert [(d.outcome, d.version) for d in done] == [("succeeded", "v1")]
    (rec,) = ledger.history("acme", "dev")
    assert rec.outcome == "succeeded" and rec.reconciled_at and "COMPLETED" in rec.reconciled_how
    assert reconcile(ledger, ecs, before=new_release_id(), **where) == []
    assert ledger.last_good("acme", "dev").release_id == rec.release_id


def test_the_rollback_command_under_faults_tells_the_cause_and_what_may_be_in_flight(
    target, faults
):
    """`rollback` meets AWS faults as a release does: before any change the translated
    cause is raised (exit 2, the call named, not "unexpected"); once its update_service
    was sent the outcome is unknown (exit 3, the deployment, the revision, `status`), and
    its record stays in_progress for the next run to reconcile."""
    with FakeRollout():
        assert release(target, GOOD1, FAST, ev.ignore).outcome == "succeeded"
        assert release(target, GOOD2, FAST, ev.ignore).outcome == "succeeded"
    faults.add("ecs=5xx,action=DescribeServices")
    with FakeRollout(), pytest.raises(CosydeployError) as err:
        rollback(target, None, FAST, ev.ignore)
    faults.clear()
    assert err.value.exit_code == 2 and err.value.fault == "5xx"
    assert "ECS describe_services" in err.value.message
    assert read_holder(target.aws.client("dynamodb"), "acme", "dev") is None

    def emit(e: ev.Event) -> None:
        if isinstance(e, ev.Rollout) and e.watch.deployment_id and not faults.rules():
            faults.add("ecs=unreachable")

    with FakeRollout(hang=True):
        r = rollback(target, None, FAST, emit)
    faults.clear()
    assert r.outcome == "failed" and r.exit_code == EXIT_NOT_RECOVERED
    assert "outcome unknown" in r.message and "unreachable" in r.message
    assert "ECS describe_services" in r.message and "may still be in flight" in r.message
    assert r.hint == "cosydeploy status acme --env dev"
    assert read_holder(target.aws.client("dynamodb"), "acme", "dev") is None
    top = Ledger(target.aws.client("dynamodb")).history("acme", "dev")[0]
    assert (top.kind, top.version, top.outcome) == ("rollback", "v1", "in_progress")
