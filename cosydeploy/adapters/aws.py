"""boto3 sessions per client/env: profile, role assumption, retries, the account guard.

Every AWS call honours the standard ``AWS_ENDPOINT_URL`` (the sandbox sets it).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cosydeploy.errors import (
    AccessDeniedError,
    AccountMismatchError,
    AwsError,
    AwsFaultError,
    CosydeployError,
)

# AWS's names for "slow down" (the codes botocore's own retry logic treats as throttles).
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "SlowDown",
    "BandwidthLimitExceeded",
}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "NotAuthorized",
}


def throttle_code(exc: BaseException) -> str:
    """The error code when ``exc`` is AWS saying "slow down" (after the SDK's retries),
    else an empty string."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    code = str((response.get("Error") or {}).get("Code", ""))
    return code if code in _THROTTLED else ""


def aws_fault(exc: BaseException, what: str) -> CosydeployError:
    """One failed AWS call (``what``: e.g. "ECS describe_services") as the error the user
    sees: which call, which fault, what to do. A CosydeployError is returned as it is."""
    import botocore.exceptions as bexc

    if isinstance(exc, CosydeployError):
        return exc
    if isinstance(exc, bexc.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        text = f"{what}: {code}: {err.get('Message', '')}".rstrip(": ")
        if code in _EXPIRED:
            return AwsFaultError(
                f"{what}: the AWS credentials expired ({code})",
                hint="refresh them (aws sso login, or a new CI token) and run again",
                fault="expired",
            )
        if code in _DENIED:
            return AwsFaultError(
                text, hint="the role lacks a permission: check its policy", fault="denied"
            )
        if code in _THROTTLED:
            return AwsFaultError(
                f"{what}: throttled by AWS ({code}), still after the retries",
                hint="run again in a minute (AWS_MAX_ATTEMPTS raises the retries)",
                fault="throttled",
            )
        if status >= 500:
            return AwsFaultError(
                f"{what}: AWS failed (HTTP {status} {code})",
                hint="an AWS outage: run again later",
                fault="5xx",
            )
        return AwsFaultError(text, fault="error")
    if isinstance(exc, bexc.NoCredentialsError):
        return AwsFaultError(
            f"{what}: no AWS credentials", hint="run aws configure or aws sso login", fault="denied"
        )
    if isinstance(exc, bexc.BotoCoreError):
        return AwsFaultError(
            f"{what}: AWS unreachable ({exc})",
            hint="check the network (and AWS_ENDPOINT_URL), then run again",
            fault="unreachable",
        )
    return AwsFaultError(f"{what}: unexpected {type(exc).__name__}: {exc}", fault="error")


_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
# AWS's words: "User: arn:aws:sts::1:assumed-role/ROLE/SESSION is not authorized to perform:
# ACTION on resource: ARN because ..." (some services leave out the resource).
_DENIED_TEXT = re.compile(
    r"(?:User: )?(?P<who>arn:\S+) is not authorized to perform: (?P<action>\S+)"
    r"(?: on resource: (?P<resource>\S+))?"
)


def botocore_config() -> Any:
    """THE botocore config of every client: retries in ``adaptive`` mode (standard
    retries plus a client-side rate limiter that slows a client down after AWS throttles
    it), 7 attempts in all. The SDKs' own variables change them (``AWS_RETRY_MODE``,
    ``AWS_MAX_ATTEMPTS``); a retry mode or attempt count in ``~/.aws/config`` does not,
    since this config is passed to every client and botocore lets it win."""
    from botocore.config import Config

    mode = os.environ.get("AWS_RETRY_MODE", "adaptive")
    if mode not in {"standard", "adaptive", "legacy"}:
        mode = "adaptive"
    attempts = os.environ.get("AWS_MAX_ATTEMPTS", "")
    retries: Any = {"mode": mode, "total_max_attempts": int(attempts) if attempts.isdigit() else 7}
    return Config(retries=retries, connect_timeout=5, read_timeout=30)


# The AWS APIs whose reads a release paces (``AwsSession.pace_reads``): ECS and ELB, the
# ones a fleet's rollouts read again and again, each throttled per account and region.
_PACED = ("ecs", "elbv2")
_READ_PREFIXES = ("Describe", "List", "Get")
# The error codes ECS and ELB refuse a call with for its rate (botocore retries them).
_THROTTLE_CODES = frozenset(
    {"ThrottlingException", "Throttling", "RequestLimitExceeded", "TooManyRequestsException"}
)
_paced = threading.local()


def read_paced() -> None:
    """The next ECS or ELB call of this thread has had its token already (the poller,
    a bake and a traffic shift take theirs before they call): it takes none."""
    _paced.credit = True


@dataclass
class AwsSession:
    """One client/env's AWS identity: a boto3 session plus cached clients. Once
    ``pace_reads`` is given a taker, every ECS and ELB read of its clients waits for it."""

    session: Any
    region: str
    account_id: str | None = None
    # The lock and ledger tables live in the account's bootstrap region (state.region).
    tables_region: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)
    # One session serves every client/env of its identity, from many worker threads: a
    # service's client is made once, not once per thread that asked first.
    _making: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _pace: Callable[[], Any] | None = field(default=None, repr=False, compare=False)
    _throttled: Callable[[], Any] | None = field(default=None, repr=False, compare=False)

    def pace_reads(
        self, take: Callable[[], Any] | None, throttled: Callable[[], Any] | None = None
    ) -> None:
        """From now on every ECS and ELB read (``Describe*``, ``List*``, ``Get*``) of
        this session's clients first calls ``take`` (a token bucket's: the account and
        region's read pace), and every attempt of their calls that AWS refuses for its
        rate calls ``throttled`` (the SDK retries it, unseen otherwise); None stops it."""
        self._pace = take
        self._throttled = throttled

    def _after_attempt(self, response: Any = None, **_: Any) -> None:
        """botocore needs-retry hook of the ECS and ELB clients (after every attempt):
        an attempt refused for the account's rate is counted. Decides nothing."""
        note = self._throttled
        if note is None or not response:
            return
        code = (response[1] or {}).get("Error", {}).get("Code", "")
        if code in _THROTTLE_CODES:
            note()

    def _before_call(self, model: Any = None, **_: Any) -> None:
        """botocore before-call hook of the ECS and ELB clients (once per call, not per
        retry): a read waits for the session's pace, unless its caller paced it."""
        credit = getattr(_paced, "credit", False)
        _paced.credit = False
        take = self._pace
        if credit or take is None or not getattr(model, "name", "").startswith(_READ_PREFIXES):
            return
        take()

    def client(self, service: str) -> Any:
        if service in self._clients:
            return self._clients[service]
        with self._making:
            if service not in self._clients:
                region = self.region
                if service == "dynamodb" and self.tables_region:
                    region = self.tables_region
                made = self.session.client(service, region_name=region, config=botocore_config())
                if service in _PACED:
                    made.meta.events.register_first("before-call.*.*", self._before_call)
                    made.meta.events.register_first("needs-retry.*.*", self._after_attempt)
                self._clients[service] = made
        return self._clients[service]


_loader_lock = threading.Lock()
_shared: dict[str, Any] = {}
# The loader's methods that read and parse a file the first time and cache what they
# parsed (botocore's ``instance_cache``).
_LOADING = (
    "list_available_services",
    "determine_latest_version",
    "list_api_versions",
    "load_service_model",
    "load_data_with_path",
)


def _one_parse_loader() -> Any:
    """botocore's data loader, each first load under a lock. Its cache has none: 50
    release threads making their first EC2 client at once each parsed EC2's model (about
    14 MB of Python objects each), which made a fleet release's peak memory depend on
    how many threads raced."""
    import botocore.loaders

    loader = botocore.loaders.create_loader(os.environ.get("AWS_DATA_PATH"))
    lock = threading.RLock()  # a load calls the others (a model: versions, then data)
    for name in _LOADING:
        unlocked = getattr(loader, name)

        def locked(*args: Any, _load: Any = unlocked, **kwargs: Any) -> Any:
            with lock:
                return _load(*args, **kwargs)

        setattr(loader, name, locked)
    return loader


def _boto3_session(**kwargs: Any) -> Any:
    """A boto3 Session whose botocore session shares ONE data loader with every other:
    service models are read and parsed once per process, not once per client/env
    (about 0.1 s of CPU per session and service otherwise), nor once per thread."""
    import boto3
    import botocore.session

    with _loader_lock:
        if "loader" not in _shared:
            _shared["loader"] = _one_parse_loader()
    core = botocore.session.Session(profile=kwargs.pop("profile_name", None))
    core.register_component("data_loader", _shared["loader"])
    return _translating(boto3.Session(botocore_session=core, **kwargs))


def denied_line(message: str, operation: str) -> str:
    """One line for an AccessDenied answer: the action, the role and the resource."""
    m = _DENIED_TEXT.search(message)
    if m is None:
        return f"AWS denied {operation}: {message}"
    who = m["who"]
    if ":assumed-role/" in who:
        who = "role " + who.split(":assumed-role/", 1)[1].split("/", 1)[0]
    resource = m["resource"] or "*"
    return f"AWS denied {m['action']} on {resource} to {who}"


def _raise_access_denied(parsed: Any = None, model: Any = None, **_: Any) -> None:
    """botocore after-call hook: an AccessDenied answer becomes one error line (exit 2)."""
    error = (parsed or {}).get("Error") or {}
    if error.get("Code") not in _DENIED_CODES:
        return
    operation = getattr(model, "name", "the call")
    raise AccessDeniedError(
        denied_line(str(error.get("Message", "")), operation),
        hint="allow it in the role's policy (terraform/policies, then apply the bootstrap "
        "stack), or run with credentials that have it",
    )


def _translating(session: Any) -> Any:
    session.events.register("after-call", _raise_access_denied)
    return session


def open_session(
    region: str,
    *,
    profile: str | None = None,
    role_arn: str | None = None,
    session_name: str = "cosydeploy",
) -> AwsSession:
    """A session for one client/env, assuming the manifest's role when it names one."""
    import botocore.exceptions as bexc

    try:
        base = _boto3_session(profile_name=profile, region_name=region)
    except bexc.ProfileNotFound:
        raise AwsError(
            f"AWS profile {profile!r} not found",
            hint="check ~/.aws/config or remove aws.profile from the manifest",
        ) from None
    if not role_arn:
        return AwsSession(base, region)
    sts = base.client("sts", region_name=region, config=botocore_config())
    try:
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])["Credentials"]
    except bexc.NoCredentialsError:
        raise AwsError(
            "no AWS credentials to assume the client's role",
            hint="run aws configure / aws sso login, or use --sandbox",
        ) from None
    except bexc.ClientError as exc:
        raise AwsError(
            f"cannot assume role {role_arn}: {exc.response['Error'].get('Message', exc)}",
            hint="check the role's trust policy allows your identity",
        ) from None
    assumed = _boto3_session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )
    return AwsSession(assumed, region)


def caller_account(aws: AwsSession) -> str:
    import botocore.exceptions as bexc

    try:
        return str(aws.client("sts").get_caller_identity()["Account"])
    except bexc.NoCredentialsError:
        raise AwsError(
            "no AWS credentials found",
            hint="run aws configure (or aws sso login), or try the sandbox: cosydeploy --sandbox ...",
        ) from None
    except bexc.EndpointConnectionError as exc:
        raise AwsError(
            f"cannot reach AWS at {exc.kwargs.get('endpoint_url', '?')}",
            hint="is the sandbox running? cosydeploy sandbox status",
        ) from None
    except (bexc.ClientError, bexc.BotoCoreError) as exc:
        fault = aws_fault(exc, "STS get_caller_identity")
        if getattr(fault, "fault", "") == "error":  # an answer that is none of the known faults
            fault.hint = fault.hint or "refresh your credentials"
        raise fault from None


def guard_account(aws: AwsSession, expected: str, source: str, *, known: str | None = None) -> None:
    """Refuse to touch anything unless the caller's account is the manifest's (exit 2).
    ``known``: the account these credentials were already found to be (no STS call)."""
    actual = known or caller_account(aws)
    aws.account_id = actual
    if actual != expected:
        raise AccountMismatchError(
            f"{source}: aws.account_id: the manifest says {expected} but the credentials are for {actual}",
            hint="use credentials (or aws.role_arn) for the client's account",
        )
