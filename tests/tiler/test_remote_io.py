"""Inputs and outputs at fsspec URLs: a real S3 server on loopback (moto) and ``memory://``.

The S3 tests run moto's ``ThreadedMotoServer`` on 127.0.0.1 and point s3fs at it through the
environment (``AWS_ENDPOINT_URL`` and test credentials), as a deployment on MinIO or Ceph would.
Tiles built from and to the bucket must be byte-identical to tiles built from a local copy.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citymodel.converters.convert import convert
from citymodel.errors import InputError, OutputError
from citymodel.remote import RemoteFile, expand_url, is_url, local_path, remote_error
from citymodel.synthetic import SyntheticCityOptions, write_city_tiles
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.partition import PartitionOptions

fsspec = pytest.importorskip("fsspec", reason="the 'cloud' extra (fsspec) is not installed")

LEAVES = PartitionOptions(max_units=20)
CLI = [sys.executable, "-c", "from citymodel.cli.main import main; main()"]


def options(**kwargs: Any) -> TileOptions:
    return TileOptions(**({"jobs": 1, "partition": LEAVES} | kwargs))


def files_of(out: Path) -> dict[str, bytes]:
    if out.is_file():
        return {out.name: out.read_bytes()}
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def remote_files(fs: Any, root: str) -> dict[str, bytes]:
    fs.invalidate_cache()
    root = root.rstrip("/")
    return {p[len(root) + 1 :]: fs.cat_file(p) for p in fs.find(root)}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of four CityGML files (90 buildings)."""
    folder = tmp_path_factory.mktemp("city")
    write_city_tiles(folder, SyntheticCityOptions(n_buildings=90, seed=5, tile_size_m=250))
    return folder


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process's temporary folder, to see what a run leaves behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# -- memory:// (in this process) ---------------------------------------------------------------


@pytest.fixture
def memory() -> Iterator[tuple[Any, str]]:
    """The memory file system and a fresh bucket-like prefix in it (removed afterwards)."""
    fs = fsspec.filesystem("memory")
    prefix = f"/b{uuid.uuid4().hex[:12]}"
    try:
        yield fs, prefix
    finally:
        if fs.exists(prefix):
            fs.rm(prefix, recursive=True)


def upload(fs: Any, folder: Path, prefix: str) -> None:
    for path in sorted(folder.glob("*.gml")):
        fs.put_file(str(path), f"{prefix}/{path.name}")


def test_url_recognition() -> None:
    assert is_url("s3://bucket/city/") and is_url("memory://x") and is_url("file:///data")
    assert not is_url("city/a.gml") and not is_url("/data/a.gml") and not is_url("C:\\data")
    assert not is_url(Path("s3://bucket"))  # a Path is always local
    assert local_path("file:///data/city%20a") == Path("/data/city a")
    assert local_path("s3://bucket/x") is None
    with pytest.raises(InputError, match="local path"):
        local_path("file://otherhost/data")


def test_tileset_from_and_to_memory_is_byte_identical(
    city: Path, memory: tuple[Any, str], tmp_path: Path, private_tmp: Path
) -> None:
    fs, prefix = memory
    upload(fs, city, f"{prefix}/city")
    url = f"memory://{prefix}/out/city"
    report = build_tileset([f"memory://{prefix}/city/"], url, options=options())
    local = build_tileset([city], tmp_path / "local", options=options())
    expected = files_of(tmp_path / "local")
    assert remote_files(fs, f"{prefix}/out/city") == expected
    assert report.outputs == [url]
    assert report.extra["tiling"]["output"] == url
    assert all(i.startswith(f"memory://{prefix}/city/") for i in report.inputs)
    assert len(report.inputs) == len(local.inputs) == 4
    assert report.extra["tiling"]["buildings"] == local.extra["tiling"]["buildings"]
    assert list(private_tmp.iterdir()) == []  # staging, copies and packed files are gone


def test_glob_and_3tz_archive(city: Path, memory: tuple[Any, str], tmp_path: Path) -> None:
    fs, prefix = memory
    upload(fs, city, f"{prefix}/city")
    url = f"memory://{prefix}/out/city.3tz"
    build_tileset([f"memory://{prefix}/city/*_NW.gml"], url, options=options())
    build_tileset([city], tmp_path / "city.3tz", options=options())
    assert fs.cat_file(f"{prefix}/out/city.3tz") == (tmp_path / "city.3tz").read_bytes()


class _Recorder:
    """Records uploads and deletions of a memory file system, with the state at each step."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fs: Any, entry: str) -> None:
        self.events: list[tuple[str, str, bool]] = []
        cls = type(fs)
        put_file, rm_file = cls.put_file, cls._rm

        def recording_put(this: Any, lpath: str, rpath: str, **kw: Any) -> None:
            self.events.append(("put", rpath, this.exists(entry)))
            put_file(this, lpath, rpath, **kw)

        def recording_rm(this: Any, path: str) -> None:
            self.events.append(("rm", path, this.exists(entry)))
            rm_file(this, path)

        monkeypatch.setattr(cls, "put_file", recording_put)
        monkeypatch.setattr(cls, "_rm", recording_rm)


def test_replacing_a_tileset_never_shows_a_mixture(
    city: Path, memory: tuple[Any, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old tileset.json deleted first, contents uploaded, tileset.json last, stale files removed."""
    fs, prefix = memory
    url, root = f"memory://{prefix}/out/city", f"{prefix}/out/city"
    build_tileset([city], url, options=options(implicit=True))  # the previous version
    assert any(name.startswith("subtrees/") for name in remote_files(fs, root))
    entry = f"{root}/tileset.json"
    recorder = _Recorder(monkeypatch, fs, entry)
    build_tileset([city], url, options=options())
    events = [e for e in recorder.events if e[1].startswith(f"{root}/")]  # not the probe
    assert events[0] == ("rm", entry, True)
    puts = [e for e in events if e[0] == "put"]
    assert puts[-1][1] == entry
    assert all(not exists for _, path, exists in puts if path != entry)  # no old entry meanwhile
    stale = [e for e in events[events.index(puts[-1]) :] if e[0] == "rm"]
    assert stale and all("subtrees/" in path or "content/" in path for _, path, _ in stale)
    build_tileset([city], tmp_path / "local", options=options())
    assert remote_files(fs, root) == files_of(tmp_path / "local")


def test_failed_upload_leaves_no_tileset_json(
    city: Path, memory: tuple[Any, str], monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    fs, prefix = memory
    url, root = f"memory://{prefix}/out/city", f"{prefix}/out/city"
    build_tileset([city], url, options=options(implicit=True))
    put_file = type(fs).put_file
    calls = []

    def failing_put(this: Any, lpath: str, rpath: str, **kw: Any) -> None:
        calls.append(rpath)
        if len(calls) == 2:
            raise PermissionError(13, "Access Denied")
        put_file(this, lpath, rpath, **kw)

    monkeypatch.setattr(type(fs), "put_file", failing_put)
    with pytest.raises(OutputError) as caught:
        build_tileset([city], url, options=options())
    message = str(caught.value)
    assert message.startswith(f"{url}: upload failed: access denied") and "\n" not in message
    fs.invalidate_cache()
    assert not fs.exists(f"{root}/tileset.json")
    assert list(private_tmp.iterdir()) == []


def test_failed_run_leaves_the_previous_tileset(
    city: Path, memory: tuple[Any, str], tmp_path: Path
) -> None:
    fs, prefix = memory
    url, root = f"memory://{prefix}/out/city", f"{prefix}/out/city"
    build_tileset([city], url, options=options())
    before = remote_files(fs, root)
    fs.pipe_file(f"{prefix}/bad/broken.gml", b"<CityModel><unclosed>")
    with pytest.raises(InputError) as caught:
        build_tileset([f"memory://{prefix}/bad/"], url, options=options())
    assert f"memory://{prefix}/bad/broken.gml" in str(caught.value)
    assert "citymodel-input-" not in str(caught.value)  # the URL, never the local copy
    assert remote_files(fs, root) == before
    fs.pipe_file(f"{prefix}/new/only.gml", b"<CityModel><unclosed>")
    with pytest.raises(InputError):
        build_tileset([f"memory://{prefix}/new/"], f"memory://{prefix}/out/new", options=options())
    fs.invalidate_cache()
    assert not fs.exists(f"{prefix}/out/new/tileset.json")


def test_skip_records_name_the_url(
    city: Path, memory: tuple[Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The report and the log name the URL, never the local copy that was read."""
    fs, prefix = memory
    source = sorted(city.glob("*.gml"))[0].read_text(encoding="utf-8")
    empty = '<core:cityObjectMember><bldg:Building gml:id="DENW_EMPTY_1"/></core:cityObjectMember>'
    text = source.replace("</core:CityModel>", empty + "</core:CityModel>")
    fs.pipe_file(f"{prefix}/city/with_empty.gml", text.encode())
    report = build_tileset(
        [f"memory://{prefix}/city/with_empty.gml"], f"memory://{prefix}/out", options=options()
    )
    assert [(s.id, s.file) for s in report.skipped] == [
        ("DENW_EMPTY_1", f"memory://{prefix}/city/with_empty.gml")
    ]
    skipped = [r.getMessage() for r in caplog.records if "DENW_EMPTY_1" in r.getMessage()]
    assert skipped and all(f"memory://{prefix}/city/with_empty.gml" in m for m in skipped)
    assert not any("citymodel-input-" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("existing", "message"),
    [
        ({"notes.txt": b"x"}, "holds no tileset.json; refusing"),
        ({"": b"a file"}, "exists and is not a folder"),
    ],
)
def test_output_rules_as_for_local_folders(
    city: Path, memory: tuple[Any, str], existing: dict[str, bytes], message: str
) -> None:
    fs, prefix = memory
    for name, data in existing.items():
        fs.pipe_file(f"{prefix}/out/city" + (f"/{name}" if name else ""), data)
    with pytest.raises(OutputError, match=message):
        build_tileset([city], f"memory://{prefix}/out/city", options=options())
    with pytest.raises(OutputError, match="not a JSON file"):
        build_tileset([city], f"memory://{prefix}/out/tileset.json", options=options())


def test_listing_errors_name_the_url(memory: tuple[Any, str]) -> None:
    fs, prefix = memory
    with pytest.raises(InputError, match="not found") as caught:
        expand_url(f"memory://{prefix}/nothing/", suffixes=(".gml",))
    assert str(caught.value).startswith(f"memory://{prefix}/nothing/: cannot list the input")
    fs.pipe_file(f"{prefix}/other/readme.txt", b"x")
    with pytest.raises(InputError, match="holds no city model files"):
        expand_url(f"memory://{prefix}/other", suffixes=(".gml",))
    with pytest.raises(InputError, match="pattern matches no files"):
        expand_url(f"memory://{prefix}/other/*.gml", suffixes=(".gml",))
    with pytest.raises(InputError, match="unsupported URL"):
        expand_url("nosuchprotocol://x/y.gml", suffixes=(".gml",))


def test_remote_error_messages_are_one_line() -> None:
    denied = remote_error("s3://b/x", PermissionError("Forbidden\nmore"), what="cannot read")
    assert str(denied) == "s3://b/x: cannot read: access denied (Forbidden)"
    out = remote_error("s3://b/x", OSError("boom"), what="upload failed", output=True)
    assert isinstance(out, OutputError) and str(out) == "s3://b/x: upload failed: boom"

    class NoCredentialsError(Exception):
        pass

    creds = remote_error("s3://b/x", NoCredentialsError("Unable"), what="cannot list")
    assert "no valid credentials" in str(creds) and "AWS_ENDPOINT_URL" in str(creds)
    other = remote_error("gs://b/x", NoCredentialsError("Unable"), what="cannot list")
    assert "no valid credentials" in str(other) and "AWS" not in str(other)


def test_convert_from_and_to_memory(
    city: Path, memory: tuple[Any, str], tmp_path: Path, private_tmp: Path
) -> None:
    fs, prefix = memory
    upload(fs, city, f"{prefix}/city")
    report = convert([f"memory://{prefix}/city/"], f"memory://{prefix}/out/city.glb")
    convert([city], tmp_path / "city.glb")
    assert fs.cat_file(f"{prefix}/out/city.glb") == (tmp_path / "city.glb").read_bytes()
    assert report.outputs == [f"memory://{prefix}/out/city.glb"]
    convert([f"memory://{prefix}/city/"], f"memory://{prefix}/out/city.obj")
    convert([city], tmp_path / "city.obj")
    assert fs.cat_file(f"{prefix}/out/city.mtl") == (tmp_path / "city.mtl").read_bytes()
    assert fs.cat_file(f"{prefix}/out/city.obj") == (tmp_path / "city.obj").read_bytes()
    assert list(private_tmp.iterdir()) == []


def test_file_urls_are_local_paths(city: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_tileset([f"file://{city}"], f"file://{out}", options=options())
    assert (out / "tileset.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # renamed into place


def test_local_paths_do_not_import_fsspec(city: Path, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from citymodel.converters.convert import convert\n"
        "from citymodel.tiler.build import TileOptions, build_tileset\n"
        f"build_tileset([{str(city)!r}], {str(tmp_path / 'out')!r}, options=TileOptions(jobs=1))\n"
        f"convert([{str(city)!r}], {str(tmp_path / 'c.glb')!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fsspec', 's3fs')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


# -- a real S3 server on loopback --------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port."""
    pytest.importorskip("s3fs", reason="the 'cloud' extra (s3fs) is not installed")
    server_module = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def s3(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, str, dict[str, str]]]:
    """An s3fs file system on the server, a new bucket and the environment pointing at both."""
    env = {**S3_ENV, "AWS_ENDPOINT_URL": s3_endpoint}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, key="testing", secret="testing")
    bucket = f"city-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    yield fs, bucket, {**os.environ, **env}


def test_cli_tile_from_and_to_s3_with_worker_processes(
    city: Path, s3: tuple[Any, str, dict[str, str]], tmp_path: Path
) -> None:
    fs, bucket, env = s3
    for path in sorted(city.glob("*.gml")):
        fs.put_file(str(path), f"{bucket}/city/{path.name}")
    done = subprocess.run(
        [*CLI, "tile", f"s3://{bucket}/city/", "-o", f"s3://{bucket}/tiles/city", "-j", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"s3://{bucket}/tiles/city: 90 of 90 buildings" in done.stderr
    build_tileset([city], tmp_path / "local", options=TileOptions(jobs=1))
    assert remote_files(fs, f"{bucket}/tiles/city") == files_of(tmp_path / "local")
    assert [p for p in fs.ls(f"{bucket}/tiles") if ".probe-" in p or ".partial-" in p] == []


def test_s3_tileset_and_report_in_process(
    city: Path, s3: tuple[Any, str, dict[str, str]], tmp_path: Path
) -> None:
    fs, bucket, _ = s3
    for path in sorted(city.glob("*.gml")):
        fs.put_file(str(path), f"{bucket}/city/{path.name}")
    url = f"s3://{bucket}/tiles/city"
    report = build_tileset([f"s3://{bucket}/city/"], url, options=options(implicit=True))
    assert report.outputs == [url]
    assert report.inputs == [f"s3://{bucket}/city/{p.name}" for p in sorted(city.glob("*.gml"))]
    build_tileset([city], tmp_path / "local", options=options(implicit=True))
    assert remote_files(fs, f"{bucket}/tiles/city") == files_of(tmp_path / "local")
    tileset = json.loads(fs.cat_file(f"{bucket}/tiles/city/tileset.json"))
    assert tileset["asset"]["version"] == "1.1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["tile", "s3://{missing}/city/", "-o", "s3://{bucket}/tiles/x"],
            "Error: s3://{missing}/city/: cannot list the input: not found",
        ),
        (
            ["tile", "{city}", "-o", "s3://{missing}/tiles/x"],
            "Error: s3://{missing}/tiles/x: cannot write the output: not found",
        ),
        (
            ["convert", "{city}", "-o", "s3://{missing}/x.glb"],
            "Error: s3://{missing}/x.glb: cannot write the output: not found",
        ),
    ],
)
def test_s3_errors_are_one_line_naming_the_url(
    city: Path, s3: tuple[Any, str, dict[str, str]], args: list[str], message: str
) -> None:
    _, bucket, env = s3
    names = {"bucket": bucket, "missing": f"missing-{bucket}", "city": str(city)}
    done = subprocess.run(
        [*CLI, *(a.format(**names) for a in args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        message.format(**names) + " (is the bucket or folder name right?)"
    ]


def test_s3_without_credentials(
    city: Path, s3: tuple[Any, str, dict[str, str]], tmp_path: Path
) -> None:
    _, bucket, env = s3
    env = {k: v for k, v in env.items() if not k.startswith("AWS_") or k == "AWS_ENDPOINT_URL"}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    done = subprocess.run(
        [*CLI, "tile", f"s3://{bucket}/city/", "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: s3://{bucket}/city/: cannot list")
    assert "no valid credentials" in lines[0]


@pytest.mark.slow  # starts a LocalCluster of two processes (about 30-50 s on a loaded machine)
def test_s3_inputs_on_a_dask_cluster(
    city: Path, s3: tuple[Any, str, dict[str, str]], tmp_path: Path
) -> None:
    """Dask workers read their own files from the bucket; the tileset is the local one."""
    distributed = pytest.importorskip("distributed", reason="the 'distributed' extra is missing")
    fs, bucket, _ = s3
    for path in sorted(city.glob("*.gml")):
        fs.put_file(str(path), f"{bucket}/city/{path.name}")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        url = f"s3://{bucket}/tiles/city"
        build_tileset(
            [f"s3://{bucket}/city/"],
            url,
            options=options(jobs=2, executor="dask", scheduler=cluster.scheduler_address),
        )
    finally:
        cluster.close()
    build_tileset([city], tmp_path / "local", options=options())
    assert remote_files(fs, f"{bucket}/tiles/city") == files_of(tmp_path / "local")


def test_remote_file_name() -> None:
    assert RemoteFile("s3://b/city/LoD2_1.gml", 10).name == "LoD2_1.gml"
    assert str(RemoteFile("s3://b/a.gml", 1)) == "s3://b/a.gml"
