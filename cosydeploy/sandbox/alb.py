"""A tiny stand-in for the application load balancer.

``GET {alb_url}/{name}/{path}`` goes through the *production* listener's rule that
forwards to the target group called ``name`` (the service's primary target group),
``GET {alb_url}/_test/{name}/{path}`` through the *test* listener's rule (the listener on
port 8443, see loadbalancing.py). Each request picks one of the rule's target groups by
the rule's weights (a group of weight 0 never gets a request; the choice is smooth
weighted round robin, so 10 % is one request in ten), then one of that group's
registered targets, round robin. The test listener answers only addresses its load
balancer's security group admits on its port (``release.test_listener_cidrs``; anything
else gets a 403 naming why, where AWS would leave the connection unanswered). A target
group no rule forwards to is served as
before there were rules: ``/{name}`` reaches its targets directly. Every answer names
the group that served it in ``X-Sandbox-Target-Group``.

The rollout driver registers only healthy tasks, so this is what a client's ``app_url``
(and its ``test_url``) reaches in the sandbox. A paper target (a task the driver runs
without a container, see paper.py) is answered here, through ``local``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cosydeploy.sandbox.loadbalancing import TEST_PORT, alternate_name

log = logging.getLogger("cosydeploy.sandbox.alb")

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}
TARGET_GROUP_HEADER = "X-Sandbox-Target-Group"
TEST_PREFIX = "_test"
PRODUCTION, TEST = "production", "test"
# Which rule forwards to which group changes only when rules are made or deleted: the
# index of it is kept this long (seconds); a name it does not know rebuilds it sooner.
# The rules' weights are read on every request, never kept.
INDEX_TTL = 2.0
INDEX_MISS_TTL = 0.25


def split_path(path: str) -> tuple[str, str, str]:
    """(listener, target group name, rest) of a request path: ``/_test/<name>/<rest>`` is the
    test listener's, anything else ``/<name>/<rest>`` the production listener's."""
    head, _, rest = path.lstrip("/").partition("/")
    if head == TEST_PREFIX:
        name, _, rest = rest.partition("/")
        return TEST, name, "/" + rest
    return PRODUCTION, head, "/" + rest


class SmoothWeights:
    """Smooth weighted round robin: over any run of requests each choice gets its share
    of the weights to within one request, spread out (never a burst); weight 0 never."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[tuple[int, ...], list[int]]] = {}
        self._lock = threading.Lock()

    def choose(self, key: str, weights: tuple[int, ...]) -> int | None:
        """The index chosen for this request among ``weights`` (None: every weight is 0)."""
        total = sum(w for w in weights if w > 0)
        if total <= 0:
            return None
        with self._lock:
            known = self._state.get(key)
            current = known[1] if known and known[0] == weights else [0] * len(weights)
            best = None
            for i, w in enumerate(weights):
                if w <= 0:
                    continue
                current[i] += w
                if best is None or current[i] > current[best]:
                    best = i
            assert best is not None
            current[best] -= total
            self._state[key] = (weights, current)
            return best


@dataclass(frozen=True)
class _Rule:
    """A listener rule moto holds, with the backend its target groups live in."""

    backend: Any
    rule: Any
    load_balancer: Any = None


class AlbProxy:
    """Forward requests to the targets moto's ELBv2 holds, through the listener rules."""

    def __init__(
        self,
        account_id: str,
        region: str,
        port: int = 0,
        local: Callable[[str, int, str], tuple[int, bytes] | None] | None = None,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self.port = port
        # (ip, port, path) -> (status, body) for a target answered in this process, or None.
        self.local = local
        self._server: ThreadingHTTPServer | None = None
        self._counters: dict[str, itertools.count] = {}
        self._weights = SmoothWeights()
        self._index: dict[tuple[str, str], _Rule] = {}
        self._index_at = float("-inf")
        self._index_lock = threading.Lock()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- what moto holds -------------------------------------------------------------------

    def _backends(self) -> list[Any]:
        from moto.elbv2.models import elbv2_backends

        # Every account: clients may live in accounts of their own.
        return [
            elbv2_backends[account][self.region]
            for account in sorted({self.account_id, *list(elbv2_backends.keys())})
        ]

    def targets(self, tg_name: str) -> list[tuple[str, int]]:
        """The registered (ip, port) targets of the named target group."""
        for backend in self._backends():
            for tg in list(backend.target_groups.values()):
                if tg.name == tg_name:
                    return _registered(tg)
        return []

    def _build_index(self) -> dict[tuple[str, str], _Rule]:
        index: dict[tuple[str, str], _Rule] = {}
        for backend in self._backends():
            groups = dict(backend.target_groups)
            for lb in list(backend.load_balancers.values()):
                for listener in list(lb.listeners.values()):
                    kind = TEST if int(listener.port) == TEST_PORT else PRODUCTION
                    rules = sorted(
                        listener._non_default_rules.values(), key=lambda r: int(r.priority)
                    )
                    for rule in [*rules, *listener._default_rule.values()]:
                        for arn, _weight in _forwards(rule):
                            tg = groups.get(arn)
                            if tg is not None:
                                index.setdefault((kind, tg.name), _Rule(backend, rule, lb))
        return index

    def rule_for(self, kind: str, name: str) -> _Rule | None:
        """The listener rule forwarding to the group ``name`` (or to its alternate)."""
        for attempt in range(2):
            now = time.monotonic()
            with self._index_lock:
                age = now - self._index_at
                index = self._index
                keys = ((kind, name), (kind, alternate_name(name)))
                found = next((index[k] for k in keys if k in index), None)
                stale = age > INDEX_TTL or (found is None and age > INDEX_MISS_TTL)
                if stale or attempt:
                    try:
                        self._index = self._build_index()
                    except RuntimeError:  # moto changed a dict while we read it
                        continue
                    self._index_at = now
                    found = next((self._index[k] for k in keys if k in self._index), None)
            return found
        return None

    def choose(self, kind: str, name: str) -> tuple[str, list[tuple[str, int]]] | None:
        """(target group name, its targets) for one request; None when no rule forwards to
        ``name`` on that listener. The group is "" when every weight is 0."""
        for attempt in range(2):
            found = self.rule_for(kind, name)
            if found is None:
                return None
            forwards = _forwards(found.rule)
            groups = [found.backend.target_groups.get(arn) for arn, _ in forwards]
            if any(g is None for g in groups) and not attempt:
                with self._index_lock:  # a group went away: read the rules afresh
                    self._index_at = float("-inf")
                continue
            weights = tuple(
                w if g is not None else 0 for (_, w), g in zip(forwards, groups, strict=True)
            )
            pick = self._weights.choose(found.rule.arn, weights)
            if pick is None:
                return "", []
            tg = groups[pick]
            return tg.name, _registered(tg)
        return None

    def refuses(self, name: str, address: str) -> bool:
        """Whether the security groups of the load balancer whose test listener forwards
        to ``name`` keep ``address`` from that listener: no TCP rule on its port from a
        CIDR block holding the address, as AWS's security groups decide. False where no
        test listener forwards to ``name`` (that is answered as such)."""
        import ipaddress

        from moto.ec2.models import ec2_backends

        found = self.rule_for(TEST, name)
        lb = found.load_balancer if found is not None else None
        if lb is None:
            return False
        ip = ipaddress.ip_address(address)
        for account in sorted({self.account_id, *list(ec2_backends.keys())}):
            ec2 = ec2_backends[account][self.region]
            for group_id in lb.security_groups or []:
                group = ec2.get_security_group_from_id(group_id)
                for rule in list(group.ingress_rules) if group is not None else []:
                    if rule.ip_protocol not in ("tcp", "-1"):
                        continue
                    low, high = rule.from_port, rule.to_port  # None: every port ("-1")
                    if low is not None and high is not None and not low <= TEST_PORT <= high:
                        continue
                    cidr = rule.cidr_ipv4 or rule.cidr_ipv6
                    if cidr and ip in ipaddress.ip_network(cidr, strict=False):
                        return False
        return True

    def pick_target(self, tg_name: str, targets: list[tuple[str, int]]) -> tuple[str, int]:
        """One of the group's targets, round robin."""
        counter = self._counters.setdefault(tg_name, itertools.count())
        return targets[next(counter) % len(targets)]

    # -- serving ---------------------------------------------------------------------------

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                kind, name, rest = split_path(self.path)
                if kind == TEST and proxy.refuses(name, self.client_address[0]):
                    # AWS would drop the connection unanswered; say why instead.
                    message = (
                        f"the test listener of {name!r} does not admit {self.client_address[0]}"
                        ": no security group rule on its port holds it "
                        "(cosydeploy.yaml release.test_listener_cidrs)\n"
                    )
                    self._reply(403, message.encode())
                    return
                chosen = proxy.choose(kind, name)
                if chosen is None and kind == TEST:
                    self._reply(503, f"no test listener rule forwards to {name!r}\n".encode())
                    return
                tg_name, targets = chosen if chosen is not None else (name, proxy.targets(name))
                if not tg_name:
                    self._reply(503, f"every target group of {name!r} has weight 0\n".encode())
                    return
                group = [(TARGET_GROUP_HEADER, tg_name)]
                if not targets:
                    message = f"no healthy target in target group {tg_name!r}\n"
                    self._reply(503, message.encode(), group)
                    return
                ip, port = proxy.pick_target(tg_name, targets)
                answer = proxy.local(ip, port, rest) if proxy.local else None
                if answer is not None:
                    self._reply(*answer, group)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                req = urllib.request.Request(
                    f"http://{ip}:{port}{rest}", data=body, headers=headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        self._reply(resp.status, resp.read(), [*resp.headers.items(), *group])
                except urllib.error.HTTPError as exc:
                    self._reply(exc.code, exc.read(), [*exc.headers.items(), *group])
                except OSError as exc:
                    self._reply(502, f"bad gateway: {exc}\n".encode(), group)

            def _reply(self, status: int, body: bytes, headers: Any = ()) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in HOP_HEADERS:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="sandbox-alb", daemon=True).start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _registered(tg: Any) -> list[tuple[str, int]]:
    return [(t["Id"], int(t.get("Port") or tg.port)) for t in list(tg.targets.values())]


def _forwards(rule: Any) -> list[tuple[str, int]]:
    """(target group ARN, weight) of a rule's forward action, as it is now."""
    for action in list(rule.actions):
        data = getattr(action, "data", None) or {}
        if data.get("Type") != "forward":
            continue
        groups = (data.get("ForwardConfig") or {}).get("TargetGroups")
        if groups:
            return [(str(g["TargetGroupArn"]), int(g.get("Weight", 1))) for g in groups]
        if data.get("TargetGroupArn"):
            return [(str(data["TargetGroupArn"]), 1)]
    return []
