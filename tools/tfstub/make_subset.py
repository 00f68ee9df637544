"""Write the part of the AWS provider schema that the project's Terraform uses.

    python tools/tfstub/make_subset.py [SCHEMA.json.gz]

Reads the full schema of hashicorp/aws (default: ../shared/aws-provider-schema/ beside
the checkout, or $COSYDEPLOY_AWS_SCHEMA) and writes tools/tfstub/schemas/aws-<version>.json
with exactly the resource and data source types named in terraform/ and
tests/fixtures/terraform/. The stand-in provider serves that file, so tests need no copy
of the full schema; run this again after using a new resource type.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCANNED = (ROOT / "terraform", ROOT / "tests" / "fixtures" / "terraform")
DEFAULT_SCHEMA = ROOT.parent / "shared" / "aws-provider-schema" / "aws-6.47.0.json.gz"
BLOCK = re.compile(r'^\s*(resource|data)\s+"(aws_[a-z0-9_]+)"', re.M)


def used_types(roots: tuple[Path, ...] = SCANNED) -> dict[str, set[str]]:
    """`resources` and `data_sources` type names declared in the .tf files under roots."""
    found: dict[str, set[str]] = {"resources": set(), "data_sources": set()}
    for root in roots:
        for path in sorted(root.rglob("*.tf")):
            if ".terraform" in path.parts:
                continue
            for kind, name in BLOCK.findall(path.read_text()):
                found["resources" if kind == "resource" else "data_sources"].add(name)
    return found


def subset(full: dict, used: dict[str, set[str]]) -> dict:
    out: dict = {"version": full["version"], "resources": {}, "data_sources": {}}
    for kind in ("resources", "data_sources"):
        for name in sorted(used[kind]):
            if name not in full[kind]:
                raise SystemExit(f"{kind[:-1]} type {name} is not in the AWS provider schema")
            out[kind][name] = full[kind][name]
    return out


def dumps(doc: dict) -> str:
    """One type per line: small, and a diff shows which types came or went."""
    lines = ["{", f' "version": {json.dumps(doc["version"])},']
    for kind in ("data_sources", "resources"):
        lines.append(f' "{kind}": {{')
        items = sorted(doc[kind].items())
        for i, (name, schema) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f"  {json.dumps(name)}: {json.dumps(schema, sort_keys=True)}{comma}")
        lines.append(" }," if kind == "data_sources" else " }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    source = Path(argv[0] if argv else os.environ.get("COSYDEPLOY_AWS_SCHEMA", DEFAULT_SCHEMA))
    if not source.is_file():
        print(f"{source}: no such schema file", file=sys.stderr)
        return 2
    with gzip.open(source, "rt") if source.suffix == ".gz" else source.open() as fh:
        full = json.load(fh)
    doc = subset(full, used_types())
    target = HERE / "schemas" / f"aws-{doc['version']}.json"
    target.write_text(dumps(doc))
    n = len(doc["resources"]) + len(doc["data_sources"])
    print(f"wrote {target.relative_to(ROOT)}: {n} types")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
