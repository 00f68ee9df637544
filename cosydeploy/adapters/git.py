"""The commit an image is built from."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git_sha(root: Path) -> str:
    """``GITHUB_SHA`` in CI, else the checkout's HEAD (12 characters), else ``unknown``."""
    sha = os.environ.get("GITHUB_SHA")
    if sha:
        return sha[:12]
    proc = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "unknown"
