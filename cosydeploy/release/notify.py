"""Release notifications: started, succeeded, failed, rolled back (and rollbacks run by
hand), published to the environment's info topic (SNS) and, when the project names one,
posted to a Slack-compatible webhook.

A notice carries project, client, env, kind, version, digest, actor, outcome, the run's
link (GitHub Actions), the release id, the Redis snapshot taken before it and a message.
On the topic it is a JSON message with a short subject and message attributes (event,
client, env, outcome) for subscription filter policies; on the webhook it is one line of
``text``.

Sending never changes a release's outcome: a failure is a warning (``on_warning``). The
webhook's URL is a secret (Secrets Manager): read once per release, masked in a GitHub
Actions log, and kept out of every warning, error, record and file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from cosydeploy import outcome as oc
from cosydeploy.errors import CosydeployError

__all__ = [
    "Notice",
    "Notifier",
    "NotifySettings",
    "announced",
    "final_notices",
    "post_webhook",
]

STARTED, SUCCEEDED, FAILED, ROLLED_BACK = "started", "succeeded", "failed", "rolled_back"


@dataclass(frozen=True)
class NotifySettings:
    """Where one client/env's notices go: its info topic, and the project's webhook (the
    name of the secret holding its URL)."""

    topic_arn: str = ""
    webhook_secret: str = ""
    timeout: float = 5.0


@dataclass(frozen=True)
class Notice:
    event: str  # started | succeeded | failed | rolled_back
    kind: str  # release | rollback
    project: str
    client: str
    env: str
    version: str
    digest: str
    actor: str
    outcome: str  # in_progress, or the ledger's outcome
    run_url: str = ""
    release_id: str = ""
    snapshot: str = ""
    message: str = ""

    def subject(self) -> str:
        """At most 100 printable ASCII characters (SNS's rule for a subject)."""
        text = f"cosydeploy {self.client}/{self.env}: {self.kind} {self.version} {self.event}"
        text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
        return text[:100]

    def text(self) -> str:
        """One line for people (the webhook's text)."""
        parts = [
            f"[{self.project}] {self.client}/{self.env}: {self.kind} {self.version} "
            f"{self.event} (outcome {self.outcome}) by {self.actor}"
        ]
        if self.digest:
            parts.append(f"digest {self.digest}")
        if self.snapshot:
            parts.append(f"redis snapshot {self.snapshot}")
        if self.message:
            parts.append(self.message)
        if self.run_url:
            parts.append(f"run {self.run_url}")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _notice(
    result: Any,
    event: str,
    outcome: str,
    *,
    project: str,
    actor: str,
    run_url: str,
    message: str | None = None,
) -> Notice:
    return Notice(
        event=event,
        kind=result.kind,
        project=project,
        client=result.client,
        env=result.env,
        version=result.version,
        digest=result.digest,
        actor=actor,
        outcome=outcome,
        run_url=run_url,
        release_id=result.release_id,
        snapshot=result.snapshot,
        message=result.message if message is None else message,
    )


def final_notices(result: Any, *, project: str, actor: str, run_url: str) -> list[Notice]:
    """What a finished release or rollback announces, in order. Pure.

    A release: succeeded; failed then rolled_back (back on a good release); failed (not
    back). A rollback run by hand: rolled_back when it succeeded, else failed. Nothing for
    a no-op or a dry run."""
    kw = {"project": project, "actor": actor, "run_url": run_url}
    o = result.outcome
    if result.kind == "rollback":
        if o == oc.SUCCEEDED:
            return [_notice(result, ROLLED_BACK, o, **kw)]
        return [_notice(result, FAILED, o, **kw)]
    if o == oc.SUCCEEDED:
        return [_notice(result, SUCCEEDED, o, **kw)]
    if o == oc.ROLLED_BACK:
        why = "; ".join(x for x in (result.message, (result.diagnosis or [""])[0]) if x)
        return [
            _notice(result, FAILED, oc.FAILED, **kw, message=why),
            _notice(result, ROLLED_BACK, o, **kw),
        ]
    if o in (oc.FAILED, oc.INTERRUPTED):
        return [_notice(result, FAILED, o, **kw)]
    return []


def post_webhook(url: str, payload: dict[str, Any], timeout: float) -> None:
    """POST ``payload`` as JSON; raises OSError (or ValueError) on failure. The caller
    keeps the URL out of what it reports."""
    import urllib.request

    req = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "cosydeploy"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        resp.read()


class Notifier:
    """Sends notices for one client/env. Every failure is handed to ``on_warning`` as one
    line (never the webhook's URL) and the release goes on."""

    def __init__(
        self,
        aws: Any,
        settings: NotifySettings,
        on_warning: Callable[[str], None],
        *,
        post: Callable[[str, dict[str, Any], float], None] = post_webhook,
    ) -> None:
        self.aws = aws
        self.settings = settings
        self.on_warning = on_warning
        self.post = post
        self._url: str | None = None  # read once; "" when it could not be read
        self._sns: Any = None

    def send(self, notice: Notice) -> None:
        if self.settings.topic_arn:
            self._publish(notice)
        if self.settings.webhook_secret:
            self._webhook(notice)

    def _sns_client(self) -> Any:
        """SNS with few retries and short timeouts: a notice must not hold a release up."""
        if self._sns is None:
            from botocore.config import Config

            self._sns = self.aws.session.client(
                "sns",
                region_name=self.aws.region,
                config=Config(
                    retries={"mode": "standard", "total_max_attempts": 2},
                    connect_timeout=3,
                    read_timeout=self.settings.timeout,
                ),
            )
        return self._sns

    def _publish(self, notice: Notice) -> None:
        attrs = {
            k: {"DataType": "String", "StringValue": v}
            for k, v in (
                ("event", notice.event),
                ("client", notice.client),
                ("env", notice.env),
                ("outcome", notice.outcome),
            )
            if v
        }
        try:
            self._sns_client().publish(
                TopicArn=self.settings.topic_arn,
                Subject=notice.subject(),
                Message=json.dumps(notice.as_dict(), sort_keys=True),
                MessageAttributes=attrs,
            )
        except Exception as exc:
            from cosydeploy.adapters.aws import aws_fault

            self.on_warning(
                f"notification {notice.event} not published to the info topic "
                f"({aws_fault(exc, 'SNS publish').message}); the release goes on"
            )

    def _webhook_url(self) -> str:
        if self._url is None:
            self._url = ""
            try:
                value = self.aws.client("secretsmanager").get_secret_value(
                    SecretId=self.settings.webhook_secret
                )
                url = str(value.get("SecretString") or "").strip()
            except Exception as exc:
                from cosydeploy.adapters.aws import aws_fault

                self.on_warning(
                    f"webhook notifications off: its URL could not be read from secret "
                    f"{self.settings.webhook_secret} "
                    f"({aws_fault(exc, 'Secrets Manager get_secret_value').message})"
                )
                return ""
            from cosydeploy.adapters.ci import mask

            mask(url)  # under GitHub Actions: redacted from every later log line
            if not url.startswith(("https://", "http://")):
                self.on_warning(
                    f"webhook notifications off: secret {self.settings.webhook_secret} "
                    "does not hold an http(s) URL"
                )
                return ""
            self._url = url
        return self._url

    def _webhook(self, notice: Notice) -> None:
        url = self._webhook_url()
        if not url:
            return
        try:
            self.post(url, {"text": notice.text()}, self.settings.timeout)
        except Exception as exc:
            why = _why(exc).replace(url, "<webhook URL>")
            self.on_warning(
                f"notification {notice.event} not posted to the webhook ({why}); "
                "the release goes on"
            )


def _why(exc: BaseException) -> str:
    """What went wrong posting, without the URL (urllib's errors can carry it)."""
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return str(getattr(reason, "strerror", None) or type(reason).__name__)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return type(exc).__name__


@contextmanager
def announced(
    notifier: Notifier | None,
    result: Any,
    *,
    project: str,
    actor: str,
    run_url: str,
    started: bool = True,
) -> Iterator[None]:
    """Around a release (or rollback) that is about to change something: ``started`` now;
    at the end the notices of ``result`` as the body left it, or ``failed`` with the error
    that stopped it. An interruption (Ctrl-C) is not announced: the ledger keeps it."""
    if notifier is None:
        yield
        return
    kw = {"project": project, "actor": actor, "run_url": run_url}
    if started:
        notifier.send(_notice(result, STARTED, "in_progress", **kw, message=""))
    try:
        yield
    except Exception as exc:
        why = exc.message if isinstance(exc, CosydeployError) else f"error: {type(exc).__name__}"
        notifier.send(_notice(result, FAILED, oc.FAILED, **kw, message=why))
        raise
    for notice in final_notices(result, **kw):
        notifier.send(notice)
