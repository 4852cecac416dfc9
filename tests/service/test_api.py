"""The job API over HTTP: refused requests (4xx), auth, server-side paths, cancel and delete."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import (
    CITYMODEL,
    InProcessServer,
    group_members,
    upload,
    wait_for,
)

Make = Callable[..., InProcessServer]


def _jobs_on_disk(server: InProcessServer) -> list[str]:
    folder = server.config.data_dir / "jobs"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _detail(response: httpx.Response) -> str:
    return json.dumps(response.json()["detail"])


@pytest.fixture
def server(make_server: Make) -> InProcessServer:
    return make_server()


@pytest.fixture
def client(server: InProcessServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


# -- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "status", "where"),
    [
        ({"implicit": "yes"}, 422, ["body", "options", "implicit"]),
        ({"tiles_version": "1.0", "implicit": True}, 422, ["body", "options"]),
        ({"jobs": 4}, 422, ["body", "options", "jobs"]),
        ({"types": ["Spaceship"]}, 422, ["body", "options", "types"]),
        ({"in_crs": "EPSG:999999"}, 422, ["body", "options", "in_crs"]),
        ({"lod": "high"}, 422, ["body", "options", "lod"]),
        ({"compress": "zstd"}, 422, ["body", "options", "compress"]),
        ({"output": "zip"}, 422, ["body", "options", "output"]),
    ],
)
def test_bad_options_are_422_naming_the_field(
    server: InProcessServer,
    client: httpx.Client,
    small_city: Path,
    options: dict[str, object],
    status: int,
    where: list[str],
) -> None:
    response = upload(client, [small_city], options)
    assert response.status_code == status, response.text
    assert where in [e["loc"] for e in response.json()["detail"]]
    assert _jobs_on_disk(server) == [], "a refused job leaves no folder"


@pytest.mark.parametrize(("text", "message"), [("{not json", "not JSON"), ("[1]", "JSON object")])
def test_options_that_are_not_a_json_object_are_400(
    client: httpx.Client, small_city: Path, text: str, message: str
) -> None:
    response = client.post(
        "/jobs",
        files=[("file", (small_city.name, small_city.read_bytes()))],
        data={"options": text},
    )
    assert response.status_code == 400
    assert message in _detail(response)


# -- uploads ---------------------------------------------------------------------------------


def test_upload_without_file_is_400(client: httpx.Client) -> None:
    response = client.post("/jobs", files={"options": (None, "{}")})
    assert response.status_code == 400
    assert "no file" in _detail(response)


def test_unexpected_fields_are_400(client: httpx.Client, small_city: Path) -> None:
    response = client.post("/jobs", files=[("upload", (small_city.name, b"x"))])
    assert response.status_code == 400
    assert "'upload'" in _detail(response)
    response = client.post(
        "/jobs", files=[("file", (small_city.name, small_city.read_bytes()))], data={"option": "{}"}
    )
    assert response.status_code == 400
    assert "'option'" in _detail(response)


@pytest.mark.parametrize("name", ["city.txt", "city.gml.exe", "city"])
def test_bad_suffix_is_415(server: InProcessServer, client: httpx.Client, name: str) -> None:
    response = client.post("/jobs", files=[("file", (name, b"<x/>"))])
    assert response.status_code == 415, response.text
    assert ".gml" in _detail(response)
    assert _jobs_on_disk(server) == []


def test_json_that_is_not_cityjson_is_422(server: InProcessServer, client: httpx.Client) -> None:
    # .json is a CityJSON suffix, so the file is sniffed: a tileset.json is no city model
    response = client.post("/jobs", files=[("file", ("tileset.json", b'{"asset": {}}'))])
    assert response.status_code == 422, response.text
    assert "tileset.json" in _detail(response)
    assert _jobs_on_disk(server) == []


@pytest.mark.parametrize("name", [".gml", "  ", "x/..", "sub\\.hidden.gml"])
def test_unusable_file_names_are_400(client: httpx.Client, name: str) -> None:
    response = client.post("/jobs", files=[("file", (name, b"<x/>"))])
    assert response.status_code == 400, response.text


def test_folders_in_file_names_are_dropped(
    server: InProcessServer, client: httpx.Client, small_city: Path
) -> None:
    data = small_city.read_bytes()
    response = client.post("/jobs", files=[("file", ("../../../etc/evil.gml", data))])
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["inputs"] == ["evil.gml"]
    stored = server.config.data_dir / "jobs" / job["id"] / "input" / "evil.gml"
    assert stored.read_bytes() == data
    assert not (server.config.data_dir.parent / "etc").exists()


def test_duplicate_names_are_400(client: httpx.Client, small_city: Path) -> None:
    data = small_city.read_bytes()
    response = client.post("/jobs", files=[("file", ("a.gml", data)), ("file", ("a.gml", data))])
    assert response.status_code == 400
    assert "two files" in _detail(response)


def test_content_that_no_reader_knows_is_422(client: httpx.Client) -> None:
    response = client.post("/jobs", files=[("file", ("city.gml", b"<html>not a city</html>"))])
    assert response.status_code == 422
    assert "city.gml" in _detail(response)
    response = client.post("/jobs", files=[("file", ("empty.gml", b""))])
    assert response.status_code == 422
    assert "empty" in _detail(response)


def test_oversize_upload_is_413_and_leaves_nothing(make_server: Make, small_city: Path) -> None:
    server = make_server(max_upload_bytes=64 * 1024)
    data = small_city.read_bytes()[:100_000]  # over the limit (the size is checked first)
    multipart = httpx.Request("POST", "http://x/", files=[("file", ("city.gml", data))])
    body = multipart.read()
    with server.client() as client:
        response = client.post(
            "/jobs", content=body, headers={"content-type": multipart.headers["content-type"]}
        )
        assert response.status_code == 413  # from Content-Length, before reading the body
        assert "64 KiB" in _detail(response)

        def chunks() -> Iterator[bytes]:  # chunked, no Content-Length: checked while streaming
            yield from (body[i : i + 8192] for i in range(0, len(body), 8192))

        response = client.post(
            "/jobs", content=chunks(), headers={"content-type": multipart.headers["content-type"]}
        )
        assert response.status_code == 413
    assert _jobs_on_disk(server) == []


def test_truncated_upload_is_400(client: httpx.Client, small_city: Path) -> None:
    request = httpx.Request(
        "POST", "http://x/", files=[("file", ("city.gml", small_city.read_bytes()))]
    )
    body = request.read()
    response = client.post(
        "/jobs",
        content=body[: len(body) // 2],
        headers={"content-type": request.headers["content-type"]},
    )
    assert response.status_code == 400
    assert "incomplete" in _detail(response)


def test_other_media_types_are_415(client: httpx.Client) -> None:
    response = client.post("/jobs", content=b"paths=/etc", headers={"content-type": "text/plain"})
    assert response.status_code == 415


# -- auth ------------------------------------------------------------------------------------


def test_api_key_guards_write_endpoints(make_server: Make, small_city: Path) -> None:
    server = make_server(api_key="s3cret")
    with server.client() as client:
        response = upload(client, [small_city])
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert upload(client, [small_city], headers={"X-API-Key": "wrong"}).status_code == 401
        assert (
            upload(client, [small_city], headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
        first = upload(client, [small_city], headers={"Authorization": "Bearer s3cret"})
        assert first.status_code == 201
        second = upload(client, [small_city], headers={"X-API-Key": "s3cret"})
        assert second.status_code == 201
        # reading stays open
        assert client.get("/jobs").status_code == 200
        assert client.get(f"/jobs/{first.json()['id']}").status_code == 200
        job = second.json()["id"]
        assert client.delete(f"/jobs/{job}").status_code == 401
        assert client.delete(f"/jobs/{job}", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_cross_site_browser_submissions_are_refused(
    client: httpx.Client, server: InProcessServer, small_city: Path
) -> None:
    for origin in ("https://evil.example", "null"):  # "null": sandboxed frames, file pages
        response = upload(client, [small_city], headers={"Origin": origin})
        assert response.status_code == 403
    same = server.url.replace("http://", "")
    assert upload(client, [small_city], headers={"Origin": f"http://{same}"}).status_code == 201


# -- server-side paths -----------------------------------------------------------------------


@pytest.fixture
def data_root(tmp_path: Path, small_city: Path) -> Path:
    root = tmp_path / "root"
    (root / "nrw").mkdir(parents=True)
    shutil.copy(small_city, root / "nrw" / "a.gml")
    shutil.copy(small_city, root / "b.gml")
    (tmp_path / "secret").mkdir()
    shutil.copy(small_city, tmp_path / "secret" / "c.gml")
    (root / "link.gml").symlink_to(tmp_path / "secret" / "c.gml")
    (root / "nrw" / "z.gml").symlink_to(tmp_path / "secret" / "c.gml")
    return root


def test_paths_inside_the_data_roots(make_server: Make, data_root: Path) -> None:
    server = make_server(data_roots=(data_root,))
    with server.client() as client:
        response = client.post("/jobs", json={"paths": ["b.gml"], "options": {"implicit": True}})
        assert response.status_code == 201, response.text
        job = response.json()
        assert job["inputs"] == [str(data_root / "b.gml")]
        assert job["options"]["implicit"] is True
        # OGC execute form: inputs = paths + options
        response = client.post(
            "/processes/tile/execution",
            json={"inputs": {"paths": [str(data_root / "b.gml")], "tiles_version": "1.0"}},
        )
        assert response.status_code == 201, response.text
        assert response.json()["options"]["tiles_version"] == "1.0"
        assert wait_for(client, job["id"])["status"] == "successful"


@pytest.mark.parametrize(
    ("paths", "status", "text"),
    [
        (["/etc/passwd"], 403, "outside"),
        (["../secret/c.gml"], 403, "outside"),
        (["link.gml"], 403, "outside"),
        (["nrw"], 403, "links outside"),
        (["missing.gml"], 422, "no such file"),
        (["*.gml"], 422, "wildcards"),
        ([], 422, "paths"),
    ],
)
def test_paths_outside_the_data_roots_are_refused(
    make_server: Make, data_root: Path, paths: list[str], status: int, text: str
) -> None:
    server = make_server(data_roots=(data_root,))
    with server.client() as client:
        response = client.post("/jobs", json={"paths": paths})
    assert response.status_code == status, response.text
    assert text in _detail(response)
    assert _jobs_on_disk(server) == []


def test_paths_are_refused_without_data_roots(client: httpx.Client, data_root: Path) -> None:
    response = client.post("/jobs", json={"paths": [str(data_root / "b.gml")]})
    assert response.status_code == 403
    assert "--data-root" in _detail(response)


def test_bad_json_bodies(client: httpx.Client) -> None:
    response = client.post("/jobs", content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 400
    response = client.post("/jobs", json={"paths": ["a.gml"], "extra": 1})
    assert response.status_code == 422
    assert ["body", "extra"] in [e["loc"] for e in response.json()["detail"]]


# -- reading jobs ----------------------------------------------------------------------------


def test_unknown_jobs_are_404(client: httpx.Client) -> None:
    for url in (
        "/jobs/0b0b0b0b-0000-4000-8000-000000000000",
        "/jobs/not-a-job",
        "/jobs/..%2F..%2Fetc/report",
        "/jobs/0b0b0b0b-0000-4000-8000-000000000000/results/tileset.json",
    ):
        assert client.get(url).status_code == 404, url


def test_list_processes_docs_and_health(client: httpx.Client, small_city: Path) -> None:
    ids = [upload(client, [small_city]).json()["id"] for _ in range(3)]
    listed = client.get("/jobs", params={"limit": 2}).json()
    assert listed["numberMatched"] == 3
    assert [j["id"] for j in listed["jobs"]] == ids[::-1][:2]
    assert [link["rel"] for link in listed["links"]] == ["self", "next"]
    nothing = client.get("/jobs", params={"status": "failed"}).json()
    assert nothing["jobs"] == [] and nothing["numberMatched"] == 0
    assert client.get("/jobs", params={"status": "finished"}).status_code == 422

    process = client.get("/processes/tile").json()
    assert {"file", "paths", "implicit", "tiles_version", "output"} <= set(process["inputs"])
    assert client.get("/processes").json()["processes"][0]["id"] == "tile"

    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/jobs"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    assert "TileJobOptions" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200

    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert sum(health["jobs"].values()) == 3


def test_report_and_results_wait_for_success(client: httpx.Client, small_city: Path) -> None:
    job = upload(client, [small_city], {"lod": 2}).json()
    assert job["options"]["lod"] == "2"
    assert client.get(f"/jobs/{job['id']}/results/tileset.json").status_code in (404,)
    done = wait_for(client, job["id"])
    assert done["status"] == "successful"
    assert (
        client.get(f"/jobs/{job['id']}/results")
        .json()["tileset"]["href"]
        .endswith("/results/tileset.json")
    )
    assert client.get(f"/jobs/{job['id']}/results.3tz").status_code == 404
    # the results are served by the tile file server: HEAD, CORS preflight, ETag, Range
    url = f"/jobs/{job['id']}/results/tileset.json"
    full = client.get(url)
    assert full.headers["access-control-allow-origin"] == "*"
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == full.headers["etag"]
    assert client.get(url, headers={"If-None-Match": full.headers["etag"]}).status_code == 304
    part = client.get(url, headers={"Range": "bytes=0-9", "Accept-Encoding": "identity"})
    assert part.status_code == 206 and part.content == full.content[:10]
    preflight = client.options(
        url, headers={"Origin": "https://viewer.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 204
    assert client.get(f"/jobs/{job['id']}/results/../job.json").status_code in (400, 404)
    assert client.get(f"/jobs/{job['id']}/results/%2e%2e/job.json").status_code in (400, 404)
    report = client.get(f"/jobs/{job['id']}/report")
    assert report.headers["content-type"] == "application/json"
    assert report.json()["counts"]["skipped"] == 0

    viewer = next(link for link in done["links"] if link["rel"] == "alternate")
    assert viewer["href"].endswith(f"/viewer/{job['id']}")
    page = client.get(viewer["href"])
    if page.status_code != 503:  # 503: CesiumJS is not installed (the page says how)
        assert page.status_code == 200
        assert f"/jobs/{job['id']}/results/tileset.json" in page.text
        assert f"/jobs/{job['id']}/results/tileset.json" in client.get("/viewer/").text
        assert client.get("/viewer/0b0b0b0b-0000-4000-8000-000000000000").status_code == 404


def test_landing_page(client: httpx.Client) -> None:
    links = {link["rel"]: link["href"] for link in client.get("/").json()["links"]}
    assert links["service-desc"].endswith("/openapi.json")
    assert links["http://www.opengis.net/def/rel/ogc/1.0/job-list"].endswith("/jobs")
    browser = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert browser.status_code == 307
    assert browser.headers["location"] == "/viewer/"


def test_failed_job_says_why(
    server: InProcessServer, client: httpx.Client, small_city: Path
) -> None:
    job = upload(client, [small_city], {"in_crs": "EPSG:4326"}).json()
    done = wait_for(client, job["id"])
    assert done["status"] == "failed"
    assert done["message"], "a failed job carries the reason"
    assert str(server.config.data_dir) not in done["message"]
    report = client.get(f"/jobs/{job['id']}/report").json()
    assert report["error"] == done["message"]


# -- cancel and delete -----------------------------------------------------------------------


def _running(document: dict[str, object]) -> bool:
    progress = document["progress"]
    assert isinstance(progress, dict)
    return document["status"] == "running" and progress["stage"] in ("read", "write")


def test_cancel_running_and_queued_jobs_then_delete(
    make_server: Make, big_city: list[Path], small_city: Path
) -> None:
    server = make_server(job_processes=2, max_queued=1)
    with server.client() as client:
        running = upload(client, big_city).json()
        wait_for(client, running["id"], _running)
        queued = upload(client, [small_city]).json()
        full = upload(client, [small_city])
        assert full.status_code == 503
        assert full.headers["retry-after"] == "60"

        cancelled = client.delete(f"/jobs/{queued['id']}").json()
        assert cancelled["status"] == "dismissed"
        assert "before it started" in cancelled["message"]

        leader = server.config.data_dir / "jobs.sqlite"
        import sqlite3

        with sqlite3.connect(leader) as db:
            (pid,) = db.execute("SELECT pid FROM jobs WHERE id = ?", (running["id"],)).fetchone()
        assert group_members(pid)
        response = client.delete(f"/jobs/{running['id']}")
        assert response.status_code == 200
        assert response.json()["status"] == "dismissed"
        assert group_members(pid) == [], "the job and its tiler workers are killed"
        folder = server.config.data_dir / "jobs" / running["id"]
        assert not (folder / "output").exists()
        assert (folder / "input").is_dir()

        gone = client.delete(f"/jobs/{running['id']}")
        assert gone.status_code == 200
        assert gone.json()["message"] == "deleted with its results"
        assert client.get(f"/jobs/{running['id']}").status_code == 404
        assert not folder.exists()
        assert client.get(f"/jobs/{queued['id']}").json()["attempts"] == 0


def test_second_server_on_the_same_folder_is_refused(server: InProcessServer) -> None:
    result = subprocess.run(
        [str(CITYMODEL), "serve", "--data", str(server.config.data_dir), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "used by another citymodel server" in result.stderr
