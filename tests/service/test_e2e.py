"""End to end: ``citymodel serve`` as a real process, a CityGML upload, every tile over HTTP.

The served tileset is walked as a client walks it (explicit tree with external tilesets, or
implicit subtrees), every file is downloaded, compared with what the job wrote, and the
downloaded copy passes check-tileset (T3D-0).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from citymodel.tiler.archive import INDEX_NAME, index_problems
from tests.service.conftest import ServerProcess, upload, wait_for
from tests.service.http_walk import download_tileset
from tests.tiler.conftest import assert_check_tileset_passes

pytestmark = pytest.mark.node


def _files_below(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "options",
    [{"implicit": False}, {"implicit": True, "output": "3tz"}],
    ids=["explicit-folder", "implicit-3tz"],
)
def test_upload_poll_fetch_every_file_and_check(
    start_server: Callable[..., ServerProcess],
    small_city: Path,
    tmp_path: Path,
    options: dict[str, object],
) -> None:
    server = start_server(None, "--job-processes", "1")
    with server.client() as client:
        response = upload(client, [small_city], options)
        assert response.status_code == 201, response.text
        job = response.json()
        assert response.headers["location"] == f"{server.url}/jobs/{job['id']}"
        assert job["status"] == "accepted"
        assert job["inputs"] == [small_city.name]

        done = wait_for(client, job["id"])
        assert done["status"] == "successful", done
        assert done["progress"]["percent"] == 100.0
        assert done["progress"]["buildings"] == 40
        assert done["result"]["buildings"] == 40
        assert done["attempts"] == 1
        tileset_url = f"{server.url}/jobs/{job['id']}/results/tileset.json"
        assert tileset_url in [link["href"] for link in done["links"]]

        fetched = download_tileset(
            client, tileset_url.removesuffix("/tileset.json"), tmp_path / "dl"
        )
        report = client.get(f"/jobs/{job['id']}/report").json()
        assert report["tiling"]["buildings"]["written"] == 40
        assert str(server.data) not in str(report), "server paths leak into the report"
        assert client.get(f"/jobs/{job['id']}/log").status_code == 200

    output = server.data / "jobs" / job["id"] / "output"
    if options.get("output") == "3tz":
        with zipfile.ZipFile(output / "tileset.3tz") as archive:
            written = {n for n in archive.namelist() if n != INDEX_NAME}
            for name in written:
                assert (tmp_path / "dl" / name).read_bytes() == archive.read(name)
        with server.client() as client:
            packed = client.get(f"/jobs/{job['id']}/results.3tz")
        assert packed.status_code == 200
        (tmp_path / "city.3tz").write_bytes(packed.content)
        assert index_problems(tmp_path / "city.3tz") == []
    else:
        written = _files_below(output)
        for name in written:
            assert (tmp_path / "dl" / name).read_bytes() == (output / name).read_bytes()
    assert set(fetched) == written, "the walk must reach every written file, and only those"
    if options.get("implicit"):
        assert any(name.startswith("subtrees/") for name in fetched)
    assert_check_tileset_passes(tmp_path / "dl" / "tileset.json")
