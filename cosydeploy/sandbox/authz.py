"""Identity policies enforced in the sandbox, as AWS enforces them for an assumed role.

moto checks identity policies only for some services and only against the resource
``*``. This WSGI layer, in front of the in-process moto server, decides each request
signed with an assumed role's credentials itself: it names the request's IAM action and
resource (and the ``iam:PassRole`` a task definition implies), evaluates them against
the role's policies in moto's IAM (inline and attached) with :mod:`.iam`, and answers
AccessDenied in the service's own error format when no statement allows them. Requests
signed with any other key (the sandbox's own, a user's) pass as before.

What is decided here: the request's action, resource ARN (the services and actions a
release, rollback, status or onboard makes, with its notifications and Redis snapshot;
the ELB actions ECS takes with a service's infrastructure role on their rule, listener
or target group; others are judged against ``*``), and
``iam:PassedToService`` for the roles a task definition names. Not modelled: resource
policies, permission boundaries, SCPs, session policies, KMS grants.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cosydeploy.sandbox.iam import Call, evaluate, inline_quota_error

log = logging.getLogger("cosydeploy.sandbox.authz")

# IAM actions that need no permission (AWS answers them for any valid credentials).
_ALWAYS = {"sts:GetCallerIdentity"}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")


@dataclass(frozen=True)
class Caller:
    """An assumed role's session, as moto's STS recorded it."""

    role_arn: str
    session_arn: str
    account_id: str

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[1]


@dataclass(frozen=True)
class Request:
    """One signed request as IAM sees it: service, action, region, parameters."""

    service: str
    action: str
    region: str
    method: str
    path: str
    params: dict[str, Any]


def find_caller(access_key: str) -> Caller | None:
    """The assumed role whose session this access key belongs to (None: not a role's)."""
    from moto.sts.models import sts_backends

    for account_id, partitions in list(sts_backends.items()):
        for backend in list(partitions.values()):
            for assumed in list(backend.assumed_roles):
                if assumed.access_key_id == access_key:
                    return Caller(assumed.role_arn, assumed.arn, account_id)
    return None


def role_policies(caller: Caller) -> list[str] | None:
    """The role's identity policy documents in moto's IAM: inline, then attached. None
    when the role was never created there (moto lets a caller assume any role ARN): the
    sandbox judges only the roles it was given, as the bootstrap stack would make them."""
    from moto.iam.models import iam_backends

    account = caller.role_arn.split(":")[4] if caller.role_arn.count(":") >= 5 else ""
    try:
        role = iam_backends[account or caller.account_id]["aws"].get_role_by_arn(caller.role_arn)
    except Exception:  # no such role in that account's IAM
        return None
    docs = [urllib.parse.unquote(d) if d.startswith("%7B") else d for d in role.policies.values()]
    for policy in role.managed_policies.values():
        for version in policy.versions:
            if version.is_default:
                docs.append(urllib.parse.unquote(version.document))
    return docs


# ------------------------------------------------------------------ requests -> calls


def _arn(service: str, region: str, account: str, rest: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{rest}"


def _name(value: str) -> str:
    """A resource given by name or by ARN, as its name."""
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def _ecs_calls(req: Request, account: str) -> list[Call]:
    p, action, region = req.params, f"ecs:{req.action}", req.region
    cluster = _name(str(p.get("cluster") or "default"))
    if req.action in {"UpdateService", "DeleteService"}:
        service = _name(str(p.get("service", "")))
        return [Call(action, _arn("ecs", region, account, f"service/{cluster}/{service}"))]
    if req.action == "DescribeServices":
        return [
            Call(action, _arn("ecs", region, account, f"service/{cluster}/{_name(str(s))}"))
            for s in p.get("services", [])
        ]
    if req.action in {"ListServiceDeployments"}:
        service = _name(str(p.get("service", "")))
        return [Call(action, _arn("ecs", region, account, f"service/{cluster}/{service}"))]
    # On the deployment's or the revision's own ARN, as the service authorization
    # reference has them (service-deployment/CLUSTER/SERVICE/ID, service-revision/...).
    if req.action in {"ContinueServiceDeployment", "StopServiceDeployment"}:
        return [Call(action, str(p.get("serviceDeploymentArn") or "*"))]
    if req.action == "DescribeServiceDeployments":
        return [Call(action, str(a)) for a in p.get("serviceDeploymentArns") or ["*"]]
    if req.action == "DescribeServiceRevisions":
        return [Call(action, str(a)) for a in p.get("serviceRevisionArns") or ["*"]]
    calls = [Call(action, "*")]
    if req.action == "RegisterTaskDefinition":
        for key in ("taskRoleArn", "executionRoleArn"):
            if p.get(key):
                calls.append(
                    Call(
                        "iam:PassRole",
                        str(p[key]),
                        {"iam:PassedToService": "ecs-tasks.amazonaws.com"},
                    )
                )
    return calls


def _s3_calls(req: Request, account: str) -> list[Call]:
    bucket, _, key = req.path.lstrip("/").partition("/")
    key = urllib.parse.unquote(key)
    query = req.params
    if not bucket:
        return [Call("s3:ListAllMyBuckets", "*")]
    if key:
        verb = {"GET": "GetObject", "HEAD": "GetObject", "PUT": "PutObject"}.get(
            req.method, "DeleteObject" if req.method == "DELETE" else "PutObject"
        )
        return [Call(f"s3:{verb}", f"arn:aws:s3:::{bucket}/{key}")]
    if req.method in {"GET", "HEAD"} and not set(query) - {"list-type", "prefix", "max-keys"}:
        return [Call("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
    if req.method == "GET" and "versioning" in query:
        return [Call("s3:GetBucketVersioning", f"arn:aws:s3:::{bucket}")]
    verb = "CreateBucket" if req.method == "PUT" and not query else f"{req.method.title()}Bucket"
    return [Call(f"s3:{verb}", f"arn:aws:s3:::{bucket}")]


# The ELB actions ECS takes with a service's infrastructure role, by the parameter naming
# the resource they act on (the describe actions are authorized on ``*``, as in AWS).
_ELB_RESOURCE = {
    "ModifyRule": "RuleArn",
    "ModifyListener": "ListenerArn",
    "RegisterTargets": "TargetGroupArn",
    "DeregisterTargets": "TargetGroupArn",
}


def calls_for(req: Request, account: str) -> list[Call]:
    """The IAM calls AWS authorizes for one request (resource ``*`` when not modelled)."""
    s, p, region = req.service, req.params, req.region
    if s == "monitoring":  # CloudWatch signs as "monitoring"; IAM calls it "cloudwatch"
        names = p.get("AlarmNames") if req.action == "DescribeAlarms" else None
        action = f"cloudwatch:{req.action}"
        if names:
            return [Call(action, _arn("cloudwatch", region, account, f"alarm:{n}")) for n in names]
        return [Call(action, "*")]
    if s == "ecs":
        return _ecs_calls(req, account)
    if s == "s3":
        return _s3_calls(req, account)
    action = f"{s}:{req.action}"
    if s == "elasticloadbalancing" and req.action in _ELB_RESOURCE:
        arn = p.get(_ELB_RESOURCE[req.action])
        return [Call(action, str(arn) if arn else "*")]
    if s == "sns" and p.get("TopicArn"):
        return [Call(action, str(p["TopicArn"]))]
    if s == "elasticache" and (p.get("ReplicationGroupId") or p.get("SnapshotName")):
        calls = []
        if p.get("ReplicationGroupId"):
            group = str(p["ReplicationGroupId"])
            calls.append(Call(action, _arn(s, region, account, f"replicationgroup:{group}")))
        if p.get("SnapshotName"):
            snapshot = str(p["SnapshotName"]).lower()  # ElastiCache keeps names lowercase
            calls.append(Call(action, _arn(s, region, account, f"snapshot:{snapshot}")))
        return calls
    if s == "elasticloadbalancing":
        # What ECS's infrastructure role does to a load balancer, on the resource's ARN
        # (AWS's managed policy for it grants these on listener-rule/app/... and the like).
        key = {
            "ModifyRule": "RuleArn",
            "ModifyListener": "ListenerArn",
            "RegisterTargets": "TargetGroupArn",
            "DeregisterTargets": "TargetGroupArn",
        }.get(req.action)
        if key and p.get(key):
            return [Call(action, str(p[key]))]
        return [Call(action, "*")]
    if s == "dynamodb" and p.get("TableName"):
        return [Call(action, _arn(s, region, account, f"table/{p['TableName']}"))]
    if s == "dynamodb" and isinstance(p.get("RequestItems"), dict):  # BatchGetItem and the like
        return [Call(action, _arn(s, region, account, f"table/{t}")) for t in p["RequestItems"]]
    if s == "logs" and p.get("logGroupName"):
        return [Call(action, _arn(s, region, account, f"log-group:{p['logGroupName']}:*"))]
    if s == "ecr" and p.get("repositoryName"):
        return [Call(action, _arn(s, region, account, f"repository/{p['repositoryName']}"))]
    if s == "secretsmanager" and p.get("SecretId"):
        secret = str(p["SecretId"])
        if not secret.startswith("arn:"):
            secret = _arn(s, region, account, f"secret:{secret}-*")
        return [Call(action, secret)]
    if s == "ssm" and (p.get("Name") or p.get("Names")):
        names = p.get("Names") or [p["Name"]]
        return [
            Call(action, _arn(s, region, account, f"parameter/{str(n).lstrip('/')}")) for n in names
        ]
    return [Call(action, "*")]


def parse_request(environ: dict[str, Any], body: bytes) -> tuple[str, Request] | None:
    """(access key, request) of a SigV4-signed request, or None when it is not signed."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return None
    access_key, region, service = match.groups()
    method = environ.get("REQUEST_METHOD", "GET")
    path = urllib.parse.unquote(environ.get("PATH_INFO", "/"))
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    params: dict[str, Any] = {k: v[0] for k, v in query.items()}
    action = ""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:  # JSON protocols: ECS, DynamoDB, Logs, ECR, Secrets Manager, SSM
        action = target.rsplit(".", 1)[-1]
        with contextlib.suppress(ValueError):
            params.update(json.loads(body or b"{}"))
    elif service != "s3":  # query protocols: EC2, ELB, STS, IAM
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: v[0] for k, v in form.items()})
        action = str(params.get("Action", ""))
    return access_key, Request(service, action, region, method, path, params)


# ------------------------------------------------------------------ the middleware


def _denied(req: Request, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    if req.service == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
            f"<Message>{message}</Message></Error>"
        )
        return "403 Forbidden", [("Content-Type", "application/xml")], body.encode()
    if req.service == "ec2":
        body = (
            "<Response><Errors><Error><Code>UnauthorizedOperation</Code>"
            f"<Message>You are not authorized to perform this operation. {message}</Message>"
            "</Error></Errors><RequestID>sandbox</RequestID></Response>"
        )
        return "403 Forbidden", [("Content-Type", "text/xml")], body.encode()
    if req.service in {"elasticloadbalancing", "sts", "iam"}:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
            f"<Message>{message}</Message></Error><RequestId>sandbox</RequestId></ErrorResponse>"
        )
        return "403 Forbidden", [("Content-Type", "text/xml")], body.encode()
    payload = {"__type": "AccessDeniedException", "message": message, "Message": message}
    return (
        "400 Bad Request",
        [("Content-Type", "application/x-amz-json-1.1")],
        json.dumps(payload).encode(),
    )


def _account_of(access_key: str) -> str:
    """The account moto files a request under: a 12-digit access key is one, any other
    key the default account."""
    from moto.core import DEFAULT_ACCOUNT_ID

    return access_key if re.fullmatch(r"\d{12}", access_key) else DEFAULT_ACCOUNT_ID


def account_of(access_key: str) -> str:
    """The account a request signed with this key acts in: an assumed role's, else the
    one moto files the key under."""
    caller = find_caller(access_key)
    return caller.account_id if caller is not None else _account_of(access_key)


def _inline_quota(req: Request, account: str) -> str | None:
    """IAM's size quota on a role's inline policies, for one PutRolePolicy."""
    from moto.iam.models import iam_backends

    role_name = str(req.params.get("RoleName", ""))
    try:
        role = iam_backends[account]["aws"].get_role(role_name)
    except Exception:  # no such role: IAM answers that itself
        return None
    others = {
        name: urllib.parse.unquote(d) if d.startswith("%7B") else d
        for name, d in role.policies.items()
    }
    return inline_quota_error(
        role_name,
        str(req.params.get("PolicyName", "")),
        str(req.params.get("PolicyDocument", "")),
        others,
    )


def _limit_exceeded(message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>LimitExceeded</Code>"
        f"<Message>{message}</Message></Error><RequestId>sandbox</RequestId></ErrorResponse>"
    )
    return "409 Conflict", [("Content-Type", "text/xml")], body.encode()


def decide(caller: Caller, calls: Iterable[Call]) -> str | None:
    """None when the role's policies allow every call; else AWS's AccessDenied message."""
    documents = role_policies(caller)
    if documents is None:
        return None
    for call in calls:
        if call.action in _ALWAYS:
            continue
        if not evaluate(documents, call).allowed:
            return (
                f"User: {caller.session_arn} is not authorized to perform: {call.action} "
                f"on resource: {call.resource} because no identity-based policy allows "
                f"the {call.action} action"
            )
    return None


class RoleAuthorizer:
    """WSGI middleware: requests signed by an assumed role are decided by its policies."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = b""
        if length:  # read once, hand moto a fresh copy (a chunked body is left alone)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        parsed = parse_request(environ, body)
        if parsed is not None:
            access_key, req = parsed
            caller = find_caller(access_key)
            if req.service == "iam" and req.action == "PutRolePolicy":
                account = caller.account_id if caller is not None else _account_of(access_key)
                message = _inline_quota(req, account)
                if message is not None:
                    log.info("sandbox: refused %s", message)
                    status, headers, payload = _limit_exceeded(message)
                    start_response(status, [*headers, ("Content-Length", str(len(payload)))])
                    return [payload]
            if caller is not None and (req.action or req.service == "s3"):
                message = decide(caller, calls_for(req, caller.account_id))
                if message is not None:
                    log.info("sandbox: denied %s", message)
                    status, headers, payload = _denied(req, message)
                    start_response(status, [*headers, ("Content-Length", str(len(payload)))])
                    return [payload]
        return self.app(environ, start_response)


__all__ = [
    "Caller",
    "Request",
    "RoleAuthorizer",
    "account_of",
    "calls_for",
    "decide",
    "find_caller",
]
