"""``citymodel tile --compress meshopt|draco``: same tiles, placed within 1 cm, smaller, valid.

The same synthetic city is tiled without and with compression; every content is decoded by
``citymodel.tiler.readers`` (meshopt + quantization, or Draco) and compared with its
uncompressed twin in ECEF: positions within 1 cm, feature ids and property tables identical,
fewer bytes. (Draco reorders vertices, so its positions and ids are compared as sets.)
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from citymodel.cli.main import cli
from citymodel.converters.gltf_compression import MAX_POSITION_ERROR
from citymodel.ops.frames import Y_UP_TO_Z_UP
from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city_tiles
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.partition import PartitionOptions
from citymodel.tiler.readers import Glb, read_accessor, read_glb, scene_positions
from citymodel.tiler.validate import validate_tileset
from tests.tiler.conftest import assert_check_tileset_passes, run_check_tileset

pytest.importorskip("meshopt", reason="meshopt (extra 'compress') is not installed")
pytest.importorskip("DracoPy", reason="DracoPy (extra 'compress') is not installed")

EXTENSION = {"meshopt": "EXT_meshopt_compression", "draco": "KHR_draco_mesh_compression"}


def tile(paths: list[Path], out: Path, **kwargs: Any) -> dict[str, Any]:
    report = JobReport()
    options = TileOptions(jobs=1, partition=PartitionOptions(max_units=40), **kwargs)
    build_tileset(paths, out, options=options, report=report)
    tiling: dict[str, Any] = report.extra["tiling"]
    return tiling


@pytest.fixture(scope="module")
def plain_city(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """(the input files, their uncompressed tileset folder)."""
    root = tmp_path_factory.mktemp("compress")
    paths = write_city_tiles(
        root / "city", SyntheticCityOptions(n_buildings=160, seed=5, tile_size_m=200)
    )
    tile(paths, root / "plain")
    return paths, root / "plain"


@pytest.fixture(scope="module", params=["meshopt", "draco"])
def tiled(
    request: pytest.FixtureRequest, plain_city: tuple[list[Path], Path]
) -> tuple[Path, Path, dict[str, Any]]:
    """(uncompressed tileset folder, compressed tileset folder, the compressed run's report)."""
    paths, plain = plain_city
    packed = plain.parent / request.param
    report = tile(paths, packed, compress=request.param)
    return plain, packed, report


def nearest_distances(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """For each row of ``b``, the distance to the nearest row of ``a`` (chunked brute force)."""
    out = [
        np.linalg.norm(b[i : i + 512, None, :] - a[None, :, :], axis=2).min(axis=1)
        for i in range(0, b.shape[0], 512)
    ]
    return np.concatenate(out) if out else np.zeros(0)


def glb(path: Path) -> Glb:
    return read_glb(path.read_bytes())


def attribute(content: Glb, name: str) -> np.ndarray[Any, Any]:
    doc = content.document
    index = doc["meshes"][0]["primitives"][0]["attributes"][name]
    return read_accessor(doc, content.binary, int(index))


def property_table_bytes(content: Glb) -> list[bytes]:
    doc = content.document
    table = doc["extensions"]["EXT_structural_metadata"]["propertyTables"][0]
    out = []
    for prop in table["properties"].values():
        for key in ("values", "stringOffsets"):
            if key in prop:
                view = doc["bufferViews"][prop[key]]
                assert view["buffer"] == 0 and "extensions" not in view  # never compressed
                out.append(
                    content.binary[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
                )
    return out


def test_compressed_tileset_matches_the_uncompressed_one(
    tiled: tuple[Path, Path, dict[str, Any]],
) -> None:
    plain, packed, report = tiled
    method = report["compression"]["method"]
    files = sorted(p.relative_to(packed) for p in packed.rglob("*.glb"))
    assert files == sorted(p.relative_to(plain) for p in plain.rglob("*.glb"))
    assert json.loads((packed / "tileset.json").read_text()) == json.loads(
        (plain / "tileset.json").read_text()
    )  # same tree, volumes and transforms: quantization stays inside the boxes' padding
    quantized = 0
    for name in files:
        a, b = glb(plain / name), glb(packed / name)
        assert EXTENSION[method] in b.document["extensionsRequired"]
        quantized += len(b.document["nodes"]) == 2
        # glTF scene frame (y-up) of both; the shared tile transform is a rigid motion.
        pa = scene_positions(a) @ Y_UP_TO_Z_UP[:3, :3].T
        pb = scene_positions(b) @ Y_UP_TO_Z_UP[:3, :3].T
        assert pa.shape == pb.shape
        if method == "meshopt":
            assert float(np.linalg.norm(pa - pb, axis=1).max()) <= MAX_POSITION_ERROR, name
            ids_a, ids_b = attribute(a, "_FEATURE_ID_0"), attribute(b, "_FEATURE_ID_0")
            np.testing.assert_array_equal(ids_a, ids_b)
        else:
            assert float(nearest_distances(pa, pb).max()) <= MAX_POSITION_ERROR, name
            assert float(nearest_distances(pb, pa).max()) <= MAX_POSITION_ERROR, name
        assert property_table_bytes(a) == property_table_bytes(b), name
        assert (plain / name).stat().st_size > (packed / name).stat().st_size, name
    if method == "meshopt":
        assert quantized >= len(files) // 2, "most tiles are small enough for the 16-bit grid"


def test_validate_tileset_decodes_compressed_contents(
    tiled: tuple[Path, Path, dict[str, Any]],
) -> None:
    assert validate_tileset(tiled[1]) == []


def test_report_gives_bytes_per_building_with_and_without(
    tiled: tuple[Path, Path, dict[str, Any]],
) -> None:
    plain, packed, report = tiled
    summary = report["compression"]
    plain_bytes = sum(p.stat().st_size for p in plain.rglob("*.glb"))
    packed_bytes = sum(p.stat().st_size for p in packed.rglob("*.glb"))
    assert summary["method"] in EXTENSION
    assert (summary["contents"], summary["contents_uncompressed"]) == (packed_bytes, plain_bytes)
    assert summary["per_building"] == round(packed_bytes / 160, 1)
    assert summary["per_building_uncompressed"] == round(plain_bytes / 160, 1)
    assert summary["ratio"] < 0.8


@pytest.mark.parametrize("method", ["meshopt", "draco"])
@pytest.mark.parametrize("kwargs", [{"tiles_version": "1.0"}, {"implicit": True}])
def test_b3dm_and_implicit_contents_compress_too(
    tmp_path: Path, kwargs: dict[str, Any], method: str
) -> None:
    paths = write_city_tiles(
        tmp_path / "city", SyntheticCityOptions(n_buildings=30, seed=2, tile_size_m=150)
    )
    report = tile(paths, tmp_path / "out", compress=method, **kwargs)
    assert report["compression"]["contents"] < report["compression"]["contents_uncompressed"]
    assert validate_tileset(tmp_path / "out") == []


def test_unknown_compression_is_rejected() -> None:
    with pytest.raises(ValueError, match="compress must be one of none, meshopt, draco"):
        TileOptions(compress="zstd")  # type: ignore[arg-type]


def test_cli_compress_switch(tmp_path: Path) -> None:
    city = tmp_path / "city"
    write_city_tiles(city, SyntheticCityOptions(n_buildings=20, seed=4, tile_size_m=100))
    out, report_path = tmp_path / "tiles", tmp_path / "report.json"
    runner = CliRunner()
    args = ["tile", str(city), "-o", str(out), "--jobs", "1", "--report", str(report_path)]
    result = runner.invoke(cli, [*args, "--compress", "meshopt"])
    assert result.exit_code == 0, result.output
    assert "meshopt:" in result.output and "content bytes per building" in result.output
    summary = json.loads(report_path.read_text(encoding="utf-8"))["tiling"]["compression"]
    assert summary["method"] == "meshopt" and summary["contents"] < summary["contents_uncompressed"]
    result = runner.invoke(cli, [*args, "--compress", "draco"])
    assert result.exit_code == 0, result.output
    assert "draco:" in result.output
    assert runner.invoke(cli, [*args, "--compress", "zstd"]).exit_code == 2


# loaders.gl 4 (the check's `loaders` walk, deck.gl) reads EXT_mesh_features ids before it
# decodes KHR_draco_mesh_compression and, for an accessor without a buffer view, reads buffer
# view 0 instead (gltf-utils/get-typed-array.js), so it sees garbage ids in Draco primitives.
# Those errors, and only those, are expected; CesiumJS decodes first (render check below).
LOADERS_GL_DRACO_IDS = re.compile(r"ERROR\s+\S+: feature id \d+ >= (featureCount|property table)")


@pytest.mark.node
def test_check_tileset_accepts_the_compressed_tileset(
    tiled: tuple[Path, Path, dict[str, Any]],
) -> None:
    _, packed, report = tiled
    if report["compression"]["method"] == "meshopt":
        assert_check_tileset_passes(packed / "tileset.json")
        return
    result = run_check_tileset(packed / "tileset.json", "--logs", str(packed.parent / "logs"))
    summary = {line.split()[0]: line for line in result.stdout.splitlines()[-5:-1]}
    assert "PASS  errors=0 warnings=0" in summary["validator"], result.stdout
    assert "PASS  errors=0 warnings=0" in summary["glb"], result.stdout
    loaders_log = (packed.parent / "logs" / "loaders.log").read_text()
    errors = [line for line in loaders_log.splitlines() if "ERROR" in line]
    assert errors, "loaders.gl reads Draco feature ids correctly now: drop this workaround"
    assert all(LOADERS_GL_DRACO_IDS.search(line) for line in errors), errors
    assert "outsideBounds=0" in loaders_log
    assert validate_tileset(packed) == []  # our own walk decodes Draco: vertices in bounds


@pytest.mark.node
def test_cesium_renders_and_picks_draco_contents(
    tiled: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    _, packed, report = tiled
    if report["compression"]["method"] != "draco":
        pytest.skip("the meshopt tileset is rendered by the realdata render checks")
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed: the CesiumJS render check needs it")
    png = tmp_path / "draco.png"
    result = run_check_tileset(
        packed / "tileset.json", "--skip", "loaders", "--render", str(png), "--pick"
    )
    assert result.returncode == 0, result.stdout[-4000:]
    picked = json.loads(png.with_suffix(".json").read_text())["pick"]
    assert picked["isFeature"] and picked["properties"]["gml_id"].startswith("DENW_SYN_")
