"""IAM policy evaluation for the sandbox: identity policies and role trust policies.

moto evaluates identity policies only for some services and only against the resource
``*`` (so a least-privilege statement scoped to an ARN is refused there), and never
evaluates a trust policy on ``AssumeRoleWithWebIdentity``. The sandbox evaluates the
documents itself with this module, as AWS does for one account:

- an explicit ``Deny`` that matches wins; otherwise some ``Allow`` must match;
- ``Action``/``NotAction`` and ``Resource``/``NotResource`` match case-insensitively
  for actions, with ``*`` and ``?`` wildcards;
- conditions: String(Not)Equals, String(Not)Like, StringEqualsIgnoreCase, Arn(Not)Like,
  Arn(Not)Equals, Bool, with ``...IfExists``; ``ForAnyValue:``/``ForAllValues:`` over
  list values. A key absent from the request fails a positive operator (and satisfies a
  negated one), as in AWS.

IAM's size quota on a role's inline policies (10,240 characters together, white space
not counted) is checked here too: a bootstrap stack whose policies pass it in the
sandbox and not on AWS would be a rehearsal that lies.

Pure: no moto, no boto3. Imports nothing of cosydeploy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Context = Mapping[str, str | list[str]]


@dataclass(frozen=True)
class Decision:
    """The outcome of one evaluation, with the statement that decided it (if any)."""

    allowed: bool
    reason: str
    statement: str | None = None


@dataclass(frozen=True)
class Call:
    """One request as IAM sees it."""

    action: str  # service:Action, e.g. ecs:UpdateService
    resource: str = "*"
    context: Context = field(default_factory=dict)
    principal: Mapping[str, str] | None = None  # for trust policies: {"Federated": arn} etc.


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(_glob(p, action, ignore_case=True) for p in patterns)


def _resource_matches(patterns: Iterable[str], resource: str) -> bool:
    return any(_glob(p, resource) for p in patterns)


def _principal_matches(spec: Any, principal: Mapping[str, str] | None) -> bool:
    if spec is None:
        return principal is None
    if spec == "*":
        return True
    if principal is None:
        return False
    for kind, values in dict(spec).items():
        if any(v == "*" or v == principal.get(kind) for v in _as_list(values)):
            return True
    return False


_STRING_OPS = {
    "StringEquals": lambda p, v: p == v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringLike": lambda p, v: _glob(p, v),
    "ArnEquals": lambda p, v: p == v,
    "ArnLike": lambda p, v: _glob(p, v),
    "Bool": lambda p, v: str(p).lower() == str(v).lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


class UnsupportedCondition(ValueError):
    """A condition operator this evaluator does not know: refuse rather than guess."""


def _condition_holds(operator: str, key: str, expected: Any, context: Context) -> bool:
    set_op = None
    if ":" in operator and operator.split(":", 1)[0] in {"ForAnyValue", "ForAllValues"}:
        set_op, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    negated = operator in _NEGATED
    base = _NEGATED.get(operator, operator)
    test = _STRING_OPS.get(base)
    if test is None:
        raise UnsupportedCondition(f"condition operator {operator!r} is not supported")
    lookup = {k.lower(): v for k, v in context.items()}
    if key.lower() not in lookup:
        return if_exists or negated or set_op == "ForAllValues"
    values = [str(v) for v in _as_list(lookup[key.lower()])]
    patterns = [str(p) for p in _as_list(expected)]

    def one(value: str) -> bool:
        matched = any(test(p, value) for p in patterns)
        return not matched if negated else matched

    if set_op == "ForAllValues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def _conditions_hold(block: Mapping[str, Mapping[str, Any]] | None, context: Context) -> bool:
    for operator, pairs in (block or {}).items():
        for key, expected in pairs.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


def _statements(document: Mapping[str, Any] | str) -> list[Mapping[str, Any]]:
    doc = json.loads(document) if isinstance(document, str) else document
    return [dict(s) for s in _as_list(doc.get("Statement"))]


def _statement_matches(st: Mapping[str, Any], call: Call, *, trust: bool) -> bool:
    if "Action" in st and not _action_matches(_as_list(st["Action"]), call.action):
        return False
    if "NotAction" in st and _action_matches(_as_list(st["NotAction"]), call.action):
        return False
    if not trust:
        if "Resource" in st and not _resource_matches(_as_list(st["Resource"]), call.resource):
            return False
        if "NotResource" in st and _resource_matches(_as_list(st["NotResource"]), call.resource):
            return False
    elif not _principal_matches(st.get("Principal"), call.principal):
        return False
    return _conditions_hold(st.get("Condition"), call.context)


def evaluate(
    documents: Iterable[Mapping[str, Any] | str], call: Call, *, trust: bool = False
) -> Decision:
    """Whether the documents (identity policies, or with ``trust`` a role's trust policy)
    allow the call."""
    allowed_by: str | None = None
    for doc in documents:
        for i, st in enumerate(_statements(doc)):
            if not _statement_matches(st, call, trust=trust):
                continue
            sid = str(st.get("Sid") or f"statement {i}")
            if st.get("Effect") == "Deny":
                return Decision(False, f"explicitly denied by {sid}", sid)
            if st.get("Effect") == "Allow" and allowed_by is None:
                allowed_by = sid
    if allowed_by is not None:
        return Decision(True, f"allowed by {allowed_by}", allowed_by)
    return Decision(False, "no statement allows it")


def web_identity_call(provider_arn: str, claims: Mapping[str, Any], host: str) -> Call:
    """The call AssumeRoleWithWebIdentity makes of a trust policy, for an OIDC token's claims
    (``host`` is the issuer without scheme, e.g. token.actions.githubusercontent.com)."""
    context: dict[str, str | list[str]] = {}
    for claim in ("sub", "aud", "repository", "environment", "ref", "job_workflow_ref"):
        if claim in claims:
            value = claims[claim]
            context[f"{host}:{claim}"] = (
                [str(v) for v in value] if isinstance(value, list) else str(value)
            )
    return Call(
        action="sts:AssumeRoleWithWebIdentity",
        context=context,
        principal={"Federated": provider_arn},
    )


# IAM quota: a role's inline policies together, white space not counted (IAM and AWS STS
# quotas, "Role policy size").
INLINE_POLICIES_MAX = 10240


def policy_size(document: str) -> int:
    """A policy's size as IAM counts it against its quotas: white space left out."""
    return len(re.sub(r"\s", "", document))


def inline_quota_error(
    role: str, policy_name: str, document: str, others: Mapping[str, str]
) -> str | None:
    """IAM's refusal of ``PutRolePolicy`` when the role's inline policies (``others`` by
    name, ``policy_name`` replaced by ``document``) would pass the quota; else None."""
    total = policy_size(document) + sum(
        policy_size(d) for name, d in others.items() if name != policy_name
    )
    if total > INLINE_POLICIES_MAX:
        return (
            f"Maximum policy size of {INLINE_POLICIES_MAX} bytes exceeded for role {role} "
            f"(its inline policies would hold {total})"
        )
    return None


__all__ = [
    "INLINE_POLICIES_MAX",
    "Call",
    "Decision",
    "UnsupportedCondition",
    "evaluate",
    "inline_quota_error",
    "policy_size",
    "web_identity_call",
]
