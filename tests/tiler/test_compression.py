"""``citymodel tile --compress meshopt``: same tiles, placed within 1 cm, smaller, still valid.

The same synthetic city is tiled without and with compression; every content is decoded by
``citymodel.tiler.readers`` (meshopt + quantization) and compared with its uncompressed twin in
ECEF: positions within 1 cm, feature ids and property tables byte-identical, fewer bytes.
"""

from __future__ import annotations

import json
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
from tests.tiler.conftest import assert_check_tileset_passes

pytest.importorskip("meshopt", reason="meshopt (extra 'compress') is not installed")


def tile(paths: list[Path], out: Path, **kwargs: Any) -> dict[str, Any]:
    report = JobReport()
    options = TileOptions(jobs=1, partition=PartitionOptions(max_units=40), **kwargs)
    build_tileset(paths, out, options=options, report=report)
    tiling: dict[str, Any] = report.extra["tiling"]
    return tiling


@pytest.fixture(scope="module")
def tiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """(uncompressed tileset folder, meshopt tileset folder, the meshopt run's tiling report)."""
    root = tmp_path_factory.mktemp("compress")
    paths = write_city_tiles(
        root / "city", SyntheticCityOptions(n_buildings=160, seed=5, tile_size_m=200)
    )
    tile(paths, root / "plain")
    report = tile(paths, root / "meshopt", compress="meshopt")
    return root / "plain", root / "meshopt", report


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
    plain, packed, _ = tiled
    files = sorted(p.relative_to(packed) for p in packed.rglob("*.glb"))
    assert files == sorted(p.relative_to(plain) for p in plain.rglob("*.glb"))
    assert json.loads((packed / "tileset.json").read_text()) == json.loads(
        (plain / "tileset.json").read_text()
    )  # same tree, volumes and transforms: quantization stays inside the boxes' padding
    quantized = 0
    for name in files:
        a, b = glb(plain / name), glb(packed / name)
        assert "EXT_meshopt_compression" in b.document["extensionsRequired"]
        quantized += len(b.document["nodes"]) == 2
        # glTF scene frame (y-up) of both; the shared tile transform is a rigid motion.
        pa = scene_positions(a) @ Y_UP_TO_Z_UP[:3, :3].T
        pb = scene_positions(b) @ Y_UP_TO_Z_UP[:3, :3].T
        assert pa.shape == pb.shape
        assert float(np.linalg.norm(pa - pb, axis=1).max()) <= MAX_POSITION_ERROR, name
        np.testing.assert_array_equal(attribute(a, "_FEATURE_ID_0"), attribute(b, "_FEATURE_ID_0"))
        assert property_table_bytes(a) == property_table_bytes(b), name
        assert (plain / name).stat().st_size > (packed / name).stat().st_size, name
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
    assert summary["method"] == "meshopt"
    assert (summary["contents"], summary["contents_uncompressed"]) == (packed_bytes, plain_bytes)
    assert summary["per_building"] == round(packed_bytes / 160, 1)
    assert summary["per_building_uncompressed"] == round(plain_bytes / 160, 1)
    assert summary["ratio"] < 0.8


@pytest.mark.parametrize("kwargs", [{"tiles_version": "1.0"}, {"implicit": True}])
def test_b3dm_and_implicit_contents_compress_too(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    paths = write_city_tiles(
        tmp_path / "city", SyntheticCityOptions(n_buildings=30, seed=2, tile_size_m=150)
    )
    report = tile(paths, tmp_path / "out", compress="meshopt", **kwargs)
    assert report["compression"]["contents"] < report["compression"]["contents_uncompressed"]
    assert validate_tileset(tmp_path / "out") == []


def test_unknown_compression_is_rejected() -> None:
    with pytest.raises(ValueError, match="compress must be one of none, meshopt"):
        TileOptions(compress="draco")  # type: ignore[arg-type]


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
    assert runner.invoke(cli, [*args, "--compress", "draco"]).exit_code == 2


@pytest.mark.node
def test_check_tileset_accepts_the_compressed_tileset(
    tiled: tuple[Path, Path, dict[str, Any]],
) -> None:
    assert_check_tileset_passes(tiled[1] / "tileset.json")
