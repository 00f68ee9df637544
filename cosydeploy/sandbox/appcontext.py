"""Build contexts for images the sandbox can run: an app directory plus a static busybox.

There is no image hub here, so test images are ``FROM scratch`` with a static busybox
copied in (``COPY busybox``); this adds the binary to a copy of the app's context.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cosydeploy.errors import SandboxError

SAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "app"


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


def needs_busybox(context: Path, dockerfile: str = "Dockerfile") -> bool:
    """The Dockerfile copies a busybox the context does not have."""
    path = Path(context) / dockerfile
    return (
        path.is_file()
        and "COPY busybox" in path.read_text()
        and not (Path(context) / "busybox").exists()
    )


def prepare_app_context(dest: Path, source: Path | None = None) -> Path:
    """Copy the app at ``source`` (default: this repository's sample app) and a static
    busybox into ``dest``; return ``dest`` (the build context)."""
    source = Path(source) if source else SAMPLE_APP
    if not source.is_dir():
        raise SandboxError(f"app directory not found at {source}", hint="check image.context")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, dest, dirs_exist_ok=True)
    shutil.copy2(find_busybox(), dest / "busybox")
    return dest
