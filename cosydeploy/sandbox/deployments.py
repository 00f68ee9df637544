"""ECS's service deployments and service revisions, kept by the sandbox as ECS keeps them.

moto has no service-deployment API. The rollout driver opens a *record* for every
deployment it starts (rolling, blue/green, canary, linear; the service's first one
too) and a *revision* for every task definition it deploys; this module keeps them and
answers, on the sandbox's AWS endpoint, with boto3's shapes:

- ``ListServiceDeployments`` (cluster, service, ``status`` filter, ``createdAt``
  ``before``/``after``, ``maxResults``/``nextToken``), newest first;
- ``DescribeServiceDeployments`` (an unknown ARN is a failure with reason ``MISSING``);
- ``DescribeServiceRevisions`` (likewise);
- ``ContinueServiceDeployment`` (``hookId``, ``CONTINUE`` | ``ROLLBACK``): answers a
  PAUSE hook that awaits action; anything else is an ``InvalidParameterException``;
- ``StopServiceDeployment`` (``ROLLBACK`` | ``ABORT``): a deployment that has ended is a
  ``ConflictException``.

The API only records what was asked (``ROLLBACK_REQUESTED``, a hook's answer); the
driver acts on it at its next pass. A record's ARN and its target revision's ARN end
with the number of the deployment ``describe_services`` shows (``ecs-svc/<number>``).

``keep_create_service_deployment_configuration()`` patches the one thing moto 5.2.5
drops of what this needs: ``CreateService``'s ``deploymentConfiguration`` (moto keeps
it on ``UpdateService``, and keeps ``loadBalancers[].advancedConfiguration`` on both).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cosydeploy.errors import SandboxError

MINUTE_ENV = "COSY_SANDBOX_MINUTE"

# Service deployment statuses.
PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED = "PENDING", "IN_PROGRESS", "SUCCESSFUL", "STOPPED"
STOP_REQUESTED, ROLLBACK_REQUESTED = "STOP_REQUESTED", "ROLLBACK_REQUESTED"
ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL = "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"
ROLLBACK_FAILED = "ROLLBACK_FAILED"
ENDED = frozenset({SUCCESSFUL, STOPPED, ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED})
# Going forward (a stop or rollback asked for, not acted on yet, included).
UNDER_WAY = frozenset({IN_PROGRESS, STOP_REQUESTED, ROLLBACK_REQUESTED})
# A deployment that has ended, or is being stopped or rolled back, cannot be stopped again.
NOT_STOPPABLE = ENDED | {STOP_REQUESTED, ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS}

AWAITING_ACTION, SUCCEEDED, FAILED, TIMED_OUT = (
    "AWAITING_ACTION",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
)

_ECS_TARGET = "AmazonEC2ContainerServiceV20141113."
ACTIONS = (
    "ListServiceDeployments",
    "DescribeServiceDeployments",
    "DescribeServiceRevisions",
    "ContinueServiceDeployment",
    "StopServiceDeployment",
)
_ARN = re.compile(
    r"^arn:aws:ecs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<kind>service-deployment|service-revision)/(?P<cluster>[^/]+)/(?P<service>[^/]+)/"
    r"(?P<id>[A-Za-z0-9_-]+)$"
)


def sandbox_minute(environ: dict[str, str] | None = None) -> float:
    """Seconds per ECS minute (bakes, hook timeouts, canary and linear steps) from
    ``COSY_SANDBOX_MINUTE`` (default 60)."""
    raw = (os.environ if environ is None else environ).get(MINUTE_ENV, "").strip()
    if not raw:
        return 60.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value <= 0:
        raise SandboxError(
            f"{MINUTE_ENV}={raw!r}: not a number of seconds",
            hint=f"give the seconds an ECS minute lasts in the sandbox, e.g. {MINUTE_ENV}=2",
        )
    return value


def _now() -> datetime:
    return datetime.now(UTC)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


class ApiError(Exception):
    """An ECS error: its type (``__type``) and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def arn_number(deployment_id: str) -> str:
    """``ecs-svc/1234`` -> ``1234``: the suffix a deployment's record and revision share."""
    return deployment_id.rsplit("/", 1)[-1]


def record_arn(region: str, account: str, cluster: str, service: str, dep_id: str) -> str:
    return (
        f"arn:aws:ecs:{region}:{account}:service-deployment/{cluster}/{service}/"
        f"{arn_number(dep_id)}"
    )


def revision_arn(region: str, account: str, cluster: str, service: str, dep_id: str) -> str:
    return (
        f"arn:aws:ecs:{region}:{account}:service-revision/{cluster}/{service}/{arn_number(dep_id)}"
    )


@dataclass
class Revision:
    """A service revision: the task definition and environment one deployment runs."""

    arn: str
    service_arn: str
    cluster_arn: str
    task_definition: str
    load_balancers: list[dict[str, Any]]
    network_configuration: dict[str, Any] | None
    images: list[dict[str, str]]
    created_at: datetime = field(default_factory=_now)

    def as_api(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "serviceRevisionArn": self.arn,
            "serviceArn": self.service_arn,
            "clusterArn": self.cluster_arn,
            "taskDefinition": self.task_definition,
            "launchType": "FARGATE",
            "platformVersion": "1.4.0",
            "platformFamily": "Linux",
            "loadBalancers": [
                _clean(
                    {
                        "targetGroupArn": lb.get("targetGroupArn"),
                        "productionListenerRule": (lb.get("advancedConfiguration") or {}).get(
                            "productionListenerRule"
                        ),
                    }
                )
                for lb in self.load_balancers
            ],
            "containerImages": self.images,
            "createdAt": _epoch(self.created_at),
        }
        if self.network_configuration:
            item["networkConfiguration"] = self.network_configuration
        return item


@dataclass
class Record:
    """One service deployment, as DescribeServiceDeployments shows it. The driver writes
    it (under the book's lock); the API reads it and records requests."""

    arn: str
    service_arn: str
    cluster_arn: str
    cluster: str
    service: str
    account: str
    region: str
    target: dict[str, Any]
    deployment_configuration: dict[str, Any]
    sources: list[dict[str, Any]] = field(default_factory=list)
    status: str = PENDING
    status_reason: str = ""
    lifecycle_stage: str | None = None
    created_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None
    updated_at: datetime = field(default_factory=_now)
    finished_at: datetime | None = None
    stopped_at: datetime | None = None
    hooks: list[dict[str, Any]] = field(default_factory=list)
    rollback: dict[str, Any] | None = None
    circuit_breaker: dict[str, Any] | None = None
    alarms: dict[str, Any] | None = None
    # What the API asked and the driver has not acted on yet: ("ROLLBACK" | "ABORT", why).
    request: tuple[str, str] | None = None

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def set(self, status: str, reason: str | None = None) -> None:
        """Move to ``status`` (timestamps as ECS keeps them)."""
        now = _now()
        self.status = status
        if reason is not None:
            self.status_reason = reason
        if status == IN_PROGRESS and self.started_at is None:
            self.started_at = now
        if status in ENDED and self.finished_at is None:
            self.finished_at = now
        if status == STOPPED and self.stopped_at is None:
            self.stopped_at = now
        self.updated_at = now

    def brief(self) -> dict[str, Any]:
        return _clean(
            {
                "serviceDeploymentArn": self.arn,
                "serviceArn": self.service_arn,
                "clusterArn": self.cluster_arn,
                "createdAt": _epoch(self.created_at),
                "startedAt": _epoch(self.started_at),
                "finishedAt": _epoch(self.finished_at),
                "targetServiceRevisionArn": self.target["arn"],
                "status": self.status,
                "statusReason": self.status_reason or None,
            }
        )

    def as_api(self) -> dict[str, Any]:
        hooks = [_clean({**h, "expiresAt": _epoch(h.get("expiresAt"))}) for h in self.hooks]
        return _clean(
            {
                "serviceDeploymentArn": self.arn,
                "serviceArn": self.service_arn,
                "clusterArn": self.cluster_arn,
                "createdAt": _epoch(self.created_at),
                "startedAt": _epoch(self.started_at),
                "finishedAt": _epoch(self.finished_at),
                "stoppedAt": _epoch(self.stopped_at),
                "updatedAt": _epoch(self.updated_at),
                "sourceServiceRevisions": [dict(s) for s in self.sources],
                "targetServiceRevision": dict(self.target),
                "status": self.status,
                "statusReason": self.status_reason or None,
                "lifecycleStage": self.lifecycle_stage,
                "lifecycleHookDetails": hooks or None,
                "deploymentConfiguration": self.deployment_configuration or None,
                "rollback": (
                    {**self.rollback, "startedAt": _epoch(self.rollback.get("startedAt"))}
                    if self.rollback
                    else None
                ),
                "deploymentCircuitBreaker": self.circuit_breaker,
                "alarms": self.alarms,
            }
        )


def _clean(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None}


def _name(value: str) -> str:
    return value.rsplit("/", 1)[-1]


def _parse_arn(arn: Any, kind: str) -> re.Match[str]:
    m = _ARN.match(arn) if isinstance(arn, str) else None
    if m is None or m["kind"] != kind:
        raise ApiError("InvalidParameterException", f"Invalid {kind} ARN: {arn!r}")
    return m


class DeploymentBook:
    """Every record and revision of the sandbox, by ARN; one lock for the driver's writes
    and the API's reads."""

    def __init__(self, clusters: Callable[[str, str], Any] | None = None) -> None:
        self.lock = threading.RLock()
        self.records: dict[str, Record] = {}
        self.revisions: dict[str, Revision] = {}
        # (account, region) -> moto's ECS backend (to tell a missing cluster from a
        # missing service, as ECS does).
        self._backend = clusters

    # -- the driver's side -------------------------------------------------------------------

    def add_revision(self, revision: Revision) -> Revision:
        with self.lock:
            self.revisions.setdefault(revision.arn, revision)
            return self.revisions[revision.arn]

    def add_record(self, record: Record) -> Record:
        with self.lock:
            self.records[record.arn] = record
            return record

    # -- the API -------------------------------------------------------------------------

    def list(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        """ListServiceDeployments."""
        service = params.get("service")
        if not isinstance(service, str) or not service:
            raise ApiError("InvalidParameterException", "service can not be blank.")
        cluster = _name(str(params.get("cluster") or "default"))
        self._check_service(account, region, cluster, _name(service))
        statuses = params.get("status") or []
        window = params.get("createdAt") or {}
        after, before = window.get("after"), window.get("before")
        try:
            limit = int(params.get("maxResults") or 20)
            start = int(params.get("nextToken") or 0)
        except (TypeError, ValueError):
            raise ApiError("InvalidParameterException", "Invalid nextToken.") from None
        if not 1 <= limit <= 100:
            raise ApiError("InvalidParameterException", "maxResults must be between 1 and 100.")
        with self.lock:
            found = [
                r
                for r in self.records.values()
                if r.account == account
                and r.region == region
                and r.cluster == cluster
                and r.service == _name(service)
                and (not statuses or r.status in statuses)
                and (after is None or r.created_at.timestamp() >= float(after))
                and (before is None or r.created_at.timestamp() <= float(before))
            ]
            found.sort(key=lambda r: r.created_at, reverse=True)
            page = [r.brief() for r in found[start : start + limit]]
        out: dict[str, Any] = {"serviceDeployments": page}
        if start + limit < len(found):
            out["nextToken"] = str(start + limit)
        return out

    def describe(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        """DescribeServiceDeployments."""
        return self._describe(
            account, params.get("serviceDeploymentArns"), "service-deployment", "serviceDeployments"
        )

    def describe_revisions(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        """DescribeServiceRevisions."""
        return self._describe(
            account, params.get("serviceRevisionArns"), "service-revision", "serviceRevisions"
        )

    def _describe(self, account: str, arns: Any, kind: str, key: str) -> dict[str, Any]:
        if not isinstance(arns, list) or not arns:
            raise ApiError("InvalidParameterException", f"{key[:-1]} ARNs can not be empty.")
        if len(arns) > 20:
            raise ApiError("InvalidParameterException", "At most 20 ARNs can be described at once.")
        found, failures = [], []
        with self.lock:
            store: dict[str, Any] = self.records if kind == "service-deployment" else self.revisions
            for arn in arns:
                m = _parse_arn(arn, kind)
                item = store.get(arn) if m["account"] == account else None
                if item is None:
                    failures.append({"arn": arn, "reason": "MISSING"})
                else:
                    found.append(item.as_api())
        return {key: found, "failures": failures}

    def answer_hook(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        """ContinueServiceDeployment: the answer to a PAUSE hook awaiting action."""
        record = self._record(account, params.get("serviceDeploymentArn"))
        action = params.get("action") or "CONTINUE"
        if action not in ("CONTINUE", "ROLLBACK"):
            raise ApiError(
                "InvalidParameterException", f"action must be CONTINUE or ROLLBACK, not {action!r}."
            )
        hook_id = params.get("hookId")
        with self.lock:
            awaiting = [h for h in record.hooks if h["status"] == AWAITING_ACTION]
            if record.ended or record.status != IN_PROGRESS or not awaiting:
                raise ApiError(
                    "InvalidParameterException",
                    f"The service deployment {record.arn} has no lifecycle hook awaiting "
                    f"action (status {record.status}).",
                )
            hook = next((h for h in awaiting if h["hookId"] == hook_id), None)
            if hook is None:
                raise ApiError(
                    "InvalidParameterException",
                    f"The lifecycle hook {hook_id!r} of {record.arn} is not awaiting action.",
                )
            if action == "CONTINUE":
                hook["status"] = SUCCEEDED
            else:
                hook["status"] = FAILED
                record.request = (
                    "ROLLBACK",
                    f"ContinueServiceDeployment answered ROLLBACK to lifecycle hook {hook_id}.",
                )
                record.set(ROLLBACK_REQUESTED)
            record.updated_at = _now()
        return {"serviceDeploymentArn": record.arn}

    def stop(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        """StopServiceDeployment."""
        record = self._record(account, params.get("serviceDeploymentArn"))
        stop_type = params.get("stopType") or "ROLLBACK"
        if stop_type not in ("ROLLBACK", "ABORT"):
            raise ApiError(
                "InvalidParameterException",
                f"stopType must be ROLLBACK or ABORT, not {stop_type!r}.",
            )
        with self.lock:
            if record.status in NOT_STOPPABLE:
                raise ApiError(
                    "ConflictException",
                    f"The service deployment {record.arn} cannot be stopped: its status is "
                    f"{record.status}.",
                )
            record.request = (stop_type, f"stopped by StopServiceDeployment ({stop_type})")
            record.set(ROLLBACK_REQUESTED if stop_type == "ROLLBACK" else STOP_REQUESTED)
        return {"serviceDeploymentArn": record.arn}

    def _record(self, account: str, arn: Any) -> Record:
        m = _parse_arn(arn, "service-deployment")
        with self.lock:
            record = self.records.get(arn) if m["account"] == account else None
        if record is None:
            raise ApiError(
                "ServiceDeploymentNotFoundException",
                f"The service deployment {arn} does not exist.",
            )
        return record

    def _check_service(self, account: str, region: str, cluster: str, service: str) -> None:
        if self._backend is None:
            return
        backend = self._backend(account, region)
        if cluster not in backend.clusters:
            raise ApiError("ClusterNotFoundException", "Cluster not found.")
        svc = backend.services.get(f"{cluster}:{service}")
        if svc is None or svc.status != "ACTIVE":
            raise ApiError("ServiceNotFoundException", "Service not found.")


def moto_ecs(account: str, region: str) -> Any:
    from moto.ecs.models import ecs_backends

    return ecs_backends[account][region]


def caller_account(environ: dict[str, Any]) -> tuple[str, str]:
    """(account, region) of a signed request, as moto tells accounts apart."""
    from moto.iam.models import get_account_id_from

    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = re.search(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/", auth)
    if not m:
        from moto.core import DEFAULT_ACCOUNT_ID

        return DEFAULT_ACCOUNT_ID, "us-east-1"
    return get_account_id_from(m[1]), m[2]


class DeploymentsApi:
    """WSGI middleware: the service-deployment actions of ECS; the rest goes on to moto."""

    def __init__(self, app: Callable[..., Any], book: DeploymentBook) -> None:
        self.app = app
        self.book = book

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        action = target[len(_ECS_TARGET) :] if target.startswith(_ECS_TARGET) else ""
        if action not in ACTIONS:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            params = json.loads(body or b"{}")
            if not isinstance(params, dict):
                raise ValueError("not an object")
        except ValueError:
            return _reply(start_response, 400, _error("SerializationException", "bad JSON body"))
        account, region = caller_account(environ)
        try:
            result = self.call(action, account, region, params)
        except ApiError as exc:
            return _reply(start_response, 400, _error(exc.code, exc.message))
        return _reply(start_response, 200, result)

    def call(self, action: str, account: str, region: str, params: dict[str, Any]) -> Any:
        if action == "ListServiceDeployments":
            return self.book.list(account, region, params)
        if action == "DescribeServiceDeployments":
            return self.book.describe(account, params)
        if action == "DescribeServiceRevisions":
            return self.book.describe_revisions(account, params)
        if action == "ContinueServiceDeployment":
            return self.book.answer_hook(account, params)
        return self.book.stop(account, params)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"__type": code, "message": message}


def _reply(start_response: Callable[..., Any], status: int, data: Any) -> Iterable[bytes]:
    body = json.dumps(data).encode()
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))]
    if status != 200:
        headers.append(("x-amzn-ErrorType", data["__type"]))
    start_response(f"{status} {'OK' if status == 200 else 'Bad Request'}", headers)
    return [body]


def keep_create_service_deployment_configuration() -> None:
    """moto 5.2.5's CreateService drops ``deploymentConfiguration`` (UpdateService keeps
    it): keep it, as ECS does. Idempotent."""
    from moto.ecs.responses import EC2ContainerServiceResponse

    if getattr(EC2ContainerServiceResponse.create_service, "_cosydeploy_sandbox", False):
        return
    original = EC2ContainerServiceResponse.create_service

    def create_service(self):
        result = original(self)
        config = self._get_param("deploymentConfiguration")
        service = getattr(result, "result", {}).get("service")
        if config and service is not None:
            service.deployment_configuration = config
        return result

    create_service._cosydeploy_sandbox = True  # type: ignore[attr-defined]
    EC2ContainerServiceResponse.create_service = create_service  # type: ignore[method-assign]


def rule_weights(actions: list[dict[str, Any]]) -> dict[str, int]:
    """A listener rule's forward weights by target group ARN (a plain forward: 1)."""
    weights: dict[str, int] = {}
    for action in actions:
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        for g in groups:
            weights[g["TargetGroupArn"]] = int(g.get("Weight", 1))
        if not groups and action.get("TargetGroupArn"):
            weights[action["TargetGroupArn"]] = 1
    return weights


def forward_actions(actions: list[dict[str, Any]], weights: dict[str, int]) -> list[dict[str, Any]]:
    """The rule's actions with its forward action sending ``weights`` (by target group)."""
    out = []
    for action in actions:
        if action.get("Type") != "forward":
            out.append(action)
            continue
        config = dict(action.get("ForwardConfig") or {})
        config["TargetGroups"] = [
            {"TargetGroupArn": arn, "Weight": int(w)} for arn, w in weights.items()
        ]
        new = {k: v for k, v in action.items() if k not in ("TargetGroupArn", "ForwardConfig")}
        new["ForwardConfig"] = config
        out.append(new)
    return out


__all__ = [
    "ApiError",
    "DeploymentBook",
    "DeploymentsApi",
    "Record",
    "Revision",
    "keep_create_service_deployment_configuration",
    "sandbox_minute",
]
