"""Load balancer ARNs the sandbox's stack can name before anything exists.

AWS (and moto) end each load balancer, listener, rule and target group ARN with a
random id, so a stack learns them only from the resources. The sandbox's stack
computes its outputs from names alone (no provider runs there), so in the sandbox the
id comes from what makes the resource unique in its account and region:

- target group ``targetgroup/<name>/0000000000000000``
- load balancer ``loadbalancer/app/<name>/0000000000000000``
- listener ``listener/app/<lb name>/0000000000000000/<port, 16 digits>``
- rule ``listener-rule/app/<lb name>/0000000000000000/<port>/<priority, 16 digits>``
  (a listener's default rule: priority 0)

``StableElbArns`` is a WSGI middleware in front of moto: right after moto creates one
of these, it gives the resource its stable ARN (in moto's state and in the answer), so
every caller sees only that ARN. A name used twice (moto does not refuse a second load
balancer of the same name) keeps moto's ARN. Imports nothing of cosydeploy.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

log = logging.getLogger("cosydeploy.sandbox.elbnames")

STABLE_ID = "0000000000000000"


def _prefix(region: str, account: str) -> str:
    return f"arn:aws:elasticloadbalancing:{region}:{account}"


def target_group_arn(region: str, account: str, name: str) -> str:
    """The sandbox's ARN of the target group called ``name``."""
    return f"{_prefix(region, account)}:targetgroup/{name}/{STABLE_ID}"


def load_balancer_arn(region: str, account: str, name: str) -> str:
    """The sandbox's ARN of the application load balancer called ``name``."""
    return f"{_prefix(region, account)}:loadbalancer/app/{name}/{STABLE_ID}"


def listener_arn(lb_arn: str, port: int) -> str:
    """The sandbox's ARN of the load balancer's listener on ``port``."""
    return lb_arn.replace(":loadbalancer/", ":listener/", 1) + f"/{int(port):016d}"


def rule_arn(listener: str, priority: int) -> str:
    """The sandbox's ARN of the listener's rule of ``priority`` (0: the default rule)."""
    return listener.replace(":listener/", ":listener-rule/", 1) + f"/{int(priority):016d}"


def _arn_parts(arn: str) -> tuple[str, str]:
    """(region, account) of an ARN."""
    parts = arn.split(":")
    return parts[3], parts[4]


def _backend(arn: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    region, account = _arn_parts(arn)
    return elbv2_backends[account][region]


def _move_tags(backend: Any, old: str, new: str) -> None:
    tags = backend.tagging_service.tags
    if old in tags:
        tags[new] = tags.pop(old)


def _rekey(mapping: dict[str, Any], old: str, new: str) -> Any:
    """Move ``mapping[old]`` to ``new`` (None when it is not there or ``new`` is taken)."""
    if old not in mapping or new in mapping:
        return None
    obj = mapping[old]
    mapping[new] = obj
    del mapping[old]
    obj.arn = new
    return obj


def stabilise(action: str, arn: str) -> str | None:
    """Give the resource moto just created under ``arn`` its stable ARN; returns that ARN
    (None: left as it was)."""
    backend = _backend(arn)
    if action == "CreateTargetGroup":
        tg = backend.target_groups.get(arn)
        if tg is None:
            return None
        region, account = _arn_parts(arn)
        new = target_group_arn(region, account, tg.name)
        if _rekey(backend.target_groups, arn, new) is None:
            return None
    elif action == "CreateLoadBalancer":
        lb = backend.load_balancers.get(arn)
        if lb is None or lb.listeners:
            return None
        region, account = _arn_parts(arn)
        new = load_balancer_arn(region, account, lb.name)
        if _rekey(backend.load_balancers, arn, new) is None:
            return None
    elif action == "CreateListener":
        lb = next((b for b in list(backend.load_balancers.values()) if arn in b.listeners), None)
        if lb is None:
            return None
        new = listener_arn(lb.arn, int(lb.listeners[arn].port))
        listener = _rekey(lb.listeners, arn, new)
        if listener is None:
            return None
        for default in listener._default_rule.values():
            default.listener_arn = new
            default.arn = rule_arn(new, 0)
    elif action == "CreateRule":
        listener = next(
            (
                li
                for b in list(backend.load_balancers.values())
                for li in list(b.listeners.values())
                if arn in li._non_default_rules
            ),
            None,
        )
        if listener is None:
            return None
        new = rule_arn(listener.arn, int(listener._non_default_rules[arn].priority))
        if _rekey(listener._non_default_rules, arn, new) is None:
            return None
    else:
        return None
    _move_tags(backend, arn, new)
    return new


# The element of each create action's answer that holds the new resource's ARN.
_CREATED = {
    "CreateTargetGroup": "TargetGroupArn",
    "CreateLoadBalancer": "LoadBalancerArn",
    "CreateListener": "ListenerArn",
    "CreateRule": "RuleArn",
}


def _action(environ: dict[str, Any]) -> str | None:
    """The ELBv2 create action of a request (None: anything else). Leaves the body readable."""
    if "/elasticloadbalancing/" not in environ.get("HTTP_AUTHORIZATION", ""):
        return None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    action = (form.get("Action") or [""])[0]
    return action if action in _CREATED else None


class StableElbArns:
    """WSGI middleware: ELBv2 resources get their stable ARNs as moto creates them."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        action = _action(environ)
        if action is None:
            return self.app(environ, start_response)
        answer: dict[str, Any] = {}

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer.update(status=status, headers=headers)
            return lambda data: None

        chunks = self.app(environ, keep)
        try:
            body = b"".join(chunks)
        finally:
            with contextlib.suppress(Exception):
                chunks.close()
        element = _CREATED[action]
        found = re.search(rf"<{element}>([^<]+)</{element}>".encode(), body)
        if answer["status"].startswith("200") and found:
            old = found.group(1).decode()
            with self._lock:
                try:
                    new = stabilise(action, old)
                except Exception:  # never fail a create that moto made
                    log.exception("sandbox: no stable ARN for %s", old)
                    new = None
            if new:
                body = body.replace(old.encode(), new.encode())
        headers = [(k, v) for k, v in answer["headers"] if k.lower() != "content-length"]
        start_response(answer["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]


__all__ = [
    "STABLE_ID",
    "StableElbArns",
    "listener_arn",
    "load_balancer_arn",
    "rule_arn",
    "stabilise",
    "target_group_arn",
]
