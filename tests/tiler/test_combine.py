"""``combine_tilesets`` / ``citymodel combine``: one root over tilesets as external tilesets."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from citymodel.cli.main import cli
from citymodel.crs import Georeferencer
from citymodel.crs.geodetic import ecef_to_geodetic
from citymodel.errors import InputError
from citymodel.ops.frames import enu_to_ecef_matrix
from citymodel.tiler.combine import combine_tilesets, root_region

KOELN = (356500.0, 5645500.0, 60.0)


def _enu_transform() -> tuple[list[float], np.ndarray]:
    georef = Georeferencer.create("EPSG:25832+7837")
    lon, lat, _ = georef.to_geodetic([KOELN])[0]
    matrix = enu_to_ecef_matrix(lon, lat, georef.to_ecef([KOELN])[0])
    return [float(v) for v in matrix.T.ravel()], matrix


def _write(folder: Path, root: dict[str, Any], version: str = "1.1") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tileset.json"
    document = {"asset": {"version": version}, "geometricError": 100.0, "root": root}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _box_tileset(folder: Path, half: float = 300.0) -> Path:
    transform, _ = _enu_transform()
    box = [10.0, -20.0, 5.0, half, 0, 0, 0, half, 0, 0, 0, 40.0]
    root = {"boundingVolume": {"box": box}, "geometricError": 50.0, "transform": transform}
    return _write(folder, {**root, "refine": "ADD"})


def _region_tileset(folder: Path) -> Path:
    lon, lat = math.radians(6.95), math.radians(50.94)
    region = [lon - 1e-4, lat - 1e-4, lon + 1e-4, lat + 1e-4, 90.0, 120.0]
    return _write(folder, {"boundingVolume": {"region": region}, "geometricError": 20.0})


def test_region_of_a_box_contains_its_corners(tmp_path: Path) -> None:
    document = json.loads(_box_tileset(tmp_path / "points").read_text(encoding="utf-8"))
    west, south, east, north, low, high = root_region(document)
    _, matrix = _enu_transform()
    box = np.asarray(document["root"]["boundingVolume"]["box"])
    signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], float)
    corners = box[:3] + signs @ box[3:].reshape(3, 3)
    ecef = corners @ matrix[:3, :3].T + matrix[:3, 3]
    lon, lat, h = ecef_to_geodetic(ecef).T
    assert (np.radians(lon) > west).all() and (np.radians(lon) < east).all()
    assert (np.radians(lat) > south).all() and (np.radians(lat) < north).all()
    assert (h > low).all() and (h < high).all()
    # Tight: 600 m box -> about 600 m of longitude/latitude span plus the 1 m margins.
    assert (north - south) * 6_371_000 < 640


def test_combined_root_contains_both_and_points_at_them(tmp_path: Path) -> None:
    points = _box_tileset(tmp_path / "scene" / "points")
    buildings = _region_tileset(tmp_path / "scene" / "buildings")
    out = combine_tilesets(
        tmp_path / "scene" / "tileset.json", {"buildings": buildings, "points": points}
    )
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["asset"] == {"version": "1.1"}
    root = document["root"]
    assert root["refine"] == "ADD" and root["geometricError"] == document["geometricError"]
    uris = [child["content"]["uri"] for child in root["children"]]
    assert uris == ["buildings/tileset.json", "points/tileset.json"]
    union = np.asarray(root["boundingVolume"]["region"])
    for child in root["children"]:
        region = np.asarray(child["boundingVolume"]["region"])
        assert (union[[0, 1, 4]] <= region[[0, 1, 4]]).all()
        assert (union[[2, 3, 5]] >= region[[2, 3, 5]]).all()
        assert child["geometricError"] <= root["geometricError"]


def test_bad_children_are_refused(tmp_path: Path) -> None:
    inside = _region_tileset(tmp_path / "scene" / "a")
    outside = _region_tileset(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="not below"):
        combine_tilesets(tmp_path / "scene" / "tileset.json", {"a": inside, "b": outside})
    old = _write(tmp_path / "scene" / "old", json.loads(inside.read_text())["root"], "1.0")
    with pytest.raises(InputError, match="versions"):
        combine_tilesets(tmp_path / "scene" / "tileset.json", {"a": inside, "old": old})
    with pytest.raises(InputError, match="cannot read"):
        combine_tilesets(
            tmp_path / "scene" / "tileset.json", {"gone": tmp_path / "scene" / "x.json"}
        )
    sphere = _write(tmp_path / "scene" / "s", {"boundingVolume": {}, "geometricError": 1.0})
    with pytest.raises(InputError, match="region, box or sphere"):
        combine_tilesets(tmp_path / "scene" / "tileset.json", {"s": sphere})
    assert not (tmp_path / "scene" / "tileset.json").exists()


def test_cli(tmp_path: Path) -> None:
    _box_tileset(tmp_path / "scene" / "points")
    _region_tileset(tmp_path / "scene" / "buildings")
    scene = tmp_path / "scene"
    args = ["combine", str(scene / "buildings"), str(scene / "points"), "-o", str(scene)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert len(json.loads((scene / "tileset.json").read_text())["root"]["children"]) == 2
    twice = CliRunner().invoke(
        cli, ["combine", str(scene / "points"), str(scene / "points"), "-o", str(scene)]
    )
    assert twice.exit_code == 2 and "given twice" in twice.output
    away = CliRunner().invoke(cli, ["combine", str(scene / "points"), "-o", str(tmp_path / "x")])
    assert away.exit_code != 0 and "not below" in away.output
