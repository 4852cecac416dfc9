"""The tile file server over real HTTP (uvicorn on loopback): folders and 3TZ archives.

Content types, gzip/br negotiation, ETag / If-None-Match / If-Modified-Since, byte ranges,
CORS, cache headers, HEAD, streaming of large files; path traversal in every spelling
(``..``, ``%2e%2e``, double encoding, backslashes, absolute paths, NUL, symlinks out of the
root) for folders and for names inside archives; broken and hand-crafted archives.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import struct
import zipfile
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Mount

from citymodel.service import files as files_module
from citymodel.service.files import (
    ArchiveSource,
    FileServer,
    FileServerOptions,
    FolderSource,
    media_type_for,
)
from citymodel.tiler.archive import INDEX_NAME, write_3tz
from tests.service.asgi_server import LiveServer, serve

SECRET = b"top secret: outside the served root"
TILESET = (
    b'{"asset":{"version":"1.1"},"geometricError":100,"root":{"boundingVolume":{"region":'
    b'[0.1,0.8,0.11,0.81,0,100]},"geometricError":0,"refine":"REPLACE","content":{"uri":'
    b'"content/0/0/0.glb"}},"padding":"' + b"x" * 600 + b'"}'
)
GLB = b"glTF\x02\x00\x00\x00" + bytes(range(256)) * 40  # 10 KiB, compressible
FILES: dict[str, bytes] = {
    "tileset.json": TILESET,
    "content/0/0/0.glb": GLB,
    "content/1.b3dm": b"b3dm" + bytes(2000),
    "content/2.pnts": b"pnts" + bytes(2000),
    "content/3.i3dm": b"i3dm" + bytes(2000),
    "content/4.cmpt": b"cmpt" + bytes(2000),
    "subtrees/0/0/0.subtree": b"subt" + bytes(2000),
    "model.gltf": b'{"asset":{"version":"2.0"}}' + b" " * 400,
    "textures/a.png": b"\x89PNG\r\n\x1a\n" + bytes(3000),
    "textures/b.jpg": b"\xff\xd8\xff" + bytes(3000),
    "textures/c.ktx2": b"\xabKTX 20\xbb" + bytes(3000),
    "data.weird": b"?" * 500,
    "tiny.json": b"{}",
    "Straße/ä ö.json": '{"name": "Köln"}'.encode() + b" " * 300,
}
EXPECTED_TYPES = {
    ".json": "application/json",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".b3dm": "application/octet-stream",
    ".pnts": "application/octet-stream",
    ".i3dm": "application/octet-stream",
    ".cmpt": "application/octet-stream",
    ".subtree": "application/octet-stream",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".ktx2": "image/ktx2",
    ".weird": "application/octet-stream",
}


def _write_tree(folder: Path) -> None:
    for name, data in FILES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``base/root`` (served) with a tileset, a 3TZ of it, traps; ``base/secret.txt`` outside."""
    base = tmp_path_factory.mktemp("files")
    (base / "secret.txt").write_bytes(SECRET)
    (base / "outside").mkdir()
    (base / "outside" / "tileset.json").write_bytes(SECRET)
    served = base / "root"
    _write_tree(served / "city")
    write_3tz(served / "city", served / "city.3tz")
    (served / "city" / "link_out.json").symlink_to(base / "secret.txt")
    (served / "city" / "link_dir").symlink_to(base / "outside", target_is_directory=True)
    (served / "city" / "link_in.json").symlink_to(served / "city" / "tileset.json")
    (served / "city" / "link_rel.json").symlink_to(Path("..") / ".." / "secret.txt")
    (served / ".partial-123").mkdir()
    (served / ".partial-123" / "tileset.json").write_bytes(SECRET)
    (served / "city" / ".hidden.json").write_bytes(SECRET)
    os.mkfifo(served / "city" / "fifo.json")
    (served / "gz").mkdir()
    (served / "gz" / "tileset.json").write_bytes(gzip.compress(TILESET))
    (served / "dir.3tz").mkdir()  # a folder named like an archive is just a folder
    (served / "dir.3tz" / "tileset.json").write_bytes(TILESET)
    (served / "broken.3tz").write_bytes(b"PK\x03\x04 this is not a zip archive" * 10)
    return served


def _app(root: Path) -> Starlette:
    default = FileServer()
    small = FileServer(options=FileServerOptions(memory_bytes=1000, compress_max_bytes=5000))
    private = FileServer(
        options=FileServerOptions(
            cors_origin="https://viewer.example.org",
            json_max_age=0,
            content_max_age=31536000,
            immutable=True,
        )
    )
    nocors = FileServer(options=FileServerOptions(cors_origin=None, compress=False))
    return Starlette(
        routes=[
            Mount("/d", app=default.app(FolderSource(root))),
            Mount("/a", app=default.app(ArchiveSource(root / "city.3tz"))),
            Mount("/small", app=small.app(FolderSource(root))),
            Mount("/private", app=private.app(FolderSource(root))),
            Mount("/nocors", app=nocors.app(FolderSource(root))),
        ]
    )


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[LiveServer]:
    with serve(_app(root)) as live:
        yield live


def _no_secret(reply_body: bytes) -> None:
    assert SECRET not in reply_body
    assert b"secret" not in reply_body


# -- content, types --------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/d/city", "/a", "/d/city.3tz"])
@pytest.mark.parametrize("name", sorted(FILES))
def test_every_file_is_served_byte_for_byte_with_its_type(
    server: LiveServer, prefix: str, name: str
) -> None:
    reply = server.get(f"{prefix}/{quote(name)}", accept_encoding="identity")
    assert reply.status == 200
    assert reply.body == FILES[name]
    assert reply.headers["content-length"] == str(len(FILES[name]))
    assert reply.headers["content-type"] == EXPECTED_TYPES[Path(name).suffix]
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["accept-ranges"] == "bytes"


def test_media_types_of_web_files() -> None:
    assert media_type_for("Cesium.js").startswith("text/javascript")
    assert media_type_for("a.wasm") == "application/wasm"
    assert media_type_for("widgets.css").startswith("text/css")
    assert media_type_for("A.GLB") == "model/gltf-binary"
    assert media_type_for("noext") == "application/octet-stream"


def test_symlink_inside_the_root_is_followed(server: LiveServer) -> None:
    reply = server.get("/d/city/link_in.json", accept_encoding="identity")
    assert (reply.status, reply.body) == (200, TILESET)


def test_folder_named_like_an_archive_is_a_folder(server: LiveServer) -> None:
    reply = server.get("/d/dir.3tz/tileset.json", accept_encoding="identity")
    assert (reply.status, reply.body) == (200, TILESET)


# -- compression -----------------------------------------------------------------------------


def test_gzip_when_asked(server: LiveServer) -> None:
    plain = server.get("/d/city/tileset.json", accept_encoding="identity")
    packed = server.get("/d/city/tileset.json", accept_encoding="gzip")
    assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(packed.body) == TILESET
    assert len(packed.body) < len(TILESET) / 2
    assert packed.headers["content-length"] == str(len(packed.body))
    assert "accept-encoding" in packed.headers["vary"].lower()
    assert "accept-encoding" in plain.headers["vary"].lower()
    assert "content-encoding" not in plain.headers
    assert packed.headers["etag"] != plain.headers["etag"]


def test_brotli_preferred_when_installed(server: LiveServer) -> None:
    brotli = pytest.importorskip("brotli", reason="brotli not installed: br is not offered")
    reply = server.get("/d/city/content/0/0/0.glb", accept_encoding="gzip, deflate, br")
    assert reply.headers["content-encoding"] == "br"
    assert brotli.decompress(reply.body) == GLB


def test_without_brotli_gzip_is_sent(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files_module, "_brotli", lambda: None)
    reply = server.get("/d/city/content/0/0/0.glb", accept_encoding="br, gzip")
    assert reply.headers["content-encoding"] == "gzip"
    assert gzip.decompress(reply.body) == GLB
    only_br = server.get("/d/city/content/0/0/0.glb", accept_encoding="br")
    assert "content-encoding" not in only_br.headers
    assert only_br.body == GLB


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip;q=0, br;q=0", None),
        ("identity", None),
        ("", None),
        ("*", "br"),
        ("br;q=0.5, gzip;q=0.8", "gzip"),
        ("GZIP", "gzip"),
        ("gzip;q=bogus, br;q=0.1", "br"),
    ],
)
def test_accept_encoding_q_values(server: LiveServer, accept: str, expected: str | None) -> None:
    if expected == "br" and files_module._brotli() is None:
        expected = "gzip"
    reply = server.get("/d/city/tileset.json", accept_encoding=accept)
    assert reply.headers.get("content-encoding") == expected
    assert reply.status == 200


@pytest.mark.parametrize(
    "name", ["textures/a.png", "textures/b.jpg", "textures/c.ktx2", "tiny.json"]
)
def test_incompressible_or_tiny_files_are_sent_as_they_are(server: LiveServer, name: str) -> None:
    reply = server.get(f"/d/city/{name}", accept_encoding="gzip, br")
    assert "content-encoding" not in reply.headers
    assert reply.body == FILES[name]


def _raw_entry(archive: Path, name: str) -> bytes:
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(name)
    with archive.open("rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
        nlen, xlen = struct.unpack("<HH", header[26:30])
        f.seek(info.header_offset + 30 + nlen + xlen)
        return f.read(info.compress_size)


def test_deflated_archive_entry_goes_out_as_gzip_without_recompressing(
    server: LiveServer, root: Path
) -> None:
    with zipfile.ZipFile(root / "city.3tz") as z:
        assert z.getinfo("tileset.json").compress_type == zipfile.ZIP_DEFLATED
    raw = _raw_entry(root / "city.3tz", "tileset.json")
    reply = server.get("/a/tileset.json", accept_encoding="gzip, br")
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.body[10:-8] == raw  # the archive's DEFLATE stream itself
    assert gzip.decompress(reply.body) == TILESET
    assert reply.headers["content-length"] == str(len(reply.body))
    plain = server.get("/a/tileset.json")
    assert "content-encoding" not in plain.headers
    assert plain.body == TILESET


def test_gzip_file_on_disk_is_sent_with_content_encoding(server: LiveServer) -> None:
    packed = server.get("/d/gz/tileset.json", accept_encoding="gzip")
    assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(packed.body) == TILESET
    plain = server.get("/d/gz/tileset.json", accept_encoding="identity")
    assert "content-encoding" not in plain.headers
    assert plain.body == TILESET
    assert plain.headers["content-length"] == str(len(TILESET))


# -- validators, conditional requests ----------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["/d/city/tileset.json", "/a/tileset.json", "/a/content/0/0/0.glb"]
)
@pytest.mark.parametrize("coding", ["identity", "gzip"])
def test_if_none_match_gives_304(server: LiveServer, target: str, coding: str) -> None:
    first = server.get(target, accept_encoding=coding)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = server.get(target, accept_encoding=coding, if_none_match=etag)
    assert again.status == 304
    assert again.body == b""
    assert again.headers["etag"] == etag
    assert again.headers["access-control-allow-origin"] == "*"
    assert "cache-control" in again.headers
    for header in (f"W/{etag}", f'"other", {etag}', "*"):
        assert server.get(target, accept_encoding=coding, if_none_match=header).status == 304
    assert server.get(target, accept_encoding=coding, if_none_match='"other"').status == 200


def test_etag_is_per_content_coding(server: LiveServer) -> None:
    identity = server.get("/d/city/tileset.json", accept_encoding="identity").headers["etag"]
    reply = server.get("/d/city/tileset.json", accept_encoding="gzip", if_none_match=identity)
    assert reply.status == 200
    assert reply.headers["content-encoding"] == "gzip"


def test_if_modified_since(server: LiveServer) -> None:
    first = server.get("/d/city/tileset.json")
    last_modified = first.headers["last-modified"]
    assert server.get("/d/city/tileset.json", if_modified_since=last_modified).status == 304
    assert (
        server.get("/d/city/tileset.json", if_modified_since=formatdate(0, usegmt=True)).status
        == 200
    )
    assert server.get("/d/city/tileset.json", if_modified_since="not a date").status == 200
    # If-None-Match wins over If-Modified-Since
    reply = server.get(
        "/d/city/tileset.json", if_modified_since=last_modified, if_none_match='"other"'
    )
    assert reply.status == 200


def test_rewritten_file_gets_a_new_etag_and_content(server: LiveServer, root: Path) -> None:
    path = root / "city" / "rewritten.json"
    path.write_bytes(b'{"v": 1}' + b" " * 500)
    first = server.get("/d/city/rewritten.json", accept_encoding="gzip")
    new = root / "city" / ".rewritten.tmp"
    new.write_bytes(b'{"v": 2}' + b" " * 500)
    new.replace(path)  # as writers replace outputs: a new inode
    second = server.get("/d/city/rewritten.json", accept_encoding="gzip")
    assert second.headers["etag"] != first.headers["etag"]
    assert gzip.decompress(second.body).startswith(b'{"v": 2}')
    assert server.get("/d/city/rewritten.json", if_none_match=first.headers["etag"]).status == 200


def test_rewritten_archive_is_read_again(server: LiveServer, tmp_path: Path, root: Path) -> None:
    folder = tmp_path / "v2"
    _write_tree(folder)
    (folder / "tileset.json").write_bytes(TILESET.replace(b'"version":"1.1"', b'"version":"1.0"'))
    target = root / "rotating.3tz"
    write_3tz(root / "city", target)
    assert server.get("/d/rotating.3tz/tileset.json").body == TILESET
    write_3tz(folder, target)  # atomic replace
    assert b'"version":"1.0"' in server.get("/d/rotating.3tz/tileset.json").body


# -- ranges ----------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/d/city", "/a", "/small/city", "/small/city.3tz"])
@pytest.mark.parametrize(
    ("name", "spec", "expected"),
    [
        ("content/0/0/0.glb", "bytes=0-11", slice(0, 12)),
        ("content/0/0/0.glb", "bytes=100-", slice(100, None)),
        ("content/0/0/0.glb", "bytes=-16", slice(-16, None)),
        ("content/0/0/0.glb", "bytes=5000-99999999", slice(5000, None)),
        ("tileset.json", "bytes=2-30", slice(2, 31)),  # deflated inside the archive
        ("tileset.json", "bytes=-1", slice(-1, None)),
    ],
)
def test_single_range(
    server: LiveServer, prefix: str, name: str, spec: str, expected: slice
) -> None:
    data = FILES[name]
    reply = server.get(f"{prefix}/{name}", range=spec, accept_encoding="gzip")
    assert reply.status == 206
    assert reply.body == data[expected]
    first = range(len(data))[expected][0]
    last = range(len(data))[expected][-1]
    assert reply.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    assert reply.headers["content-length"] == str(len(reply.body))
    assert "content-encoding" not in reply.headers


@pytest.mark.parametrize("prefix", ["/d/city", "/a"])
def test_unsatisfiable_range_is_416(server: LiveServer, prefix: str) -> None:
    size = len(GLB)
    for spec in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        reply = server.get(f"{prefix}/content/0/0/0.glb", range=spec)
        assert reply.status == 416, spec
        assert reply.headers["content-range"] == f"bytes */{size}"
        assert reply.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "spec", ["bytes=0-1,5-6", "items=0-5", "bytes=abc", "bytes=9-3", "bytes=", "bytes=1-2-3"]
)
def test_ranges_we_do_not_serve_give_the_whole_file(server: LiveServer, spec: str) -> None:
    reply = server.get("/d/city/content/0/0/0.glb", range=spec, accept_encoding="identity")
    assert (reply.status, reply.body) == (200, GLB)


def test_if_range(server: LiveServer) -> None:
    etag = server.get("/a/content/0/0/0.glb").headers["etag"]
    assert server.get("/a/content/0/0/0.glb", range="bytes=0-3", if_range=etag).status == 206
    stale = server.get("/a/content/0/0/0.glb", range="bytes=0-3", if_range='"stale"')
    assert (stale.status, stale.body) == (200, GLB)
    weak = server.get("/a/content/0/0/0.glb", range="bytes=0-3", if_range=f"W/{etag}")
    assert weak.status == 200


def test_range_on_a_gzip_file_is_ignored(server: LiveServer) -> None:
    reply = server.get("/d/gz/tileset.json", range="bytes=0-3", accept_encoding="identity")
    assert (reply.status, reply.body) == (200, TILESET)


# -- CORS, cache headers, HEAD, methods --------------------------------------------------------


def test_cors_headers_on_every_answer(server: LiveServer) -> None:
    for target in ("/d/city/tileset.json", "/d/city/missing.json", "/d/city/%2e%2e/x"):
        reply = server.get(target)
        assert reply.headers["access-control-allow-origin"] == "*", target
    exposed = server.get("/d/city/tileset.json").headers["access-control-expose-headers"]
    for name in ("Content-Range", "Content-Length", "ETag"):
        assert name in exposed


def test_cors_preflight(server: LiveServer) -> None:
    reply = server.request(
        "OPTIONS",
        "/d/city/content/0/0/0.glb",
        {
            "Origin": "https://other.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    assert reply.status == 204
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "GET" in reply.headers["access-control-allow-methods"]
    assert "range" in reply.headers["access-control-allow-headers"].lower()


def test_configured_origin_and_no_cors(server: LiveServer) -> None:
    reply = server.get("/private/city/tileset.json")
    assert reply.headers["access-control-allow-origin"] == "https://viewer.example.org"
    assert "origin" in reply.headers["vary"].lower()
    assert "accept-encoding" in reply.headers["vary"].lower()
    plain = server.get("/nocors/city/tileset.json", accept_encoding="gzip")
    assert "access-control-allow-origin" not in plain.headers
    assert "content-encoding" not in plain.headers  # compression switched off


def test_cache_control(server: LiveServer) -> None:
    assert server.get("/d/city/tileset.json").headers["cache-control"] == "public, max-age=10"
    assert (
        server.get("/d/city/content/0/0/0.glb").headers["cache-control"] == "public, max-age=86400"
    )
    assert server.get("/private/city/tileset.json").headers["cache-control"] == "no-cache"
    assert (
        server.get("/private/city/content/0/0/0.glb").headers["cache-control"]
        == "public, max-age=31536000, immutable"
    )


@pytest.mark.parametrize(
    "target", ["/d/city/tileset.json", "/a/tileset.json", "/small/city/content/0/0/0.glb"]
)
@pytest.mark.parametrize("coding", ["identity", "gzip"])
def test_head_has_the_headers_of_get_and_no_body(
    server: LiveServer, target: str, coding: str
) -> None:
    got = server.get(target, accept_encoding=coding)
    head = server.head(target, accept_encoding=coding)
    assert head.status == 200
    assert head.body == b""
    for name in ("content-length", "content-type", "etag", "content-encoding", "cache-control"):
        assert head.headers.get(name) == got.headers.get(name), name


def test_other_methods_are_refused(server: LiveServer) -> None:
    for method in ("POST", "PUT", "DELETE"):
        assert server.request(method, "/d/city/tileset.json").status == 405


def test_large_files_are_streamed(server: LiveServer, root: Path) -> None:
    big = os.urandom(700_000)  # several 256 KiB chunks, above memory_bytes of /small
    (root / "city" / "big.bin").write_bytes(big)
    reply = server.get("/small/city/big.bin", accept_encoding="gzip")
    assert reply.body == big  # above compress_max_bytes: not compressed
    assert reply.headers["content-length"] == str(len(big))
    partial = server.get("/small/city/big.bin", range="bytes=300000-600000")
    assert partial.body == big[300000:600001]


def test_large_gzip_file_is_inflated_while_streaming(root: Path) -> None:
    data = b'{"big": "' + os.urandom(200_000).hex().encode() + b'"}'
    (root / "gz" / "big.json").write_bytes(gzip.compress(data))
    app = FileServer(options=FileServerOptions(memory_bytes=4096)).app(FolderSource(root))
    with serve(app) as live:
        plain = live.get("/gz/big.json", accept_encoding="identity")
        assert plain.body == data
        assert "content-length" not in plain.headers  # chunked: the size is not known ahead
        packed = live.get("/gz/big.json", accept_encoding="gzip")
        assert packed.headers["content-encoding"] == "gzip"
        assert gzip.decompress(packed.body) == data


def test_large_deflated_entries_are_inflated_while_streaming(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    data = b'{"values": [' + b",".join(str(i).encode() for i in range(200_000)) + b"]}"
    (folder / "tileset.json").write_bytes(data)
    write_3tz(folder, tmp_path / "t.3tz")
    app = FileServer(options=FileServerOptions(memory_bytes=4096)).app(
        ArchiveSource(tmp_path / "t.3tz")
    )
    with serve(app) as live:
        assert live.get("/tileset.json").body == data
        assert live.get("/tileset.json", range="bytes=500000-500099").body == data[500000:500100]
        assert gzip.decompress(live.get("/tileset.json", accept_encoding="gzip").body) == data


# -- path traversal ----------------------------------------------------------------------------

TRAVERSALS = [
    "/d/../secret.txt",
    "/d/city/../../secret.txt",
    "/d/%2e%2e/secret.txt",
    "/d/%2E%2E/secret.txt",
    "/d/city/%2e%2e/%2e%2e/secret.txt",
    "/d/.%2e/secret.txt",
    "/d/%2e%2e%2fsecret.txt",
    "/d/city/..%2f..%2fsecret.txt",
    "/d/%252e%252e/secret.txt",
    "/d/%252e%252e%252fsecret.txt",
    "/d/..%5csecret.txt",
    "/d/city/..\\..\\secret.txt",
    "/d/%5c..%5csecret.txt",
    "/d//etc/passwd",
    "/d/%2fetc%2fpasswd",
    "/d/%2F..%2F..%2Fsecret.txt",
    "/d/city/tileset.json%00.png",
    "/d/city%00/tileset.json",
    "/d/city/./tileset.json/../../../secret.txt",
    "/d/city/link_out.json",
    "/d/city/link_rel.json",
    "/d/city/link_dir/tileset.json",
    "/d/.partial-123/tileset.json",
    "/d/city/.hidden.json",
    "/d/city/fifo.json",
    "/d/",
    "/d/city/",
    "/d/city.3tz/../../secret.txt",
    "/d/city.3tz/%2e%2e/%2e%2e/secret.txt",
    "/d/city.3tz/..%5c..%5csecret.txt",
    "/d/city.3tz//etc/passwd",
    "/d/city.3tz/",
    f"/d/city.3tz/{INDEX_NAME}",
    "/a/../../secret.txt",
    "/a/%2e%2e/secret.txt",
    "/a/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/a/..%5csecret.txt",
    "/a//etc/passwd",
    "/a/%2fetc%2fpasswd",
    "/a/tileset.json%00",
    "/a/./tileset.json",
    f"/a/{INDEX_NAME}",
    "/a/",
    "/a/TILESET.JSON",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_nothing_outside_the_root_or_hidden_is_served(server: LiveServer, target: str) -> None:
    reply = server.get(target, accept_encoding="identity")
    assert reply.status in (400, 404), (target, reply.status)
    _no_secret(reply.body)


def test_malformed_paths_are_400(server: LiveServer) -> None:
    for target in ("/d/%2e%2e/secret.txt", "/d/..%5csecret.txt", "/d//etc/passwd", "/d/a%00b"):
        assert server.get(target).status == 400, target
    for target in ("/d/city/link_out.json", "/d/%252e%252e/secret.txt", "/d/city/fifo.json"):
        assert server.get(target).status == 404, target


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=["a", ".", "/", "\\", "%", "2", "e", "\x00", ":", "~"], max_size=24))
def test_path_checks_hold_for_any_string(path: str) -> None:
    try:
        parts = files_module.split_path(path)
    except ValueError:
        return
    assert all(p not in ("", ".", "..") for p in parts[:-1])
    assert parts == () or parts[-1] not in (".", "..")
    assert not any("\\" in p or "\x00" in p for p in parts)
    joined = Path("/srv/root").joinpath(*parts)
    assert joined == Path("/srv/root") or joined.is_relative_to(Path("/srv/root"))


# -- archives: fallbacks and hostile contents ---------------------------------------------------


def _index_span(archive: Path) -> tuple[int, int]:
    """Offset and size of the index data in the archive."""
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(INDEX_NAME)
    with archive.open("rb") as f:
        f.seek(info.header_offset + 26)
        nlen, xlen = struct.unpack("<HH", f.read(4))
    return info.header_offset + 30 + nlen + xlen, info.file_size


@pytest.fixture
def archive_copy(root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.3tz"
    shutil.copyfile(root / "city.3tz", copy)
    return copy


def test_index_record_pointing_at_another_entry_is_not_trusted(archive_copy: Path) -> None:
    start, size = _index_span(archive_copy)
    data = bytearray(archive_copy.read_bytes())
    records = [data[start + i : start + i + 24] for i in range(0, size, 24)]
    with zipfile.ZipFile(archive_copy) as z:
        offsets = {i.filename: i.header_offset for i in z.infolist()}
    digest = hashlib.md5(b"tileset.json", usedforsecurity=False).digest()
    for i, record in enumerate(records):
        if bytes(record[:16]) == digest:  # point tileset.json's record at the png
            data[start + i * 24 + 16 : start + i * 24 + 24] = struct.pack(
                "<Q", offsets["textures/a.png"]
            )
    archive_copy.write_bytes(bytes(data))
    with serve(FileServer().app(ArchiveSource(archive_copy))) as live:
        assert live.get("/tileset.json").status == 404
        assert live.get("/textures/a.png").body == FILES["textures/a.png"]


def test_unsorted_index_falls_back_to_the_central_directory(
    archive_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    start, size = _index_span(archive_copy)
    data = bytearray(archive_copy.read_bytes())
    records = [bytes(data[start + i : start + i + 24]) for i in range(0, size, 24)]
    data[start : start + size] = b"".join(reversed(records))
    archive_copy.write_bytes(bytes(data))
    with (
        caplog.at_level(logging.WARNING),
        serve(FileServer().app(ArchiveSource(archive_copy))) as live,
    ):
        assert live.get("/tileset.json", accept_encoding="identity").body == TILESET
        assert live.get("/content/0/0/0.glb").body == GLB
    assert any("not sorted" in r.getMessage() for r in caplog.records)


def test_plain_zip_without_index_is_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "plain.3tz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("tileset.json", TILESET, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("content/0/0/0.glb", GLB)
        z.writestr("../evil.json", SECRET)  # a hostile name: never reachable
    with caplog.at_level(logging.WARNING), serve(FileServer().app(ArchiveSource(path))) as live:
        assert live.get("/tileset.json", accept_encoding="identity").body == TILESET
        assert live.get("/content/0/0/0.glb").body == GLB
        for target in ("/../evil.json", "/%2e%2e/evil.json", "/evil.json", "/..%2fevil.json"):
            reply = live.get(target)
            assert reply.status in (400, 404), target
            _no_secret(reply.body)
    assert any(INDEX_NAME in r.getMessage() for r in caplog.records)


def test_zip64_sizes_in_local_headers_are_read(tmp_path: Path) -> None:
    path = tmp_path / "zip64.3tz"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in (("tileset.json", TILESET), ("content/0/0/0.glb", GLB)):
            with z.open(name, "w", force_zip64=True) as entry:
                entry.write(data)
    with serve(FileServer().app(ArchiveSource(path))) as live:
        assert live.get("/tileset.json", accept_encoding="identity").body == TILESET
        assert live.get("/content/0/0/0.glb", range="bytes=-4").body == GLB[-4:]


def test_broken_archive_is_a_500_and_logged(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        reply = server.get("/d/broken.3tz/tileset.json")
    assert reply.status == 500
    assert b"Traceback" not in reply.body
    assert any("broken.3tz" in r.getMessage() for r in caplog.records)


def test_corrupted_entry_data_is_not_served(archive_copy: Path) -> None:
    with zipfile.ZipFile(archive_copy) as z:
        info = z.getinfo("content/0/0/0.glb")
    with archive_copy.open("r+b") as f:
        f.seek(info.header_offset + 26)
        nlen, xlen = struct.unpack("<HH", f.read(4))
        f.seek(info.header_offset + 30 + nlen + xlen + 100)
        f.write(b"\xff\xfe\xfd")
    with serve(FileServer().app(ArchiveSource(archive_copy))) as live:
        assert live.get("/content/0/0/0.glb", accept_encoding="identity").status == 500


def test_archive_missing_or_not_a_file(tmp_path: Path) -> None:
    with serve(FileServer().app(ArchiveSource(tmp_path / "nope.3tz"))) as live:
        assert live.get("/tileset.json").status == 404


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="gzip_level"):
        FileServerOptions(gzip_level=0)
    with pytest.raises(ValueError, match="json_max_age"):
        FileServerOptions(json_max_age=-1)
    with pytest.raises(ValueError, match="cors_origin"):
        FileServerOptions(cors_origin="*\r\nX-Evil: 1")
