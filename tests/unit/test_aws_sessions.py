"""Sessions and clients made from many threads at once: each model parsed once, each
client made once (a fleet release makes them from up to ``--parallel`` worker threads)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import botocore.loaders
import pytest

from cosydeploy.adapters import aws

THREADS = 8


def all_at_once(work: Callable[[], Any]) -> list[Any]:
    """``work`` in THREADS threads released together; what each returned."""
    start = threading.Barrier(THREADS)
    got: list[Any] = [None] * THREADS

    def run(i: int) -> None:
        start.wait()
        got[i] = work()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


@pytest.fixture
def parsed(monkeypatch) -> Counter[str]:
    """A fresh process-wide loader; counts the data files parsed, by path."""
    monkeypatch.setattr(aws, "_shared", {})
    files: Counter[str] = Counter()
    load = botocore.loaders.JSONFileLoader.load_file

    def counting(self: Any, file_path: str) -> Any:
        data = load(self, file_path)
        if data is not None:
            files[file_path] += 1
        return data

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counting)
    return files


def test_threads_making_their_first_client_at_once_parse_its_model_once(parsed) -> None:
    def first_ec2_client() -> Any:
        return aws._boto3_session(region_name="us-east-1").client("ec2")

    clients = all_at_once(first_ec2_client)

    assert len({id(c) for c in clients}) == THREADS  # a session each, a client each
    ec2 = [path for path in parsed if "/ec2/" in path and path.endswith("service-2")]
    assert len(ec2) == 1, parsed
    assert parsed[ec2[0]] == 1, parsed
    assert max(parsed.values()) == 1, parsed  # nor any other file (endpoints, rules)


def test_a_session_shared_by_threads_makes_each_client_once(parsed, monkeypatch) -> None:
    session = aws.AwsSession(aws._boto3_session(region_name="us-east-1"), "us-east-1")
    made: Counter[str] = Counter()
    make = session.session.client

    def counting(service: str, **kwargs: Any) -> Any:
        made[service] += 1
        return make(service, **kwargs)

    monkeypatch.setattr(session.session, "client", counting)

    clients = all_at_once(lambda: session.client("ecs"))

    assert made == {"ecs": 1}
    assert len({id(c) for c in clients}) == 1
