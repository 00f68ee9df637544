"""`terraform validate` of every stack and module against the real provider schemas,
and proof that a planted mistake fails with Terraform's own message."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from .conftest import FIXTURES, ROOT, TF, Terraform

sys.path.insert(0, str(ROOT / "tools" / "tfstub"))

import make_subset
import mirror

DIRECTORIES = [
    *sorted(p.relative_to(TF) for p in (TF / "modules").iterdir() if p.is_dir()),
    *(Path("stacks") / s for s in ("client", "bootstrap", "sandbox")),
]


@pytest.mark.parametrize("rel", DIRECTORIES, ids=str)
def test_validates(terraform: Terraform, rel: Path) -> None:
    result = terraform.validate(terraform.copy / rel)
    problems = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert result["valid"] and result["rc"] == 0, json.dumps(problems, indent=1)[:4000]
    warnings = [d["summary"] for d in result["diagnostics"] if d["severity"] == "warning"]
    assert warnings == []


@pytest.mark.parametrize(
    ("planted", "message"),
    [
        (
            "wrong_reference.tf",
            'This object has no argument, nested block, or exported attribute named "topic_arn"',
        ),
        ("type_mismatch.tf", "number required"),
        ("for_each_list.tf", 'The given "for_each" argument value is unsuitable'),
    ],
)
def test_a_planted_mistake_fails_with_terraforms_message(
    terraform: Terraform, tmp_path: Path, planted: str, message: str
) -> None:
    work = tmp_path / "planted"
    work.mkdir()
    (work / "versions.tf").write_text(
        'terraform {\n  required_providers {\n    aws = {\n      source  = "hashicorp/aws"\n'
        '      version = ">= 6.47, < 7"\n    }\n  }\n}\n'
        'provider "aws" {\n  region = "us-east-1"\n}\n'
    )
    shutil.copy(FIXTURES / "planted" / planted, work / planted)
    result = terraform.validate(work)
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert not result["valid"] and errors
    text = " ".join(d["summary"] + " " + d.get("detail", "") for d in errors)
    assert message in " ".join(text.split()), text


def test_the_schema_subset_covers_every_type_the_terraform_uses() -> None:
    served = json.loads(
        next((ROOT / "tools" / "tfstub" / "schemas").glob("aws-6*.json")).read_text()
    )
    used = make_subset.used_types()
    for kind in ("resources", "data_sources"):
        missing = used[kind] - set(served[kind])
        assert not missing, f"run tools/tfstub/make_subset.py: {kind} {sorted(missing)} not served"


def test_the_schema_subset_is_what_the_script_makes() -> None:
    """Where the full schema is at hand (beside the checkout), the committed subset is
    exactly the script's output: nothing edited by hand."""
    if not make_subset.DEFAULT_SCHEMA.is_file():
        pytest.skip("the full provider schema is not beside this checkout")
    import gzip

    with gzip.open(make_subset.DEFAULT_SCHEMA, "rt") as fh:
        full = json.load(fh)
    expected = make_subset.dumps(make_subset.subset(full, make_subset.used_types()))
    committed = (ROOT / "tools" / "tfstub" / "schemas" / f"aws-{full['version']}.json").read_text()
    assert committed == expected


def test_the_mirror_offers_exactly_the_served_versions(tmp_path: Path) -> None:
    mirror.install(tmp_path)
    offered = sorted(
        p.relative_to(tmp_path / "mirror" / mirror.HOST).parts[:3]
        for p in (tmp_path / "mirror" / mirror.HOST).glob("*/*/*")
    )
    assert offered == [("hashicorp", "aws", "6.47.0"), ("hashicorp", "random", "3.7.2")]
