"""Run an ASGI app with uvicorn on a loopback port in a thread, and send raw HTTP requests.

Raw requests (``http.client``) send the request target exactly as written: no client-side
normalisation of ``..`` or percent-escapes, so path-traversal tests reach the server as an
attacker would send them.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp


@dataclass(frozen=True)
class Reply:
    """One HTTP response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class LiveServer:
    """A server on ``127.0.0.1:port``."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, target: str, headers: Mapping[str, str] | None = None) -> Reply:
        """Send ``method target`` verbatim (``target`` is not normalised or re-encoded)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            body = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        finally:
            conn.close()

    def get(self, target: str, **headers: str) -> Reply:
        """GET with headers given as keywords (``accept_encoding="gzip"``)."""
        return self.request("GET", target, {k.replace("_", "-"): v for k, v in headers.items()})

    def head(self, target: str, **headers: str) -> Reply:
        return self.request("HEAD", target, {k.replace("_", "-"): v for k, v in headers.items()})


@contextmanager
def serve(app: ASGIApp) -> Iterator[LiveServer]:
    """Serve ``app`` on a free loopback port until the block ends."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(port)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
