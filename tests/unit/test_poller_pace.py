"""The poller's pace: one token bucket per account and region, throttles waited out
(never a verdict), and the call counts it reports. A fake clock throughout."""

from __future__ import annotations

import contextlib
import json
import random
import threading

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from cosydeploy.adapters.aws import aws_fault, throttle_code
from cosydeploy.ecs.poller import (
    POLL_BURST,
    POLL_RATE,
    Buckets,
    Poller,
    TokenBucket,
    busiest_second,
)
from cosydeploy.ecs.watch import Phase, Watch

ACCOUNT = "123456789012|us-east-1"


class FakeClock:
    """Time that moves only when someone sleeps (thread-safe)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, s: float) -> None:
        with self._lock:
            self.sleeps.append(s)
            self.t += s


def test_the_busiest_second_of_a_list_of_times() -> None:
    assert busiest_second([]) == 0
    assert busiest_second([5.0]) == 1
    assert busiest_second([0.0, 0.5, 0.99, 1.0, 1.2, 3.0]) == 4  # 0.5, 0.99, 1.0 and 1.2
    assert busiest_second([2.0, 0.0, 1.5, 0.5]) == 2  # in any order
    assert busiest_second([1.0] * 7 + [2.0]) == 7


class Fleet:
    """ECS as the poller sees it: every deployment completes ``done_after`` seconds of
    fake time after the start; each describe_services call is recorded with its time."""

    def __init__(self, clock: FakeClock, done_after: float) -> None:
        self.clock = clock
        self.done_at = clock.t + done_after
        self.calls: list[float] = []
        self.sizes: list[int] = []

    def describe_services(self, *, cluster: str, services: list[str]) -> dict:
        self.calls.append(self.clock())
        self.sizes.append(len(services))
        done = self.clock() >= self.done_at
        return {
            "services": [
                {
                    "serviceName": name,
                    "status": "ACTIVE",
                    "events": [],
                    "deployments": [
                        {
                            "id": f"{cluster}/{name}",
                            "status": "PRIMARY",
                            "rolloutState": "COMPLETED" if done else "IN_PROGRESS",
                            "runningCount": 2 if done else 1,
                            "desiredCount": 2,
                        }
                    ],
                }
                for name in services
            ]
        }


def _fleet_watches(ecs, clock, clusters: int, per_cluster: int) -> list[Watch]:
    return [
        Watch(
            key=f"c{c}-{s}/prod",
            ecs=ecs,
            cluster=f"cluster{c}",
            service=f"svc{s}",
            deployment_id=f"cluster{c}/svc{s}",
            deadline=clock.t + 600,
            group=ACCOUNT,
        )
        for c in range(clusters)
        for s in range(per_cluster)
    ]


def _follow(clusters: int, per_cluster: int, done_after: float = 60.0):
    clock = FakeClock()
    ecs = Fleet(clock, done_after)
    buckets = Buckets(clock=clock, sleep=clock.sleep)
    poller = Poller(
        initial_interval=3.0,
        max_interval=3.0,
        clock=clock,
        sleep=clock.sleep,
        buckets=buckets,
    )
    verdicts = poller.follow(_fleet_watches(ecs, clock, clusters, per_cluster))
    poller.close()
    return ecs, poller, verdicts, buckets(ACCOUNT)


def test_the_bucket_bounds_every_second_and_the_rate_over_time() -> None:
    clock = FakeClock()
    bucket = TokenBucket(clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(200):
        bucket.take()
        times.append(clock())
    assert bucket.peak_per_second == POLL_BURST + POLL_RATE
    # The bound is reached, less the token that lands just as the second ends.
    assert bucket.peak_per_second - 1 <= busiest_second(times) <= bucket.peak_per_second
    # 200 calls: the first POLL_BURST at once, then POLL_RATE a second.
    assert times[-1] - times[0] == pytest.approx((200 - POLL_BURST) / POLL_RATE)


def test_100_clients_polled_every_3s_ten_to_a_call_stay_under_the_bucket() -> None:
    """100 clients in one account and region, 10 services to a cluster: 10
    describe_services calls a round, one round every 3 s, until all complete."""
    ecs, poller, verdicts, bucket = _follow(clusters=10, per_cluster=10)
    assert len(verdicts) == 100 and all(v.phase is Phase.SUCCEEDED for v in verdicts.values())
    assert set(ecs.sizes) == {10}
    assert busiest_second(ecs.calls) <= bucket.peak_per_second == 10
    stats = poller.stats()[ACCOUNT]
    assert stats["calls"] == len(ecs.calls) > 10 * 15  # 60 s of rollout: 15+ rounds
    assert stats["peak_per_second"] == busiest_second(ecs.calls)
    assert stats["limit_per_second"] == 10
    assert stats["clients"] == 100
    # 10 calls every 3 s for 100 clients: 2 calls a client a minute.
    assert stats["calls_per_client_per_minute"] == pytest.approx(2.0, rel=0.15)


def test_100_clients_each_in_its_own_cluster_are_paced_not_burst() -> None:
    """100 calls a round (one cluster each): without the bucket 100 calls in a moment,
    33 a second over time; with it, 10 in the busiest second and 5 a second after."""
    ecs, poller, verdicts, bucket = _follow(clusters=100, per_cluster=1)
    assert all(v.phase is Phase.SUCCEEDED for v in verdicts.values())
    assert busiest_second(ecs.calls) <= bucket.peak_per_second
    span = ecs.calls[-1] - ecs.calls[0]
    assert len(ecs.calls) <= POLL_BURST + POLL_RATE * span + 1e-6
    assert poller.stats()[ACCOUNT]["peak_per_second"] == busiest_second(ecs.calls)


def test_every_poller_of_the_process_shares_the_bucket_of_an_account() -> None:
    clock = FakeClock()
    buckets = Buckets(clock=clock, sleep=clock.sleep)
    ecs = Fleet(clock, done_after=20.0)
    pollers = [
        Poller(
            initial_interval=1.0, max_interval=1.0, clock=clock, sleep=clock.sleep, buckets=buckets
        )
        for _ in range(2)
    ]
    halves = [
        _fleet_watches(ecs, clock, clusters=20, per_cluster=1)[:10],
        _fleet_watches(ecs, clock, clusters=20, per_cluster=1)[10:],
    ]
    threads = [
        threading.Thread(target=p.follow, args=(ws,)) for p, ws in zip(pollers, halves, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for p in pollers:
        p.close()
    assert buckets(ACCOUNT) is buckets(ACCOUNT)
    assert busiest_second(ecs.calls) <= buckets(ACCOUNT).peak_per_second


# ------------------------------------------------------------------ throttles


def _client(service: str):
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _dep(rollout: str, running: int) -> dict:
    return {
        "id": "ecs-svc/1",
        "status": "PRIMARY",
        "rolloutState": rollout,
        "runningCount": running,
        "desiredCount": 2,
        "pendingCount": 0,
        "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/app:2",
    }


def _service(rollout: str = "IN_PROGRESS", running: int = 1, *extra: dict) -> dict:
    return {
        "services": [
            {
                "serviceName": "app",
                "status": "ACTIVE",
                "deployments": [_dep(rollout, running), *extra],
                "events": [],
            }
        ]
    }


def _throttle(stub: Stubber, op: str = "describe_services", code: str = "ThrottlingException"):
    stub.add_client_error(op, service_error_code=code, service_message="Rate exceeded")


def _poller(clock: FakeClock) -> Poller:
    return Poller(
        initial_interval=1.0,
        max_interval=3.0,
        clock=clock,
        sleep=clock.sleep,
        buckets=Buckets(clock=clock, sleep=clock.sleep),
        rng=random.Random(7),
    )


def _one(ecs, clock, deadline: float = 120.0, **kw) -> Watch:
    return Watch(
        key="acme/prod",
        ecs=ecs,
        cluster="c",
        service="app",
        deployment_id="ecs-svc/1",
        deadline=clock.t + deadline,
        group=ACCOUNT,
        **kw,
    )


def test_a_throttle_is_waited_out_and_the_deployments_data_decides() -> None:
    ecs, clock = _client("ecs"), FakeClock()
    with Stubber(ecs) as stub:
        stub.add_response("describe_services", _service())
        for code in ("ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"):
            _throttle(stub, code=code)
        stub.add_response("describe_services", _service("COMPLETED", 2))
        poller = _poller(clock)
        verdict = poller.follow([_one(ecs, clock)])["acme/prod"]
        stub.assert_no_pending_responses()
    assert verdict.phase is Phase.SUCCEEDED
    # After each refusal the pause doubles (3 s x 2, 4, 8), less a jitter of at most half.
    assert clock.sleeps[0] == 1.0
    for n, pause in enumerate(clock.sleeps[1:], start=1):
        assert 3.0 * 2**n / 2 <= pause <= 3.0 * 2**n, clock.sleeps
    stats = poller.stats()[ACCOUNT]
    assert stats["throttled"] == 3 and stats["calls"] == 5


def test_a_failure_seen_after_throttles_is_still_a_failure() -> None:
    ecs, clock = _client("ecs"), FakeClock()
    with Stubber(ecs) as stub:
        _throttle(stub)
        _throttle(stub)
        failed = _service("FAILED", 0)
        failed["services"][0]["deployments"][0]["rolloutStateReason"] = "circuit breaker"
        stub.add_response("describe_services", failed)
        verdict = _poller(clock).follow([_one(ecs, clock)])["acme/prod"]
    assert verdict.phase is Phase.FAILED and "circuit breaker" in verdict.reason


def test_throttled_until_the_deadline_is_a_timeout_that_says_so() -> None:
    ecs, clock = _client("ecs"), FakeClock()
    updates: list[str] = []
    with Stubber(ecs) as stub:
        stub.add_response("describe_services", _service())
        for _ in range(20):
            _throttle(stub)
        poller = _poller(clock)
        w = _one(ecs, clock, deadline=60.0)
        verdict = poller.watch(w, on_update=lambda w: updates.append(w.verdict.phase.value))
    assert verdict.phase is Phase.TIMED_OUT
    assert verdict.reason.startswith("timed out while AWS throttled us (ThrottlingException")
    assert verdict.running == 1 and verdict.desired == 2  # what was last seen, kept
    assert clock.t == pytest.approx(1060.0)  # it waited for the deadline, not longer
    assert max(clock.sleeps) <= 30.0
    assert updates[-1] == "timed_out"


def test_a_throttled_target_health_read_is_no_verdict() -> None:
    ecs, elbv2, clock = _client("ecs"), _client("elbv2"), FakeClock()
    tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/a/0000000000000000"
    healthy = [
        {"Target": {"Id": f"10.0.0.{i}"}, "TargetHealth": {"State": "healthy"}} for i in (1, 2)
    ]
    with Stubber(ecs) as se, Stubber(elbv2) as sl:
        se.add_response("describe_services", _service("COMPLETED", 2))
        se.add_response("describe_services", _service("COMPLETED", 2))
        _throttle(sl, "describe_target_health", "Throttling")
        sl.add_response("describe_target_health", {"TargetHealthDescriptions": healthy})
        poller = _poller(clock)
        w = _one(ecs, clock, elbv2=elbv2, target_group_arn=tg)
        verdict = poller.follow([w])["acme/prod"]
        se.assert_no_pending_responses()
        sl.assert_no_pending_responses()
    assert verdict.phase is Phase.SUCCEEDED
    # What it judged on is kept for the bake's first look: the service and its targets.
    assert w.last_targets == healthy and w.last_service["serviceName"] == "app"
    assert poller.stats()[ACCOUNT]["calls"] == 4  # both reads count against the bucket


def test_a_throttle_holds_back_only_its_own_account() -> None:
    clock = FakeClock()
    throttled, calm = _client("ecs"), _client("ecs")
    with Stubber(throttled) as st, Stubber(calm) as sc:
        _throttle(st)
        st.add_response("describe_services", _service("COMPLETED", 2))
        sc.add_response("describe_services", _service())
        sc.add_response("describe_services", _service("COMPLETED", 2))
        a = _one(throttled, clock)
        b = _one(calm, clock)
        b.key, b.group = "other/prod", "210987654321|us-east-1"
        poller = _poller(clock)
        verdicts = poller.follow([a, b])
    assert {v.phase for v in verdicts.values()} == {Phase.SUCCEEDED}
    # The calm account was polled again after 1 s; the throttled one only after its pause.
    assert clock.sleeps[0] == 1.0 and clock.sleeps[1] >= 2.0


def test_other_errors_still_reach_the_waiting_release() -> None:
    ecs, clock = _client("ecs"), FakeClock()
    with Stubber(ecs) as stub:
        stub.add_client_error("describe_services", service_error_code="ClusterNotFoundException")
        with pytest.raises(ClientError, match="ClusterNotFound"):
            _poller(clock).watch(_one(ecs, clock))


def test_throttle_codes_are_named_and_translated_plainly() -> None:
    def err(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "slow down"}}, "DescribeServices")

    for code in ("ThrottlingException", "Throttling", "TooManyRequests", "RequestLimitExceeded"):
        assert throttle_code(err(code)) == code
        fault = aws_fault(err(code), "ECS update_service")
        assert fault.fault == "throttled" and "throttled by AWS" in fault.message
    assert throttle_code(err("AccessDeniedException")) == ""
    assert throttle_code(ValueError("x")) == ""


def test_the_projects_read_rate_reaches_the_bucket_every_poller_shares(tmp_path) -> None:
    import shutil
    from dataclasses import replace
    from pathlib import Path
    from types import SimpleNamespace

    from cosydeploy.adapters.aws import AwsSession, read_paced
    from cosydeploy.config.load import load_project
    from cosydeploy.config.targets import client_env
    from cosydeploy.ecs.poller import PROCESS_BUCKETS, buckets_at
    from cosydeploy.release.service import Releaser

    repo = Path(__file__).resolve().parents[2]
    cfg = (repo / "cosydeploy.yaml").read_text()
    assert "\n  ecs_reads_per_second: 5\n" in cfg
    cfg = cfg.replace("\n  ecs_reads_per_second: 5\n", "\n  ecs_reads_per_second: 2.5\n", 1)
    (tmp_path / "cosydeploy.yaml").write_text(cfg)
    shutil.copytree(repo / "clients", tmp_path / "clients")
    project = load_project(tmp_path)
    platform = SimpleNamespace(
        session=lambda c: AwsSession(
            boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name=c.region),
            c.region,
        )
    )
    releaser = Releaser(project, platform)
    c = client_env(project, "example", "dev")
    ecs = releaser.session(c).client("ecs")  # made before the release paces its reads
    options = releaser._paced(None)
    assert options.reads_per_second == 2.5
    shared = buckets_at(options.reads_per_second)
    assert shared is buckets_at(2.5) and shared("111|us-east-1").rate == 2.5
    assert buckets_at(POLL_RATE) is PROCESS_BUCKETS  # the default rate: the default buckets

    # Every ECS read of the run's sessions now takes a token of the account's bucket (the
    # poller's); a write takes none, nor a read its caller paced (the poller, a bake).
    bucket = shared(f"{c.account_id}|{c.region}")
    taken = len(bucket.grants_since(0.0))
    arn = f"arn:aws:ecs:{c.region}:{c.account_id}:cluster/x"
    with Stubber(ecs) as stub:
        stub.add_response("describe_services", {"services": []})
        stub.add_response("tag_resource", {})
        stub.add_response("list_tasks", {"taskArns": []})
        ecs.describe_services(cluster="x", services=["s"])
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}])
        read_paced()
        ecs.list_tasks(cluster="x")
    assert len(bucket.grants_since(0.0)) == taken + 1
    # A session made after the pace was set is paced too (a client/env prepared later).
    other = replace(c, region="eu-west-1")
    ecs2 = releaser.session(other).client("ecs")
    with Stubber(ecs2) as stub:
        stub.add_response("list_services", {"serviceArns": []})
        ecs2.list_services(cluster="x")
    assert len(shared(f"{c.account_id}|eu-west-1").grants_since(0.0)) == 1


def test_reads_taken_through_pace_share_the_bucket_and_count_with_the_polls() -> None:
    """A bake's or shift's reads (``Poller.pace``) wait for the same bucket as the polls
    and are counted with them; the bucket remembers when each of its tokens was due."""
    ecs, poller, _, bucket = _follow(clusters=10, per_cluster=10)
    polled, before = len(ecs.calls), poller.stats()[ACCOUNT]
    start = poller.clock() + 1e-6  # after the last poll's token, due at this instant
    take = poller.pace(ACCOUNT, "baker/prod")
    take()
    first = poller.clock()
    waits = [take() for _ in range(29)]
    span = poller.clock() - first
    assert sum(waits) == pytest.approx(span) and span >= (30 - 2 * POLL_BURST) / POLL_RATE
    stats = poller.stats()[ACCOUNT]
    assert stats["calls"] == polled + 30
    assert stats["clients"] == 101  # the 100 watched, and the client that baked
    assert stats["peak_per_second"] <= bucket.peak_per_second
    # The time between the bake's first and last read counts as a client's rollout.
    assert stats["client_minutes"] == pytest.approx(before["client_minutes"] + span / 60)
    grants = bucket.grants_since(start)
    assert len(grants) == 30 and busiest_second(grants) <= bucket.peak_per_second
    assert len(bucket.grants_since(0.0)) == polled + 30


def test_a_fleet_run_prints_what_it_asked_of_each_account(capsys) -> None:
    """One line per account/region on stderr (JSON stays on stdout); a single client's
    release prints none (its own line says it all)."""
    from cosydeploy.release.model import Pace, ReleaseResult, RunResult
    from cosydeploy.ui.present import Presenter

    paces = [
        Pace("123456789012", "us-east-1", 840, 200, 2.1, 10, 10.0, 0),
        Pace("210987654321", "eu-west-1", 12, 2, 0.75, 4, 10.0, 3, 11),
        Pace("222222222222", "eu-west-1", 12, 2, 0.75, 4, 10.0, 0, 8),
    ]
    results = [ReleaseResult("acme", "dev", "v1", outcome="succeeded")]
    Presenter(json=True).run(RunResult(results, pace=paces), single=False)
    out = capsys.readouterr()
    assert json.loads(out.out)[0]["client"] == "acme"
    assert [x for x in out.err.splitlines() if x.startswith("AWS reads")] == [
        "AWS reads in 123456789012/us-east-1: 840 for 200 client/env(s) in 2.1 min, 2.0 a "
        "client a minute; at most 10 in any second (bound 10); none throttled",
        "AWS reads in 210987654321/eu-west-1: 12 for 2 client/env(s) in 0.8 min, 8.0 a "
        "client a minute; at most 4 in any second (bound 10); 11 attempt(s) throttled by "
        "AWS, 3 still refused after the SDK's retries, waited out",
        "AWS reads in 222222222222/eu-west-1: 12 for 2 client/env(s) in 0.8 min, 8.0 a "
        "client a minute; at most 4 in any second (bound 10); 8 attempt(s) throttled by "
        "AWS",
    ]
    Presenter(json=True).run(RunResult(results, pace=paces), single=True)
    assert "AWS reads" not in capsys.readouterr().err


def test_a_ctrl_c_ends_a_release_threads_wait_for_a_token_at_once() -> None:
    """With hundreds of clients a token may be minutes away: a run's Ctrl-C must not wait
    for it. An interruptible wait ends with KeyboardInterrupt at once, and so does one
    that begins after it, until the next run allows waits again."""
    import time

    from cosydeploy.ecs.poller import allow_waits, interrupt_waits

    bucket = TokenBucket(rate=0.05, capacity=1)  # the second token is 20 s away
    bucket.take()
    timer = threading.Timer(0.2, interrupt_waits)
    t0 = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            bucket.take(interruptible=True)
        assert time.monotonic() - t0 < 5.0
        with pytest.raises(KeyboardInterrupt):  # and any wait that begins after it
            bucket.take(interruptible=True)
    finally:
        timer.cancel()
        allow_waits()
    clock = FakeClock()
    quiet = TokenBucket(rate=1.0, capacity=1, clock=clock, sleep=clock.sleep)
    quiet.take()
    assert quiet.take(interruptible=True) == pytest.approx(1.0)  # a new run waits again


def test_the_poller_takes_the_next_token_before_the_release_threads() -> None:
    """Release threads wait for tokens (their checks, bakes); the poller, asking after
    them, gets the next token all the same, and no release thread gets one while it
    waits. (With one lane, first come first served, one of the eight that came first
    would have had it.)"""
    import time

    from cosydeploy.ecs.poller import allow_waits, interrupt_waits

    bucket = TokenBucket(rate=1.0, capacity=1)
    bucket.take()  # empty: the next token is a second away
    got: list[int] = []

    def release_thread() -> None:
        try:
            bucket.take(interruptible=True)
            got.append(1)
        except KeyboardInterrupt:
            pass

    threads = [threading.Thread(target=release_thread, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while bucket._waiting[1] < 8 and time.monotonic() < deadline:  # all eight waiting
        time.sleep(0.01)
    try:
        assert bucket._waiting[1] == 8
        waited = bucket.take(priority=True)
        # The token came while all eight waited, and went to the poller; the next one
        # is a second later.
        assert waited > 0.3 and not got and bucket._waiting[1] == 8, (waited, got)
    finally:
        interrupt_waits()
        for t in threads:
            t.join(timeout=5)
        allow_waits()


def test_an_attempt_aws_throttles_is_counted_in_its_accounts_bucket(monkeypatch) -> None:
    """The SDK retries a throttled attempt unseen; the session's hook counts it in the
    bucket of its account/region, so the run's line can say what its pace met. Any other
    answer counts nothing, and the hook decides no retry (it returns nothing)."""
    from cosydeploy.adapters.aws import AwsSession

    clock = FakeClock()
    bucket = TokenBucket(rate=5, capacity=5, clock=clock, sleep=clock.sleep)
    session = AwsSession(boto3.Session(region_name="us-east-1"), "us-east-1")
    session.pace_reads(bucket.take, bucket.throttled)
    start = clock()
    for code in ("ThrottlingException", "Throttling", "AccessDeniedException"):
        assert session._after_attempt(response=(None, {"Error": {"Code": code}})) is None
    assert session._after_attempt(response=(None, {"services": []})) is None
    assert session._after_attempt(response=None) is None  # a connection error
    assert bucket.throttled_since(start) == 2
    clock.sleep(1.0)
    assert bucket.throttled_since(clock()) == 0
    # On the session's ECS client, after every attempt: an endpoint that throttles the
    # first two attempts of a call; the SDK retries them, the third answers.
    answers = [(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})] * 2
    answers.append((200, {"services": [], "failures": []}))
    with _endpoint(answers) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        ecs = AwsSession(
            boto3.Session(
                aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
            ),
            "us-east-1",
        )
        ecs.pace_reads(None, bucket.throttled)
        before = bucket.throttled_since(0.0)
        client = ecs.client("ecs")
        assert client.describe_services(cluster="c", services=["s"])["services"] == []
        assert bucket.throttled_since(0.0) == before + 2
        assert not answers


@contextlib.contextmanager
def _endpoint(answers: list[tuple[int, dict]]):
    """An HTTP endpoint giving ``answers`` in order, one a request (JSON protocol)."""
    from http_stub import QuietHandler, serving

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, body = answers.pop(0)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with serving(Handler) as address:
        yield f"http://{address}"
