"""BatchGetItem's unprocessed keys (a shape moto never produces): asked again, and an
error naming the table when DynamoDB keeps leaving them."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from cosydeploy.errors import AwsError
from cosydeploy.ledger import BATCH_GET_ATTEMPTS, Ledger

TABLE = "cosyworld-releases"


def key(client: str) -> dict:
    return {"target": {"S": f"{client}/dev#infra"}, "release_id": {"S": "tfvars"}}


def item(client: str) -> dict:
    return {**key(client), "fingerprint": {"S": f"fp-{client}"}}


def stubbed() -> tuple[Ledger, Stubber]:
    db = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return Ledger(db, TABLE), Stubber(db)


def test_unprocessed_keys_are_asked_again() -> None:
    ledger, stub = stubbed()
    stub.add_response(
        "batch_get_item",
        {
            "Responses": {TABLE: [item("a")]},
            "UnprocessedKeys": {TABLE: {"Keys": [key("b")]}},
        },
        {"RequestItems": {TABLE: {"Keys": [key("a"), key("b")]}}},
    )
    stub.add_response(
        "batch_get_item",
        {"Responses": {TABLE: [item("b")]}, "UnprocessedKeys": {}},
        {"RequestItems": {TABLE: {"Keys": [key("b")]}}},
    )
    pauses: list[float] = []
    with stub:
        got = ledger.infra_states([("a", "dev"), ("b", "dev")], pause=pauses.append)
    stub.assert_no_pending_responses()
    assert {k: v["fingerprint"] for k, v in got.items()} == {
        ("a", "dev"): "fp-a",
        ("b", "dev"): "fp-b",
    }
    assert pauses == [0.05]


def test_keys_left_unprocessed_every_time_are_an_error() -> None:
    ledger, stub = stubbed()
    for _ in range(BATCH_GET_ATTEMPTS):
        stub.add_response(
            "batch_get_item",
            {"Responses": {TABLE: []}, "UnprocessedKeys": {TABLE: {"Keys": [key("a")]}}},
        )
    with stub, pytest.raises(AwsError) as exc:
        ledger.infra_states([("a", "dev")], pause=lambda _s: None)
    assert "1 infra records left unread" in exc.value.message
    assert TABLE in exc.value.message


def test_the_sandbox_authorizes_a_batch_read_on_each_table_it_names() -> None:
    from cosydeploy.sandbox.authz import Request, calls_for

    params = {"RequestItems": {TABLE: {"Keys": [key("a")]}, "other": {"Keys": [key("b")]}}}
    calls = calls_for(Request("dynamodb", "BatchGetItem", "us-east-1", "POST", "/", params), "1")
    assert sorted((c.action, c.resource) for c in calls) == [
        ("dynamodb:BatchGetItem", "arn:aws:dynamodb:us-east-1:1:table/cosyworld-releases"),
        ("dynamodb:BatchGetItem", "arn:aws:dynamodb:us-east-1:1:table/other"),
    ]
