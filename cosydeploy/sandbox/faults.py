"""Faults on demand: the sandbox's AWS endpoint (and its registry) fail when told to.

A rule names an API (``ecs``, ``dynamodb``, ``ecr``, ``registry``, ``secretsmanager``,
``sts``, ``elbv2``, ``logs``), a fault, and when it strikes: after ``after`` calls of
that API (optionally of one ``action`` only) have gone through, for ``times`` calls
(0: from then on, for good). With ``rate=N`` it strikes only the calls above N in any
one second (the calls it lets through count, the ones it strikes do not), as AWS's own
rate limits do: ``ecs=throttle,rate=5,action=DescribeServices``. With ``burst=B`` too it
is AWS's token bucket itself: B tokens, refilled at N a second, a call without a token
struck (``ecs=throttle,rate=20,burst=50,action=DescribeServices``). As in AWS, a rate
counts per account and region: each has its own window, its own bucket. Faults:

    unreachable  the connection is closed without an answer (botocore: connection error)
    5xx          HTTP 500 InternalFailure
    throttle     HTTP 400 ThrottlingException
    denied       HTTP 403 AccessDeniedException
    expired      HTTP 400 ExpiredTokenException
    latency      the call is answered ``seconds`` late

Rules come from ``sandbox up --fault API=FAULT[,after=N][,times=N][,action=A]
[,seconds=S][,rate=N[,burst=B]]`` or the admin endpoint of a running sandbox: ``POST
/_sandbox/faults`` (a JSON rule or a list of them), ``GET`` (the rules, with ``seen``:
the calls they matched, ``struck``: the calls they failed, i.e. refused, and
``peak_per_second``: the most calls they matched in any one second in one account and
region), ``DELETE`` (clear).
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from cosydeploy.errors import SandboxError

APIS = ("ecs", "dynamodb", "ecr", "registry", "secretsmanager", "sts", "elbv2", "logs")
FAULTS = ("unreachable", "5xx", "throttle", "denied", "expired", "latency")
ADMIN_PATH = "/_sandbox/faults"

# The SigV4 signing name of each API, as found in the Authorization header's scope.
_SIGNING_NAMES = {"elasticloadbalancing": "elbv2"}
# APIs speaking the query protocol (XML errors); the others speak JSON.
_QUERY_APIS = {"sts", "elbv2"}

_ERRORS = {
    # fault: (status, JSON __type, query Code, message)
    "5xx": (500, "InternalFailure", "InternalFailure", "injected: internal failure"),
    "throttle": (400, "ThrottlingException", "Throttling", "injected: rate exceeded"),
    "denied": (403, "AccessDeniedException", "AccessDenied", "injected: access denied"),
    "expired": (400, "ExpiredTokenException", "ExpiredToken", "injected: the token expired"),
}


@dataclass
class _Scope:
    """A rule's count in one account and region: its last second's calls (``recent``),
    the calls a rate let through in the last second (``passed``), its bucket's tokens."""

    recent: deque[float] = field(default_factory=deque)
    passed: deque[float] = field(default_factory=deque)
    tokens: float = 0.0
    at: float | None = None


@dataclass
class FaultRule:
    """One fault: which API (and action), what, when and how many times."""

    api: str
    fault: str
    after: int = 0
    times: int = 0  # 0: every call from then on
    action: str = ""
    seconds: float = 2.0  # latency only
    rate: int = 0  # > 0: strike only the calls above this many in any one second
    burst: int = 0  # > 0 (with rate): a token bucket of this many, refilled at rate
    seen: int = field(default=0)
    struck: int = field(default=0)
    # the most matching calls in any one second, in one account and region
    peak_per_second: int = field(default=0)
    _scopes: dict[str, _Scope] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.api not in APIS:
            raise SandboxError(f"fault: unknown API {self.api!r}", hint=f"one of {', '.join(APIS)}")
        if self.fault not in FAULTS:
            raise SandboxError(
                f"fault: unknown fault {self.fault!r}", hint=f"one of {', '.join(FAULTS)}"
            )
        if self.rate < 0:
            raise SandboxError(f"fault: rate must be a number of calls a second, not {self.rate}")
        if self.burst < 0 or (self.burst and not self.rate):
            raise SandboxError("fault: burst needs rate (a bucket of burst, refilled at rate)")

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        """``API=FAULT[,after=N][,times=N][,action=A][,seconds=S][,rate=N[,burst=B]]``."""
        head, _, rest = spec.partition(",")
        api, eq, fault = head.partition("=")
        if not eq:
            raise SandboxError(
                f"fault {spec!r}: expected "
                "API=FAULT[,after=N][,times=N][,action=A][,seconds=S][,rate=N[,burst=B]]"
            )
        kwargs: dict[str, Any] = {}
        for part in filter(None, rest.split(",")):
            key, _, value = part.partition("=")
            if key in ("after", "times", "rate", "burst"):
                try:
                    kwargs[key] = int(value)
                except ValueError:
                    raise SandboxError(f"fault {spec!r}: {key} must be a whole number") from None
            elif key == "seconds":
                kwargs[key] = float(value)
            elif key == "action":
                kwargs[key] = value
            else:
                raise SandboxError(f"fault {spec!r}: unknown option {key!r}")
        return cls(api=api.strip().lower(), fault=fault.strip().lower(), **kwargs)

    def matches(self, api: str, action: str) -> bool:
        return api == self.api and (not self.action or self.action == action)

    def due(self, now: float, scope: str = "") -> bool:
        """Count one matching call (at ``now``, seconds, in ``scope``: its account and
        region); True when this rule fails it."""
        self.seen += 1
        at = self._scopes.get(scope)
        if at is None:
            at = self._scopes[scope] = _Scope(tokens=float(self.burst))
        at.recent.append(now)
        while at.recent[0] <= now - 1.0:
            at.recent.popleft()
        self.peak_per_second = max(self.peak_per_second, len(at.recent))
        if self.seen <= self.after or (self.times and self.struck >= self.times):
            return False
        if self.rate and self.burst:
            if at.at is not None:
                at.tokens = min(self.burst, at.tokens + (now - at.at) * self.rate)
            at.at = now
            if at.tokens >= 1.0:
                at.tokens -= 1.0
                return False
            return True
        if self.rate:
            while at.passed and at.passed[0] <= now - 1.0:
                at.passed.popleft()
            if len(at.passed) < self.rate:
                at.passed.append(now)
                return False
        return True

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


class FaultInjector:
    """The rules in force; thread-safe. ``strike(api, action)`` says which fault, if any."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._clock = clock

    def add(self, rule: FaultRule | dict[str, Any] | str) -> FaultRule:
        if isinstance(rule, str):
            rule = FaultRule.parse(rule)
        elif isinstance(rule, dict):
            known = {"api", "fault", "after", "times", "action", "seconds", "rate", "burst"}
            rule = FaultRule(**{k: v for k, v in rule.items() if k in known})
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.as_dict() for r in self._rules]

    def strike(self, api: str, action: str = "", scope: str = "") -> FaultRule | None:
        """Count this call (in ``scope``: its account and region) against every matching
        rule; the first rule due strikes."""
        hit = None
        with self._lock:
            now = self._clock()
            for r in self._rules:
                if r.matches(api, action) and r.due(now, scope) and hit is None:
                    r.struck += 1
                    hit = r
        return hit

    def admin(self, method: str, body: bytes) -> tuple[int, dict[str, Any] | list[Any]]:
        """The admin endpoint: GET lists, POST adds (a rule or a list), DELETE clears."""
        if method == "DELETE":
            self.clear()
            return 200, {"rules": []}
        if method == "POST":
            try:
                raw = json.loads(body or b"{}")
                for r in raw if isinstance(raw, list) else [raw]:
                    self.add(r)
            except (ValueError, TypeError, SandboxError) as exc:
                return 400, {"error": str(exc)}
        return 200, {"rules": self.rules()}


# ------------------------------------------------------------------ the AWS endpoint


def _credential(environ: dict[str, Any]) -> list[str]:
    """The SigV4 credential scope: access key, date, region, service, ``aws4_request``."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" not in auth:
        return []
    return auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")


def _api_and_action(environ: dict[str, Any]) -> tuple[str, str]:
    scope = _credential(environ)
    api = _SIGNING_NAMES.get(scope[3], scope[3]) if len(scope) >= 4 else ""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    action = target.rsplit(".", 1)[-1] if target else ""
    if not action and api in _QUERY_APIS:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        query = urllib.parse.parse_qs(body.decode(errors="replace"))
        query.update(urllib.parse.parse_qs(environ.get("QUERY_STRING", "")))
        action = (query.get("Action") or [""])[0]
    return api, action


def _error_response(api: str, fault: str, start_response: Any) -> list[bytes]:
    status, json_type, query_code, message = _ERRORS[fault]
    reason = {500: "Internal Server Error", 400: "Bad Request", 403: "Forbidden"}[status]
    if api in _QUERY_APIS:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{query_code}</Code><Message>{message}</Message></Error>"
            "<RequestId>injected</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    else:
        body = json.dumps({"__type": json_type, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", json_type)]
    start_response(f"{status} {reason}", [*headers, ("Content-Length", str(len(body)))])
    return [body]


def _drop_connection(environ: dict[str, Any]) -> None:
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class FaultMiddleware:
    """WSGI middleware in front of moto: the admin endpoint, and faults by rule."""

    def __init__(self, app: Any, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector
        self._accounts: dict[str, str] = {}  # access key -> account (a key keeps its account)

    def _scope(self, environ: dict[str, Any]) -> str:
        """``account/region`` of the call, as AWS counts its rate limits."""
        from cosydeploy.sandbox.authz import account_of

        cred = _credential(environ)
        if len(cred) < 3:
            return ""
        key = cred[0]
        if key not in self._accounts:
            self._accounts[key] = account_of(key)
        return f"{self._accounts[key]}/{cred[2]}"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == ADMIN_PATH:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            status, data = self.injector.admin(environ.get("REQUEST_METHOD", "GET"), body)
            out = json.dumps(data).encode()
            start_response(
                f"{status} {'OK' if status == 200 else 'Bad Request'}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(out)))],
            )
            return [out]
        api, action = _api_and_action(environ)
        rule = self.injector.strike(api, action, self._scope(environ)) if api else None
        if rule is None:
            return self.app(environ, start_response)
        if rule.fault == "latency":
            time.sleep(rule.seconds)
            return self.app(environ, start_response)
        if rule.fault == "unreachable":
            _drop_connection(environ)
            raise ConnectionAbortedError("injected: unreachable")
        return _error_response(api, rule.fault, start_response)


class FaultyMotoServer:
    """moto's server (as ``ThreadedMotoServer``) behind the fault middleware."""

    def __init__(
        self,
        injector: FaultInjector,
        ip_address: str = "127.0.0.1",
        port: int = 0,
        inner: Any = None,
    ):
        self.injector = injector
        self.inner = inner  # a WSGI middleware between the faults and moto (or None)
        self._ip = ip_address
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log(self, *args: Any) -> None:
                pass

            def log_error(self, *args: Any) -> None:
                pass

        class Dispatcher(DomainDispatcherApplication):
            """moto's dispatcher, its host -> backend answer kept: moto works it out on
            every request under one lock (listing its package directory and trying each
            URL pattern), which made the lock the sandbox's bottleneck under a fleet."""

            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, **kw)
                self._backend_of: dict[str | None, Any] = {}

            def get_backend_for_host(self, host: str | None) -> Any:
                if host not in self._backend_of:  # called under the dispatcher's lock
                    self._backend_of[host] = super().get_backend_for_host(host)
                return self._backend_of[host]

        moto_app = Dispatcher(create_backend_app)
        if self.inner is not None:
            moto_app = self.inner(moto_app)
        app = FaultMiddleware(moto_app, self.injector)
        self._server = make_server(self._ip, self._port, app, threaded=True, request_handler=Quiet)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox-moto", daemon=True
        )
        self._thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


def post_rules(endpoint_url: str, *rules: dict[str, Any] | str) -> list[dict[str, Any]]:
    """Add rules to a running sandbox through its admin endpoint (for tests and scripts)."""
    import urllib.request

    body = [FaultRule.parse(r).as_dict() if isinstance(r, str) else r for r in rules]
    req = urllib.request.Request(
        endpoint_url.rstrip("/") + ADMIN_PATH,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["rules"]


def clear_rules(endpoint_url: str) -> None:
    """Remove every rule of a running sandbox."""
    import urllib.request

    req = urllib.request.Request(endpoint_url.rstrip("/") + ADMIN_PATH, method="DELETE")
    urllib.request.urlopen(req, timeout=10).read()
