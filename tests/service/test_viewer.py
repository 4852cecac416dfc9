"""The viewer page, CesiumJS serving, ``view_app`` and the ``citymodel view`` command.

The page itself (CesiumJS drawing a tileset, picking) is tested in a browser by
``test_viewer_render.py``; here: what the server sends, for every way of naming a tileset, with
and without CesiumJS installed, under a path prefix, and that nothing from the request or a
tileset name can break out of the page's markup.
"""

from __future__ import annotations

import json
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from citymodel.errors import InputError
from citymodel.service import viewer as viewer_module
from citymodel.service.viewer import (
    CESIUM_DIR_ENV,
    ViewerOptions,
    find_cesium_dir,
    tileset_location,
    view_app,
    viewer_routes,
)
from citymodel.tiler.archive import write_3tz
from tests.service.asgi_server import LiveServer, serve

CITYMODEL = Path(sys.executable).parent / "citymodel"
TILESET = b'{"asset":{"version":"1.1"},"geometricError":1,"root":{"geometricError":0}}'


@pytest.fixture(scope="module")
def fake_cesium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for CesiumJS's Build/Cesium folder (the page is not run here)."""
    folder = tmp_path_factory.mktemp("cesium") / "Build" / "Cesium"
    (folder / "Widgets").mkdir(parents=True)
    (folder / "Cesium.js").write_text("window.Cesium = {};\n" + "// pad\n" * 100)
    (folder / "Widgets" / "widgets.css").write_text("body {}\n")
    (folder / "Assets" / "Textures" / "NaturalEarthII").mkdir(parents=True)
    (folder / "Assets" / "Textures" / "NaturalEarthII" / "tilemapresource.xml").write_text("<x/>")
    return folder


@pytest.fixture(scope="module")
def tileset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tilesets") / "My City (2024)"
    (folder / "content").mkdir(parents=True)
    (folder / "tileset.json").write_bytes(TILESET)
    (folder / "content" / "a.glb").write_bytes(b"glTF" + bytes(100))
    return folder


def config_of(page: str) -> dict[str, object]:
    match = re.search(
        r'<script type="application/json" id="citymodel-config">(.*?)</script>', page, re.S
    )
    assert match, page[:500]
    parsed: dict[str, object] = json.loads(match.group(1))
    return parsed


@pytest.fixture
def site(tileset_dir: Path, fake_cesium: Path) -> Iterator[LiveServer]:
    with serve(view_app(tileset_dir, cesium_dir=fake_cesium).app) as live:
        yield live


def test_view_app_serves_page_tiles_cesium_and_health(site: LiveServer) -> None:
    home = site.get("/")
    assert home.status == 307
    assert home.headers["location"].endswith("/viewer/My-City-2024")
    page = site.get("/viewer/My-City-2024")
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    text = page.body.decode()
    config = config_of(text)
    assert config["tileset"] == "/tiles/My-City-2024/tileset.json"
    assert config["cesiumBase"] == "/cesium/"
    assert config["tilesets"] == [
        {"name": "My-City-2024", "url": "/tiles/My-City-2024/tileset.json"}
    ]
    palette = {p["name"]: p["color"] for p in config["surfacePalette"]}  # type: ignore[union-attr]
    assert palette["roof"] == "#8b3a2b"  # the writer's default roof colour, sRGB
    assert 'window.CESIUM_BASE_URL = "/cesium/"' in text
    assert 'src="/cesium/Cesium.js"' in text
    assert 'src="/viewer/static/viewer.js"' in text
    tiles = site.get("/tiles/My-City-2024/tileset.json", accept_encoding="identity")
    assert tiles.body == TILESET
    assert tiles.headers["access-control-allow-origin"] == "*"
    assert site.get("/tiles/My-City-2024/content/a.glb").status == 200
    cesium = site.get("/cesium/Cesium.js")
    assert cesium.status == 200
    assert cesium.headers["content-type"].startswith("text/javascript")
    assert site.get("/cesium/Widgets/widgets.css").headers["content-type"].startswith("text/css")
    for name in ("viewer.js", "viewer.css"):
        static = site.get(f"/viewer/static/{name}")
        assert static.status == 200, name
        assert static.body == (viewer_module.STATIC_DIR / name).read_bytes()
    health = site.get("/health")
    assert (health.status, json.loads(health.body)) == (200, {"status": "ok"})


def test_viewer_with_a_tileset_url_and_without_one(site: LiveServer) -> None:
    plain = config_of(site.get("/viewer/").body.decode())
    assert plain["tileset"] is None
    assert plain["name"] is None
    redirect = site.get("/viewer?tileset=/x/tileset.json")
    assert redirect.status == 308
    assert redirect.headers["location"].endswith("/viewer/?tileset=/x/tileset.json")


def test_unknown_tileset_name_is_404(site: LiveServer) -> None:
    reply = site.get("/viewer/nope%3Cscript%3E")
    assert reply.status == 404
    assert b"<script>" not in reply.body
    assert b"nope&lt;script&gt;" in reply.body


def test_static_and_cesium_paths_cannot_escape(site: LiveServer) -> None:
    for target in (
        "/viewer/static/../viewer.py",
        "/viewer/static/%2e%2e/viewer.py",
        "/cesium/../../../etc/passwd",
        "/cesium/%2e%2e/%2e%2e/Cesium.js",
        "/tiles/My-City-2024/../../secret",
    ):
        reply = site.get(target)
        assert reply.status in (400, 404), target
        assert b"def viewer_routes" not in reply.body


def test_names_and_urls_cannot_break_out_of_the_page(fake_cesium: Path) -> None:
    hostile = '</script><script>alert("x")</script><!--'

    options = ViewerOptions(
        resolve=lambda name: f"/t/{name}/{hostile}.json",
        listing=lambda: [(hostile, f"https://example.org/{hostile}")],
        cesium_dir=fake_cesium,
        title=hostile,
    )
    with serve(Starlette(routes=viewer_routes(options))) as live:
        page = live.get("/viewer/a%22b").body.decode()
    assert "<script>alert" not in page
    assert page.count("</script>") == page.count("<script")  # no element closed early
    config = config_of(page)
    assert config["tileset"] == f'/t/a"b/{hostile}.json'
    assert config["tilesets"] == [{"name": hostile, "url": f"https://example.org/{hostile}"}]


def test_under_a_path_prefix_every_url_carries_it(tileset_dir: Path, fake_cesium: Path) -> None:
    inner = view_app(tileset_dir, cesium_dir=fake_cesium).app
    with serve(Starlette(routes=[Mount("/city-viewer", app=inner)])) as live:
        page = live.get("/city-viewer/viewer/My-City-2024").body.decode()
        config = config_of(page)
        assert config["tileset"] == "/city-viewer/tiles/My-City-2024/tileset.json"
        assert config["cesiumBase"] == "/city-viewer/cesium/"
        assert 'src="/city-viewer/viewer/static/viewer.js"' in page
        assert live.get("/city-viewer/cesium/Cesium.js").status == 200
        assert (
            live.get("/city-viewer/")
            .headers["location"]
            .endswith("/city-viewer/viewer/My-City-2024")
        )


def test_without_cesium_the_page_says_how_to_install_it(
    tileset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(viewer_module, "_CHECKOUT_CESIUM", tmp_path / "absent")
    monkeypatch.setenv(CESIUM_DIR_ENV, str(tmp_path / "also-absent"))
    assert find_cesium_dir() is None
    with serve(view_app(tileset_dir).app) as live:
        page = live.get("/viewer/My-City-2024")
        assert page.status == 503
        assert b"make dev" in page.body
        assert CESIUM_DIR_ENV.encode() in page.body
        assert live.get("/cesium/Cesium.js").status == 404
        # the tiles are served anyway
        assert live.get("/tiles/My-City-2024/tileset.json").status == 200


def test_find_cesium_dir_prefers_the_environment(
    fake_cesium: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(viewer_module, "_CHECKOUT_CESIUM", tmp_path / "absent")
    monkeypatch.setenv(CESIUM_DIR_ENV, str(fake_cesium))
    assert find_cesium_dir() == fake_cesium
    monkeypatch.delenv(CESIUM_DIR_ENV)
    assert find_cesium_dir() is None
    monkeypatch.setattr(viewer_module, "_CHECKOUT_CESIUM", fake_cesium)
    monkeypatch.setenv(CESIUM_DIR_ENV, str(tmp_path))  # wrong: no Cesium.js there
    assert find_cesium_dir() == fake_cesium


def test_tileset_location_accepts_json_folder_and_archive(
    tileset_dir: Path, tmp_path: Path
) -> None:
    _, name, file = tileset_location(tileset_dir)
    assert (name, file) == ("My-City-2024", "tileset.json")
    other = tileset_dir / "other.json"
    other.write_bytes(TILESET)
    _, name, file = tileset_location(other)
    assert (name, file) == ("My-City-2024", "other.json")
    write_3tz(tileset_dir, tmp_path / "städte.3tz")
    _, name, file = tileset_location(tmp_path / "städte.3tz")
    assert (name, file) == ("st-dte", "tileset.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no tileset\.json"):
        tileset_location(tmp_path / "empty")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(InputError, match="not a tileset"):
        tileset_location(tmp_path / "x.txt")
    with pytest.raises(InputError, match="no such file"):
        tileset_location(tmp_path / "missing")


def test_view_app_of_an_archive(tileset_dir: Path, tmp_path: Path, fake_cesium: Path) -> None:
    archive = write_3tz(tileset_dir, tmp_path / "city.3tz")
    site = view_app(archive, cesium_dir=fake_cesium)
    assert (site.name, site.viewer_path) == ("city", "/viewer/city")
    with serve(site.app) as live:
        reply = live.get("/tiles/city/tileset.json", accept_encoding="gzip")
        assert reply.headers["content-encoding"] == "gzip"
        assert live.get("/tiles/city/content/a.glb").status == 200
        assert config_of(live.get("/viewer/city").body.decode())["tileset"] == (
            "/tiles/city/tileset.json"
        )


# -- the command ------------------------------------------------------------------------------


def _start_view(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(CITYMODEL), "view", *args, "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        if ready:
            line = proc.stderr.readline()
            lines.append(line)
            match = re.search(r"at (http://\S+)", line)
            if match:
                return proc, match.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    _, rest = proc.communicate(timeout=30)
    raise AssertionError("citymodel view did not start: " + "".join(lines) + rest)


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@pytest.mark.parametrize("kind", ["folder", "json", "archive"])
def test_citymodel_view_serves_the_tileset(tileset_dir: Path, tmp_path: Path, kind: str) -> None:
    target = {
        "folder": tileset_dir,
        "json": tileset_dir / "tileset.json",
        "archive": write_3tz(tileset_dir, tmp_path / "city.3tz"),
    }[kind]
    proc, url = _start_view(str(target))
    try:
        base = url.split("/viewer/")[0]
        _wait_ready(base)
        name = url.rsplit("/", 1)[1]
        with httpx.Client(base_url=base) as client:
            page = client.get(f"/viewer/{name}")
            assert page.status_code in (200, 503)  # 503 when CesiumJS is not installed here
            tiles = client.get(f"/tiles/{name}/tileset.json")
            assert (tiles.status_code, tiles.content) == (200, TILESET)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode in (0, -15)  # uvicorn re-raises SIGTERM after a clean shutdown


def test_citymodel_view_refuses_what_is_not_a_tileset(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    done = subprocess.run(
        [str(CITYMODEL), "view", str(tmp_path / "notes.txt"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "not a tileset" in done.stderr
    missing = subprocess.run(
        [str(CITYMODEL), "view", str(tmp_path / "missing"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
