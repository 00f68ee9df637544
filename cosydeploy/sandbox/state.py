"""Where a running sandbox is recorded, so other processes (CLI, tests) can find it."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from cosydeploy.errors import SandboxError

ACCOUNT_ID = "123456789012"
STATE_ENV = "COSYDEPLOY_SANDBOX_STATE"


@dataclass(frozen=True)
class SandboxInfo:
    """How to reach a running sandbox. JSON-serialisable (see ``as_dict``)."""

    endpoint_url: str
    region: str
    account_id: str
    registry: str
    ecr_host: str
    alb_url: str
    pid: int
    state_dir: str
    state_file: str = ""
    sandbox_id: str = ""
    dns_url: str = ""  # resolution by Route 53 weights (sandbox/dns.py)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> SandboxInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def env(self) -> dict[str, str]:
        """The environment variables that point AWS SDKs and cosydeploy at this sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "COSYDEPLOY_SANDBOX": "1",
            STATE_ENV: self.state_file or str(Path(self.state_dir) / "state.json"),
        }


def project_root(start: Path | None = None) -> Path:
    """The nearest directory upwards holding cosydeploy.yaml (else the start directory)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "cosydeploy.yaml").is_file():
            return candidate
    return here


def default_state_file() -> Path:
    """``$COSYDEPLOY_SANDBOX_STATE`` or ``<project>/.cosydeploy/sandbox/state.json``."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env)
    return project_root() / ".cosydeploy" / "sandbox" / "state.json"


def write_info(info: SandboxInfo, path: Path) -> None:
    """Write the state file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info.as_dict(), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (and is not a zombie we could see)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def endpoint_answers(url: str, timeout: float = 2.0) -> bool:
    """True when the moto endpoint answers HTTP."""
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=timeout) as resp:
            return resp.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def read_info(path: Path) -> SandboxInfo | None:
    """The recorded info, without checking that it is alive (None when no file)."""
    try:
        return SandboxInfo.from_dict(json.loads(Path(path).read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise SandboxError(
            f"{path}: unreadable sandbox state ({exc})",
            hint="remove the file and start the sandbox again: cosydeploy sandbox up --detach",
        ) from exc


def load_info(path: Path | None = None, *, strict: bool = False) -> SandboxInfo | None:
    """The running sandbox recorded at ``path`` (default: ``default_state_file()``).

    Returns None when nothing is recorded or the recorded process is gone (or, with
    ``strict=True``, raises a SandboxError saying how to start one).
    """
    path = Path(path) if path else default_state_file()
    info = read_info(path)
    problem = None
    if info is None:
        problem = f"no sandbox is running (no state file at {path})"
    elif not pid_alive(info.pid):
        problem = f"the sandbox recorded in {path} is gone (pid {info.pid} is not running)"
    elif not endpoint_answers(info.endpoint_url):
        problem = f"the sandbox (pid {info.pid}) does not answer at {info.endpoint_url}"
    if problem is None:
        return info
    if strict:
        raise SandboxError(problem, hint="start it: cosydeploy sandbox up --detach")
    return None
