"""The README's fault table, cell by cell, on one sandbox and one client.

Each cell injects one fault (``sandbox.faults``: per API, per action) at one step of a
``release`` (or of the ``rollback`` command), run in-process with two attempts per AWS
call, and asserts: the exit code of the table, one ``error:`` line naming the first cause
(the failed call), no traceback; then, the fault cleared: the lock free (``unlock`` only
where the table says the lock's release failed), the next ``release`` of a good version
succeeds, ``history`` has no record left in_progress, and the app URL serves that version.

Which cells run, and why the others need no run of their own:

- The four faults that come back as an answer (5xx, throttle, denied, expired) take one
  path through the release at a given step: botocore raises a ClientError, ``aws_fault``
  translates it (only the line's wording differs), and the step's branch decides the exit
  code. ``unreachable`` (no answer: a connection error) is the other path. The steps that
  fail before anything changed are cheap (no rollout), so they run every fault. The steps
  where a deployment runs (update, watch, rollback) cost a rollout each: they run
  ``unreachable`` and one answered fault, chosen so that each answered fault meets at least
  one of them.
- slow (latency): a slow answer is waited for, so its path is the success path with a
  later verdict (the watch's deadline decides, which the e2e tier's deadline scenarios
  cover); one cell shows a slow watch still succeeds.
- throttle while watching is no verdict: the poller backs off and polls again until the
  deadline. One cell throttles a few polls (the release succeeds); one throttles every
  describe until past a short deadline: "timed out while AWS throttled us", then the
  rollback's own describe is throttled too (exit 3, the outcome unknown).
- build: a local Docker build, no AWS call; Docker unreachable is an e2e scenario.
- push: ECR failing (every call) for a version not pushed yet; the registry's own faults
  fail the push at the same point, before anything changed.
- process killed: tests/faults/test_kill9.py.
"""

from __future__ import annotations

import threading
import time
import urllib.request

import pytest
from faults_helpers import history, settled

pytestmark = pytest.mark.slow

ANSWERED = ("5xx", "throttle", "denied", "expired")
EVERY = ("unreachable", *ANSWERED)

# step: (api, action, exit code, the call named in the error line: its service or action)
BEFORE_ANY_CHANGE = {
    "preflight": ("sts", "GetCallerIdentity", 2, ("STS", "GetCallerIdentity")),
    "lock": ("dynamodb", "PutItem", 2, ("DynamoDB", "PutItem", "deploy lock")),
    "push": (
        "ecr",
        "",
        2,
        ("ECR", "DescribeImages"),
    ),  # a version not pushed yet: every ECR call fails
    "register": (
        "ecs",
        "RegisterTaskDefinition",
        2,
        ("ECS register_task_definition", "RegisterTaskDefinition"),
    ),
}

GOOD = ("m1", "m2")  # the good versions cells go between


def cells() -> list:
    out = [pytest.param(s, f, id=f"{s}-{f}") for s in BEFORE_ANY_CHANGE for f in EVERY]
    in_flight = {"update": ("unreachable", "5xx"), "watch": ("unreachable", "throttle")}
    in_flight["watch-deadline"] = ("throttle",)
    in_flight["rollback"] = ("unreachable", "expired")
    in_flight["ledger-write"] = ("unreachable", "denied")
    in_flight["lock-release"] = ("unreachable", "5xx")
    out += [pytest.param(s, f, id=f"{s}-{f}") for s, fs in in_flight.items() for f in fs]
    out.append(pytest.param("watch", "latency", id="watch-latency"))
    return out


def serving_version(url: str) -> str:
    with urllib.request.urlopen(f"{url}/version", timeout=5) as resp:
        return resp.read().decode().strip()


def serving_tag(aws, cid: str) -> str:
    ecs = aws("ecs")
    svc = ecs.describe_services(cluster=f"cosyworld-{cid}-dev", services=["app"])["services"][0]
    td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    return td["containerDefinitions"][0]["image"]


def when_rolling_out(aws, cid: str, then) -> threading.Thread:
    """Call ``then()`` once the service's PRIMARY deployment is IN_PROGRESS."""

    def watch() -> None:
        ecs = aws("ecs")
        deadline = time.time() + 180
        while time.time() < deadline:
            svc = ecs.describe_services(cluster=f"cosyworld-{cid}-dev", services=["app"])
            deps = svc["services"][0]["deployments"]
            if any(d["status"] == "PRIMARY" and d["rolloutState"] == "IN_PROGRESS" for d in deps):
                then()
                return
            time.sleep(0.2)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


@pytest.fixture(scope="module")
def client(stage):
    cid = stage.onboard(stage.new_id("cell"))
    stage.release(GOOD[0], cid)
    stage.release(GOOD[1], cid)
    yield cid
    stage.retire(cid)


@pytest.fixture
def run(sandbox_env, transcript):
    from cosydeploy_e2e_fixtures import invoke

    def go(*args: str):
        return invoke({**sandbox_env, "AWS_MAX_ATTEMPTS": "2"}, transcript, args)

    return go


def one_error_line(r, names: str | tuple[str, ...]) -> str:
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    errors += [ln for ln in r.stdout.splitlines() if "outcome unknown" in ln]
    assert len(errors) == 1, r.output
    names = (names,) if isinstance(names, str) else names
    assert any(n in errors[0] for n in names), r.output
    assert "Traceback" not in r.output
    return errors[0]


@pytest.mark.parametrize(("step", "fault"), cells())
def test_cell(step, fault, client, sandbox, aws, cosy, run, stage):
    faults = sandbox.faults
    serving = serving_version(stage.url(client))
    other = GOOD[1] if serving == GOOD[0] else GOOD[0]
    needs_unlock = False
    t = None
    try:
        if step in BEFORE_ANY_CHANGE:
            api, action, code, names = BEFORE_ANY_CHANGE[step]
            faults.add({"api": api, "fault": fault, "action": action})
            version = f"push-{fault}" if step == "push" else other
            r = run("release", version, "--client", client, "--env", "dev")
            assert r.exit_code == code, r.output
            one_error_line(r, names)
        elif step in ("update", "watch", "watch-deadline"):
            extra: tuple[str, ...] = ()
            if step == "update":
                faults.add({"api": "ecs", "fault": fault, "action": "UpdateService"})
            else:
                rule = {"api": "ecs", "fault": fault, "action": "DescribeServices"}
                if fault == "latency":
                    rule.update(times=3, seconds=1.0)
                elif fault == "throttle" and step == "watch":
                    rule.update(times=4)  # two polls refused (two attempts each), then through
                elif step == "watch-deadline":
                    extra = ("--timeout", "8")
                t = when_rolling_out(aws, client, lambda: faults.add(rule))
            r = run("release", other, "--client", client, "--env", "dev", *extra)
            if fault == "latency" or (step, fault) == ("watch", "throttle"):
                assert r.exit_code == 0, r.output
                assert "outcome unknown" not in r.output
            elif step == "watch-deadline":
                assert r.exit_code == 3, r.output
                assert "timed out while AWS throttled us" in r.output, r.output
                line = one_error_line(r, "throttled by AWS")
                assert "outcome unknown" in line and "may still be in flight" in line
            else:
                assert r.exit_code == 3, r.output
                line = one_error_line(r, "ECS")
                assert "outcome unknown" in line and "may still be in flight" in line
                assert f"cosydeploy status {client} --env dev" in r.output
        elif step == "rollback":
            t = when_rolling_out(
                aws,
                client,
                lambda: faults.add({"api": "ecs", "fault": fault, "action": "DescribeServices"}),
            )
            r = run("rollback", client, "--env", "dev")
            assert r.exit_code == 3, r.output
            assert "unexpected" not in r.output
            line = one_error_line(r, "ECS describe_services")
            assert "outcome unknown" in line and "may still be in flight" in line
            assert f"cosydeploy status {client} --env dev" in r.output
        else:  # the ledger's last write, or the lock's release, once the rollout is done
            action = "UpdateItem" if step == "ledger-write" else "DeleteItem"
            if step == "ledger-write":
                rule = {"api": "dynamodb", "fault": fault}  # the lock's release fails too
            else:
                rule = {"api": "dynamodb", "fault": fault, "action": action}
            t = when_rolling_out(aws, client, lambda: faults.add(rule))
            r = run("release", other, "--client", client, "--env", "dev")
            assert "Traceback" not in r.output
            assert r.exit_code == 0, r.output  # the outcome's own
            assert "also: could not" in r.output, r.output
            needs_unlock = True
    except BaseException:
        # This cell failed: leave the shared client as the next cell expects it (no lock
        # held, the deployment settled), so one failure is reported once, not N times.
        if t is not None:
            t.join(200)
        faults.clear()
        cosy("unlock", client, "--env", "dev")
        settled(aws, client)
        raise
    finally:
        if t is not None:
            t.join(200)
        faults.clear()
    # The next run: the lock free (or freed), the record resolved, a good version served.
    if needs_unlock:
        assert cosy("unlock", client, "--env", "dev").exit_code == 0
    settled(aws, client)
    again = cosy("release", other, "--client", client, "--env", "dev")
    assert again.exit_code == 0, again.output
    assert not [x for x in history(cosy, client) if x["outcome"] == "in_progress"]
    assert serving_version(stage.url(client)) == other
