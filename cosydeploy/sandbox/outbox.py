"""SNS publishes kept for inspection: what a release told its info topic, readable back.

moto keeps every message published to a topic (with or without subscribers). The
sandbox's endpoint answers ``GET /_sandbox/sns`` (optionally ``?topic=ARN``) with them as
JSON, oldest first: topic ARN, account, region, message id, subject, message and
message attributes. ``published(endpoint_url, topic)`` reads it (for tests and scripts).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

ADMIN_PATH = "/_sandbox/sns"


def messages(topic_arn: str | None = None) -> list[dict[str, Any]]:
    """Every message moto kept, of every account and region (or of one topic)."""
    from moto.sns.models import sns_backends

    found: list[dict[str, Any]] = []
    for account, regions in list(sns_backends.items()):
        for region, backend in list(regions.items()):
            for arn, topic in list(backend.topics.items()):
                if topic_arn and arn != topic_arn:
                    continue
                for message_id, message, subject, attributes, _group in list(
                    topic.sent_notifications
                ):
                    found.append(
                        {
                            "topic_arn": arn,
                            "account": account,
                            "region": region,
                            "message_id": message_id,
                            "subject": subject or "",
                            "message": message,
                            "attributes": {
                                k: v.get("Value", v.get("StringValue"))
                                for k, v in (attributes or {}).items()
                            },
                        }
                    )
    return found


class SnsOutbox:
    """WSGI middleware: ``GET /_sandbox/sns`` answers with the kept messages; every other
    request goes on to the app behind it."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != ADMIN_PATH:
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD", "GET") != "GET":
            body = b'{"error": "only GET"}'
            start_response(
                "405 Method Not Allowed",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        topic = (query.get("topic") or [None])[0]
        body = json.dumps(messages(topic)).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def published(endpoint_url: str, topic_arn: str | None = None) -> list[dict[str, Any]]:
    """The messages a running sandbox kept (of one topic), oldest first."""
    import urllib.request

    url = endpoint_url.rstrip("/") + ADMIN_PATH
    if topic_arn:
        url += "?" + urllib.parse.urlencode({"topic": topic_arn})
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


__all__ = ["ADMIN_PATH", "SnsOutbox", "messages", "published"]
