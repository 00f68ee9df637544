"""Assemble the build context of the sandbox's sample app (examples/app + a static busybox)."""

from __future__ import annotations

import shutil
from pathlib import Path

from cosydeploy.errors import SandboxError

APP_SOURCE = Path(__file__).resolve().parents[2] / "examples" / "app"


def find_busybox() -> Path:
    """The static busybox binary to copy into images (PATH first, then /bin/busybox)."""
    found = shutil.which("busybox")
    candidates = [Path(found)] if found else []
    candidates.append(Path("/bin/busybox"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise SandboxError(
        "no busybox binary found for the sample app image",
        hint="install a static busybox: apt-get install busybox-static",
    )


def prepare_app_context(dest: Path) -> Path:
    """Copy examples/app and a static busybox into ``dest``; return ``dest`` (the build context)."""
    if not APP_SOURCE.is_dir():
        raise SandboxError(
            f"sample app not found at {APP_SOURCE}", hint="run from a source checkout"
        )
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(APP_SOURCE, dest, dirs_exist_ok=True)
    shutil.copy2(find_busybox(), dest / "busybox")
    return dest
