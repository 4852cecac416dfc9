"""The project's own tileset checks: sound tilesets pass, each known defect is reported."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citymodel.crs import Georeferencer
from citymodel.tiler.subtree import SubtreeAvailability, encode_subtree
from citymodel.tiler.validate import validate_tileset
from tests.tiler.builders import IMPLICIT_CONTENT, build_explicit, build_implicit
from tests.tiler.conftest import HAMBURG, BatchFactory


def _edit(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


def _messages(path: Path) -> list[str]:
    return [str(p) for p in validate_tileset(path)]


@pytest.fixture
def explicit(tmp_path: Path, hamburg_batch: BatchFactory) -> Path:
    build_explicit(tmp_path, hamburg_batch)
    return tmp_path


@pytest.fixture
def implicit(tmp_path: Path, georef: Georeferencer) -> Path:
    build_implicit(tmp_path, georef.to_ecef([list(HAMBURG)]))
    return tmp_path


@pytest.mark.parametrize("kind", ["explicit", "split", "b3dm", "implicit"])
def test_sound_tilesets_pass(
    tmp_path: Path, hamburg_batch: BatchFactory, georef: Georeferencer, kind: str
) -> None:
    if kind == "implicit":
        build_implicit(tmp_path, georef.to_ecef([list(HAMBURG)]))
    else:
        build_explicit(
            tmp_path,
            hamburg_batch,
            version="1.0" if kind == "b3dm" else "1.1",
            max_json_bytes=1500 if kind == "split" else 2_000_000,
        )
    assert _messages(tmp_path) == []
    if kind == "split":
        assert len(list((tmp_path / "tilesets").glob("*.json"))) == 2


def test_region_without_geoid_is_reported(explicit: Path) -> None:
    """T3D-0 blind spot 1: a region built from normal heights lies ~40 m too low."""

    def lower(doc: dict[str, Any]) -> None:
        region = doc["root"]["children"][0]["boundingVolume"]["region"]
        region[4] -= 39.93
        region[5] -= 39.93

    _edit(explicit / "tileset.json", lower)
    messages = _messages(explicit)
    assert len(messages) == 2, messages  # both leaves of that branch
    assert all("outside the bounding volume of root/0" in m for m in messages)
    assert all("up to 39.9" in m for m in messages)


def test_box_and_transform_mistakes_are_reported(explicit: Path) -> None:
    def shift(doc: dict[str, Any]) -> None:
        leaf = doc["root"]["children"][1]["children"][0]
        leaf["boundingVolume"]["box"][0] += 5.0  # box 5 m east of its content
        other = doc["root"]["children"][1]["children"][1]
        other["transform"][12] += 3.0  # content 3 m off in ECEF x: leaves the regions above

    _edit(explicit / "tileset.json", shift)
    messages = _messages(explicit)
    assert any("[root/1/0]" in m and "up to 4.99" in m for m in messages), messages
    assert any("content/2/3/0.glb" in m and "bounding volume of root/1 " in m for m in messages), (
        messages
    )
    assert not any("bounding volume of root/1/1 " in m for m in messages), (
        "the box moved with its frame"
    )


def test_missing_content_and_error_order(explicit: Path) -> None:
    (explicit / "content" / "2" / "1" / "0.glb").unlink()

    def grow(doc: dict[str, Any]) -> None:
        doc["root"]["children"][1]["geometricError"] = 40.0
        doc["geometricError"] = 16.0
        del doc["root"]["refine"]

    _edit(explicit / "tileset.json", grow)
    text = "\n".join(_messages(explicit))
    assert "content content/2/1/0.glb does not exist" in text
    assert "geometricError 40.0 > parent's 32.0" in text
    assert "geometricError 32.0 > parent's 16.0" in text
    assert "no refine" in text


def test_bom_and_missing_content_gltf_declaration(
    tmp_path: Path, hamburg_batch: BatchFactory
) -> None:
    build_explicit(tmp_path, hamburg_batch)
    path = tmp_path / "tileset.json"
    _edit(path, lambda doc: doc["asset"].update(version="1.0"))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    text = "\n".join(_messages(tmp_path))
    assert "byte-order mark" in text
    assert "3DTILES_content_gltf" in text


def test_glb_padded_to_four_bytes_is_reported(explicit: Path) -> None:
    """T3D-0 blind spot 2: JSON chunk padded to 4, not 8 bytes."""
    path = explicit / "content" / "2" / "0" / "0.glb"
    data = path.read_bytes()
    json_length = struct.unpack_from("<I", data, 12)[0]
    raw = data[20 : 20 + json_length].rstrip(b" ")
    raw += b" " * (-len(raw) % 4)
    if (20 + len(raw)) % 8 == 0:
        raw += b"    "
    rest = data[20 + json_length :]
    path.write_bytes(
        struct.pack("<4sII", b"glTF", 2, 20 + len(raw) + len(rest))
        + struct.pack("<II", len(raw), 0x4E4F534A)
        + raw
        + rest
    )
    messages = _messages(explicit)
    assert any("not on an 8-byte boundary" in m for m in messages), messages


def test_b3dm_defects_are_reported(tmp_path: Path, hamburg_batch: BatchFactory) -> None:
    build_explicit(tmp_path, hamburg_batch, version="1.0")
    path = tmp_path / "content" / "2" / "0" / "0.b3dm"
    data = bytearray(path.read_bytes())
    data[8:12] = struct.pack("<I", len(data) + 8)  # byteLength off by 8
    path.write_bytes(bytes(data))
    messages = _messages(tmp_path)
    assert any("byteLength" in m for m in messages), messages


def test_implicit_defects_are_reported(implicit: Path) -> None:
    assert _messages(implicit) == []
    gone = IMPLICIT_CONTENT[2]  # level 3, in subtree 2/0/1
    (implicit / "content" / f"{gone.path}.glb").unlink()
    (implicit / "subtrees" / "2" / "0" / "0.subtree").unlink()
    # a subtree whose level-1 tile has no available parent
    broken = SubtreeAvailability(
        tiles=np.array([False, True, False, False, False]),
        contents=(np.zeros(5, bool),),
        child_subtrees=np.zeros(16, bool),
    )
    (implicit / "subtrees" / "2" / "3" / "3.subtree").write_bytes(encode_subtree(broken))
    text = "\n".join(_messages(implicit))
    assert f"available content content/{gone.path}.glb does not exist" in text
    assert "subtree 0.subtree is available but missing" in text
    assert "without an available parent" in text
    assert "subtree root tile is not available" in text


def test_implicit_content_outside_its_cell(implicit: Path) -> None:
    """Content assigned to the wrong cell sticks out of the computed implicit volume (T3D-5)."""
    a, b = IMPLICIT_CONTENT[2], IMPLICIT_CONTENT[3]  # two level-3 tiles
    pa, pb = (implicit / "content" / f"{k.path}.glb" for k in (a, b))
    data_a, data_b = pa.read_bytes(), pb.read_bytes()
    pa.write_bytes(data_b)
    pb.write_bytes(data_a)
    messages = _messages(implicit)
    assert any(f"implicit tile {a.path}" in m for m in messages), messages
    assert any(f"implicit tile {b.path}" in m for m in messages), messages
