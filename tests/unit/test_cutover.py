"""Cutover's pure parts: weights and shares, the change batch, the checks, the sandbox's
choice by weight, the manifest field, and waiting for Route 53 (botocore's Stubber: moto
answers INSYNC at once, so PENDING is a shape only a stub produces)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from cosydeploy import cutover as cut
from cosydeploy.errors import CosydeployError, UsageError
from cosydeploy.sandbox.dns import ALB_SUFFIX, DnsProxy, choose

AWS_RR = {
    "Name": "acme.cosyworld.ai.",
    "Type": "CNAME",
    "SetIdentifier": "aws",
    "Weight": 0,
    "TTL": 60,
    "ResourceRecords": [{"Value": "acme-dev-123.us-east-1.elb.amazonaws.com"}],
}
ORIGIN_RR = {**AWS_RR, "SetIdentifier": "origin", "Weight": 100}
ORIGIN_RR["ResourceRecords"] = [{"Value": "app.example.net"}]


@pytest.mark.parametrize(
    ("aws", "origin", "percent"), [(0, 100, 0), (10, 90, 10), (1, 2, 33), (5, 0, 100), (0, 0, 0)]
)
def test_share_on_the_alb(aws: int, origin: int, percent: int) -> None:
    assert cut.aws_percent(aws, origin) == percent


@pytest.mark.parametrize("percent", [0, 10, 50, 100])
def test_weights_of_a_percent(percent: int) -> None:
    aws, origin = cut.weights(percent)
    assert (aws + origin, cut.aws_percent(aws, origin)) == (100, percent)


@pytest.mark.parametrize("percent", [-1, 101])
def test_a_percent_outside_0_100_is_bad_input(percent: int) -> None:
    with pytest.raises(UsageError, match="not between 0 and 100"):
        cut.weights(percent)


def test_one_batch_moves_both_weights_and_keeps_the_records() -> None:
    records = cut.Records("Z1", AWS_RR, ORIGIN_RR)
    batch = cut.change_batch(records, 10, 90, "step")
    assert [c["Action"] for c in batch["Changes"]] == ["UPSERT", "UPSERT"]
    aws, origin = (c["ResourceRecordSet"] for c in batch["Changes"])
    assert aws == {**AWS_RR, "Weight": 10} and origin == {**ORIGIN_RR, "Weight": 90}
    assert records.percent == 0


def test_find_records_by_name_and_set_identifier() -> None:
    other = {**AWS_RR, "Name": "other.cosyworld.ai."}
    plain = {"Name": "acme.cosyworld.ai.", "Type": "TXT", "TTL": 60, "ResourceRecords": []}
    sets = [other, plain, ORIGIN_RR, AWS_RR]
    assert cut.find_records(sets, "acme.cosyworld.ai", "aws", "origin") == (AWS_RR, ORIGIN_RR)
    assert cut.find_records([other], "acme.cosyworld.ai", "aws", "origin") == (None, None)


def answers(*replies: tuple[int, str]):
    """A GET that answers these in order (the last one repeats), keeping what it was asked."""
    asked: list[str] = []

    def get(path: str) -> tuple[int, str]:
        asked.append(path)
        return replies[min(len(asked), len(replies)) - 1]

    return get, asked


def test_serves_health_three_times_then_the_version() -> None:
    get, asked = answers((200, "ok"), (200, "ok"), (200, "ok"), (200, "v1"))
    ok, why = cut.check_serves(get, "/health/ready", "v1", sleep=lambda s: None)
    assert ok and asked == ["/health/ready"] * 3 + ["/version"], why


@pytest.mark.parametrize(
    ("replies", "said"),
    [
        (((200, "ok"), (503, "")), "/health/ready answered HTTP 503 (try 2 of 3)"),
        (((0, "connection refused"),), "/health/ready answered connection refused (try 1"),
        (((200, "ok"), (200, "ok"), (200, "ok"), (200, "v0")), "/version answered 'v0', not 'v1'"),
    ],
)
def test_what_does_not_serve_says_what_was_seen(replies, said: str) -> None:
    get, _ = answers(*replies)
    ok, why = cut.check_serves(get, "/health/ready", "v1", sleep=lambda s: None)
    assert not ok and why.startswith(said), why


def test_the_sandbox_never_picks_weight_0_and_follows_the_weights() -> None:
    rng = random.Random(7)
    picks = Counter(choose([("aws", "a", 0), ("origin", "o", 100)], rng)[0] for _ in range(500))
    assert picks == {"origin": 500}
    picks = Counter(choose([("aws", "a", 50), ("origin", "o", 50)], rng)[0] for _ in range(2000))
    assert 800 < picks["aws"] < 1200  # 2000 draws: 9 standard deviations each way
    assert choose([("aws", "a", 0), ("origin", "o", 0)], rng) is None


def test_the_sandbox_sends_an_alb_name_to_the_alb_stand_in() -> None:
    proxy = DnsProxy("http://127.0.0.1:9/")
    assert (
        proxy.target_url("acme-dev" + ALB_SUFFIX, "/version")
        == "http://127.0.0.1:9/acme-dev/version"
    )
    assert proxy.target_url("127.0.0.1:8080", "/version") == "http://127.0.0.1:8080/version"


def test_waiting_for_route53_until_insync() -> None:
    import boto3
    from botocore.stub import Stubber

    r53 = boto3.client(
        "route53", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(r53)
    info = {"Id": "/change/C1", "SubmittedAt": "2026-01-01T00:00:00Z"}
    records = cut.Records("Z1", AWS_RR, ORIGIN_RR)
    stub.add_response(
        "change_resource_record_sets",
        {"ChangeInfo": {**info, "Status": "PENDING"}},
        {"HostedZoneId": "Z1", "ChangeBatch": cut.change_batch(records, 10, 90, "step")},
    )
    stub.add_response(
        "get_change", {"ChangeInfo": {**info, "Status": "PENDING"}}, {"Id": "/change/C1"}
    )
    stub.add_response(
        "get_change", {"ChangeInfo": {**info, "Status": "INSYNC"}}, {"Id": "/change/C1"}
    )
    slept: list[float] = []
    c = SimpleNamespace(target="acme/dev")
    t = cut.CutoverTarget(c, None, r53, None, lambda: None, None, None, sleep=slept.append)  # type: ignore[arg-type]
    with stub:
        t.move(records, 10, 90, "step")
    stub.assert_no_pending_responses()
    assert slept == [1.0, 2.0]


# ----------------------------------------------------------------- the manifest field

ACME = """\
client: acme
name: Acme
contact: ops@acme.test
tier: small
aws:
  account_id: "123456789012"
  region: us-east-1
environments:
  dev: {old_origin: ORIGIN}
"""


@pytest.mark.parametrize(
    ("origin", "said"),
    [
        ("https://app.example.net/", "must be a host name like app.example.net"),
        ("App.Example.net", "must be a host name"),
        ("acme-dev.cosyworld.ai", "is the client's own hostname"),
    ],
)
def test_a_bad_old_origin_is_one_line_exit_2(
    cli, project_copy: Path, origin: str, said: str
) -> None:
    (project_copy / "clients" / "acme.yaml").write_text(ACME.replace("ORIGIN", origin))
    r = cli("--project-dir", str(project_copy), "validate", "acme")
    assert r.exit_code == 2, r.output
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: clients/acme.yaml:9:"), r.stderr
    assert "old_origin" in errors[0] and said in r.stderr, r.stderr


def test_the_old_origin_is_shown_rendered_and_in_the_schema(cli, project_copy: Path) -> None:
    (project_copy / "clients" / "acme.yaml").write_text(ACME.replace("ORIGIN", "app.example.net"))
    where = ("--project-dir", str(project_copy))
    r = cli(*where, "-o", "json", "clients", "show", "acme", "--env", "dev")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["old_origin"] == "app.example.net"
    r = cli(*where, "render", "acme", "--env", "dev")
    assert r.exit_code == 0, r.output
    assert '"old_origin": "app.example.net"' in r.stdout
    assert "old_origin" in json.dumps(json.loads(cli("schema").stdout))


@pytest.mark.parametrize("flags", [(), ("--percent", "10", "--back")])
def test_cutover_needs_exactly_one_of_percent_and_back(cli, flags: tuple[str, ...]) -> None:
    r = cli("cutover", "example", "--env", "dev", *flags)
    assert r.exit_code == 2 and "exactly one of --percent N and --back" in r.output, r.output


def stubbed_target():
    import boto3
    from botocore.stub import Stubber

    r53 = boto3.client(
        "route53", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    c = SimpleNamespace(
        target="acme/dev", hostname="acme-dev.cosyworld.ai", client="acme", env="dev"
    )
    t = cut.CutoverTarget(c, None, r53, None, lambda: None, None, None, sleep=lambda s: None)  # type: ignore[arg-type]
    return t, Stubber(r53)


def test_a_refused_change_batch_moved_nothing_exit_2() -> None:
    t, stub = stubbed_target()
    stub.add_client_error("change_resource_record_sets", "InvalidChangeBatch", "bad", 400)
    with stub, pytest.raises(CosydeployError) as err:
        t.move(cut.Records("Z1", AWS_RR, ORIGIN_RR), 10, 90, "step")
    assert err.value.exit_code == 2 and "Route 53 change_resource_record_sets" in str(err.value)
    assert not isinstance(err.value, cut.WeightsUnknown)


def test_a_failure_after_the_batch_was_accepted_is_exit_3_with_the_way_back() -> None:
    t, stub = stubbed_target()
    info = {"Id": "/change/C1", "SubmittedAt": "2026-01-01T00:00:00Z", "Status": "PENDING"}
    stub.add_response("change_resource_record_sets", {"ChangeInfo": info})
    stub.add_client_error("get_change", "ServiceUnavailable", "down", 503)
    with stub, pytest.raises(cut.WeightsUnknown) as err:
        t.move(cut.Records("Z1", AWS_RR, ORIGIN_RR), 10, 90, "step")
    assert err.value.exit_code == 3 and "they may have moved" in str(err.value)
    assert "cosydeploy cutover acme --env dev --back" in (err.value.hint or "")
