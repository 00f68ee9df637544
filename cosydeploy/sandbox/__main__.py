"""``python -m cosydeploy.sandbox``: run a sandbox in the foreground until SIGTERM/Ctrl-C.

This is what ``cosydeploy sandbox up --detach`` starts in the background.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from cosydeploy.errors import SandboxError
    from cosydeploy.sandbox.server import Sandbox

    parser = argparse.ArgumentParser(prog="python -m cosydeploy.sandbox")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--state-file", type=Path, default=None)
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        help="API=FAULT[,after=N][,times=N][,action=A][,seconds=S][,rate=N] (repeatable; see faults.py)",
    )
    parser.add_argument(
        "--paper",
        action="append",
        default=[],
        help="GLOB over CLUSTER/SERVICE or CLUSTER: those services' tasks run on paper, "
        "without containers (repeatable; '*' for all; see paper.py)",
    )
    parser.add_argument(
        "--paper-fail",
        action="append",
        default=[],
        help="GLOB[,after=N]: paper services whose deployments fail (after N completed)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    try:
        sandbox = Sandbox(
            port=args.port,
            region=args.region,
            state_file=args.state_file,
            faults=args.fault,
            paper=args.paper,
            paper_fail=args.paper_fail,
        )
    except SandboxError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        info = sandbox.start()
    except SandboxError as exc:
        print(
            f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr
        )
        return 2
    print(json.dumps(info.as_dict()), flush=True)
    try:
        while not sandbox.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
