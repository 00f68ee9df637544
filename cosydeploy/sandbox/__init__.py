"""The embedded rehearsal environment: moto + a registry + a rollout driver on loopback.

Heavy modules (moto, boto3, docker) are imported only when a sandbox starts.
"""

from cosydeploy.sandbox.state import SandboxInfo, default_state_file, load_info

__all__ = ["Sandbox", "SandboxInfo", "default_state_file", "load_info"]


def __getattr__(name: str):
    if name == "Sandbox":
        from cosydeploy.sandbox.server import Sandbox

        return Sandbox
    raise AttributeError(name)
