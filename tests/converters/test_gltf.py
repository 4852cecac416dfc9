"""GLB / glTF writer: binary layout (T3D-7), geometry, feature ids (T3D-6), property tables."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citymodel import __version__
from citymodel.converters.gltf import (
    GltfMesh,
    PropertySpec,
    SemanticMaterials,
    encode_glb,
    encode_gltf_json,
    infer_property_types,
    merge_property_types,
    vertex_normals,
    write_gltf,
)
from citymodel.converters.property_table import STRING_NO_DATA, property_identifier
from citymodel.errors import OutputError
from citymodel.mesh import FeatureTable, Mesh
from citymodel.model.semantics import SurfaceType
from tests.box_city import BoxMesh, grid_boxes
from tests.gltf_reader import Gltf, read_file, read_glb, read_gltf_json
from tests.gltf_validator import unexpected_issues, validate_gltf_files

Z_UP_TO_Y_UP = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
DBL_MAX = float(np.finfo(np.float64).max)


def gltf_mesh(boxes: BoxMesh) -> GltfMesh:
    return GltfMesh(
        positions=boxes.positions.astype(np.float32),
        triangles=boxes.triangles,
        feature_ids=boxes.feature_ids,
        surface_types=boxes.surface_types,
    )


def attribute_table() -> FeatureTable:
    """Six features (a building with a part, and others) covering every column kind."""
    table = FeatureTable()
    table.add_row(
        {
            "gml_id": "DEHHALKAÄ2",
            "building_id": "DEHHALKAÄ2",
            "object_type": "Building",
            "Gemeindeschlüssel": "02000000",
            "measuredHeight": 12.5,
            "storeysAboveGround": 3,
            "hasCellar": True,
            "built": dt.date(1999, 1, 2),
            "bigId": 2**40,
            "mixed": "a",
            "comment": "",
        }
    )
    table.add_row(
        {
            "gml_id": "DEHHALKAÄ2_part",
            "building_id": "DEHHALKAÄ2",
            "object_type": "BuildingPart",
            "measuredHeight": None,
            "storeysAboveGround": None,
            "hasCellar": False,
            "bigId": -5,
            "mixed": 3,
            "comment": None,
        }
    )
    table.add_row(
        {
            "gml_id": "DEBY_ÜÖß",
            "building_id": "DEBY_ÜÖß",
            "object_type": "Building",
            "measuredHeight": 7,
            "storeysAboveGround": 2,
            "hasCellar": None,
            "built": dt.datetime(2020, 5, 1, 12, 30),
            "mixed": True,
            "Straße": "Hauptstraße 1",
        }
    )
    for i in range(3):
        table.add_row(
            {
                "gml_id": f"b{i}",
                "building_id": f"b{i}",
                "object_type": "Building",
                "measuredHeight": 3.25 + i,
                "storeysAboveGround": -(2**31) + 1 if i == 0 else i,
                "hasCellar": bool(i % 2),
                "mixed": 1.5,
                "comment": "x" * i,
            }
        )
    return table


def small_city() -> tuple[GltfMesh, FeatureTable, BoxMesh]:
    boxes = grid_boxes(6, seed=1)
    return gltf_mesh(boxes), attribute_table(), boxes


def many_features(count: int) -> tuple[GltfMesh, FeatureTable]:
    """``count`` features of one triangle each (cheap way to exceed the u16 id range)."""
    base = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    idx = np.arange(count)
    offsets = np.stack([idx % 500, idx // 500, np.zeros(count)], axis=1).astype(np.float32) * 2
    mesh = GltfMesh(
        positions=(offsets[:, None, :] + base[None]).reshape(-1, 3),
        triangles=np.arange(3 * count, dtype=np.uint32).reshape(-1, 3),
        feature_ids=np.repeat(idx, 3).astype(np.uint32),
        surface_types=(idx % 3 + 1).astype(np.uint8),
    )
    table = FeatureTable()
    table.columns = {
        "gml_id": [f"DEHH{i:07d}" for i in range(count)],
        "height": [float(i) / 4 for i in range(count)],
    }
    table.row_count = count
    return mesh, table


def expected_decoded(value: Any, prop: dict[str, Any]) -> Any:
    """What the property table should hold for a source value, by the declared type."""
    if value is None:
        return None
    if prop["type"] == "STRING":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, float):
            return repr(value)
        return str(value)
    if prop["type"] == "BOOLEAN":
        return bool(value)
    if prop["componentType"] == "UINT8":
        return int(bool(value))
    if prop["componentType"] == "FLOAT64":
        return float(value)
    return int(value)


def assert_table_roundtrip(gltf: Gltf, table: FeatureTable) -> None:
    """Every property of every feature equals the source attribute (T3D-7)."""
    ext = gltf.document["extensions"]["EXT_structural_metadata"]
    (ptable,) = ext["propertyTables"]
    assert ptable["count"] == table.row_count
    props = ext["schema"]["classes"][ptable["class"]]["properties"]
    decoded = gltf.property_table(0)
    by_source = {prop["name"]: pid for pid, prop in props.items()}
    assert set(by_source) == set(table.columns)
    for source, values in table.columns.items():
        pid = by_source[source]
        expected = [expected_decoded(v, props[pid]) for v in values]
        assert decoded[pid] == expected, source


# --------------------------------------------------------------------------- layout (T3D-7)


def test_glb_container_is_8_byte_aligned() -> None:
    mesh, table, _ = small_city()
    data = encode_glb(mesh, table, root_matrix=Z_UP_TO_Y_UP)
    gltf = read_glb(data)  # asserts magic, lengths, (20 + jsonLen) % 8 == 0, len % 8 == 0, views
    assert (20 + gltf.json_chunk_length) % 8 == 0
    assert len(data) % 8 == 0
    assert gltf.bin_chunk_offset % 8 == 0
    # FLOAT64 / INT64 columns start on 8-byte file offsets (METADATA_INVALID_ALIGNMENT otherwise)
    views = gltf.document["bufferViews"]
    for view in views:
        assert (gltf.bin_chunk_offset + view["byteOffset"]) % 8 == 0
    # padding bytes: spaces after the JSON, zeros at the end of BIN
    json_end = 20 + gltf.json_chunk_length
    raw_json = data[20:json_end]
    assert raw_json == raw_json.rstrip(b" ") + b" " * (len(raw_json) - len(raw_json.rstrip(b" ")))
    last = max(v["byteOffset"] + v["byteLength"] for v in views)
    assert set(gltf.binary[last:]) <= {0}


@pytest.mark.parametrize("count", [1, 2, 5, 6, 7, 33])
def test_alignment_holds_for_any_json_length(count: int) -> None:
    boxes = grid_boxes(count, seed=count)
    table = FeatureTable()
    for i in range(count):
        table.add_row({"gml_id": "x" * i, "h": float(i)})
    read_glb(encode_glb(gltf_mesh(boxes), table))


def test_encoding_is_deterministic() -> None:
    mesh, table, _ = small_city()
    assert encode_glb(mesh, table, extras={"a": 1}) == encode_glb(mesh, table, extras={"a": 1})
    assert encode_gltf_json(mesh, table) == encode_gltf_json(mesh, table)


# --------------------------------------------------------------------------- geometry


def test_positions_normals_and_bounds_roundtrip() -> None:
    mesh, table, boxes = small_city()
    gltf = read_glb(encode_glb(mesh, table))
    prim = gltf.primitives()[0]
    pos_acc = gltf.document["accessors"][prim["attributes"]["POSITION"]]
    positions = gltf.accessor(prim["attributes"]["POSITION"])
    np.testing.assert_array_equal(positions, mesh.positions)
    assert pos_acc["min"] == positions.min(axis=0).tolist()
    assert pos_acc["max"] == positions.max(axis=0).tolist()
    normals = gltf.accessor(prim["attributes"]["NORMAL"])
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(normals, boxes.normals, atol=1e-6)


def test_float64_mesh_to_local_float32_within_eps() -> None:
    boxes = grid_boxes(9, seed=3)
    origin = np.array([566000.0, 5935000.0, 10.0])
    absolute = boxes.positions + origin
    mesh = Mesh(absolute, boxes.triangles, boxes.feature_ids, boxes.surface_types)
    local = GltfMesh.from_mesh(mesh, origin=origin)
    table = FeatureTable()
    for i in range(9):
        table.add_row({"gml_id": f"g{i}"})
    gltf = read_glb(encode_glb(local, table))
    decoded = (
        gltf.accessor(gltf.primitives()[0]["attributes"]["POSITION"]).astype(np.float64) + origin
    )
    eps = np.finfo(np.float32).eps * np.abs(boxes.positions).max()
    assert np.abs(decoded - absolute).max() <= eps
    assert np.abs(decoded - absolute).max() < 1e-3  # T3D-2: < 1 mm


def test_one_primitive_per_surface_type_covers_all_triangles() -> None:
    mesh, table, _ = small_city()
    gltf = read_glb(encode_glb(mesh, table))
    prims = gltf.primitives()
    materials = gltf.document["materials"]
    assert [materials[p["material"]]["name"] for p in prims] == ["roof", "wall", "ground"]
    seen = []
    for prim in prims:
        assert prim["mode"] == 4
        assert prim["attributes"] == prims[0]["attributes"]
        indices = gltf.accessor(prim["indices"]).reshape(-1, 3)
        assert gltf.document["accessors"][prim["indices"]]["componentType"] == 5123
        name = materials[prim["material"]]["name"]
        code = SurfaceType[name.upper()]
        expected = mesh.triangles[mesh.surface_types == code]
        np.testing.assert_array_equal(indices, expected)  # input order kept within a type
        seen.append(indices)
    assert sum(len(s) for s in seen) == mesh.triangle_count


def test_uint32_indices_from_65536_vertices() -> None:
    n_tri = 65536 // 3 + 1  # 65538 vertices
    mesh, table = many_features(n_tri)
    gltf = read_glb(encode_glb(mesh, table))
    for prim in gltf.primitives():
        assert gltf.document["accessors"][prim["indices"]]["componentType"] == 5125
    small = GltfMesh(
        mesh.positions[:65535],
        mesh.triangles[:21845],
        mesh.feature_ids[:65535],
        mesh.surface_types[:21845],
    )
    gltf = read_glb(encode_glb(small, table))
    assert {
        gltf.document["accessors"][p["indices"]]["componentType"] for p in gltf.primitives()
    } == {5123}


def test_vertex_normals_degenerate_and_unused_vertices_point_up() -> None:
    positions = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [5, 5, 5]], dtype=np.float32)
    normals = vertex_normals(positions, np.array([[0, 1, 2]], dtype=np.uint32))
    np.testing.assert_array_equal(normals, np.tile([0.0, 0.0, 1.0], (4, 1)))


def test_trimesh_loads_the_glb(tmp_path: Path) -> None:
    mesh, table, _ = small_city()
    path = tmp_path / "city.glb"
    write_gltf(path, mesh, table)
    scene = trimesh.load(path, force="scene", process=False)
    assert sum(len(g.faces) for g in scene.geometry.values()) == mesh.triangle_count


# --------------------------------------------------------------------------- feature ids (T3D-6)


@pytest.mark.parametrize(
    ("count", "component", "stride"),
    [(6, 5121, 4), (256, 5121, 4), (257, 5123, 4), (65536, 5123, 4), (70000, 5126, None)],
)
def test_feature_id_attribute_encoding(count: int, component: int, stride: int | None) -> None:
    mesh, table = many_features(count)
    gltf = read_glb(encode_glb(mesh, table))
    for prim in gltf.primitives():
        (fid,) = prim["extensions"]["EXT_mesh_features"]["featureIds"]
        assert fid == {"featureCount": count, "attribute": 0, "propertyTable": 0}
        acc_index = prim["attributes"]["_FEATURE_ID_0"]
        acc = gltf.document["accessors"][acc_index]
        assert acc["componentType"] == component
        assert acc["type"] == "SCALAR" and not acc.get("normalized", False)
        assert gltf.document["bufferViews"][acc["bufferView"]].get("byteStride") == stride
    ids = gltf.accessor(acc_index).ravel()
    np.testing.assert_array_equal(ids, mesh.feature_ids)
    assert ids.max() < count
    assert (
        len(np.unique(ids))
        == gltf.document["extensions"]["EXT_structural_metadata"]["propertyTables"][0]["count"]
    )
    assert set(gltf.document["extensionsUsed"]) == {"EXT_mesh_features", "EXT_structural_metadata"}


def test_each_building_has_one_id_on_all_its_triangles() -> None:
    mesh, table, _ = small_city()
    gltf = read_glb(encode_glb(mesh, table))
    ids = gltf.accessor(gltf.primitives()[0]["attributes"]["_FEATURE_ID_0"]).ravel()
    for prim in gltf.primitives():
        tri = gltf.accessor(prim["indices"]).reshape(-1, 3)
        corner_ids = ids[tri]
        assert (corner_ids == corner_ids[:, :1]).all()
    per_box = ids.reshape(-1, 24)
    assert (per_box == per_box[:, :1]).all()
    np.testing.assert_array_equal(per_box[:, 0], np.arange(6))


def test_feature_ids_beyond_table_are_rejected() -> None:
    mesh, _, _ = small_city()
    short = FeatureTable()
    short.add_row({"gml_id": "only"})
    with pytest.raises(ValueError, match="no row in the feature table"):
        encode_glb(mesh, short)


def test_more_than_2_pow_24_features_are_rejected() -> None:
    mesh, _ = many_features(3)
    huge = FeatureTable(row_count=2**24 + 1)
    with pytest.raises(ValueError, match="split the data"):
        encode_glb(mesh, huge)


# --------------------------------------------------------------------------- property table (T3D-7)


def test_property_table_roundtrip_with_umlauts_nulls_dates_bools_int64() -> None:
    mesh, table, _ = small_city()
    gltf = read_glb(encode_glb(mesh, table))
    assert_table_roundtrip(gltf, table)
    decoded = gltf.property_table(0)
    assert decoded["gml_id"][:3] == ["DEHHALKAÄ2", "DEHHALKAÄ2_part", "DEBY_ÜÖß"]
    assert decoded["Gemeindeschluessel"] == ["02000000", None, None, None, None, None]
    assert decoded["built"][:3] == ["1999-01-02", None, "2020-05-01T12:30:00"]
    assert decoded["bigId"][:2] == [2**40, -5]
    assert decoded["hasCellar"] == [1, 0, None, 0, 1, 0]
    assert decoded["measuredHeight"][:3] == [12.5, None, 7.0]
    assert decoded["mixed"] == ["a", "3", "true", "1.5", "1.5", "1.5"]
    assert decoded["comment"] == ["", None, None, "", "x", "xx"]


def test_schema_types_nodata_and_identifiers() -> None:
    mesh, table, _ = small_city()
    doc = read_glb(encode_glb(mesh, table, schema_id="lod2", class_name="bldg")).document
    ext = doc["extensions"]["EXT_structural_metadata"]
    assert ext["schema"]["id"] == "lod2"
    props = ext["schema"]["classes"]["bldg"]["properties"]
    assert ext["propertyTables"][0]["class"] == "bldg"
    assert props["gml_id"] == {"name": "gml_id", "type": "STRING", "required": True}
    assert props["Gemeindeschluessel"]["name"] == "Gemeindeschlüssel"
    assert props["Strasse"]["name"] == "Straße"
    assert props["measuredHeight"] == {
        "name": "measuredHeight",
        "type": "SCALAR",
        "componentType": "FLOAT64",
        "noData": -DBL_MAX,
    }
    assert props["storeysAboveGround"]["componentType"] == "INT32"
    assert props["storeysAboveGround"]["noData"] == -(2**31)
    assert props["bigId"]["componentType"] == "INT64"
    assert props["bigId"]["noData"] == -(2**63)
    assert props["hasCellar"]["componentType"] == "UINT8"
    assert props["hasCellar"]["noData"] == 255
    assert props["built"]["type"] == "STRING" and props["built"]["noData"] == STRING_NO_DATA
    assert props["mixed"]["type"] == "STRING" and props["mixed"]["required"] is True
    for pid, prop in props.items():
        assert property_identifier(pid) == pid
        assert not (prop.get("required") and "noData" in prop)
    # string offsets: UINT32 (the default, not spelled out), N + 1 entries
    table_props = ext["propertyTables"][0]["properties"]
    assert "stringOffsetType" not in table_props["gml_id"]
    offsets_view = doc["bufferViews"][table_props["gml_id"]["stringOffsets"]]
    assert offsets_view["byteLength"] == 4 * (table.row_count + 1)


def test_nodata_json_values_are_exact() -> None:
    mesh, table, _ = small_city()
    data = encode_glb(mesh, table)
    json_text = data[20 : 20 + read_glb(data).json_chunk_length].decode("utf-8")
    assert '"noData":-1.7976931348623157e+308' in json_text
    assert '"noData":-9223372036854775808' in json_text
    assert '"noData":"\u2400"' in json_text  # UTF-8, not \\u escapes


def test_all_empty_string_column_is_omitted_with_default() -> None:
    mesh, table = many_features(4)
    table.columns["note"] = [""] * 4
    gltf = read_glb(encode_glb(mesh, table))
    ext = gltf.document["extensions"]["EXT_structural_metadata"]
    assert "note" not in ext["propertyTables"][0]["properties"]
    assert ext["schema"]["classes"]["building"]["properties"]["note"] == {
        "name": "note",
        "type": "STRING",
        "default": "",
    }
    assert gltf.property_table(0)["note"] == [""] * 4
    # a table whose only column is omitted has no "properties" (it needs >= 1 entry)
    only = FeatureTable(columns={"note": ["", ""]}, row_count=2)
    gltf = read_glb(encode_glb(many_features(2)[0], only))
    assert (
        "properties"
        not in gltf.document["extensions"]["EXT_structural_metadata"]["propertyTables"][0]
    )
    assert gltf.property_table(0) == {"note": ["", ""]}


def test_all_null_column() -> None:
    mesh, table = many_features(3)
    table.columns["nothing"] = [None] * 3
    gltf = read_glb(encode_glb(mesh, table))
    prop = gltf.document["extensions"]["EXT_structural_metadata"]["schema"]["classes"]["building"][
        "properties"
    ]["nothing"]
    assert prop["type"] == "STRING" and prop["noData"] == STRING_NO_DATA
    assert gltf.property_table(0)["nothing"] == [None] * 3


def test_sentinel_collisions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    mesh, table = many_features(3)
    table.columns["s"] = [STRING_NO_DATA, None, "x"]
    table.columns["f"] = [-DBL_MAX, None, 1.0]
    with caplog.at_level(logging.WARNING, logger="citymodel.converters.property_table"):
        encode_glb(mesh, table)
    assert sum("noData sentinel" in r.getMessage() for r in caplog.records) == 2


def test_packed_booleans_are_lsb_first() -> None:
    mesh, table = many_features(11)
    flags = [bool(i % 3 == 0) for i in range(11)]
    table.columns["flag"] = flags
    specs = infer_property_types(table, packed_booleans=True)
    assert specs["flag"].type == "BOOLEAN"
    gltf = read_glb(encode_glb(mesh, table, properties=specs))
    view = gltf.property_table(0)
    assert view["flag"] == flags
    values_view = gltf.document["extensions"]["EXT_structural_metadata"]["propertyTables"][0][
        "properties"
    ]["flag"]
    assert gltf.view_bytes(values_view["values"]) == bytes([0b01001001, 0b00000010])


def test_no_columns_gives_feature_ids_without_property_table() -> None:
    mesh, _ = many_features(3)
    doc = read_glb(encode_glb(mesh, FeatureTable(row_count=3))).document
    assert doc["extensionsUsed"] == ["EXT_mesh_features"]
    assert "extensions" not in doc
    for prim in doc["meshes"][0]["primitives"]:
        assert prim["extensions"]["EXT_mesh_features"]["featureIds"] == [
            {"featureCount": 3, "attribute": 0}
        ]


_sentinel_free_text = st.text(max_size=12).filter(lambda s: s != STRING_NO_DATA)
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != -DBL_MAX),
    _sentinel_free_text,
    st.dates(),
)
_column = st.one_of(
    st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=1),
    st.lists(st.one_of(st.none(), st.booleans()), min_size=1),
    st.lists(st.one_of(st.none(), _sentinel_free_text), min_size=1),
    st.lists(_values, min_size=1),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(columns=st.dictionaries(st.text(min_size=1, max_size=8), _column, min_size=1, max_size=5))
def test_property_table_roundtrip_property(columns: dict[str, list[Any]]) -> None:
    count = min(len(v) for v in columns.values())
    table = FeatureTable(columns={k: v[:count] for k, v in columns.items()}, row_count=count)
    mesh, _ = many_features(count)
    gltf = read_glb(encode_glb(mesh, table))
    assert_table_roundtrip(gltf, table)
    ids = list(
        gltf.document["extensions"]["EXT_structural_metadata"]["schema"]["classes"]["building"][
            "properties"
        ]
    )
    assert len(set(ids)) == len(columns)


# --------------------------------------------------------------------------- type inference


def _spec(values: list[Any], **kw: Any) -> PropertySpec:
    table = FeatureTable(columns={"c": values}, row_count=len(values))
    return infer_property_types(table, **kw)["c"]


@pytest.mark.parametrize(
    ("values", "ptype", "component", "required"),
    [
        ([1, 2, 2**31 - 1], "SCALAR", "INT32", True),
        ([-(2**31) + 1, None], "SCALAR", "INT32", False),
        ([-(2**31)], "SCALAR", "INT64", True),  # -2^31 is the INT32 sentinel
        ([2**31], "SCALAR", "INT64", True),
        ([2**63 - 1, -(2**63) + 1], "SCALAR", "INT64", True),
        ([2**63], "STRING", None, True),
        ([1, 2.5], "SCALAR", "FLOAT64", True),
        ([2**53, 0.5], "SCALAR", "FLOAT64", True),
        ([2**53 + 1, 0.5], "STRING", None, True),
        ([np.float32(1.5), np.int64(3)], "SCALAR", "FLOAT64", True),
        ([True, 1], "STRING", None, True),
        ([True, False], "SCALAR", "UINT8", True),
        ([True, None], "SCALAR", "UINT8", False),
        (["a", dt.date(2000, 1, 1)], "STRING", None, True),
        ([dt.date(2000, 1, 1), None], "STRING", None, False),
        ([None, None], "STRING", None, False),
    ],
)
def test_infer_types(values: list[Any], ptype: str, component: str | None, required: bool) -> None:
    spec = _spec(values)
    assert (spec.type, spec.component_type, spec.required) == (ptype, component, required)


def test_identifiers_are_sanitised_and_unique() -> None:
    table = FeatureTable(
        columns={
            "gml:id": ["a"],
            "gml_id": ["b"],
            "3D-Höhe": [1.0],
            "Ärger": [1],
            "名前": ["x"],
            "": ["y"],
        },
        row_count=1,
    )
    specs = infer_property_types(table)
    assert specs["gml_id"].name == "gml_id"  # valid names keep theirs
    assert specs["gml:id"].name == "gml_id_2"
    assert specs["3D-Höhe"].name == "_3D_Hoehe"
    assert specs["Ärger"].name == "Aerger"
    assert specs["名前"].name == "__"
    assert specs[""].name == "_"
    assert len({s.name for s in specs.values()}) == len(specs)


def test_merge_property_types_widens() -> None:
    a = infer_property_types(
        FeatureTable(
            columns={"i": [1], "f": [1], "s": ["x"], "b": [True], "only_a": [1.0]}, row_count=1
        )
    )
    b = infer_property_types(
        FeatureTable(
            columns={"i": [2**40], "f": [0.5], "s": [None], "b": [3], "only_b": ["z"]}, row_count=1
        )
    )
    merged = merge_property_types(a, b)
    assert list(merged) == ["i", "f", "s", "b", "only_a", "only_b"]
    assert merged["i"].component_type == "INT64" and merged["i"].required
    assert merged["f"].component_type == "FLOAT64"
    assert merged["s"].type == "STRING" and not merged["s"].required
    assert merged["b"].type == "STRING"
    assert not merged["only_a"].required and merged["only_a"].component_type == "FLOAT64"
    assert not merged["only_b"].required


def test_given_properties_give_one_schema_for_several_tiles() -> None:
    mesh1, t1 = many_features(2)
    mesh2, t2 = many_features(2)
    t1.columns["h"] = [1, 2]
    t2.columns["h"] = [None, 2.5]
    specs = merge_property_types(infer_property_types(t1), infer_property_types(t2))
    docs = [read_glb(encode_glb(m, t, properties=specs)) for m, t in ((mesh1, t1), (mesh2, t2))]
    schemas = [d.document["extensions"]["EXT_structural_metadata"]["schema"] for d in docs]
    assert schemas[0] == schemas[1]
    assert docs[0].property_table()["h"] == [1.0, 2.0]
    assert docs[1].property_table()["h"] == [None, 2.5]


def test_values_that_do_not_fit_given_properties_are_rejected() -> None:
    mesh, table = many_features(2)
    table.columns["n"] = [1, 2]
    specs = infer_property_types(table)
    table.columns["n"] = [1, "two"]
    with pytest.raises(ValueError, match="'n'"):
        encode_glb(mesh, table, properties=specs)
    table.columns["n"] = [1, None]
    with pytest.raises(ValueError, match="required"):
        encode_glb(mesh, table, properties=specs)
    table.columns["n"] = [1, 2**40]
    with pytest.raises(ValueError, match="INT32 range"):
        encode_glb(mesh, table, properties=specs)
    table.columns["extra"] = [1, 2]
    with pytest.raises(ValueError, match="no property spec"):
        encode_glb(mesh, table, properties=specs)


# --------------------------------------------------------------------------- document


def test_root_matrix_asset_and_extras() -> None:
    mesh, table, _ = small_city()
    doc = read_glb(
        encode_glb(
            mesh,
            table,
            root_matrix=Z_UP_TO_Y_UP,
            extras={"copyright": "© GeoBasis-DE / LGV Hamburg", "citymodel": {"frame": "enu"}},
        )
    ).document
    assert doc["asset"] == {
        "version": "2.0",
        "generator": f"citymodel {__version__}",
        "copyright": "© GeoBasis-DE / LGV Hamburg",
        "extras": {"citymodel": {"frame": "enu"}},
    }
    assert doc["scenes"] == [{"nodes": [0]}] and doc["scene"] == 0
    assert doc["nodes"] == [{"mesh": 0, "matrix": Z_UP_TO_Y_UP}]
    identity = [1.0 if i % 5 == 0 else 0.0 for i in range(16)]
    assert read_glb(encode_glb(mesh, table, root_matrix=identity)).document["nodes"] == [
        {"mesh": 0}
    ]
    with pytest.raises(ValueError, match="16 finite"):
        encode_glb(mesh, table, root_matrix=[1.0] * 12)
    with pytest.raises(ValueError, match="16 finite"):
        encode_glb(mesh, table, root_matrix=[math.nan] * 16)
    with pytest.raises(ValueError, match="extras"):
        encode_glb(mesh, table, extras={"bad": object()})


def test_invalid_identifiers_are_rejected() -> None:
    mesh, table, _ = small_city()
    with pytest.raises(ValueError, match="class_name"):
        encode_glb(mesh, table, class_name="my building")
    with pytest.raises(ValueError, match="schema_id"):
        encode_glb(mesh, table, schema_id="1st")


def test_materials_follow_the_palette() -> None:
    mesh, table, _ = small_city()
    palette = SemanticMaterials.from_mapping(
        {"roof": "#ff0000", "Wall": "#00ff0080"}, double_sided=True
    )
    doc = read_glb(encode_glb(mesh, table, materials=palette)).document
    by_name = {m["name"]: m for m in doc["materials"]}
    assert by_name["roof"]["pbrMetallicRoughness"]["baseColorFactor"] == [1.0, 0.0, 0.0, 1.0]
    assert by_name["roof"]["doubleSided"] is True
    assert "alphaMode" not in by_name["roof"]
    assert by_name["wall"]["alphaMode"] == "BLEND"
    assert by_name["wall"]["pbrMetallicRoughness"]["baseColorFactor"] == [
        0.0,
        1.0,
        0.0,
        round(128 / 255, 6),
    ]
    default = SemanticMaterials.default_palette()
    ground = [round(c, 6) for c in default.color(SurfaceType.GROUND)]
    assert by_name["ground"]["pbrMetallicRoughness"]["baseColorFactor"] == ground


def test_semantic_materials_parsing() -> None:
    m = SemanticMaterials.from_mapping(
        {"roof": "#8b3a2b", "default": "#fff", "outer-ceiling": "#000000"}
    )
    r, g, b, a = m.color(SurfaceType.ROOF)
    assert (round(r, 4), round(g, 4), round(b, 4), a) == (
        0.2582,
        0.0423,
        0.0242,
        1.0,
    )  # sRGB -> linear
    assert m.color(SurfaceType.OUTER_CEILING) == (0.0, 0.0, 0.0, 1.0)
    assert m.color(200) == (1.0, 1.0, 1.0, 1.0)
    assert m.name(200) == "surface_200"
    with pytest.raises(ValueError, match="unknown surface type 'chimney'"):
        SemanticMaterials.from_mapping({"chimney": "#000"})
    with pytest.raises(ValueError, match="not a colour"):
        SemanticMaterials.from_mapping({"roof": "red"})
    with pytest.raises(ValueError, match="linear RGBA"):
        SemanticMaterials(colors={1: (2.0, 0.0, 0.0, 1.0)}, default=(0.5, 0.5, 0.5, 1.0))


# --------------------------------------------------------------------------- empty mesh, .gltf, files


def empty_mesh() -> GltfMesh:
    return GltfMesh(
        np.zeros((0, 3), np.float32),
        np.zeros((0, 3), np.uint32),
        np.zeros(0, np.uint32),
        np.zeros(0, np.uint8),
    )


def test_empty_mesh_without_features() -> None:
    data = encode_glb(empty_mesh(), FeatureTable())
    gltf = read_glb(data)
    assert set(gltf.document) == {"asset"}
    assert len(data) == 20 + gltf.json_chunk_length  # no BIN chunk


def test_empty_mesh_keeps_the_property_table() -> None:
    table = attribute_table()
    gltf = read_glb(encode_glb(empty_mesh(), table))
    assert gltf.document["extensionsUsed"] == ["EXT_structural_metadata"]
    assert "meshes" not in gltf.document and "nodes" not in gltf.document
    assert_table_roundtrip(gltf, table)


def test_gltf_json_embeds_the_same_buffer() -> None:
    mesh, table, _ = small_city()
    glb = read_glb(encode_glb(mesh, table, root_matrix=Z_UP_TO_Y_UP))
    text = encode_gltf_json(mesh, table, root_matrix=Z_UP_TO_Y_UP)
    gltf = read_gltf_json(text)
    assert gltf.binary == glb.binary
    assert {k: v for k, v in gltf.document.items() if k != "buffers"} == {
        k: v for k, v in glb.document.items() if k != "buffers"
    }
    assert_table_roundtrip(gltf, table)


def test_write_gltf_by_suffix_atomically(tmp_path: Path) -> None:
    mesh, table, _ = small_city()
    write_gltf(tmp_path / "a.glb", mesh, table)
    write_gltf(tmp_path / "sub" / "b.GLTF", mesh, table)
    assert (tmp_path / "a.glb").read_bytes()[:4] == b"glTF"
    assert json.loads((tmp_path / "sub" / "b.GLTF").read_text("utf-8"))["asset"]["version"] == "2.0"
    with pytest.raises(OutputError, match="unsupported glTF suffix"):
        write_gltf(tmp_path / "c.obj", mesh, table)
    # a failing encode leaves neither the target nor a temporary file
    with pytest.raises(ValueError, match="class_name"):
        write_gltf(tmp_path / "d.glb", mesh, table, class_name="no way")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.glb", "b.GLTF", "sub"]


def test_gltf_mesh_validates_its_arrays() -> None:
    ok = {
        "positions": np.zeros((3, 3), np.float32),
        "triangles": np.array([[0, 1, 2]]),
        "feature_ids": np.zeros(3, np.uint32),
        "surface_types": np.ones(1, np.uint8),
    }
    GltfMesh(**ok)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        GltfMesh(**(ok | {"triangles": np.array([[0, 1, 3]])}))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        GltfMesh(**(ok | {"triangles": np.array([[0, 1, -1]])}))
    with pytest.raises(ValueError, match="NaN"):
        GltfMesh(**(ok | {"positions": np.full((3, 3), np.nan)}))
    with pytest.raises(ValueError, match="feature_ids"):
        GltfMesh(**(ok | {"feature_ids": np.zeros(2)}))
    with pytest.raises(ValueError, match="surface_types"):
        GltfMesh(**(ok | {"surface_types": np.zeros(2)}))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        GltfMesh(**(ok | {"positions": np.zeros((3, 2))}))


# --------------------------------------------------------------------------- Khronos validator


@pytest.fixture(scope="module")
def validator_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("validator")
    mesh, table, _ = small_city()
    big_mesh, big_table = many_features(70000)
    cases = {
        "small.glb": (mesh, table),
        "float_ids.glb": (big_mesh, big_table),
        "empty.glb": (empty_mesh(), FeatureTable()),
        "empty_with_table.glb": (empty_mesh(), table),
        "small.gltf": (mesh, table),
    }
    for name, (m, t) in cases.items():
        write_gltf(out / name, m, t, root_matrix=Z_UP_TO_Y_UP, extras={"copyright": "test"})
    names = list(cases)
    reports = validate_gltf_files([out / n for n in names])
    return dict(zip(names, reports, strict=True))


@pytest.mark.node
@pytest.mark.parametrize(
    "name", ["small.glb", "float_ids.glb", "empty.glb", "empty_with_table.glb", "small.gltf"]
)
def test_khronos_validator_reports_no_errors_or_warnings(
    validator_reports: dict[str, dict[str, Any]], name: str
) -> None:
    report = validator_reports[name]
    assert report["numErrors"] == 0, report["messages"]
    assert report["numWarnings"] == 0, report["messages"]
    assert report["numHints"] == 0, report["messages"]
    assert unexpected_issues(report) == []


def test_read_file_helper(tmp_path: Path) -> None:
    mesh, table, _ = small_city()
    write_gltf(tmp_path / "x.gltf", mesh, table)
    write_gltf(tmp_path / "x.glb", mesh, table)
    assert read_file(tmp_path / "x.gltf").binary == read_file(tmp_path / "x.glb").binary


# --------------------------------------------------------------------------- 3D Tiles checks (T3D-0)

# ENU -> ECEF at the Hamburg anchor of correctness.md T3D-2
HAMBURG_ENU = [
    -0.173586, 0.984819, 0, 0, -0.792263, -0.139646, 0.593985, 0,
    0.584967, 0.103108, 0.804476, 0, 3739137.70576, 659068.81276, 5107828.750484, 1,
]  # fmt: skip


@pytest.mark.node
def test_official_validators_accept_the_metadata(tmp_path: Path) -> None:
    """The 3d-tiles-validator checks EXT_mesh_features / EXT_structural_metadata (feature
    counts, offsets, lengths, alignment, noData), which the Khronos validator skips; loaders.gl
    must parse every property table."""
    check = Path(__file__).resolve().parents[3] / "shared" / "tools" / "check-tileset"
    if not check.is_file():
        pytest.skip(f"{check} is absent (the shared check tools are not available)")
    mesh, table, _ = small_city()
    big_mesh, big_table = many_features(70000)
    only_empty = FeatureTable(columns={"note": ["", ""]}, row_count=2)
    cases = [(mesh, table), (big_mesh, big_table), (many_features(2)[0], only_empty)]
    children = []
    for i, (m, t) in enumerate(cases):
        write_gltf(tmp_path / f"c{i}.glb", m, t, root_matrix=Z_UP_TO_Y_UP)
        lo, hi = m.positions.min(axis=0).astype(float), m.positions.max(axis=0).astype(float)
        centre, half = (lo + hi) / 2, (hi - lo) / 2 + 0.01
        box = [*centre, half[0], 0, 0, 0, half[1], 0, 0, 0, half[2]]
        children.append(
            {"boundingVolume": {"box": box}, "geometricError": 0, "content": {"uri": f"c{i}.glb"}}
        )
    root_box = [0, 0, 0, 1000, 0, 0, 0, 1000, 0, 0, 0, 100]
    tileset = {
        "asset": {"version": "1.1"},
        "geometricError": 100,
        "root": {
            "transform": HAMBURG_ENU,
            "boundingVolume": {"box": root_box},
            "geometricError": 50,
            "refine": "ADD",
            "children": children,
        },
    }
    (tmp_path / "tileset.json").write_text(json.dumps(tileset), "utf-8")
    proc = subprocess.run(
        [str(check), "-q", str(tmp_path / "tileset.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    if proc.returncode == 2:
        pytest.skip(f"check-tileset could not run (npm install?): {last}")
    assert last == "check-tileset: PASS errors=0 warnings=0", proc.stdout + proc.stderr
