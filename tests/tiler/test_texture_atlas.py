"""Texture atlases: every coordinate inside its sub-image, budget kept, store round trip."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from citymodel.mesh import FeatureTable, Mesh, MeshBatch
from citymodel.model.appearance import MeshAppearance, Texture
from citymodel.tiler._store_appearance import decode_part, encode_part
from citymodel.tiler.texture_atlas import pack_textures


def _images(tmp_path: Path, sizes: list[tuple[int, int]]) -> list[Texture]:
    textures = []
    for i, (w, h) in enumerate(sizes):
        path = tmp_path / f"t{i}_{w}x{h}.png"
        colour = ((37 * i) % 256, (91 * i) % 256, (151 * i + 60) % 256)
        Image.new("RGB", (w, h), colour).save(path)
        textures.append(Texture(image=str(path)))
    return textures


def _quads(textures: list[Texture], uv_range: tuple[float, float] = (0.0, 1.0)) -> MeshAppearance:
    """Two triangles per texture, corners at uv_range's corners."""
    lo, hi = uv_range
    corners = np.array([[lo, lo], [hi, lo], [hi, hi], [lo, hi]], np.float32)
    n = len(textures)
    return MeshAppearance(
        uv=np.tile(corners, (n, 1)),
        triangle_texture=np.repeat(np.arange(n, dtype=np.int32), 2),
        triangle_material=np.full(2 * n, -1, np.int32),
        textures=tuple(textures),
    )


def _triangles(n: int) -> np.ndarray:
    base = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int64)
    return np.concatenate([base + 4 * i for i in range(n)])


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(4, 300), st.integers(4, 300)), min_size=1, max_size=12))
def test_every_coordinate_lands_inside_its_sub_image(
    tmp_path: Path, sizes: list[tuple[int, int]]
) -> None:
    folder = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    textures = _images(folder, sizes)
    appearance = _quads(textures)
    packed = pack_textures(appearance, _triangles(len(textures)), max_size=512)
    atlas = packed.images[0]
    assert atlas is not None and packed.atlas_size is not None
    width, height = packed.atlas_size
    assert width <= 512 and height <= 512
    assert width & (width - 1) == 0 and height & (height - 1) == 0  # powers of two
    img = Image.open(io.BytesIO(atlas.data)).convert("RGB")
    assert (packed.appearance.triangle_texture == 0).all()
    uv = packed.appearance.uv
    for i in range(len(textures)):
        quad = uv[4 * i : 4 * i + 4]
        x0, x1 = quad[:, 0].min() * width, quad[:, 0].max() * width
        y0, y1 = (1 - quad[:, 1].max()) * height, (1 - quad[:, 1].min()) * height
        # the sub-image rectangles of different textures never overlap
        for j in range(i):
            other = uv[4 * j : 4 * j + 4]
            ox0, ox1 = other[:, 0].min() * width, other[:, 0].max() * width
            oy0, oy1 = (1 - other[:, 1].max()) * height, (1 - other[:, 1].min()) * height
            assert x1 <= ox0 + 1e-3 or ox1 <= x0 + 1e-3 or y1 <= oy0 + 1e-3 or oy1 <= y0 + 1e-3
        # texels inside the rectangle have the texture's colour (JPEG: within 12)
        expected = np.array(Image.open(textures[i].image).getpixel((0, 0)), dtype=float)
        for fx, fy in ((0.5, 0.5), (0.1, 0.1), (0.9, 0.9)):
            px = min(int(x0 + fx * (x1 - x0)), width - 1)
            py = min(int(y0 + fy * (y1 - y0)), height - 1)
            assert np.abs(np.array(img.getpixel((px, py)), dtype=float) - expected).max() <= 12


def test_budget_scales_large_images_down(tmp_path: Path) -> None:
    textures = _images(tmp_path, [(1024, 1024), (1024, 512)])
    packed = pack_textures(_quads(textures), _triangles(2), max_size=512)
    assert packed.atlas_size is not None
    w, h = packed.atlas_size
    assert w <= 512 and h <= 512


def test_repeating_textures_stay_separate_with_their_coordinates(tmp_path: Path) -> None:
    textures = _images(tmp_path, [(32, 32)])
    appearance = _quads(textures, uv_range=(0.0, 3.0))
    packed = pack_textures(appearance, _triangles(1), max_size=512)
    assert packed.atlas_size is None
    assert packed.appearance.textures == appearance.textures  # wrap mode kept: REPEAT
    np.testing.assert_array_equal(packed.appearance.uv, appearance.uv)


def test_unreadable_image_leaves_triangles_untextured(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    appearance = _quads([Texture(image=str(bad))])
    packed = pack_textures(appearance, _triangles(1), max_size=256)
    assert (packed.appearance.triangle_texture == -1).all()
    assert packed.images == []


def test_store_part_round_trip(tmp_path: Path) -> None:
    textures = _images(tmp_path, [(8, 8), (8, 8)])
    appearance = _quads(textures)
    part = encode_part(appearance, 4, 8, 2, 4)  # the second quad only
    assert part is not None
    decoded = decode_part(memoryview(part), 4, 2)
    assert decoded.textures == (textures[1],)
    assert decoded.triangle_texture.tolist() == [0, 0]
    np.testing.assert_array_equal(decoded.uv, appearance.uv[4:8])
    untextured = MeshAppearance(
        uv=np.zeros((4, 2), np.float32),
        triangle_texture=np.full(2, -1, np.int32),
        triangle_material=np.full(2, -1, np.int32),
    )
    assert encode_part(untextured, 0, 4, 0, 2) is None


def test_mesh_concat_and_select_keep_appearance(tmp_path: Path) -> None:
    from citymodel.mesh import select_rows

    textures = _images(tmp_path, [(8, 8), (8, 8)])
    a = _quads(textures[:1])
    b = _quads(textures[1:])
    tri = _triangles(1).astype(np.uint32)
    pos = np.zeros((4, 3))
    m1 = Mesh(pos, tri, np.zeros(4, np.uint32), np.zeros(2, np.uint8), appearance=a)
    m2 = Mesh(pos, tri, np.zeros(4, np.uint32), np.zeros(2, np.uint8), appearance=b)
    plain = Mesh(pos, tri, np.zeros(4, np.uint32), np.zeros(2, np.uint8))
    merged = Mesh.concat([m1, plain, m2], [0, 1, 2])
    assert merged.appearance is not None
    assert merged.appearance.textures == (textures[0], textures[1])
    assert merged.appearance.triangle_texture.tolist() == [0, 0, -1, -1, 1, 1]
    table = FeatureTable(columns={"gml_id": ["a", "b", "c"]}, row_count=3)
    kept = select_rows(MeshBatch(mesh=merged, features=table), np.array([True, False, True]))
    assert kept.mesh.appearance is not None
    assert kept.mesh.appearance.triangle_texture.tolist() == [0, 0, 1, 1]
    assert kept.mesh.appearance.uv.shape == (8, 2)


def test_blocks_get_the_mean_texture_colour_per_unit_and_class(tmp_path: Path) -> None:
    from citymodel.model.appearance import Material
    from citymodel.tiler.block_colours import block_appearance

    Image.new("RGB", (16, 16), (255, 0, 0)).save(tmp_path / "red.png")
    half = Image.new("RGB", (16, 16), (0, 0, 255))
    half.paste((0, 255, 0), (0, 0, 16, 8))
    half.save(tmp_path / "half.png")
    textures = (Texture(image=str(tmp_path / "red.png")), Texture(image=str(tmp_path / "half.png")))
    # unit 0: a textured wall (red) and a roof with an X3D material; unit 1: a half/half wall
    square = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1]], dtype=np.float64)
    positions = np.concatenate([square, square + np.array([0, 0, 5]), square + np.array([9, 0, 0])])
    tri = np.concatenate([_triangles(1) + 4 * k for k in range(3)]).astype(np.uint32)
    look = MeshAppearance(
        uv=np.zeros((12, 2), np.float32),
        triangle_texture=np.array([0, 0, -1, -1, 1, 1], np.int32),
        triangle_material=np.array([-1, -1, 0, 0, -1, -1], np.int32),
        textures=textures,
        materials=(Material(diffuse=(0.0, 0.5, 0.0)),),
    )
    mesh = Mesh(
        positions,
        tri,
        np.repeat(np.arange(3, dtype=np.uint32), 4),
        np.array([2, 2, 1, 1, 2, 2], np.uint8),
        appearance=look,
    )
    block = Mesh(
        positions[:8],
        _triangles(2).astype(np.uint32),
        np.zeros(8, np.uint32),
        np.array([2, 2, 1, 1], np.uint8),  # wall, wall, roof, roof
    )
    other_block = Mesh(
        positions[8:],
        _triangles(1).astype(np.uint32),
        np.zeros(4, np.uint32),
        np.array([1, 1], np.uint8),  # roof of unit 1: only its wall is coloured
    )
    blocks = Mesh.concat([block, other_block])
    result = block_appearance(
        mesh, np.array([0, 0, 0, 0, 1, 1]), blocks, np.array([0, 0, 0, 0, 1, 1]), 2
    )
    assert result is not None
    colours = [result.materials[i].diffuse for i in result.triangle_material.tolist()]
    assert colours[0] == pytest.approx((1.0, 0.0, 0.0))  # unit 0 wall: red (linear)
    assert colours[2] == pytest.approx((0.0, 0.5, 0.0))  # unit 0 roof: its X3D colour
    assert colours[4] == pytest.approx((0.0, 0.5, 0.5))  # unit 1: half green, half blue
