"""The built-in CesiumJS viewer: page, static files, CesiumJS, and ``citymodel view``'s app.

CesiumJS comes from the npm package ``cesium`` (``tools/viewer/package.json``, installed by
``make dev``) and is served from this machine at ``/cesium/``: the page needs no internet, no
Cesium ion token, and draws the globe with CesiumJS's bundled Natural Earth II imagery on the
WGS84 ellipsoid. Where CesiumJS is looked for: :data:`CESIUM_DIR_ENV` (the ``Build/Cesium``
folder), else ``tools/viewer/node_modules/cesium/Build/Cesium`` of a source checkout. Without
it the viewer page answers ``503`` with a page saying how to install it; everything else keeps
working.

Routes from :func:`viewer_routes` (mount them at the application root):

- ``/viewer/?tileset=<url>``: opens any tileset URL (same origin, or another origin serving
  CORS headers);
- ``/viewer/<name>``: opens the tileset the application resolves ``name`` to
  (:attr:`ViewerOptions.resolve`); an unknown name answers ``404``;
- ``/viewer/static/...``: the page's script and style sheet; ``/cesium/...``: CesiumJS.

The page exposes ``window.citymodelViewer`` (``ready``, ``tilesLoaded``, ``loadedTiles``,
``failedTiles``, ``error``, ``picked``, ``pickAt(x, y)``, ``setStyle(id)``, ``styles``) for
automation and tests.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from citymodel import __version__
from citymodel._typing import PathLike
from citymodel.converters.materials import SemanticMaterials, linear_to_srgb
from citymodel.errors import InputError
from citymodel.model.semantics import SurfaceType
from citymodel.service.files import (
    ArchiveSource,
    FileServer,
    FileServerOptions,
    FolderSource,
    TileSource,
)

__all__ = [
    "CESIUM_DIR_ENV",
    "ViewSite",
    "ViewerOptions",
    "find_cesium_dir",
    "tileset_location",
    "view_app",
    "viewer_routes",
]

logger = logging.getLogger(__name__)

CESIUM_DIR_ENV = "CITYMODEL_CESIUM_DIR"
"""Environment variable naming CesiumJS's ``Build/Cesium`` folder (the one with ``Cesium.js``)."""

STATIC_DIR = Path(__file__).resolve().parent / "static"
_CHECKOUT_CESIUM = (
    Path(__file__).resolve().parents[3] / "tools/viewer/node_modules/cesium/Build/Cesium"
)
_INSTALL_HINT = (
    "Install it with `make dev` (runs `npm ci` in tools/viewer of a source checkout), or point "
    f"{CESIUM_DIR_ENV} at the Build/Cesium folder of the npm package `cesium`."
)
# CesiumJS's files do not change under their URL until CesiumJS is upgraded.
_CESIUM_FILES = FileServerOptions(json_max_age=3600, content_max_age=86400)
# The page's own script and style change with citymodel; revalidate them.
_PAGE_FILES = FileServerOptions(json_max_age=0, content_max_age=0)


def find_cesium_dir() -> Path | None:
    """CesiumJS's ``Build/Cesium`` folder, or None when it is not installed.

    Looks at :data:`CESIUM_DIR_ENV` first (a wrong value is logged and skipped), then at
    ``tools/viewer/node_modules/cesium/Build/Cesium`` of the source checkout.
    """
    configured = os.environ.get(CESIUM_DIR_ENV)
    if configured:
        folder = Path(configured)
        if (folder / "Cesium.js").is_file():
            return folder
        logger.warning(
            "%s=%s has no Cesium.js (expected the Build/Cesium folder of the npm package cesium)",
            CESIUM_DIR_ENV,
            configured,
        )
    if (_CHECKOUT_CESIUM / "Cesium.js").is_file():
        return _CHECKOUT_CESIUM
    return None


def _no_tileset(_name: str) -> str | None:
    return None


def _no_listing() -> Sequence[tuple[str, str]]:
    return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewerOptions:
    """What the viewer routes serve.

    Attributes
    ----------
    resolve
        ``/viewer/<name>`` -> the URL of that tileset's JSON (a path on this server such as
        ``/jobs/<id>/results/tileset.json``, or an absolute URL), None for an unknown name.
    listing
        ``(name, url)`` of the tilesets to offer on ``/viewer/`` without a tileset.
    cesium_dir
        CesiumJS's ``Build/Cesium`` folder; None = :func:`find_cesium_dir` when the routes are
        made.
    title
        Page title.
    """

    resolve: Callable[[str], str | None] = _no_tileset
    listing: Callable[[], Sequence[tuple[str, str]]] = _no_listing
    cesium_dir: Path | None = None
    title: str = "citymodel viewer"


def _surface_palette() -> list[dict[str, str]]:
    """Legend of the default surface colours (sRGB hex), as the glTF materials carry them."""
    palette = SemanticMaterials.default_palette()
    legend = []
    for surface in SurfaceType:
        if int(surface) not in palette.colors:
            continue
        r, g, b, _ = palette.color(int(surface))
        rgb = (round(linear_to_srgb(c) * 255) for c in (r, g, b))
        legend.append(
            {"name": palette.name(int(surface)), "color": "#{:02x}{:02x}{:02x}".format(*rgb)}
        )
    return legend


def _script_json(value: Any) -> str:
    """JSON safe inside an HTML ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass(slots=True)
class _Page:
    options: ViewerOptions
    cesium_dir: Path | None
    template: str = field(init=False)
    missing: str = field(init=False)

    def __post_init__(self) -> None:
        self.template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        self.missing = (STATIC_DIR / "no-cesium.html").read_text(encoding="utf-8")

    def render(self, request: Request, name: str | None) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        no_store = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if self.cesium_dir is None:
            body = self.missing.replace("{{hint}}", html.escape(_INSTALL_HINT))
            return Response(body, status_code=503, media_type="text/html", headers=no_store)
        tileset = None
        if name:
            tileset = self.options.resolve(name)
            if tileset is None:
                return Response(
                    f"<!doctype html><title>not found</title><p>No tileset named "
                    f"<code>{html.escape(name)}</code>.</p>",
                    status_code=404,
                    media_type="text/html",
                    headers=no_store,
                )
            if tileset.startswith("/"):
                tileset = root + tileset
        config = {
            "name": name,
            "tileset": tileset,
            "tilesets": [
                {"name": n, "url": root + u if u.startswith("/") else u}
                for n, u in self.options.listing()
            ],
            "cesiumBase": f"{root}/cesium/",
            "surfacePalette": _surface_palette(),
            "version": __version__,
        }
        body = (
            self.template.replace("{{title}}", html.escape(self.options.title))
            .replace("{{cesium_json}}", _script_json(f"{root}/cesium/"))
            .replace("{{cesium}}", html.escape(f"{root}/cesium/"))
            .replace("{{static}}", html.escape(f"{root}/viewer/static/"))
            .replace("{{config}}", _script_json(config))
        )
        return Response(body, media_type="text/html", headers=no_store)


def viewer_routes(options: ViewerOptions | None = None) -> list[BaseRoute]:
    """Routes of the viewer page, its static files and CesiumJS (see the module docstring)."""
    opts = options if options is not None else ViewerOptions()
    cesium_dir = opts.cesium_dir if opts.cesium_dir is not None else find_cesium_dir()
    if cesium_dir is None:
        logger.warning("CesiumJS not found: the viewer is not available. %s", _INSTALL_HINT)
    page = _Page(opts, cesium_dir)

    async def index(request: Request) -> Response:
        return page.render(request, None)

    async def named(request: Request) -> Response:
        return page.render(request, request.path_params["name"])

    async def slash(request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{root}/viewer/{query}", status_code=308)

    routes: list[BaseRoute] = [
        Mount(
            "/viewer/static",
            app=FileServer(options=_PAGE_FILES).app(FolderSource(STATIC_DIR, archives=False)),
        ),
        Route("/viewer", slash, methods=["GET", "HEAD"]),
        Route("/viewer/", index, methods=["GET", "HEAD"]),
        Route("/viewer/{name:path}", named, methods=["GET", "HEAD"]),
    ]
    if cesium_dir is not None:
        cesium = FileServer(options=_CESIUM_FILES).app(FolderSource(cesium_dir, archives=False))
        routes.append(Mount("/cesium", app=cesium))
    return routes


def _url_name(name: str) -> str:
    """A name usable as one URL path segment: letters, digits, ``.``, ``_`` and ``-``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return cleaned or "tileset"


def tileset_location(path: PathLike) -> tuple[TileSource, str, str]:
    """What ``citymodel view PATH`` serves: ``(source, name, tileset file)``.

    Parameters
    ----------
    path
        A tileset JSON file (``out/tileset.json``; any name), a folder holding
        ``tileset.json``, or a ``.3tz`` archive.

    Returns
    -------
    tuple
        The source to serve, the name it is served under (the folder's or archive's name,
        reduced to letters, digits, ``.``, ``_`` and ``-``) and the tileset JSON's path within
        the source.

    Raises
    ------
    InputError
        When ``path`` is none of these.
    """
    target = Path(path)
    if target.is_file() and target.suffix.lower() == ".3tz":
        return ArchiveSource(target), _url_name(target.stem), "tileset.json"
    if target.is_dir():
        if not (target / "tileset.json").is_file():
            raise InputError(
                "no tileset.json in this folder (give the tileset JSON file itself)", path=target
            )
        return FolderSource(target), _url_name(target.resolve().name), "tileset.json"
    if target.is_file() and target.suffix.lower() == ".json":
        folder = target.resolve().parent
        return FolderSource(folder), _url_name(folder.name), target.name
    if not target.exists():
        raise InputError("no such file or folder", path=target)
    raise InputError(
        "not a tileset: give a tileset JSON file, its folder or a .3tz archive", path=target
    )


@dataclass(frozen=True, slots=True)
class ViewSite:
    """What :func:`view_app` made.

    Attributes
    ----------
    app
        The ASGI application.
    name
        The name the tileset is served under.
    viewer_path
        URL path of the viewer page showing it (``/viewer/<name>``).
    tileset_path
        URL path of its tileset JSON (``/tiles/<name>/tileset.json``).
    """

    app: Starlette
    name: str
    viewer_path: str
    tileset_path: str


def view_app(
    path: PathLike,
    *,
    files: FileServerOptions | None = None,
    cesium_dir: Path | None = None,
) -> ViewSite:
    """The app of ``citymodel view``: one tileset at ``/tiles/<name>/`` and the viewer.

    ``/`` redirects to ``/viewer/<name>``; ``/health`` answers ``{"status": "ok"}``.

    Parameters
    ----------
    path
        See :func:`tileset_location`.
    files
        Options of the tile file server (CORS, caching, compression).
    cesium_dir
        CesiumJS's ``Build/Cesium`` folder (default: :func:`find_cesium_dir`).

    Raises
    ------
    InputError
        When ``path`` is not a tileset.
    """
    source, name, tileset_file = tileset_location(path)
    tileset_url = f"/tiles/{name}/{tileset_file}"

    def resolve(requested: str) -> str | None:
        return tileset_url if requested.strip("/") == name else None

    async def home(request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        return RedirectResponse(f"{root}/viewer/{name}", status_code=307)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    viewer = ViewerOptions(
        resolve=resolve,
        listing=lambda: [(name, tileset_url)],
        cesium_dir=cesium_dir,
        title=f"{name} – citymodel viewer",
    )
    app = Starlette(
        routes=[
            Route("/", home, methods=["GET", "HEAD"]),
            Route("/health", health, methods=["GET", "HEAD"]),
            Mount(f"/tiles/{name}", app=FileServer(options=files).app(source)),
            *viewer_routes(viewer),
        ]
    )
    return ViewSite(app, name, f"/viewer/{name}", tileset_url)
