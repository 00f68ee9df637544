"""Pure tables for the release core: waves, the exit-code order, Terraform in step,
drift, the run over clients (preparation failures, wave stops), the poller's cancel and
error paths."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from cosydeploy import outcome as oc
from cosydeploy.ecs.poller import Poller
from cosydeploy.ecs.watch import Watch
from cosydeploy.errors import CosydeployError, LockHeldError, UsageError
from cosydeploy.image import ResolvedImage
from cosydeploy.release.fleet import Member, Skip, run_waves
from cosydeploy.release.infra_check import (
    applied_view,
    check_infra,
    recorded_outputs,
    terraform_drift,
)
from cosydeploy.release.model import ReleaseResult
from cosydeploy.release.waves import parse_waves, waves_from_option
from cosydeploy.render import fingerprint

CLIENTS = ["a", "b", "c", "d", "e"]

# ------------------------------------------------------------------ waves


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, [CLIENTS]),
        ("", [CLIENTS]),
        ("rest", [CLIENTS]),
        ("canary,rest", [["a"], ["b", "c", "d", "e"]]),
        ("canary:2,rest", [["a", "b"], ["c", "d", "e"]]),
        ("canary=2,rest", [["a", "b"], ["c", "d", "e"]]),
        ("canary:d,rest", [["d"], ["a", "b", "c", "e"]]),
        ("1,2,rest", [["a"], ["b", "c"], ["d", "e"]]),
        ("c+e,rest", [["c", "e"], ["a", "b", "d"]]),
        ("rest,c", [["a", "b", "d", "e"], ["c"]]),
        ("2,rest,1", [["a", "b"], ["d", "e"], ["c"]]),  # rest: what the counts left
        ("5,rest", [CLIENTS]),  # an empty wave is dropped
        (["canary", ["b", "c"], "rest"], [["a"], ["b", "c"], ["d", "e"]]),
        ([{"canary": 2}, "rest"], [["a", "b"], ["c", "d", "e"]]),
        ([{"canary": "e"}, 1, "rest"], [["e"], ["a"], ["b", "c", "d"]]),
    ],
)
def test_wave_grammar(spec, expected) -> None:
    assert parse_waves(spec, CLIENTS) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("canary", "in no wave: b, c, d, e"),
        ("x,rest", "client 'x' is not one of"),
        ("a,a+b,rest", "client 'a' is in two waves"),
        ("rest,rest", "'rest' given twice"),
        ("canary:0,rest", "canary count must be at least 1"),
        ("0,rest", "a wave of 0 clients is empty"),
        ([{"later": 1}], "unknown wave"),
        ([None], "empty or unreadable wave"),
    ],
)
def test_wave_grammar_refuses(spec, message) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        parse_waves(spec, CLIENTS)


def test_wave_files(tmp_path: Path) -> None:
    (tmp_path / "waves.yaml").write_text("waves:\n  - [c]\n  - {canary: 2}\n  - rest\n")
    (tmp_path / "waves.json").write_text(json.dumps([["e"], "rest"]))
    (tmp_path / "bad.yaml").write_text("waves: {a: 1}\n")
    assert waves_from_option("waves.yaml", CLIENTS, base=tmp_path) == [
        ["c"],
        ["a", "b"],
        ["d", "e"],
    ]
    assert waves_from_option(str(tmp_path / "waves.json"), CLIENTS) == [["e"], ["a", "b", "c", "d"]]
    with pytest.raises(UsageError, match="expected a list of waves"):
        waves_from_option("bad.yaml", CLIENTS, base=tmp_path)
    with pytest.raises(UsageError, match=r"no file missing\.yaml"):
        waves_from_option("missing.yaml", CLIENTS, base=tmp_path)


# ------------------------------------------------------------------ exit codes


@pytest.mark.parametrize(
    ("outcomes", "code"),
    [
        ([], 0),
        (["succeeded", "noop", "dry_run", "skipped"], 0),
        (["succeeded", "rolled_back"], 1),
        (["rolled_back", "error"], 2),
        (["error", "locked"], 4),
        (["locked", "failed"], 3),
        (["failed", "rolled_back", "error", "locked"], 3),
        (["failed", "interrupted"], 130),
        (["mystery"], 3),  # an outcome nobody knows needs a person
    ],
)
def test_the_worst_outcome_is_the_exit_code(outcomes, code) -> None:
    assert oc.worst(oc.exit_code(o) for o in outcomes) == code


def test_an_errors_own_code_counts() -> None:
    r = ReleaseResult("a", "dev", "v1", outcome=oc.ERROR, code=4)
    assert r.exit_code == 4 and r.as_dict()["exit_code"] == 4


# ------------------------------------------------------------------ Terraform in step

TFVARS = json.dumps(
    {
        "service": {"desired_count": 2, "min_count": 2, "max_count": 4, "container_port": 3000},
        "network": {"private_subnet_cidrs": ["10.0.10.0/24", "10.0.11.0/24"]},
    }
)


def _plan(changes: int):
    return SimpleNamespace(
        adds=changes, updates=0, destroys=0, has_changes=bool(changes), changes=()
    )


@pytest.mark.parametrize(
    ("mode", "recorded_fp", "changes", "planned", "reason", "records_applied"),
    [
        ("skip", None, 0, False, "skipped (--skip-infra)", False),
        ("auto", "same", 0, False, "tfvars unchanged since the last apply: no plan", False),
        (
            "auto",
            "other",
            0,
            True,
            "planned (tfvars changed since the last apply): no changes",
            True,
        ),
        ("auto", None, 0, True, "planned (no apply recorded yet): no changes", True),
        ("auto", None, 3, True, "planned (no apply recorded yet): 3 to add", False),
        ("force", "same", 0, True, "planned (--infra): no changes", True),
        ("force", "same", 2, True, "planned (--infra): 2 to add", False),
    ],
)
def test_terraform_in_step(mode, recorded_fp, changes, planned, reason, records_applied) -> None:
    fp = fingerprint(TFVARS) if recorded_fp == "same" else recorded_fp
    recorded = {"fingerprint": fp} if fp else {}
    plans: list[int] = []
    kept: dict = {}

    def plan():
        plans.append(1)
        return _plan(changes)

    check = check_infra(
        mode=mode,
        tfvars=TFVARS,
        recorded=recorded,
        plan=plan,
        record=lambda **f: kept.update(f),
        now=lambda: 0.0,
        apply_hint="cosydeploy apply a --env dev",
    )
    assert check.planned is planned and bool(plans) is planned
    assert check.reason.startswith(reason), check.reason
    assert ("fingerprint" in kept) is records_applied
    assert bool(check.warning) is bool(changes and planned)
    if check.warning:
        assert "cosydeploy apply a --env dev" in check.warning


def test_recorded_outputs_only_with_a_cluster() -> None:
    assert recorded_outputs(None) is None
    assert recorded_outputs({"outputs": json.dumps({"app_url": "x"})}) is None
    assert recorded_outputs({"outputs": json.dumps({"cluster_name": "c"})}) == {"cluster_name": "c"}


# ------------------------------------------------------------------ drift

TG = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/acme-dev/0123"
OUT = SimpleNamespace(task_family="cosyworld-acme-dev", target_group_arn=TG, container_name="app")


def _svc(**over):
    svc = {
        "desiredCount": 2,
        "taskDefinition": "arn:aws:ecs:us-east-1:1:task-definition/cosyworld-acme-dev:3",
        "loadBalancers": [{"targetGroupArn": TG, "containerName": "app", "containerPort": 3000}],
    }
    svc.update(over)
    return svc


@pytest.mark.parametrize(
    ("service", "cidrs", "expected"),
    [
        (_svc(), ["10.0.10.0/24", "10.0.11.0/24"], []),
        (_svc(desiredCount=7), None, ["desired count: the service wants 7 tasks"]),
        (
            _svc(taskDefinition="arn:aws:ecs:us-east-1:1:task-definition/other:1"),
            None,
            ["task definition family: the service runs other"],
        ),
        (
            _svc(
                loadBalancers=[
                    {"targetGroupArn": TG.replace("acme-dev", "x"), "containerPort": 3000}
                ]
            ),
            None,
            ["load balancer: the service is attached to target group x"],
        ),
        (
            _svc(
                loadBalancers=[
                    {"targetGroupArn": TG, "containerName": "web", "containerPort": 3000}
                ]
            ),
            None,
            ["load balancer: container web is attached"],
        ),
        (
            _svc(
                loadBalancers=[
                    {"targetGroupArn": TG, "containerName": "app", "containerPort": 8080}
                ]
            ),
            None,
            ["load balancer: container port 8080 is attached"],
        ),
        (_svc(), ["10.9.0.0/24"], ["network: the service runs in subnets 10.9.0.0/24"]),
    ],
)
def test_drift(service, cidrs, expected) -> None:
    found = terraform_drift(applied_view(None, TFVARS), OUT, service, cidrs)
    assert len(found) == len(expected), found
    for line, start in zip(found, expected, strict=True):
        assert line.startswith(start), line


# ------------------------------------------------------------------ runs over clients


def _member(cid: str) -> Member:
    return Member(cid, "dev", target=SimpleNamespace(key=f"{cid}/dev"))


IMAGE = ResolvedImage("v1", "abc", "sha256:" + "1" * 64, "r/app@sha256:" + "1" * 64)


def _run_with(outcomes: dict[str, object], waves=None):
    def run(m: Member, poller) -> ReleaseResult:
        what = outcomes.get(m.client, oc.SUCCEEDED)
        if isinstance(what, BaseException):
            raise what
        return ReleaseResult(m.client, m.env, "v1", IMAGE.digest, outcome=str(what))

    seen: list[str] = []
    result = run_waves(
        waves or [["a"], ["b", "c"], ["d"]],
        env="dev",
        version="v1",
        prepare=_member,
        run=run,
        image_for=lambda m: IMAGE,
        parallel=2,
        emit=lambda e: seen.append(type(e).__name__),
    )
    return result, seen


def test_a_clean_run() -> None:
    result, seen = _run_with({})
    assert [r.outcome for r in result.results] == ["succeeded"] * 4
    assert [r.wave for r in result.results] == [1, 2, 2, 3]
    assert result.exit_code == 0 and result.digest == IMAGE.digest
    assert seen.count("WaveStarted") == 3 and seen.count("ClientDone") == 4


@pytest.mark.parametrize(
    ("outcomes", "codes", "exit_code"),
    [
        ({"b": oc.ROLLED_BACK}, {"a": 0, "b": 1, "c": 0, "d": 0}, 1),
        ({"c": oc.FAILED}, {"a": 0, "b": 0, "c": 3, "d": 0}, 3),
        ({"b": LockHeldError("held by x")}, {"a": 0, "b": 4, "c": 0, "d": 0}, 4),
        ({"b": UsageError("bad")}, {"a": 0, "b": 2, "c": 0, "d": 0}, 2),
        ({"b": RuntimeError("boom")}, {"a": 0, "b": 3, "c": 0, "d": 0}, 3),
    ],
)
def test_a_failed_wave_stops_the_later_ones(outcomes, codes, exit_code) -> None:
    result, _ = _run_with(outcomes)
    assert {r.client: r.exit_code for r in result.results} == codes
    assert result.exit_code == exit_code
    d = next(r for r in result.results if r.client == "d")
    assert d.outcome == "skipped" and "wave 2 failed" in d.message


def test_a_client_that_cannot_be_prepared_stops_the_run_before_anything_ships() -> None:
    ran: list[str] = []

    def prepare(cid: str) -> Member:
        if cid == "c":
            raise CosydeployError("clients/c.yaml: aws.account_id: wrong account")
        return _member(cid)

    def run(m, poller):
        ran.append(m.client)
        return ReleaseResult(m.client, m.env, "v1", outcome=oc.SUCCEEDED)

    result = run_waves(
        [["a", "b", "c"]],
        env="dev",
        version="v1",
        prepare=prepare,
        run=run,
        image_for=lambda m: IMAGE,
    )
    assert ran == []
    assert [(r.client, r.outcome) for r in result.results] == [
        ("a", "skipped"),
        ("b", "skipped"),
        ("c", "error"),
    ]
    assert result.exit_code == 2 and "wrong account" in result.results[2].message


def _shard(prepare, outcomes: dict[str, str] | None = None, waves=None):
    """A keep-going run (a shard of the release workflow): who ran, the results, events."""
    ran: list[str] = []
    done: list[str] = []

    def run(m, poller):
        ran.append(m.client)
        return ReleaseResult(
            m.client, m.env, "v1", outcome=(outcomes or {}).get(m.client, oc.SUCCEEDED)
        )

    result = run_waves(
        waves or [["a", "b", "c", "d"]],
        env="dev",
        version="v1",
        prepare=prepare,
        run=run,
        image_for=lambda m: IMAGE,
        keep_going=True,
        emit=lambda e: done.append(e.key) if type(e).__name__ == "ClientDone" else None,
    )
    return sorted(ran), result, sorted(done)


def test_keep_going_a_client_that_cannot_be_prepared_stops_only_itself() -> None:
    def prepare(cid: str) -> Member:
        if cid == "b":
            raise CosydeployError("AWS denied ecs:DescribeServices on cosyworld-b-dev")
        return _member(cid)

    ran, result, done = _shard(prepare)
    assert ran == ["a", "c", "d"]
    assert [(r.client, r.outcome) for r in result.results] == [
        ("a", "succeeded"),
        ("b", "error"),
        ("c", "succeeded"),
        ("d", "succeeded"),
    ]
    assert result.exit_code == 2
    assert done == ["a/dev", "b/dev", "c/dev", "d/dev"]  # every client reported once


def test_keep_going_a_failed_wave_does_not_stop_the_later_ones() -> None:
    ran, result, _ = _shard(_member, {"a": oc.ROLLED_BACK}, waves=[["a"], ["b", "c"]])
    assert ran == ["a", "b", "c"]
    assert [r.outcome for r in result.results] == ["rolled_back", "succeeded", "succeeded"]
    assert result.exit_code == 1


@pytest.mark.parametrize("keep_going", [False, True])
def test_a_client_passed_over_is_skipped_and_stops_nothing(keep_going) -> None:
    ran: list[str] = []

    def prepare(cid: str) -> Member:
        if cid in ("a", "c"):
            raise Skip("v1 has not succeeded in dev: staging not released")
        return _member(cid)

    def run(m, poller):
        ran.append(m.client)
        return ReleaseResult(m.client, m.env, "v1", outcome=oc.SUCCEEDED)

    result = run_waves(
        [["a", "b"], ["c", "d"]],
        env="staging",
        version="v1",
        prepare=prepare,
        run=run,
        image_for=lambda m: IMAGE,
        keep_going=keep_going,
    )
    assert ran == ["b", "d"]
    assert [(r.client, r.outcome) for r in result.results] == [
        ("a", "skipped"),
        ("b", "succeeded"),
        ("c", "skipped"),
        ("d", "succeeded"),
    ]
    assert "not succeeded in dev" in result.results[0].message
    assert result.exit_code == 0


def test_passed_over_everyone_runs_nothing() -> None:
    def prepare(cid: str) -> Member:
        raise Skip("not through dev")

    ran, result, done = _shard(prepare)
    assert ran == [] and {r.outcome for r in result.results} == {"skipped"}
    assert result.exit_code == 0 and len(done) == 4


# ------------------------------------------------------------------ the poller


class _Ecs:
    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.calls = 0

    def describe_services(self, **kw):
        self.calls += 1
        if self.fail:
            raise self.fail
        dep = {
            "id": "d1",
            "status": "PRIMARY",
            "rolloutState": "IN_PROGRESS",
            "runningCount": 0,
            "desiredCount": 2,
            "taskDefinition": "td:1",
        }
        return {"services": [{"serviceName": "app", "deployments": [dep], "events": []}]}


def _watch(ecs) -> Watch:
    import time

    return Watch(
        key="a/dev",
        ecs=ecs,
        cluster="c",
        service="app",
        deployment_id="d1",
        deadline=time.time() + 60,
    )


def test_a_polling_error_reaches_the_waiting_release() -> None:
    poller = Poller(initial_interval=0.05, max_interval=0.05)
    boom = ConnectionError("endpoint unreachable")
    with pytest.raises(ConnectionError, match="endpoint unreachable"):
        poller.watch(_watch(_Ecs(fail=boom)))
    poller.close()


def test_cancel_wakes_every_waiter_with_keyboard_interrupt() -> None:
    poller = Poller(initial_interval=0.05, max_interval=0.05)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            poller.watch(_watch(_Ecs()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wait) for _ in range(3)]
    for t in threads:
        t.start()
    import time

    time.sleep(0.3)
    poller.cancel()
    for t in threads:
        t.join(5)
    assert len(errors) == 3 and all(isinstance(e, KeyboardInterrupt) for e in errors)
    poller.close()
    with pytest.raises(RuntimeError, match="closed"):
        poller.watch(_watch(_Ecs()))


def _one_client_wave(run, poller: Poller):
    """``run_waves`` for client "a" alone, with ``run`` as its release."""
    return run_waves(
        [["a"]],
        env="dev",
        version="v1",
        prepare=_member,
        run=run,
        image_for=lambda m: IMAGE,
        poller=poller,
    )


def test_an_interrupt_reaches_a_release_that_starts_watching_after_it() -> None:
    # Ctrl-C (or the runner's cancel) while a release is between its lock and its watch:
    # the watch it starts afterwards is woken too, so it records interrupted.
    import _thread
    import signal
    import threading

    seen: list[str] = []
    poller = Poller(initial_interval=0.05, max_interval=0.05)
    cancelled = threading.Event()
    cancel = poller.cancel

    def cancel_and_tell() -> None:
        cancel()
        cancelled.set()

    poller.cancel = cancel_and_tell  # type: ignore[method-assign]

    def run(m: Member, poller) -> ReleaseResult:
        # Ctrl-C lands now, before this release watches, handled by another thread than
        # the main one (the kernel may hand a process's SIGINT to any thread): the main
        # thread, waiting on this run, must still raise it within its wait's slice.
        _thread.interrupt_main()
        # The main thread has taken the signal (it cancels the poller), however busy
        # the machine: only then does this release start watching.
        assert cancelled.wait(30), "the interrupt never reached the main thread"
        try:
            poller.watch(_watch(_Ecs()))
        except KeyboardInterrupt:
            seen.append("interrupted")
            raise
        return ReleaseResult(m.client, m.env, "v1", outcome=oc.SUCCEEDED)

    # Python's own SIGINT handler, whatever this process was started with (a shell's
    # background job ignores SIGINT, and interrupt_main then does nothing).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            _one_client_wave(run, poller)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == ["interrupted"]


def test_a_timeout_raised_into_a_fleet_run_stops_its_watching_releases() -> None:
    # A host's timeout (pytest-timeout, a CI step's alarm) raises its own exception in the
    # main thread, not KeyboardInterrupt: the releases still watching are woken and record
    # interrupted, and no worker is left watching behind the exception.
    import _thread
    import signal

    class HostTimeout(BaseException):
        pass

    def on_signal(signum, frame):
        raise HostTimeout

    seen: list[str] = []
    poller = Poller(initial_interval=0.05, max_interval=0.05)

    def run(m: Member, poller) -> ReleaseResult:
        # The timeout strikes while the main thread waits on this release's watch.
        threading.Timer(0.3, _thread.interrupt_main, (signal.SIGUSR1,)).start()
        try:
            poller.watch(_watch(_Ecs()))  # never settles: only the cancel ends it
        except KeyboardInterrupt:
            seen.append("interrupted")
            raise
        return ReleaseResult(m.client, m.env, "v1", outcome=oc.SUCCEEDED)

    previous = signal.signal(signal.SIGUSR1, on_signal)
    try:
        with pytest.raises(HostTimeout):
            _one_client_wave(run, poller)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert seen == ["interrupted"]
    assert not [t for t in threading.enumerate() if t.name.startswith("cosydeploy-wave")]
    poller.close()
