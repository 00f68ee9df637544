"""CPU of opening one AWS session per client/env and its clients: a shared botocore
loader (cosydeploy's) against a plain boto3 Session each (the baseline), same run.

Prints the CPU seconds per additional client/env for both and their ratio.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SERVICES = ("ecs", "dynamodb", "elbv2", "logs", "secretsmanager", "ecr", "ec2", "sts")
N = 8


def per_client(make) -> float:
    """CPU seconds per client/env after the first (the first pays the imports)."""
    make()
    t0 = time.process_time()
    for _ in range(N):
        make()
    return (time.process_time() - t0) / N


def ours() -> None:
    from cosydeploy.adapters.aws import open_session

    s = open_session("us-east-1")
    for name in SERVICES:
        s.client(name)


def plain() -> None:
    import boto3

    s = boto3.Session(region_name="us-east-1")
    for name in SERVICES:
        s.client(name)


if __name__ == "__main__":
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    base = per_client(plain)
    shared = per_client(ours)
    print(
        f"sessions: {len(SERVICES)} clients per client/env: shared loader {shared:.3f} CPU-s per "
        f"client/env vs a boto3 Session each {base:.3f} -> {shared / base:.2f}x"
    )
