"""Plausible results for the data sources the stacks read, computed from their arguments.

Anything not listed gets a neutral value per type for each computed attribute, so a
data source the stacks start to use still plans (and the plan shows the neutral value).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

ZONE_ID = "Z0STANDIN00000000000"
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "Europe (Ireland)",
    "eu-central-1": "Europe (Frankfurt)",
}


def neutral(ty: Any) -> Any:
    if ty == "string":
        return ""
    if ty == "number":
        return 0
    if ty == "bool":
        return False
    if isinstance(ty, list) and ty[0] in ("list", "set", "tuple"):
        return []
    if isinstance(ty, list) and ty[0] == "map":
        return {}
    if isinstance(ty, list) and ty[0] == "object":
        return {k: neutral(t) for k, t in ty[1].items()}
    return None


def read(type_name: str, config: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    """Values of the computed attributes of one data source, from its configuration."""
    region = config.get("region") or ctx["region"]
    account = ctx["account_id"]
    if type_name == "aws_region":
        name = config.get("name") or config.get("region") or region
        return {
            "region": name,
            "name": name,
            "id": name,
            "description": REGION_NAMES.get(name, name),
            "endpoint": f"ec2.{name}.amazonaws.com",
        }
    if type_name == "aws_caller_identity":
        return {
            "account_id": account,
            "arn": f"arn:aws:sts::{account}:assumed-role/deploy/cosydeploy",
            "user_id": "AROASTANDIN:cosydeploy",
            "id": account,
        }
    if type_name == "aws_partition":
        return {
            "partition": "aws",
            "dns_suffix": "amazonaws.com",
            "reverse_dns_prefix": "com.amazonaws",
            "id": "aws",
        }
    if type_name == "aws_availability_zones":
        letters = "abcdef"
        return {
            "id": region,
            "names": [f"{region}{c}" for c in letters],
            "zone_ids": [f"use1-az{i + 1}" for i in range(len(letters))],
            "group_names": [region],
        }
    if type_name == "aws_route53_zone":
        name = (config.get("name") or "example.com").rstrip(".")
        zone_id = config.get("zone_id") or ZONE_ID
        return {
            "zone_id": zone_id,
            "id": zone_id,
            "name": name,
            "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
            "name_servers": [f"ns-{i}.awsdns-00.net" for i in range(1, 5)],
            "primary_name_server": "ns-1.awsdns-00.net",
            "caller_reference": "standin",
            "comment": "",
            "resource_record_set_count": 2,
            "private_zone": bool(config.get("private_zone")),
        }
    if type_name == "aws_iam_policy_document":
        return policy_document(config)
    if type_name == "aws_iam_openid_connect_provider":
        url = config.get("url") or "https://token.actions.githubusercontent.com"
        host = url.removeprefix("https://")
        arn = config.get("arn") or f"arn:aws:iam::{account}:oidc-provider/{host}"
        return {"arn": arn, "id": arn, "url": host, "client_id_list": ["sts.amazonaws.com"]}
    return {}


def _one_or_many(values: list[str] | None) -> Any:
    if not values:
        return None
    values = sorted(set(values))
    return values[0] if len(values) == 1 else values


def _principals(blocks: list[dict[str, Any]] | None) -> Any:
    if not blocks:
        return None
    out: dict[str, Any] = {}
    for p in blocks:
        if p["type"] == "*" and p["identifiers"] == ["*"]:
            return "*"
        out[p["type"]] = _one_or_many(list(p["identifiers"]) + _as_list(out.get(p["type"])))
    return out


def _as_list(v: Any) -> list[str]:
    return [] if v is None else [v] if isinstance(v, str) else list(v)


def policy_document(config: dict[str, Any]) -> dict[str, Any]:
    """The JSON an IAM policy document renders, as the provider builds it."""
    statements = []
    for s in config.get("statement") or []:
        out: dict[str, Any] = {}
        if s.get("sid"):
            out["Sid"] = s["sid"]
        out["Effect"] = s.get("effect") or "Allow"
        for key, attr in (
            ("Action", "actions"),
            ("NotAction", "not_actions"),
            ("Resource", "resources"),
            ("NotResource", "not_resources"),
        ):
            v = _one_or_many(s.get(attr))
            if v is not None:
                out[key] = v
        for key, attr in (("Principal", "principals"), ("NotPrincipal", "not_principals")):
            v = _principals(s.get(attr))
            if v is not None:
                out[key] = v
        conditions: dict[str, dict[str, Any]] = {}
        for c in s.get("condition") or []:
            conditions.setdefault(c["test"], {})[c["variable"]] = (
                c["values"][0] if len(c["values"]) == 1 else list(c["values"])
            )
        if conditions:
            out["Condition"] = conditions
        statements.append(out)
    doc: dict[str, Any] = {"Version": config.get("version") or "2012-10-17"}
    if config.get("policy_id"):
        doc["Id"] = config["policy_id"]
    doc["Statement"] = statements
    text = json.dumps(doc, indent=2)
    return {
        "json": text,
        "minified_json": json.dumps(doc, separators=(",", ":")),
        "id": str(int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)),
        "version": doc["Version"],
    }
