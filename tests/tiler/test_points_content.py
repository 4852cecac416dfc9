"""Point contents: glTF points with property attributes (1.1) and pnts (1.0) (T3D-2, T3D-7, T3D-9)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from citymodel.tiler.points.content import (
    KHR_MATERIALS_UNLIT,
    PointContentSpec,
    encode_pnts,
    encode_points_glb,
    srgb_to_linear,
)
from citymodel.tiler.points.frame import CODE_LEVELS
from citymodel.tiler.points.records import AttributeSpec, PointColumns, RecordLayout
from tests.gltf_reader import read_glb
from tests.gltf_validator import unexpected_issues, validate_gltf
from tests.tiler.points_helpers import decode_glb, decode_pnts

N = 1000


def _points(extra: bool = False) -> tuple[PointColumns, RecordLayout]:
    rng = np.random.default_rng(7)
    xyz = np.c_[rng.random(N) * 80 + 1234.5, rng.random(N) * 60 - 987.25, rng.random(N) * 30]
    attributes = {
        "classification": rng.integers(0, 20, N).astype(np.uint8),
        "intensity": rng.integers(0, 65535, N).astype(np.uint16),
        "return_number": rng.integers(1, 4, N).astype(np.uint8),
        "number_of_returns": rng.integers(1, 4, N).astype(np.uint8),
        "color": rng.integers(0, 256, (N, 3)).astype(np.uint8),
    }
    specs = [AttributeSpec.of(k, v) for k, v in attributes.items()]
    if extra:
        attributes["gps time"] = 4.0e8 + np.arange(N, dtype=np.float64) * 0.25
        attributes["Amplitude"] = rng.integers(-500, 500, N).astype(np.int16)
        attributes["count32"] = np.arange(N, dtype=np.uint32) * 7
        specs += [AttributeSpec.of(k, attributes[k]) for k in ("gps time", "Amplitude", "count32")]
    layout = RecordLayout(tuple(specs)).sorted()
    codes = np.zeros(N, dtype=np.uint64)
    return PointColumns(codes, xyz, attributes), layout


def test_srgb_to_linear_keeps_every_shade_distinct() -> None:
    linear = srgb_to_linear(np.arange(256, dtype=np.uint8))
    assert linear[0] == 0 and linear[255] == 65535
    assert (np.diff(linear.astype(np.int64)) > 0).all()
    assert linear[128] == round(((128 / 255 + 0.055) / 1.055) ** 2.4 * 65535)


@pytest.mark.parametrize("extra", [False, True])
def test_glb_round_trip(tmp_path: Path, extra: bool) -> None:
    points, layout = _points(extra)
    encoded = encode_points_glb(points, PointContentSpec("1.1", layout, "© test"))
    path = tmp_path / "t.glb"
    path.write_bytes(encoded.data)
    enu, values = decode_glb(path)
    assert encoded.count == N
    assert np.abs(enu - points.xyz).max() < 1e-4  # float32 offsets from a float64 origin
    assert np.allclose(encoded.lower, enu.min(axis=0)) and np.allclose(
        encoded.upper, enu.max(axis=0)
    )
    for name in ("classification", "intensity", "return_number", "number_of_returns"):
        assert (values[name] == points.attributes[name]).all(), name
    colour = values["COLOR_0"][:, :3]
    assert (colour == srgb_to_linear(points.attributes["color"])).all()
    if extra:
        assert np.abs(values["gps_time"] - points.attributes["gps time"]).max() < 0.02
        assert (values["Amplitude"] == points.attributes["Amplitude"]).all()
        assert (values["count32"] == points.attributes["count32"]).all()
    document = read_glb(encoded.data).document
    assert document["asset"]["copyright"] == "© test"
    assert KHR_MATERIALS_UNLIT in document["extensionsUsed"]
    assert "EXT_mesh_features" not in document["extensionsUsed"]
    meta = document["extensions"]["EXT_structural_metadata"]
    props = meta["schema"]["classes"]["point"]["properties"]
    assert props["classification"] == {
        "type": "SCALAR",
        "componentType": "UINT8",
        "description": props["classification"]["description"],
    }
    assert props["intensity"]["componentType"] == "UINT16"
    for index in document["meshes"][0]["primitives"][0]["attributes"].values():
        accessor = document["accessors"][index]
        view = document["bufferViews"][accessor["bufferView"]]
        assert view.get("byteStride", 4) % 4 == 0  # vertex attributes on 4 bytes (glTF 2.0)


@pytest.mark.node
def test_glb_passes_the_gltf_validator(tmp_path: Path) -> None:
    points, layout = _points(extra=True)
    path = tmp_path / "t.glb"
    path.write_bytes(encode_points_glb(points, PointContentSpec("1.1", layout)).data)
    report = validate_gltf(path)
    assert report["numErrors"] == 0, report["messages"]
    assert unexpected_issues(report) == []


def test_glb_root_node_places_the_origin() -> None:
    points, layout = _points()
    document = read_glb(encode_points_glb(points, PointContentSpec("1.1", layout)).data).document
    matrix = np.asarray(document["nodes"][0]["matrix"]).reshape(4, 4).T
    origin = (points.xyz.min(axis=0) + points.xyz.max(axis=0)) / 2
    # node matrix = z-up -> y-up rotation after translating by the origin (T3D-2)
    assert np.allclose(matrix[:3, 3], [origin[0], origin[2], -origin[1]])
    accessor = document["accessors"][0]
    assert max(abs(v) for v in accessor["max"] + accessor["min"]) < 60  # small float32 offsets


@pytest.mark.parametrize("extra", [False, True])
def test_pnts_round_trip_and_layout(tmp_path: Path, extra: bool) -> None:
    points, layout = _points(extra)
    encoded = encode_pnts(points, PointContentSpec("1.0", layout))
    data = encoded.data
    path = tmp_path / "t.pnts"
    path.write_bytes(data)
    enu, values = decode_pnts(path)  # asserts the 8-byte layout of every section
    assert np.abs(enu - points.xyz).max() < 1e-4
    assert (values["RGB"] == points.attributes["color"]).all()  # pnts RGB stays sRGB
    for name in ("classification", "intensity", "return_number", "number_of_returns"):
        assert (values[name] == points.attributes[name]).all(), name
    ft_len = struct.unpack_from("<I", data, 12)[0]
    feature = json.loads(data[28 : 28 + ft_len])
    assert feature["POINTS_LENGTH"] == N and "BATCH_ID" not in feature
    if extra:
        assert (values["gps time"] == points.attributes["gps time"]).all()  # DOUBLE, exact
        assert values["Amplitude"].dtype == np.int16


def test_empty_or_non_finite_points_are_refused() -> None:
    points, layout = _points()
    spec = PointContentSpec("1.1", layout)
    with pytest.raises(ValueError, match="at least one point"):
        encode_points_glb(points.slice(0, 0), spec)
    bad = PointColumns(points.codes, points.xyz.copy(), points.attributes)
    bad.xyz[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        encode_pnts(bad, PointContentSpec("1.0", layout))


def test_colliding_metadata_names_are_refused() -> None:
    layout = RecordLayout((AttributeSpec("a b", "<u1"), AttributeSpec("a_b", "<u1")))
    with pytest.raises(ValueError, match="collide"):
        PointContentSpec("1.1", layout)
    assert CODE_LEVELS == 21
