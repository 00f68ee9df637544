"""Install the stand-in providers where Terraform finds them, without any network.

    python tools/tfstub/mirror.py DIR

makes DIR/mirror (a filesystem mirror in Terraform's unpacked layout, one small
launcher per provider) and DIR/terraformrc (a CLI configuration that installs
hashicorp/aws and hashicorp/random from that mirror only). Point TF_CLI_CONFIG_FILE
at the latter and `terraform init`, `validate` and `plan` run offline. Because the
mirror holds exactly the versions the stand-in serves, `init` also checks every
version constraint against them.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOST = "registry.terraform.io"


def versions() -> dict[str, str]:
    """Provider name -> the version whose schema the stand-in serves."""
    schemas = HERE / "schemas"
    aws = json.loads(next(iter(sorted(schemas.glob("aws-6*.json")))).read_text())["version"]
    rnd = json.loads(next(iter(sorted(schemas.glob("random-*.json")))).read_text())["version"]
    return {"aws": aws, "random": rnd}


def _platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[machine]
    return f"{sys.platform if sys.platform != 'linux2' else 'linux'}_{arch}"


def install(target: Path, python: str = sys.executable, only: dict[str, str] | None = None) -> Path:
    """Write the mirror and the CLI configuration under target; return the config path.

    ``only`` replaces the served versions (name -> version), e.g. to offer an older
    release and see a version constraint refuse it."""
    mirror = target / "mirror"
    offered = only or versions()
    for name, version in offered.items():
        package = mirror / HOST / "hashicorp" / name / version / _platform()
        package.mkdir(parents=True, exist_ok=True)
        launcher = package / f"terraform-provider-{name}_v{version}_x5"
        launcher.write_text(f'#!/bin/sh\nexec "{python}" "{HERE / "provider.py"}" {name} "$@"\n')
        launcher.chmod(0o755)
    rc = target / "terraformrc"
    rc.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        f'    include = ["{HOST}/hashicorp/*"]\n'
        "  }\n"
        "}\n"
    )
    return rc


if __name__ == "__main__":
    print(install(Path(sys.argv[1]).resolve()))
