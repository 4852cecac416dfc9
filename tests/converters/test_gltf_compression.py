"""``compression="meshopt"``: KHR_mesh_quantization + EXT_meshopt_compression (error <= 1 cm).

The compressed GLB is decoded here with meshopt's own decoder, independently of
``citymodel.tiler.readers``, and compared with the uncompressed GLB of the same mesh: positions
within the grid's error (< 1 cm, after the dequantization node), normals within 8-bit rounding,
feature ids, indices and property tables unchanged.
"""

from __future__ import annotations

import importlib
import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citymodel.converters import gltf_compression
from citymodel.converters.gltf import GltfMesh, encode_glb, encode_gltf_json
from citymodel.converters.gltf_compression import (
    MAX_POSITION_ERROR,
    quantize_normals,
    quantize_positions,
)
from citymodel.errors import MissingDependencyError
from citymodel.mesh import FeatureTable
from tests.box_city import grid_boxes
from tests.gltf_validator import unexpected_issues, validate_gltf_files

meshopt = pytest.importorskip("meshopt", reason="meshopt (extra 'compress') is not installed")

_DTYPES = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_WIDTH = {"SCALAR": 1, "VEC3": 3}


def city(count: int = 30, spacing: float = 15.0) -> tuple[GltfMesh, FeatureTable]:
    boxes = grid_boxes(count, spacing=spacing, seed=3)
    mesh = GltfMesh(
        positions=boxes.positions.astype(np.float32),
        triangles=boxes.triangles,
        feature_ids=boxes.feature_ids,
        surface_types=boxes.surface_types,
    )
    table = FeatureTable()
    for i in range(count):
        table.add_row({"gml_id": f"DEHHALKAÄ{i}", "measuredHeight": 3.5 + i, "storeys": i % 4})
    return mesh, table


def split_glb(data: bytes) -> tuple[dict[str, Any], bytes]:
    json_length = struct.unpack_from("<I", data, 12)[0]
    document = json.loads(data[20 : 20 + json_length])
    binary = data[20 + json_length + 8 :]
    return document, binary


def view_bytes(document: dict[str, Any], binary: bytes, index: int) -> bytes:
    """A buffer view's bytes, decoded with meshopt's decoder when compressed."""
    view = document["bufferViews"][index]
    ext = view.get("extensions", {}).get("EXT_meshopt_compression")
    if ext is None:
        assert view["buffer"] == 0
        return binary[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
    assert view["buffer"] == 1 and ext["buffer"] == 0
    start = ext.get("byteOffset", 0)
    rows = meshopt.decode_gltf_buffer(
        binary[start : start + ext["byteLength"]],
        ext["count"],
        ext["byteStride"],
        ext["mode"],
        ext.get("filter", "NONE"),
    )
    data = np.ascontiguousarray(rows).tobytes()
    assert len(data) == view["byteLength"]
    return data


def accessor(document: dict[str, Any], binary: bytes, index: int) -> np.ndarray[Any, Any]:
    acc = document["accessors"][index]
    view = document["bufferViews"][acc["bufferView"]]
    data = view_bytes(document, binary, acc["bufferView"])
    dtype = np.dtype(_DTYPES[acc["componentType"]])
    width = _WIDTH[acc["type"]]
    stride = view.get("byteStride", dtype.itemsize * width)
    out = np.ndarray(
        (acc["count"], width),
        dtype=dtype,
        buffer=data,
        offset=acc.get("byteOffset", 0),
        strides=(stride, dtype.itemsize),
    ).astype(np.float64)
    if acc.get("normalized"):
        out = np.maximum(out / 127.0, -1.0)
    return out


def mesh_positions(document: dict[str, Any], binary: bytes) -> np.ndarray[Any, Any]:
    """POSITION through the node holding the mesh (the dequantization), root matrix excluded."""
    node = next(n for n in document["nodes"] if "mesh" in n)
    p = accessor(document, binary, document["meshes"][0]["primitives"][0]["attributes"]["POSITION"])
    if node is document["nodes"][0]:
        return p
    m = np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T
    out: np.ndarray[Any, Any] = p @ m[:3, :3].T + m[:3, 3]
    return out


def property_views(document: dict[str, Any], binary: bytes) -> list[bytes]:
    table = document["extensions"]["EXT_structural_metadata"]["propertyTables"][0]
    refs = [
        v[key]
        for prop in table["properties"].values()
        for key in ("values", "stringOffsets")
        if key in (v := prop)
    ]
    return [view_bytes(document, binary, i) for i in refs]


def test_quantized_positions_move_at_most_the_grid_error() -> None:
    rng = np.random.default_rng(5)
    points = rng.uniform(-300.0, 300.0, (5000, 3))
    grid = quantize_positions(points)
    assert grid is not None
    error = np.linalg.norm(grid.dequantized() - points, axis=1).max()
    assert error <= grid.max_error + 1e-9
    assert grid.max_error <= MAX_POSITION_ERROR
    assert grid.step == pytest.approx(float(np.ptp(points, axis=0).max()) / 65535)
    assert grid.values[:, 3].max() == 0 and grid.values[:, :3].max() == 65535


@pytest.mark.parametrize(("extent", "quantized"), [(700.0, True), (800.0, False)])
def test_grid_coarser_than_one_centimetre_is_refused(extent: float, quantized: bool) -> None:
    # sqrt(3)/2 * extent / 65535 <= 0.01 m  <=>  extent <= ~756.8 m
    points = np.array([[0.0, 0.0, 0.0], [extent, 1.0, 2.0]])
    assert (quantize_positions(points) is not None) is quantized


def test_point_like_mesh_gets_an_invertible_grid() -> None:
    grid = quantize_positions(np.ones((4, 3)))
    assert grid is not None and grid.step > 0 and np.allclose(grid.dequantized(), 1.0)


def test_normals_as_normalized_bytes() -> None:
    normals = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.6, 0.8, 0.0]])
    packed = quantize_normals(normals)
    assert packed.dtype == np.int8 and packed.shape == (3, 4)
    np.testing.assert_allclose(packed[:, :3] / 127.0, normals, atol=0.5 / 127)


def test_meshopt_glb_decodes_to_the_uncompressed_glb_within_one_centimetre() -> None:
    mesh, table = city()
    plain_doc, plain_bin = split_glb(encode_glb(mesh, table))
    data = encode_glb(mesh, table, compression="meshopt")
    doc, binary = split_glb(data)

    assert doc["extensionsRequired"] == ["KHR_mesh_quantization", "EXT_meshopt_compression"]
    assert set(doc["extensionsUsed"]) >= {
        "EXT_mesh_features",
        "EXT_structural_metadata",
        "KHR_mesh_quantization",
        "EXT_meshopt_compression",
    }
    fallback = doc["buffers"][1]
    assert "uri" not in fallback and fallback["extensions"]["EXT_meshopt_compression"] == {
        "fallback": True
    }
    views = doc["bufferViews"]
    assert all(
        v["byteOffset"] + v["byteLength"] <= fallback["byteLength"]
        for v in views
        if v["buffer"] == 1
    )

    primitive = doc["meshes"][0]["primitives"][0]
    position = doc["accessors"][primitive["attributes"]["POSITION"]]
    assert (position["componentType"], views[position["bufferView"]]["byteStride"]) == (5123, 8)
    decoded = mesh_positions(doc, binary)
    expected = mesh_positions(plain_doc, plain_bin)
    error = float(np.linalg.norm(decoded - expected, axis=1).max())
    step = float(np.ptp(mesh.positions.astype(np.float64), axis=0).max()) / 65535
    assert 0.0 < error <= math.sqrt(3) / 2 * step + 1e-6 < MAX_POSITION_ERROR
    # accessor min/max are the quantized values actually stored
    raw = accessor(doc, binary, primitive["attributes"]["POSITION"])
    assert (
        position["min"] == raw.min(axis=0).tolist() and position["max"] == raw.max(axis=0).tolist()
    )

    normal = doc["accessors"][primitive["attributes"]["NORMAL"]]
    assert (normal["componentType"], normal["normalized"]) == (5120, True)
    np.testing.assert_allclose(
        accessor(doc, binary, primitive["attributes"]["NORMAL"]),
        accessor(plain_doc, plain_bin, primitive["attributes"]["NORMAL"]),
        atol=0.5 / 127 + 1e-7,
    )
    ids = primitive["attributes"]["_FEATURE_ID_0"]
    np.testing.assert_array_equal(accessor(doc, binary, ids), accessor(plain_doc, plain_bin, ids))
    for compressed, plain in zip(
        doc["meshes"][0]["primitives"], plain_doc["meshes"][0]["primitives"], strict=True
    ):
        assert compressed["extensions"] == plain["extensions"]  # EXT_mesh_features unchanged
        np.testing.assert_array_equal(
            accessor(doc, binary, compressed["indices"]),
            accessor(plain_doc, plain_bin, plain["indices"]),
        )
    assert doc["extensions"] == plain_doc["extensions"]  # schema and property table JSON
    assert property_views(doc, binary) == property_views(plain_doc, plain_bin)
    assert len(data) < 0.75 * len(encode_glb(mesh, table))


def test_mesh_beyond_the_grid_keeps_lossless_float_positions() -> None:
    mesh, table = city(count=16, spacing=300.0)  # ~1 km across: 16 bits would move > 1 cm
    doc, binary = split_glb(encode_glb(mesh, table, compression="meshopt"))
    assert len(doc["nodes"]) == 1
    primitive = doc["meshes"][0]["primitives"][0]
    assert doc["accessors"][primitive["attributes"]["POSITION"]]["componentType"] == 5126
    np.testing.assert_array_equal(mesh_positions(doc, binary), mesh.positions.astype(np.float64))
    assert doc["extensionsRequired"] == ["KHR_mesh_quantization", "EXT_meshopt_compression"]


def test_root_matrix_stays_on_the_root_node() -> None:
    mesh, table = city(count=4)
    y_up = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    doc, _ = split_glb(encode_glb(mesh, table, root_matrix=y_up, compression="meshopt"))
    assert doc["nodes"][0] == {"children": [1], "matrix": y_up}
    assert doc["scenes"] == [{"nodes": [0]}] and doc["nodes"][1]["mesh"] == 0


def test_gltf_json_keeps_the_fallback_buffer() -> None:
    mesh, table = city(count=4)
    doc = json.loads(encode_gltf_json(mesh, table, compression="meshopt"))
    assert doc["buffers"][0]["uri"].startswith("data:application/octet-stream;base64,")
    assert doc["buffers"][1]["extensions"]["EXT_meshopt_compression"]["fallback"] is True


def test_missing_meshopt_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def no_meshopt(name: str, package: str | None = None) -> Any:
        if name == "meshopt":
            raise ImportError("No module named 'meshopt'")
        return real(name, package)

    monkeypatch.setattr(gltf_compression.importlib, "import_module", no_meshopt)
    mesh, table = city(count=2)
    with pytest.raises(MissingDependencyError, match=r"citymodel\[compress\]"):
        encode_glb(mesh, table, compression="meshopt")
    encode_glb(mesh, table)  # no compression, no dependency


def test_unknown_compression_is_rejected() -> None:
    mesh, table = city(count=2)
    with pytest.raises(ValueError, match="compression"):
        encode_glb(mesh, table, compression="zstd")  # type: ignore[typeddict-item]


@pytest.mark.node
def test_khronos_validator_accepts_compressed_glbs(tmp_path: Path) -> None:
    paths = []
    for name, spacing in (("quantized", 15.0), ("float", 300.0)):
        mesh, table = city(count=16, spacing=spacing)
        path = tmp_path / f"{name}.glb"
        path.write_bytes(encode_glb(mesh, table, compression="meshopt"))
        paths.append(path)
    for report in validate_gltf_files(paths):
        assert report["numErrors"] == 0 and report["numWarnings"] == 0, report["messages"]
        assert unexpected_issues(report) == [], report["messages"]
