"""Monthly cost per client/env: an estimate from list prices, and last month's actual cost.

``estimate`` is pure: a ``CostInput`` and a price table in, line items out. Prices and
the usage assumptions (log volume, data transfer, ALB LCUs ...) live in
``cosydeploy/data/pricing.json`` with their source and date, so changing a number is a
reviewed data change, not a code change.

``actual`` reads Cost Explorer (grouped by the Client and Environment cost-allocation
tags); ``compare`` puts estimate and actual side by side and flags a gap over 20 %.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from cosydeploy.errors import AwsError, CosydeployError, UsageError

HOURS_PER_MONTH = 730
GAP_THRESHOLD = 0.20
USAGE_FIELDS = (
    "alb_lcus",
    "nat_data_gb",
    "data_transfer_gb",
    "log_gb",
    "ecr_gb",
    "documentdb_storage_gb",
    "documentdb_io_millions",
)
# The interface endpoints the client stack can build, and the usage field whose traffic each
# takes off the NAT gateways (None: API calls only, a few MB a month). Image layers come from
# S3, which always has a free gateway endpoint.
INTERFACE_ENDPOINT_TRAFFIC: dict[str, str | None] = {
    "logs": "log_gb",
    "ecr.api": None,
    "ecr.dkr": None,
    "secretsmanager": None,
    "ssm": None,
}


class PricingError(CosydeployError):
    """The price table lacks a price the configuration needs (an unknown node type or tier)."""


@dataclass(frozen=True)
class CostInput:
    """What one client/env runs, in the units the prices use.

    ``cpu`` is in ECS units (1024 = 1 vCPU), ``memory`` in MiB. Usage fields left at
    ``None`` come from the ``usage_profile`` in the price file (``dev``, ``small`` or
    ``large``, after the tier presets).
    """

    client: str
    env: str
    region: str = "us-east-1"
    cpu: int = 256
    memory: int = 512
    min_tasks: int = 2
    max_tasks: int = 2
    desired_tasks: int = 2
    nat_gateways: int = 1
    redis_node_type: str = "cache.t4g.micro"
    redis_nodes: int = 1
    database_engine: str = "atlas"
    atlas_tier: str | None = "M10"
    documentdb_instance_class: str | None = None
    documentdb_instance_count: int = 0
    log_retention_days: int = 7
    secrets: int = 5
    usage_profile: str = "dev"
    log_gb: float | None = None
    data_transfer_gb: float | None = None
    nat_data_gb: float | None = None
    alb_lcus: float | None = None
    ecr_gb: float | None = None
    documentdb_storage_gb: float | None = None
    documentdb_io_millions: float | None = None
    azs: int = 2
    interface_endpoints: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndpointCase:
    """Whether one interface endpoint pays for itself: its monthly cost against the NAT
    processing it saves."""

    service: str
    traffic_gb: float
    monthly_cost: float
    monthly_saving: float

    @property
    def pays(self) -> bool:
        return self.monthly_saving > self.monthly_cost


@dataclass(frozen=True)
class LineItem:
    """One line of the estimate. ``scenario`` is ``base`` (counted in both totals),
    ``desired`` (Fargate at the desired count: in ``total``) or ``max`` (Fargate at the
    maximum count: in ``total_at_max``)."""

    service: str
    item: str
    quantity: float
    unit: str
    unit_price: float
    monthly_usd: float
    scenario: str = "base"


@dataclass(frozen=True)
class CostEstimate:
    """The line items of one client/env and its two totals (desired and maximum tasks)."""

    client: str
    env: str
    region: str
    items: tuple[LineItem, ...]
    total: float
    total_at_max: float
    assumptions: Mapping[str, float] = field(default_factory=dict)
    pricing_source: str = ""
    pricing_date: str = ""
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``--output json``)."""
        data = asdict(self)
        data["items"] = [asdict(i) for i in self.items]
        data["assumptions"] = dict(self.assumptions)
        data["notes"] = list(self.notes)
        return data


@dataclass(frozen=True)
class Comparison:
    """Estimate against Cost Explorer's actual for one client/env."""

    client: str
    env: str
    estimate: float
    actual: float | None
    gap: float | None  # (actual - estimate) / estimate; None without data
    flagged: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def default_pricing_path() -> Path:
    """The price file shipped with the package."""
    return Path(__file__).parent / "data" / "pricing.json"


def load_prices(path: str | Path | None = None) -> dict[str, Any]:
    """Read a price file (the packaged one by default) and check its top-level fields."""
    p = Path(path) if path else default_pricing_path()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PricingError(
            f"{p}: cannot read the price file ({exc})",
            hint="restore cosydeploy/data/pricing.json or pass a valid file",
        ) from exc
    missing = [k for k in ("source", "date", "prices", "usage_profiles") if k not in data]
    if missing:
        raise PricingError(f"{p}: missing top-level keys: {', '.join(missing)}")
    return data


def _price(prices: Mapping[str, Any], *path: str) -> float:
    node: Any = prices["prices"]
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            raise PricingError(
                f"no price for {'/'.join(path)} in the price file",
                hint="add it to cosydeploy/data/pricing.json (with its source) or pick a "
                "listed type",
            )
        node = node[key]
    return float(node)


def resolve_usage(inp: CostInput, prices: Mapping[str, Any]) -> dict[str, float]:
    """The usage assumptions for ``inp``: its own values, else its profile's defaults."""
    profiles = prices["usage_profiles"]
    if inp.usage_profile not in profiles:
        raise UsageError(
            f"unknown usage profile {inp.usage_profile!r}",
            hint=f"one of: {', '.join(sorted(profiles))}",
        )
    profile = profiles[inp.usage_profile]
    usage: dict[str, float] = {}
    for name in USAGE_FIELDS:
        own = getattr(inp, name)
        usage[name] = float(own if own is not None else profile.get(name, 0.0))
    return usage


def _line(service: str, item: str, qty: float, unit: str, price: float, scenario: str = "base"):
    return LineItem(service, item, round(qty, 4), unit, price, round(qty * price, 2), scenario)


def _fargate(inp: CostInput, prices: Mapping[str, Any], tasks: int, scenario: str, hours: float):
    vcpu = inp.cpu / 1024
    gb = inp.memory / 1024
    label = f"{tasks} tasks x {vcpu:g} vCPU / {gb:g} GB ({scenario})"
    return [
        _line(
            "Fargate",
            f"vCPU, {label}",
            tasks * vcpu * hours,
            "vCPU-hour",
            _price(prices, "fargate", "vcpu_hour"),
            scenario,
        ),
        _line(
            "Fargate",
            f"memory, {label}",
            tasks * gb * hours,
            "GB-hour",
            _price(prices, "fargate", "gb_hour"),
            scenario,
        ),
    ]


def estimate(inp: CostInput, prices: Mapping[str, Any]) -> CostEstimate:
    """Estimate one client/env's monthly cost, line by line, from list prices.

    ``total`` counts Fargate at the desired task count; ``total_at_max`` counts it at
    the maximum. Raises ``PricingError`` for a node type or tier the file does not price.
    """
    hours = float(prices.get("hours_per_month", HOURS_PER_MONTH))
    usage = resolve_usage(inp, prices)
    items: list[LineItem] = []
    items += _fargate(inp, prices, inp.desired_tasks, "desired", hours)
    items += _fargate(inp, prices, inp.max_tasks, "max", hours)
    items.append(_line("ALB", "load balancer hours", hours, "hour", _price(prices, "alb", "hour")))
    items.append(
        _line(
            "ALB",
            f"LCUs ({usage['alb_lcus']:g} average)",
            usage["alb_lcus"] * hours,
            "LCU-hour",
            _price(prices, "alb", "lcu_hour"),
        )
    )
    items.append(
        _line(
            "NAT gateway",
            f"{inp.nat_gateways} gateway(s)",
            inp.nat_gateways * hours,
            "hour",
            _price(prices, "nat_gateway", "hour"),
        )
    )
    moved = sum(
        c.traffic_gb
        for c in interface_endpoint_cases(inp, prices, usage)
        if c.service in inp.interface_endpoints
    )
    items.append(
        _line(
            "NAT gateway",
            "data processed",
            max(0.0, usage["nat_data_gb"] - moved),
            "GB",
            _price(prices, "nat_gateway", "gb_processed"),
        )
    )
    if inp.interface_endpoints:
        n = len(inp.interface_endpoints)
        items.append(
            _line(
                "VPC endpoints",
                f"{n} interface endpoint(s) x {inp.azs} AZs",
                n * inp.azs * hours,
                "endpoint-AZ-hour",
                _price(prices, "vpc_endpoint", "interface_az_hour"),
            )
        )
        items.append(
            _line(
                "VPC endpoints",
                "data processed",
                moved,
                "GB",
                _price(prices, "vpc_endpoint", "interface_gb_processed"),
            )
        )
    items.append(
        _line(
            "ElastiCache",
            f"{inp.redis_nodes} x {inp.redis_node_type}",
            inp.redis_nodes * hours,
            "node-hour",
            _price(prices, "elasticache_node_hour", inp.redis_node_type),
        )
    )
    if inp.database_engine == "atlas":
        if not inp.atlas_tier:
            raise UsageError(f"{inp.client}/{inp.env}: database engine atlas needs an atlas_tier")
        items.append(
            _line(
                "MongoDB Atlas",
                f"{inp.atlas_tier} cluster",
                hours,
                "hour",
                _price(prices, "atlas_cluster_hour", inp.atlas_tier),
            )
        )
    elif inp.database_engine == "documentdb":
        cls = inp.documentdb_instance_class
        if not cls or inp.documentdb_instance_count < 1:
            raise UsageError(
                f"{inp.client}/{inp.env}: DocumentDB needs an instance class and count >= 1"
            )
        items.append(
            _line(
                "DocumentDB",
                f"{inp.documentdb_instance_count} x {cls}",
                inp.documentdb_instance_count * hours,
                "instance-hour",
                _price(prices, "documentdb", "instance_hour", cls),
            )
        )
        items.append(
            _line(
                "DocumentDB",
                "storage",
                usage["documentdb_storage_gb"],
                "GB-month",
                _price(prices, "documentdb", "storage_gb_month"),
            )
        )
        items.append(
            _line(
                "DocumentDB",
                "I/O",
                usage["documentdb_io_millions"],
                "million requests",
                _price(prices, "documentdb", "io_million"),
            )
        )
    else:
        raise UsageError(
            f"{inp.client}/{inp.env}: unknown database engine {inp.database_engine!r}",
            hint="atlas or documentdb",
        )
    stored_gb = usage["log_gb"] * inp.log_retention_days / 30
    items.append(
        _line(
            "CloudWatch Logs",
            "ingestion",
            usage["log_gb"],
            "GB",
            _price(prices, "cloudwatch_logs", "ingested_gb"),
        )
    )
    items.append(
        _line(
            "CloudWatch Logs",
            f"storage ({inp.log_retention_days} days retention)",
            stored_gb,
            "GB-month",
            _price(prices, "cloudwatch_logs", "stored_gb_month"),
        )
    )
    items.append(
        _line(
            "Secrets Manager",
            "secrets",
            inp.secrets,
            "secret-month",
            _price(prices, "secrets_manager", "secret_month"),
        )
    )
    items.append(
        _line(
            "ECR",
            "image storage",
            usage["ecr_gb"],
            "GB-month",
            _price(prices, "ecr", "storage_gb_month"),
        )
    )
    items.append(
        _line(
            "Data transfer",
            "out to the internet",
            usage["data_transfer_gb"],
            "GB",
            _price(prices, "data_transfer", "out_gb"),
        )
    )

    base = sum(i.monthly_usd for i in items if i.scenario == "base")
    desired = sum(i.monthly_usd for i in items if i.scenario == "desired")
    at_max = sum(i.monthly_usd for i in items if i.scenario == "max")
    notes: list[str] = []
    price_region = prices.get("region", "us-east-1")
    if inp.region != price_region:
        notes.append(f"prices are {price_region} list prices; {inp.region} may differ")
    return CostEstimate(
        client=inp.client,
        env=inp.env,
        region=inp.region,
        items=tuple(items),
        total=round(base + desired, 2),
        total_at_max=round(base + at_max, 2),
        assumptions={"usage_profile": inp.usage_profile, **usage},  # type: ignore[dict-item]
        pricing_source=str(prices["source"]),
        pricing_date=str(prices["date"]),
        notes=tuple(notes),
    )


def interface_endpoint_cases(
    inp: CostInput, prices: Mapping[str, Any], usage: Mapping[str, float] | None = None
) -> list[EndpointCase]:
    """Each interface endpoint the stack can build, priced against the NAT processing it
    would save at ``inp``'s usage (one endpoint network interface per AZ)."""
    usage = usage if usage is not None else resolve_usage(inp, prices)
    hours = float(prices.get("hours_per_month", HOURS_PER_MONTH))
    az_hour = _price(prices, "vpc_endpoint", "interface_az_hour")
    per_gb = _price(prices, "vpc_endpoint", "interface_gb_processed")
    nat_gb = _price(prices, "nat_gateway", "gb_processed")
    cases = []
    for service, field_name in INTERFACE_ENDPOINT_TRAFFIC.items():
        # What it carries came through the NAT gateways, so it moves at most their traffic.
        gb = min(float(usage[field_name]), usage["nat_data_gb"]) if field_name else 0.0
        cost = inp.azs * hours * az_hour + gb * per_gb
        cases.append(EndpointCase(service, gb, round(cost, 2), round(gb * nat_gb, 2)))
    return cases


def paying_interface_endpoints(inp: CostInput, prices: Mapping[str, Any]) -> tuple[str, ...]:
    """The interface endpoints that save more than they cost at ``inp``'s usage profile."""
    return tuple(c.service for c in interface_endpoint_cases(inp, prices) if c.pays)


def usage_profile_for(tier: str | None, env: str) -> str:
    """The usage profile for a tier preset (``dev``, ``small``, ``large``); without a tier,
    ``dev`` for a dev environment and ``small`` otherwise."""
    if tier in ("dev", "small", "large"):
        return str(tier)
    return "dev" if env == "dev" else "small"


def cost_input_from_tfvars(
    tfvars: Mapping[str, Any], *, usage_profile: str | None = None, tier: str | None = None
) -> CostInput:
    """Build a ``CostInput`` from a rendered ``terraform.tfvars.json`` dict (the tfvars
    contract in docs/CONTRACTS.md), so the estimate follows exactly what would be deployed."""
    service = tfvars["service"]
    network = tfvars["network"]
    redis = tfvars["redis"]
    db = tfvars["database"]
    docdb = db.get("documentdb") or {}
    env = tfvars["environment"]
    return CostInput(
        client=tfvars["client"],
        env=env,
        region=tfvars.get("region", "us-east-1"),
        cpu=int(service["cpu"]),
        memory=int(service["memory"]),
        min_tasks=int(service["min_count"]),
        max_tasks=int(service["max_count"]),
        desired_tasks=int(service["desired_count"]),
        nat_gateways=1 if network.get("single_nat_gateway") else 2,
        redis_node_type=redis["node_type"],
        redis_nodes=int(redis["num_nodes"]),
        database_engine=db["engine"],
        atlas_tier=db.get("atlas_tier"),
        documentdb_instance_class=docdb.get("instance_class"),
        documentdb_instance_count=int(docdb.get("instance_count", 0)),
        log_retention_days=int(service.get("log_retention_days", 7)),
        secrets=len(tfvars.get("app", {}).get("secret_names", [])),
        usage_profile=usage_profile or usage_profile_for(tier, env),
        azs=len(network.get("private_subnet_cidrs") or [None, None]),
        interface_endpoints=tuple(network.get("interface_endpoints") or ()),
    )


def with_usage(inp: CostInput, **usage: float) -> CostInput:
    """A copy of ``inp`` with some usage assumptions overridden."""
    unknown = set(usage) - set(USAGE_FIELDS)
    if unknown:
        raise UsageError(f"unknown usage fields: {', '.join(sorted(unknown))}")
    return replace(inp, **usage)  # type: ignore[arg-type]


# --- actual cost (Cost Explorer) -------------------------------------------------------


def month_period(month: str | date | None = None, *, today: date | None = None) -> tuple[str, str]:
    """Cost Explorer's ``TimePeriod`` (start inclusive, end exclusive) for a month.

    ``month`` is ``YYYY-MM`` or a date in it; ``None`` means the last full month.
    """
    if month is None:
        t = today or date.today()
        first = date(t.year - 1, 12, 1) if t.month == 1 else date(t.year, t.month - 1, 1)
    elif isinstance(month, date):
        first = date(month.year, month.month, 1)
    else:
        try:
            year, mon = (int(x) for x in month.split("-"))
            first = date(year, mon, 1)
        except ValueError as exc:
            raise UsageError(f"bad month {month!r}", hint="use YYYY-MM, e.g. 2025-05") from exc
    end = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
    return first.isoformat(), end.isoformat()


def _tag_value(key: str, tag: str) -> str:
    # Cost Explorer returns TAG group keys as "Tag$value" ("Tag$" when untagged).
    prefix = f"{tag}$"
    return key[len(prefix) :] if key.startswith(prefix) else key


def actual(
    ce_client: Any,
    month: str | date | None = None,
    *,
    client_tag: str = "Client",
    env_tag: str = "Environment",
    metric: str = "UnblendedCost",
    today: date | None = None,
) -> dict[tuple[str, str], float]:
    """Last month's (or ``month``'s) cost per (client, env) from Cost Explorer.

    Calls ``get_cost_and_usage`` grouped by the two cost-allocation tags, follows
    ``NextPageToken``, and sums the amounts. Untagged spend lands under ``("", "")``.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    start, end = month_period(month, today=today)
    request: dict[str, Any] = {
        "TimePeriod": {"Start": start, "End": end},
        "Granularity": "MONTHLY",
        "Metrics": [metric],
        "GroupBy": [{"Type": "TAG", "Key": client_tag}, {"Type": "TAG", "Key": env_tag}],
    }
    totals: dict[tuple[str, str], float] = {}
    while True:
        try:
            resp = ce_client.get_cost_and_usage(**request)
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(
                f"Cost Explorer get_cost_and_usage failed: {exc}",
                hint="Cost Explorer must be enabled and the caller needs ce:GetCostAndUsage; "
                "activate the Client and Environment cost-allocation tags in Billing",
            ) from exc
        for period in resp.get("ResultsByTime", []):
            for group in period.get("Groups", []):
                keys = group.get("Keys", [])
                c = _tag_value(keys[0], client_tag) if keys else ""
                e = _tag_value(keys[1], env_tag) if len(keys) > 1 else ""
                amount = float(group.get("Metrics", {}).get(metric, {}).get("Amount", 0) or 0)
                totals[(c, e)] = totals.get((c, e), 0.0) + amount
        token = resp.get("NextPageToken")
        if not token:
            break
        request["NextPageToken"] = token
    return {k: round(v, 2) for k, v in totals.items()}


def compare(
    estimates: Iterable[CostEstimate],
    actuals: Mapping[tuple[str, str], float],
    *,
    threshold: float = GAP_THRESHOLD,
) -> list[Comparison]:
    """Estimate against actual per client/env; ``flagged`` when the gap exceeds ``threshold``
    (20 % by default) either way. A client/env with no actual data is not flagged."""
    rows: list[Comparison] = []
    for est in estimates:
        act = actuals.get((est.client, est.env))
        if act is None:
            rows.append(Comparison(est.client, est.env, est.total, None, None, False))
            continue
        gap = (act - est.total) / est.total if est.total else float("inf")
        rows.append(
            Comparison(est.client, est.env, est.total, act, round(gap, 4), abs(gap) > threshold)
        )
    return rows


@dataclass
class CostReport:
    """What ``cosydeploy cost`` shows: the estimates, and the comparison with Cost
    Explorer when it was asked for."""

    prices: dict[str, Any]
    estimates: list[CostEstimate]
    comparisons: list[Comparison] | None = None
    period: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "pricing": {"source": self.prices["source"], "date": self.prices["date"]},
            "estimates": [e.to_dict() for e in self.estimates],
        }
        if self.comparisons is not None:
            data["actual"] = {
                "period": {"start": self.period[0], "end": self.period[1]} if self.period else None,
                "threshold": GAP_THRESHOLD,
                "comparisons": [c.to_dict() for c in self.comparisons],
            }
        return data


def report(
    inputs: list[CostInput],
    *,
    ce_client: Any = None,
    month: str | None = None,
    pricing: Path | None = None,
) -> CostReport:
    """Estimate each input; with a Cost Explorer client, compare with a month's actuals."""
    prices = load_prices(pricing)
    out = CostReport(prices, [estimate(i, prices) for i in inputs])
    if ce_client is not None:
        out.period = month_period(month)
        out.comparisons = compare(out.estimates, actual(ce_client, month))
    return out
