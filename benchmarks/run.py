"""Runs every benchmark script; each prints ratios against a baseline from the same run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    rc = 0
    for script in sorted(HERE.glob("*.py")):
        if script.name in {"run.py", "__init__.py"}:
            continue
        print(f"== {script.stem}", flush=True)
        rc |= subprocess.run([sys.executable, str(script)], check=False).returncode
    sys.exit(rc)
