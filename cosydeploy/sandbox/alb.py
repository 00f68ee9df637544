"""A tiny stand-in for the application load balancer.

``GET {alb_url}/{target_group_name}/{path}`` is forwarded to a registered target of
that target group (round robin). The rollout driver registers only healthy tasks,
so this is what a client's ``app_url`` reaches in the sandbox. A paper target (a task
the driver runs without a container, see paper.py) is answered here, through ``local``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("cosydeploy.sandbox.alb")

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class AlbProxy:
    """Forward ``/{tg_name}/{path}`` to the targets moto's ELBv2 holds for that group."""

    def __init__(
        self,
        account_id: str,
        region: str,
        port: int = 0,
        local: Callable[[str, int, str], tuple[int, bytes] | None] | None = None,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self.port = port
        # (ip, port, path) -> (status, body) for a target answered in this process, or None.
        self.local = local
        self._server: ThreadingHTTPServer | None = None
        self._counter = itertools.count()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def targets(self, tg_name: str) -> list[tuple[str, int]]:
        """The registered (ip, port) targets of the named target group."""
        from moto.elbv2.models import elbv2_backends

        # Every account: clients may live in accounts of their own.
        for account in sorted({self.account_id, *list(elbv2_backends.keys())}):
            backend = elbv2_backends[account][self.region]
            for tg in list(backend.target_groups.values()):
                if tg.name == tg_name:
                    return [
                        (t["Id"], int(t.get("Port") or tg.port)) for t in list(tg.targets.values())
                    ]
        return []

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                name, _, rest = self.path.lstrip("/").partition("/")
                targets = proxy.targets(name)
                if not targets:
                    self._reply(503, f"no healthy target in target group {name!r}\n".encode())
                    return
                ip, port = targets[next(proxy._counter) % len(targets)]
                answer = proxy.local(ip, port, "/" + rest) if proxy.local else None
                if answer is not None:
                    self._reply(*answer)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                req = urllib.request.Request(
                    f"http://{ip}:{port}/{rest}", data=body, headers=headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        self._reply(resp.status, resp.read(), resp.headers.items())
                except urllib.error.HTTPError as exc:
                    self._reply(exc.code, exc.read(), exc.headers.items())
                except OSError as exc:
                    self._reply(502, f"bad gateway: {exc}\n".encode())

            def _reply(self, status: int, body: bytes, headers: Any = ()) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in HOP_HEADERS:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="sandbox-alb", daemon=True).start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
