"""The Docker engine, created lazily at the edge so commands that need none work without one."""

from __future__ import annotations

import os
from typing import Any

from cosydeploy.errors import DockerError


def docker_client() -> Any:
    """A docker SDK client that answered a ping, or a DockerError saying how to fix it."""
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except Exception as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise DockerError(
            f"the Docker engine is not reachable at {where} ({type(exc).__name__})",
            hint="start it (make services, or dockerd) and check `docker info`",
        ) from None
