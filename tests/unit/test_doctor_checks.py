"""The doctor's pure parts: versions, requirements, and each check's verdict.

AWS-facing checks run against botocore's Stubber (it checks every request and response
against the service model), so no hand-written SDK lookalikes.
"""

from __future__ import annotations

import pytest

from cosydeploy import doctor
from cosydeploy.doctor import Status
from cosydeploy.errors import DockerError, TerraformError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.35.2", (1, 35, 2)),
        ("v1.15.5", (1, 15, 5)),
        ("2.0rc1", (2, 0)),
        ("0.15.3.post1", (0, 15, 3)),
        ("garbage", ()),
    ],
)
def test_version_tuple(text: str, expected: tuple[int, ...]) -> None:
    assert doctor.version_tuple(text) == expected


@pytest.mark.parametrize(
    ("version", "minimum", "expected"),
    [
        ("1.15.5", "1.10", True),
        ("1.10", "1.10.0", True),
        ("1.9.8", "1.10", False),
        ("3.11.7", "3.11", True),
        ("3.10.14", "3.11", False),
    ],
)
def test_at_least(version: str, minimum: str, expected: bool) -> None:
    assert doctor.at_least(version, minimum) is expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("typer>=0.12", doctor.Requirement("typer", "0.12", None)),
        ('moto[server]>=5.1; extra == "sandbox"', doctor.Requirement("moto", "5.1", "sandbox")),
        ("types-PyYAML; extra == 'dev'", doctor.Requirement("types-PyYAML", None, "dev")),
        ("boto3>=1.34,<2", doctor.Requirement("boto3", "1.34", None)),
    ],
)
def test_parse_requirement(line: str, expected: doctor.Requirement) -> None:
    assert doctor.parse_requirement(line) == expected


def test_python_check() -> None:
    assert doctor.check_python((3, 11, 7), ">=3.11").status == Status.OK
    bad = doctor.check_python((3, 10, 2), ">=3.11")
    assert bad.status == Status.FAIL
    assert "3.10.2" in bad.detail and ">=3.11" in bad.detail
    assert bad.hint


def test_packages_check_names_missing_and_old_and_ignores_other_extras() -> None:
    reqs = [
        "typer>=0.12",
        "boto3>=1.34",
        "docker>=7",
        'moto>=5.1; extra == "sandbox"',
        'pytest>=8; extra == "dev"',
    ]
    have = {"typer": "0.12.5", "boto3": "1.20.0", "moto": "5.2.0"}
    row = doctor.check_packages("0.1.0", reqs, have.get, extras=("sandbox",))
    assert row.status == Status.FAIL
    assert "missing: docker" in row.detail
    assert "boto3 1.20.0 < 1.34" in row.detail
    assert "pytest" not in row.detail  # the dev extra was not asked for

    have.update(boto3="1.35.0", docker="7.1.0")
    good = doctor.check_packages("0.1.0", reqs, have.get, extras=("sandbox",))
    assert good.status == Status.OK
    assert "moto 5.2.0" in good.detail and "cosydeploy 0.1.0" in good.detail


class _Docker:
    def version(self) -> dict[str, str]:
        return {"Version": "26.1.5", "ApiVersion": "1.45"}


def test_docker_check() -> None:
    assert doctor.check_docker(lambda: _Docker()).status == Status.OK

    def unreachable():
        raise DockerError("the Docker engine is not reachable", hint="start it")

    row = doctor.check_docker(unreachable)
    assert (row.status, row.detail, row.hint) == (
        Status.FAIL,
        "the Docker engine is not reachable",
        "start it",
    )


class _Engine:
    name = "embedded"

    def __init__(self, version: str) -> None:
        self._v = version

    def version(self) -> str:
        return self._v


def test_terraform_check() -> None:
    assert doctor.required_terraform('terraform {\n  required_version = ">= 1.10"\n}') == "1.10"
    assert doctor.required_terraform("terraform {}") is None
    assert doctor.check_terraform(lambda: _Engine("1.15.5"), "1.10").status == Status.OK
    old = doctor.check_terraform(lambda: _Engine("1.5.7"), "1.10")
    assert old.status == Status.FAIL and "1.5.7" in old.detail and ">= 1.10" in old.detail
    assert doctor.check_terraform(lambda: _Engine("?"), "1.10").status == Status.FAIL

    def missing():
        raise TerraformError("Terraform binary 'tofu' not found on PATH", hint="install it")

    assert (
        doctor.check_terraform(missing, None).detail == "Terraform binary 'tofu' not found on PATH"
    )


def test_account_check_names_both_ids() -> None:
    row = doctor.check_account("123456789012", "111111111111", "clients/acme.yaml", "acme/dev")
    assert row.status == Status.FAIL
    assert "111111111111" in row.detail and "123456789012" in row.detail
    assert "clients/acme.yaml" in row.detail
    assert doctor.check_account("1" * 12, "1" * 12, "x", "t").status == Status.OK


def _stubbed(service: str):
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    return client, Stubber(client)


def test_table_check_verifies_the_key_schema() -> None:
    ddb, stub = _stubbed("dynamodb")
    ok_desc = {
        "Table": {
            "TableName": "cosyworld-releases",
            "TableStatus": "ACTIVE",
            "KeySchema": [
                {"AttributeName": "release_id", "KeyType": "RANGE"},
                {"AttributeName": "target", "KeyType": "HASH"},
            ],
        }
    }
    stub.add_response("describe_table", ok_desc, {"TableName": "cosyworld-releases"})
    stub.add_client_error("describe_table", "ResourceNotFoundException")
    wrong = {
        "Table": {"TableName": "tbl", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}
    }
    stub.add_response("describe_table", wrong)
    with stub:
        good = doctor.check_table(
            ddb,
            "ledger table",
            "cosyworld-releases",
            doctor.LEDGER_KEYS,
            "a",
            what="release ledger",
        )
        missing = doctor.check_table(
            ddb, "lock table", "nope", doctor.LOCK_KEYS, "a", what="deploy lock"
        )
        bad = doctor.check_table(
            ddb, "lock table", "tbl", doctor.LOCK_KEYS, "a", what="deploy lock"
        )
    assert good.status == Status.OK
    assert missing.status == Status.FAIL and "ResourceNotFoundException" in missing.detail
    assert bad.status == Status.FAIL and "['id']" in bad.detail and "['lock_id']" in bad.detail


def test_dns_zone_check_wants_a_public_zone_of_that_exact_name() -> None:
    r53, stub = _stubbed("route53")

    def zones(*entries: tuple[str, bool]) -> dict:
        return {
            "HostedZones": [
                {
                    "Id": f"/hostedzone/Z{i}",
                    "Name": n,
                    "CallerReference": str(i),
                    "Config": {"PrivateZone": private},
                }
                for i, (n, private) in enumerate(entries)
            ],
            "IsTruncated": False,
            "MaxItems": "5",
        }

    stub.add_response("list_hosted_zones_by_name", zones(("cosyworld.ai.", False)))
    stub.add_response("list_hosted_zones_by_name", zones(("cosyworld.ai.", True), ("d.ai.", False)))
    with stub:
        good = doctor.check_dns_zone(r53, "cosyworld.ai", "zone cosyworld.ai")
        bad = doctor.check_dns_zone(r53, "cosyworld.ai", "zone cosyworld.ai")
    assert good.status == Status.OK and "Z0" in good.detail
    assert bad.status == Status.FAIL and "cosyworld.ai." in bad.detail


def test_secrets_check_names_only_the_missing() -> None:
    from datetime import UTC, datetime

    sm, stub = _stubbed("secretsmanager")
    now = datetime.now(UTC)
    stub.add_response(
        "list_secrets",
        {
            "SecretList": [
                {
                    "Name": "p/c/dev/A",
                    "SecretVersionsToStages": {"0" * 32: ["AWSCURRENT"]},
                    "LastChangedDate": now,
                },
                {"Name": "p/c/dev/B", "LastChangedDate": now},  # created by Terraform, no value
            ]
        },
    )
    with stub:
        row = doctor.check_secrets(sm, "p", "c", "dev", ["A", "B", "C"])
    assert row.status == Status.FAIL
    assert row.detail.endswith(": B, C")
    assert "cosydeploy secrets set c --env dev" in row.hint
    assert row.target == "c/dev"


def test_raise_on_failures_names_the_rows() -> None:
    from cosydeploy.errors import EXIT_USAGE

    rows = [
        doctor.ok("python"),
        doctor.fail("secrets", "x", "y", "c/dev"),
        doctor.skip("dns zone", "why"),
    ]
    with pytest.raises(doctor.DoctorFailed) as info:
        doctor.raise_on_failures(rows)
    assert info.value.exit_code == EXIT_USAGE
    assert "1 check failed: secrets (c/dev)" in info.value.message
    doctor.raise_on_failures([doctor.ok("python")])
    assert rows[1].as_dict() == {
        "check": "secrets",
        "target": "c/dev",
        "status": "FAIL",
        "detail": "x",
        "hint": "y",
    }


def test_run_doctor_without_a_sandbox_fails_credentials_and_skips_the_rest() -> None:
    from types import SimpleNamespace

    from cosydeploy.errors import SandboxError

    def no_sandbox(c):
        raise SandboxError("the sandbox is not running", hint="cosydeploy sandbox up --detach")

    settings = doctor.Settings("bucket", "us-east-1", "locks", "ledger", "repo")
    adapters = doctor.Adapters(
        docker=lambda: _Docker(),
        terraform=lambda: _Engine("1.15.5"),
        session_for=no_sandbox,
        installed={"typer": "0.12.5"}.get,
        own_version="0.1.0",
        requirements=["typer>=0.12"],
        python_version=(3, 11, 7),
    )
    target = SimpleNamespace(target="acme/dev")
    rows = doctor.run_doctor([target], settings, adapters)  # type: ignore[list-item]
    assert [(r.name, r.status) for r in rows[:4]] == [
        ("python", Status.OK),
        ("packages", Status.OK),
        ("docker engine", Status.OK),
        ("terraform", Status.OK),
    ]
    cred = rows[4]
    assert (cred.name, cred.status, cred.target) == ("aws credentials", Status.FAIL, "acme/dev")
    assert cred.detail == "the sandbox is not running" and "sandbox up" in cred.hint
    assert [r.name for r in rows[5:]] == ["aws account", *doctor.CLIENT_ROWS]
    assert all(r.status == Status.SKIP for r in rows[5:])
