"""The sandbox's DynamoDB Query: the same answers as moto's, from one partition's items."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table

from cosydeploy.ledger import TABLE_SCHEMA
from cosydeploy.sandbox.dynamo import query_reads_one_partition

ACCOUNT, REGION = "123456789012", "us-east-1"
TARGETS = ("acme/dev", "hooli/dev", "umbrella/prod")


def key_queries(db: Any) -> dict[str, list[Any]]:
    """Every shape of Query on the table's key the ledger makes: what each answers."""
    got: dict[str, list[Any]] = {}
    key = {"KeyConditionExpression": "#t = :t", "ExpressionAttributeNames": {"#t": "target"}}
    for target in TARGETS:
        values = {":t": {"S": target}}
        got[f"{target} newest first"] = db.query(
            TableName="ledger", ExpressionAttributeValues=values, ScanIndexForward=False, **key
        )["Items"]
        pages, start = [], None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            resp = db.query(
                TableName="ledger", ExpressionAttributeValues=values, Limit=2, **key, **extra
            )
            pages.append(resp["Items"])
            start = resp.get("LastEvaluatedKey")
            if not start:
                break
        got[f"{target} in pages of 2"] = pages
        got[f"{target} after r03"] = db.query(
            TableName="ledger",
            KeyConditionExpression="#t = :t AND release_id > :r",
            ExpressionAttributeNames={"#t": "target"},
            ExpressionAttributeValues={**values, ":r": {"S": "r03"}},
        )["Items"]
    got["nobody"] = db.query(
        TableName="ledger", ExpressionAttributeValues={":t": {"S": "nobody/dev"}}, **key
    )["Items"]
    return got


def index_query(db: Any) -> list[Any]:
    return db.query(
        TableName="ledger",
        IndexName="by-outcome",
        KeyConditionExpression="outcome = :o",
        ExpressionAttributeValues={":o": {"S": "rolled_back"}},
    )["Items"]


@pytest.fixture
def db() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="ledger",
            KeySchema=TABLE_SCHEMA["KeySchema"],
            AttributeDefinitions=[
                *TABLE_SCHEMA["AttributeDefinitions"],
                {"AttributeName": "outcome", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-outcome",
                    "KeySchema": [{"AttributeName": "outcome", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(7):
            for target in TARGETS:
                outcome = "rolled_back" if n % 3 == 0 else "succeeded"
                client.put_item(
                    TableName="ledger",
                    Item={
                        "target": {"S": target},
                        "release_id": {"S": f"r{(7 * n) % 10:02d}"},
                        "outcome": {"S": outcome},
                    },
                )
        yield client


class OnlyByKey(dict):
    """A table's partitions that may be read by key, never all of them."""

    def _every(self, *_: Any) -> Any:
        raise AssertionError("the Query read every partition of the table")

    values = items = keys = __iter__ = _every  # type: ignore[assignment]


def test_a_query_on_the_tables_key_answers_as_moto_does_from_its_partition_only(
    db, monkeypatch
) -> None:
    monkeypatch.setattr(Table, "query", Table.query)  # restored after the test
    monkeypatch.setattr(Table, "all_items", Table.all_items)
    moto_answers, moto_index = key_queries(db), index_query(db)
    assert [len(v) for k, v in moto_answers.items() if k.endswith("newest first")] == [7, 7, 7]
    assert len(moto_index) == 9

    query_reads_one_partition()
    query_reads_one_partition()  # idempotent
    table = dynamodb_backends[ACCOUNT][REGION].tables["ledger"]
    by_key = table.items
    table.items = OnlyByKey(by_key)
    try:
        answers = key_queries(db)
    finally:
        table.items = by_key
    assert answers == moto_answers
    assert index_query(db) == moto_index  # an index: moto's own way
