"""``citymodel view``: serve one tileset with the built-in CesiumJS viewer (``service`` extra)."""

from __future__ import annotations

import logging
import socket
import threading
import time
import webbrowser
from pathlib import Path

import click

from citymodel.errors import MissingDependencyError

__all__ = ["view"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port), so the URL is known before serving."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise click.BadParameter(f"{host}: {err.strerror}", param_hint="--host") from err
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {err.strerror}") from err
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@click.command()
@click.argument("tileset", type=click.Path(exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the viewer in the web browser.")
@click.option(
    "--cors-origin",
    default="*",
    show_default=True,
    help="Access-Control-Allow-Origin of the tiles (pages on other origins may load them); "
    "'' sends none.",
)
def view(tileset: Path, host: str, port: int, open_browser: bool, cors_origin: str) -> None:
    """Serve TILESET (a tileset JSON file, its folder or a .3tz archive) with a web viewer.

    The viewer (CesiumJS, served from this machine: no internet needed) opens at
    http://HOST:PORT/viewer/NAME; the tiles are at http://HOST:PORT/tiles/NAME/. Stop with
    Ctrl+C.
    """
    try:
        import uvicorn

        from citymodel.service.files import FileServerOptions
        from citymodel.service.viewer import find_cesium_dir, view_app
    except ImportError as err:
        raise MissingDependencyError(err.name or "starlette", "service") from err

    files = FileServerOptions(cors_origin=cors_origin or None, json_max_age=0)
    site = view_app(tileset, files=files)
    sock = _bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    url = f"http://{shown}:{bound_port}{site.viewer_path}"
    if host not in _LOOPBACK:
        logging.getLogger("citymodel").warning(
            "listening on %s: everyone who reaches this address can read the tiles", host
        )
    if find_cesium_dir() is None:
        logging.getLogger("citymodel").warning(
            "CesiumJS is not installed: the viewer page explains how; the tiles are served anyway"
        )
    click.echo(f"citymodel: serving {tileset} at {url} (Ctrl+C to stop)", err=True)
    config = uvicorn.Config(
        site.app,
        log_level="info"
        if logging.getLogger("citymodel").isEnabledFor(logging.INFO)
        else "warning",
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    if open_browser:

        def open_when_started() -> None:
            for _ in range(200):
                if server.started:
                    webbrowser.open(url)
                    return
                time.sleep(0.05)

        threading.Thread(target=open_when_started, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
