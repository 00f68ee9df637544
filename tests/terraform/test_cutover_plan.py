"""The client stack with an old origin: two weighted CNAME records for the hostname (the
ALB at weight 0, the old origin at 100) instead of the alias record, weights left to
`cosydeploy cutover`, and the outputs cosydeploy reads to move them."""

from __future__ import annotations

import pytest

from .conftest import CASES, Terraform, managed, one, rendered_tfvars

ORIGIN = "app.example.net"


@pytest.fixture(scope="module")
def plans(terraform: Terraform) -> tuple[dict, dict, dict]:
    tfvars = rendered_tfvars(*CASES["dev-atlas"])
    assert tfvars["old_origin"] is None  # the fixture manifests have none
    with_origin = {**tfvars, "old_origin": ORIGIN}
    return (
        with_origin,
        terraform.plan("client", "cutover-with-origin", with_origin),
        terraform.plan("client", "dev-atlas", tfvars),
    )


def test_an_old_origin_makes_two_weighted_records_and_no_alias(plans) -> None:
    tfvars, plan, _ = plans
    records = managed(plan, "aws_route53_record")
    assert not [r for r in records if r["address"].startswith("module.dns.aws_route53_record.this")]
    aws = one(plan, 'module.dns.aws_route53_record.weighted["aws"]')["values"]
    origin = one(plan, 'module.dns.aws_route53_record.weighted["origin"]')["values"]
    for rec in (aws, origin):
        assert rec["name"] == tfvars["hostname"] and rec["type"] == "CNAME"
    assert origin["records"] == [ORIGIN]
    assert (aws["set_identifier"], aws["weighted_routing_policy"]) == ("aws", [{"weight": 0}])
    assert (origin["set_identifier"], origin["weighted_routing_policy"]) == (
        "origin",
        [{"weight": 100}],
    )
    outputs = plan["planned_values"]["outputs"]
    assert outputs["cutover_aws_set_identifier"]["value"] == "aws"
    assert outputs["cutover_origin_set_identifier"]["value"] == "origin"


def test_without_an_old_origin_the_alias_record_stays(plans) -> None:
    _, _, plan = plans
    alias = one(plan, "module.dns.aws_route53_record.this[0]")["values"]
    assert alias["type"] == "A" and alias["alias"]
    assert not [r for r in managed(plan) if ".weighted[" in r["address"]]
    outputs = plan["planned_values"]["outputs"]
    for name in ("cutover_zone_id", "cutover_record_name", "cutover_aws_set_identifier"):
        assert outputs[name]["value"] == ""


def test_an_old_origin_with_a_port_is_refused(terraform: Terraform) -> None:
    """A CNAME names a host: host:port (the sandbox's form) never reaches Route 53."""
    import json

    tfvars = {**rendered_tfvars(*CASES["dev-atlas"]), "old_origin": "127.0.0.1:8080"}
    directory = terraform.copy / "stacks" / "client"
    (directory / "port.tfvars.json").write_text(json.dumps(tfvars))
    err = terraform.plan_error(directory, "-var-file=port.tfvars.json")
    assert "old_origin must be a host name" in err
