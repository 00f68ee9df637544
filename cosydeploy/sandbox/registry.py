"""The registry standing in for ECR: Debian's ``docker-registry`` on loopback.

Basic auth accepts exactly what moto's ECR token decodes to (``AWS`` /
``123456789012-auth-token``). The registry notifies a small listener of every push;
the listener links the pushed manifest into moto's ECR with ``put_image`` so
``describe_images`` answers with the registry's digest.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cosydeploy.errors import SandboxError
from cosydeploy.sandbox.state import ACCOUNT_ID

log = logging.getLogger("cosydeploy.sandbox.registry")

USERNAME = "AWS"
PASSWORD = "123456789012-auth-token"

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)


def auth_header() -> str:
    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    return f"Basic {token}"


class PushListener:
    """An HTTP endpoint for registry notifications that mirrors pushes into moto's ECR."""

    def __init__(self, registry_url_getter, ecr_client_factory) -> None:
        self._registry_url = registry_url_getter
        self._ecr_factory = ecr_client_factory
        self._ecr: Any = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.linked: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/events"

    def start(self) -> None:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                self.send_response(200)
                self.end_headers()
                try:
                    listener.handle(json.loads(body or b"{}"))
                except Exception:
                    log.exception("could not link a push into ECR")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox-push-listener", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, envelope: dict) -> None:
        """Link every manifest push of a notification envelope into ECR."""
        for event in envelope.get("events", []):
            target = event.get("target", {})
            if event.get("action") != "push" or target.get("mediaType") not in MANIFEST_TYPES:
                continue
            self.link(target["repository"], target["digest"], target.get("tag"))

    def link(self, repository: str, digest: str, tag: str | None) -> None:
        """Fetch the manifest from the registry and ``put_image`` it into moto's ECR."""
        req = urllib.request.Request(
            f"{self._registry_url()}/v2/{repository}/manifests/{digest}",
            headers={"Authorization": auth_header(), "Accept": ", ".join(MANIFEST_TYPES)},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            manifest = resp.read().decode()
            media_type = resp.headers.get("Content-Type", "").split(";")[0]
        if self._ecr is None:
            self._ecr = self._ecr_factory()
        ecr = self._ecr
        kwargs: dict[str, Any] = {
            "repositoryName": repository,
            "imageManifest": manifest,
            "imageDigest": digest,
        }
        if media_type in MANIFEST_TYPES:
            kwargs["imageManifestMediaType"] = media_type
        if tag:
            kwargs["imageTag"] = tag
        # Asked first: moto's put_image answers a missing repository with an internal
        # error, not RepositoryNotFoundException.
        try:
            ecr.describe_repositories(repositoryNames=[repository])
            home = True
        except ecr.exceptions.RepositoryNotFoundException:
            home = False  # a fleet whose clients all live in accounts of their own
        if home:
            with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):
                ecr.put_image(**kwargs)
        others = _link_other_accounts(repository, manifest, media_type, digest, tag)
        if not home and not others:
            log.warning("push to %s: no such ECR repository in the sandbox; not linked", repository)
            return
        self.linked.append((repository, digest))
        log.info("linked %s@%s (tag %s) into ECR", repository, digest, tag)


def _link_other_accounts(
    repository: str, manifest: str, media_type: str, digest: str, tag: str | None
) -> int:
    """The one registry stands in for every account's ECR: a push shows in each other
    account (and region) whose ECR has a repository of that name, as a push to that
    account's own registry would. How many repositories have it now."""
    from moto.ecr.models import ecr_backends

    if not tag:
        return 0
    found = 0
    for account, regions in list(ecr_backends.items()):
        if account == ACCOUNT_ID:
            continue
        for region, backend in list(regions.items()):
            if repository not in backend.repositories:
                continue
            found += 1
            try:
                backend.put_image(
                    repository,
                    manifest,
                    tag,
                    image_manifest_mediatype=media_type or None,
                    digest=digest,
                )
            except Exception as exc:  # already there, or a tag that exists: keep going
                log.info("link into %s/%s: %s", account, region, exc)
    return found


def _death_signal_hook():
    """A preexec hook making the child get SIGTERM when this process dies, even by SIGKILL.

    libc is loaded here, in the parent, so the child runs no import (safe with threads).
    Only from the main thread: the signal fires when the forking *thread* exits.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes
        import signal

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
        sigterm = int(signal.SIGTERM)
    except Exception:
        return None

    def hook() -> None:
        prctl(1, sigterm)  # PR_SET_PDEATHSIG

    return hook


def registry_program() -> str | None:
    """Path of Debian's ``docker-registry`` (or ``registry``) program, if installed."""
    return shutil.which("docker-registry") or shutil.which("registry")


class RegistryProcess:
    """A ``docker-registry`` child process with its own config, htpasswd and storage."""

    def __init__(self, state_dir: Path, port: int, notify_url: str) -> None:
        self.state_dir = state_dir / "registry"
        self.port = port
        self.notify_url = notify_url
        self.proc: subprocess.Popen | None = None
        self._log: Any = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def write_config(self) -> Path:
        """Write htpasswd (bcrypt) and config.yml; return the config path."""
        import bcrypt

        self.state_dir.mkdir(parents=True, exist_ok=True)
        htpasswd = self.state_dir / "htpasswd"
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
        htpasswd.write_text(f"{USERNAME}:{hashed}\n")
        storage = self.state_dir / "storage"
        storage.mkdir(exist_ok=True)
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(storage)},
                "delete": {"enabled": True},
                "cache": {"blobdescriptor": "inmemory"},
            },
            "http": {"addr": self.address, "secret": "cosydeploy-sandbox"},
            "auth": {"htpasswd": {"realm": "cosydeploy-sandbox", "path": str(htpasswd)}},
            "notifications": {
                "endpoints": [
                    {
                        "name": "cosydeploy-sandbox",
                        "url": self.notify_url,
                        "timeout": "3s",
                        "threshold": 3,
                        "backoff": "1s",
                    }
                ]
            },
        }
        path = self.state_dir / "config.yml"
        # JSON is valid YAML; no YAML writer needed.
        path.write_text(json.dumps(config, indent=2))
        return path

    def start(self, timeout: float = 20.0) -> None:
        """Start the registry and wait until it answers (401 on /v2/ without credentials)."""
        program = registry_program()
        if program is None:
            raise SandboxError(
                "the registry program `docker-registry` is not installed "
                "(and no registry:2 image can be pulled here)",
                hint="install it: apt-get install docker-registry (or run scripts/services.sh up)",
            )
        config = self.write_config()
        self._log = open(self.state_dir / "registry.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [program, "serve", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_death_signal_hook(),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.state_dir / "registry.log").read_text(errors="replace")[-400:]
                self.stop()
                raise SandboxError(
                    f"the registry exited at start (code {self.proc.returncode}): "
                    f"{tail.strip().splitlines()[-1] if tail.strip() else 'no output'}",
                    hint=f"see {self.state_dir / 'registry.log'}; is port {self.port} free?",
                )
            if self.answers():
                return
            time.sleep(0.1)
        self.stop()
        raise SandboxError(
            f"the registry did not answer on {self.address} within {timeout:.0f} s",
            hint=f"see {self.state_dir / 'registry.log'}",
        )

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/v2/", timeout=1)
            return True
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the registry process (by its PID) and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None


def one_registry_for_every_account() -> None:
    """Make every account's ECR token name the sandbox's one registry credential.

    In AWS each account's ECR has its own endpoint and token. The sandbox has a single
    registry standing in for all of them (pushes are linked into each account's ECR by
    ``put_image``), so moto, in this process, hands every account that registry's
    login: the token decodes to ``AWS:123456789012-auth-token`` whatever the account.
    Idempotent.
    """
    from moto.ecr.responses import ECRResponse

    if getattr(ECRResponse.get_authorization_token, "_cosydeploy_sandbox", False):
        return
    original = ECRResponse.get_authorization_token
    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()

    def get_authorization_token(self):
        result = original(self)
        for item in getattr(result, "result", {}).get("authorizationData", []):
            item["authorizationToken"] = token
        return result

    get_authorization_token._cosydeploy_sandbox = True  # type: ignore[attr-defined]
    ECRResponse.get_authorization_token = get_authorization_token  # type: ignore[method-assign]
