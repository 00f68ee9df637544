"""`cost --actual` against Cost Explorer results seeded in a moto server."""

from __future__ import annotations

import json
import sys
import types

import pytest

from cosydeploy import cost
from cosydeploy.cost import CostInput


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def ce(moto_endpoint):
    import boto3
    import requests

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    client = boto3.client(
        "ce",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.sent = []  # the requests as botocore sends them (a real event hook, no stub)
    client.meta.events.register(
        "before-parameter-build.ce.GetCostAndUsage",
        lambda params, **_: client.sent.append(dict(params)),
    )
    return client


def _seed(endpoint: str, results: list[dict]) -> None:
    import requests

    resp = requests.post(
        f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
        json={"results": results},
        timeout=10,
    )
    assert resp.status_code == 201


def _group(client: str, env: str, amount: float) -> dict:
    return {
        "Keys": [f"Client${client}", f"Environment${env}"],
        "Metrics": {"UnblendedCost": {"Amount": str(amount), "Unit": "USD"}},
    }


def _page(groups: list[dict], token: str | None = None) -> dict:
    page = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2025-05-01", "End": "2025-06-01"},
                "Total": {},
                "Groups": groups,
                "Estimated": False,
            }
        ],
        "DimensionValueAttributes": [],
    }
    if token:
        page["NextPageToken"] = token
    return page


INPUTS = [
    CostInput(client="acme", env="dev", usage_profile="dev"),
    CostInput(
        client="acme",
        env="prod",
        cpu=512,
        memory=1024,
        min_tasks=2,
        max_tasks=4,
        desired_tasks=2,
        nat_gateways=2,
        redis_node_type="cache.r6g.large",
        redis_nodes=3,
        atlas_tier="M30",
        log_retention_days=90,
        usage_profile="small",
    ),
    CostInput(client="globex", env="dev", usage_profile="dev"),
]


def test_actual_reads_tag_groups_across_pages(ce, moto_endpoint):
    _seed(
        moto_endpoint,
        [
            _page([_group("acme", "dev", 120.5), _group("", "", 3.25)], token="page-2"),
            _page([_group("acme", "prod", 1000.0), _group("acme", "dev", 100.0)]),
        ],
    )
    got = cost.actual(ce, "2025-05")
    assert got == {("acme", "dev"): 220.5, ("acme", "prod"): 1000.0, ("", ""): 3.25}
    first = ce.sent[0]
    assert first["TimePeriod"] == {"Start": "2025-05-01", "End": "2025-06-01"}
    assert first["Granularity"] == "MONTHLY"
    assert first["GroupBy"] == [
        {"Type": "TAG", "Key": "Client"},
        {"Type": "TAG", "Key": "Environment"},
    ]
    assert ce.sent[1]["NextPageToken"] == "page-2"


def test_cost_command_compares_and_flags_the_gap(ce, moto_endpoint, monkeypatch):
    from typer import Typer
    from typer.testing import CliRunner

    from cosydeploy.cli import cost as cost_cli

    prices = cost.load_prices()
    dev_est = cost.estimate(INPUTS[0], prices).total
    prod_est = cost.estimate(INPUTS[1], prices).total
    # acme/dev 10 % over the estimate (fine); acme/prod 40 % over (flagged); globex no data
    _seed(
        moto_endpoint,
        [_page([_group("acme", "dev", dev_est * 1.10), _group("acme", "prod", prod_est * 1.40)])],
    )

    context = types.ModuleType("cosydeploy.cli.context")
    context.cost_inputs = lambda ctx, client, env: [
        i for i in INPUTS if client in (None, i.client) and env in (None, i.env)
    ]
    context.cost_explorer_client = lambda ctx: ce
    monkeypatch.setitem(sys.modules, "cosydeploy.cli.context", context)
    app = Typer()
    app.command("cost")(cost_cli.cost_command)
    app.command("noop")(lambda: None)  # keep "cost" a sub-command, as when mounted

    runner = CliRunner()
    res = runner.invoke(app, ["cost", "--actual", "--month", "2025-05", "--output", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["actual"]["period"] == {"start": "2025-05-01", "end": "2025-06-01"}
    rows = {(c["client"], c["env"]): c for c in data["actual"]["comparisons"]}
    assert rows[("acme", "dev")]["flagged"] is False
    assert rows[("acme", "dev")]["gap"] == pytest.approx(0.10, abs=0.001)
    assert rows[("acme", "prod")]["flagged"] is True
    assert rows[("acme", "prod")]["gap"] == pytest.approx(0.40, abs=0.001)
    assert rows[("globex", "dev")]["actual"] is None
    assert rows[("globex", "dev")]["flagged"] is False
    assert [e["total"] for e in data["estimates"]] == [
        cost.estimate(i, prices).total for i in INPUTS
    ]

    # Text output: same request (moto answers it again), the gap flagged in the table.
    res = runner.invoke(app, ["cost", "acme", "--actual", "--month", "2025-05"])
    assert res.exit_code == 0, res.output
    assert "GAP > 20%" in res.stdout
    assert "acme/prod" in res.stderr and "+40%" in res.stderr
    assert f"${dev_est:,.2f}" in res.stdout
    assert "globex" not in res.stdout
