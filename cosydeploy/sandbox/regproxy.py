"""The sandbox registry's front door: tags that never move, and faults on demand.

ECR repositories here are IMMUTABLE: a push of a tag that already names another
image is refused ("tag invalid: The image tag ... already exists ... cannot be
overwritten because the repository is immutable"), while pushing the same image again
is accepted. Debian's ``docker-registry`` lets any tag move, so this proxy stands in
front of it and refuses the move; manifest pushes of one repository go one at a time,
so two pushes racing for a tag cannot both win. Faults of the ``registry`` API (see
``faults``) strike here.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cosydeploy.sandbox.faults import FaultInjector

_MANIFEST = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/?]+)$")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
_FAULT_ANSWERS = {
    "5xx": (500, "UNKNOWN", "injected: internal failure"),
    "throttle": (429, "TOOMANYREQUESTS", "injected: rate exceeded"),
    "denied": (403, "DENIED", "injected: access denied"),
    "expired": (401, "UNAUTHORIZED", "injected: the authorization token has expired"),
}
MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


class RegistryProxy:
    """An HTTP proxy on loopback in front of the registry at ``backend`` (host:port)."""

    def __init__(self, backend: str, injector: FaultInjector) -> None:
        self.backend = backend
        self.injector = injector
        self._server: ThreadingHTTPServer | None = None
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def address(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def repo_lock(self, repo: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(repo, threading.Lock())

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

            do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, name="sandbox-registry-proxy", daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ------------------------------------------------------------------ a request

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = _read_body(h)
        rule = self.injector.strike("registry", h.command)
        if rule is not None:
            if rule.fault == "unreachable":
                h.close_connection = True
                with contextlib.suppress(OSError):
                    h.connection.shutdown(socket.SHUT_RDWR)
                return
            if rule.fault == "latency":
                time.sleep(rule.seconds)
            else:
                status, code, message = _FAULT_ANSWERS[rule.fault]
                _answer(h, status, {"errors": [{"code": code, "message": message}]})
                return
        m = _MANIFEST.match(h.path.split("?", 1)[0])
        if h.command == "PUT" and m and not m["ref"].startswith("sha256:"):
            with self.repo_lock(m["repo"]):
                existing = self._tag_digest(h, m["repo"], m["ref"])
                new = "sha256:" + hashlib.sha256(body).hexdigest()
                if existing and existing != new:
                    _answer(
                        h,
                        400,
                        {
                            "errors": [
                                {
                                    "code": "TAG_INVALID",
                                    "message": f"The image tag '{m['ref']}' already exists in "
                                    f"the '{m['repo']}' repository and cannot be overwritten "
                                    "because the repository is immutable.",
                                }
                            ]
                        },
                    )
                    return
                self._forward(h, body)
            return
        self._forward(h, body)

    def _tag_digest(self, h: BaseHTTPRequestHandler, repo: str, tag: str) -> str:
        conn = http.client.HTTPConnection(self.backend, timeout=30)
        try:
            headers = {"Accept": MANIFEST_ACCEPT}
            if h.headers.get("Authorization"):
                headers["Authorization"] = h.headers["Authorization"]
            conn.request("HEAD", f"/v2/{repo}/manifests/{tag}", headers=headers)
            resp = conn.getresponse()
            resp.read()
            return resp.getheader("Docker-Content-Digest", "") if resp.status == 200 else ""
        finally:
            conn.close()

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        conn = http.client.HTTPConnection(self.backend, timeout=120)
        try:
            conn.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
            for key, value in h.headers.items():
                if key.lower() not in _HOP:
                    conn.putheader(key, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            h.send_response(resp.status, resp.reason)
            for key, value in resp.getheaders():
                if key.lower() not in _HOP:
                    h.send_header(key, value)
            length = resp.getheader("Content-Length") if h.command == "HEAD" else None
            h.send_header("Content-Length", length or str(len(data)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(data)
        finally:
            conn.close()


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size = int(h.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(h.rfile.read(size))
            h.rfile.readline()
    length = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(length) if length else b""


def _answer(h: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    h.send_header("Docker-Distribution-API-Version", "registry/2.0")
    h.end_headers()
    h.wfile.write(data)
