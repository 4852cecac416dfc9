"""Appearance part of a scratch-store unit section (flag bit 3, :mod:`citymodel.tiler.store`).

Layout, after the section's rows text (all little-endian)::

    tables_length   uint32   bytes of the tables text
    tables          UTF-8 JSON {"textures": [...], "materials": [...]} of this section only
    uv              V x 2 float32 texture coordinate per vertex
    texture         T int32 index into the section's textures per triangle (-1: none)
    material        T int32 index into the section's materials per triangle (-1: none)

Only sections with at least one textured or coloured triangle carry the part, so untextured
data are stored exactly as before.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from citymodel.model.appearance import NO_INDEX, Int32Array, Material, MeshAppearance, Texture

__all__ = ["FLAG_APPEARANCE", "decode_part", "encode_part"]

FLAG_APPEARANCE = 8
_LENGTH = struct.Struct("<I")


def _compact(codes: Int32Array) -> tuple[list[int], Int32Array]:
    used = np.unique(codes[codes >= 0])
    lookup = np.full((int(used.max()) + 2) if used.size else 1, NO_INDEX, np.int32)
    lookup[used] = np.arange(used.size, dtype=np.int32)
    return used.tolist(), lookup[codes]


def encode_part(appearance: MeshAppearance, v0: int, v1: int, t0: int, t1: int) -> bytes | None:
    """The appearance part of a section (vertices ``v0:v1``, triangles ``t0:t1``), or None."""
    tex = appearance.triangle_texture[t0:t1]
    mat = appearance.triangle_material[t0:t1]
    if not ((tex >= 0).any() or (mat >= 0).any()):
        return None
    used_tex, tex_codes = _compact(tex)
    used_mat, mat_codes = _compact(mat)
    tables = {
        "textures": [dataclasses.asdict(appearance.textures[i]) for i in used_tex],
        "materials": [dataclasses.asdict(appearance.materials[i]) for i in used_mat],
    }
    text = json.dumps(tables, separators=(",", ":")).encode("utf-8")
    return b"".join(
        [
            _LENGTH.pack(len(text)),
            text,
            np.ascontiguousarray(appearance.uv[v0:v1], dtype="<f4").tobytes(),
            tex_codes.astype("<i4").tobytes(),
            mat_codes.astype("<i4").tobytes(),
        ]
    )


def _texture(d: dict[str, Any]) -> Texture:
    border = d.get("border_color")
    return Texture(
        image=d["image"],
        wrap=d.get("wrap", "none"),
        border_color=tuple(border) if border is not None else None,
        mime_type=d.get("mime_type"),
    )


def _material(d: dict[str, Any]) -> Material:
    return Material(
        diffuse=tuple(d["diffuse"]),
        emissive=tuple(d["emissive"]),
        specular=tuple(d["specular"]),
        shininess=d["shininess"],
        transparency=d["transparency"],
        ambient_intensity=d["ambient_intensity"],
        is_smooth=d["is_smooth"],
        name=d.get("name"),
    )


def decode_part(data: memoryview | bytes, vertices: int, triangles: int) -> MeshAppearance:
    """Decode one appearance part (raises ValueError when its size does not fit)."""
    (n,) = _LENGTH.unpack_from(data, 0)
    at = _LENGTH.size + n
    expected = at + 8 * vertices + 8 * triangles
    if len(data) != expected:
        raise ValueError(f"appearance part has {len(data)} bytes, expected {expected}")
    tables = json.loads(bytes(data[_LENGTH.size : at]).decode("utf-8"))
    uv = np.frombuffer(data, dtype="<f4", count=2 * vertices, offset=at).reshape(-1, 2)
    at += 8 * vertices
    tex = np.frombuffer(data, dtype="<i4", count=triangles, offset=at)
    mat = np.frombuffer(data, dtype="<i4", count=triangles, offset=at + 4 * triangles)
    return MeshAppearance(
        uv=uv.astype(np.float32),
        triangle_texture=tex.astype(np.int32),
        triangle_material=mat.astype(np.int32),
        textures=tuple(_texture(t) for t in tables["textures"]),
        materials=tuple(_material(m) for m in tables["materials"]),
    )


def concat_parts(
    parts: Sequence[MeshAppearance | None], vertices: Sequence[int], triangles: Sequence[int]
) -> MeshAppearance | None:
    """One appearance for concatenated sections (None when no section has one)."""
    return MeshAppearance.concat(list(zip(parts, vertices, triangles, strict=True)))
