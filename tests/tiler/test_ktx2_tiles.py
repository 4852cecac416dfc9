"""KTX2 (KHR_texture_basisu) tile textures: atlases, real textured tiles, validators, render.

The Khronos glTF validator (2.0.0-dev.3.10, the newest) does not implement
KHR_texture_basisu: it cannot decode KTX2 images and flags their ``image/ktx2`` MIME type.
These tests therefore check the KTX2 containers themselves (:mod:`tests.ktx2_reader`), decode
them with a Basis Universal transcoder, accept exactly those validator messages and
nothing else, and let CesiumJS draw one tileset.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from citymodel.converters.texture_encoding import KHR_TEXTURE_BASISU, TextureEncoding
from citymodel.model.appearance import MeshAppearance, Texture
from citymodel.report import JobReport
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.texture_atlas import pack_textures
from tests.gltf_reader import read_file
from tests.gltf_validator import EXPECTED_INFOS, validate_gltf_files
from tests.ktx2_reader import (
    assert_basisu_texture,
    decode_level,
    encoder_params,
    full_mip_count,
    needs_encoder,
)
from tests.tileset_render import CHECK_TILESET, render_rgb

pytestmark = needs_encoder

GEORES = "citygml/geores_textured/geoRES_testdata.xml"
# What the validator says about every KTX2 image, as it does not know KHR_texture_basisu.
KTX2_WARNINGS = frozenset({"VALUE_NOT_IN_LIST", "IMAGE_UNRECOGNIZED_FORMAT"})


def _photo(path: Path, seed: int, size: tuple[int, int]) -> None:
    """A smooth many-coloured image (gradients plus a few discs), like a facade photo."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rng = np.random.default_rng(seed)
    rgb = np.stack(
        [128 + 100 * np.sin(x / w * np.pi * rng.uniform(1, 3) + c) for c in range(3)], axis=-1
    )
    rgb[..., 1] = rgb[..., 1] * 0.5 + 60 * (y / h)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, w / 4)
        rgb[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(path, quality=95)


@pytest.mark.parametrize("encoder", encoder_params())
def test_atlas_in_ktx2_matches_the_jpeg_atlas(tmp_path: Path, encoder: str) -> None:
    sizes = [(128, 64), (64, 64), (96, 40), (32, 32)]
    textures = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"p{i}.jpg"
        _photo(path, i, size)
        textures.append(Texture(image=str(path)))
    n = len(textures)
    appearance = MeshAppearance(
        uv=np.tile(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32), (n, 1)),
        triangle_texture=np.repeat(np.arange(n, dtype=np.int32), 2),
        triangle_material=np.full(2 * n, -1, np.int32),
        textures=tuple(textures),
    )
    base = np.array([[0, 1, 2], [0, 2, 3]])
    triangles = np.concatenate([base + 4 * i for i in range(n)])
    jpeg = pack_textures(appearance, triangles, 4096)
    encoding = TextureEncoding(format="ktx2", encoder=encoder)  # type: ignore[arg-type]
    ktx2 = pack_textures(appearance, triangles, 4096, encoding)
    # Same layout: the texture coordinates do not depend on the image format.
    np.testing.assert_array_equal(jpeg.appearance.uv, ktx2.appearance.uv)
    assert jpeg.atlas_size == ktx2.atlas_size
    atlas = ktx2.images[0]
    assert atlas is not None and atlas.mime_type == "image/ktx2"
    ktx = assert_basisu_texture(atlas.data)
    assert (ktx.width, ktx.height) == jpeg.atlas_size
    assert len(ktx.levels) == full_mip_count(ktx.width, ktx.height)
    reference = jpeg.images[0]
    assert reference is not None and reference.mime_type == "image/jpeg"
    expected = np.asarray(Image.open(io.BytesIO(reference.data)).convert("RGB"), np.int64)
    decoded = decode_level(atlas.data)[..., :3]
    assert decoded.shape == expected.shape
    # ETC1S at the default quality: a mean error of a few levels, no shifted or flipped cells.
    assert np.abs(decoded - expected).mean() < 8.0


@pytest.mark.parametrize("encoder", encoder_params())
def test_uastc_tiles_are_zstd_supercompressed(tmp_path: Path, encoder: str) -> None:
    path = tmp_path / "p.jpg"
    _photo(path, 7, (64, 64))
    appearance = MeshAppearance(
        uv=np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32),
        triangle_texture=np.zeros(2, np.int32),
        triangle_material=np.full(2, -1, np.int32),
        textures=(Texture(image=str(path)),),
    )
    packed = pack_textures(
        appearance,
        np.array([[0, 1, 2], [0, 2, 3]]),
        4096,
        TextureEncoding(format="ktx2", ktx2_codec="uastc", encoder=encoder),  # type: ignore[arg-type]
    )
    atlas = packed.images[0]
    assert atlas is not None
    assert_basisu_texture(atlas.data, codec="uastc")


def _tile(source: Path, out: Path, grids: Path, textures: TextureEncoding) -> JobReport:
    report = JobReport()
    options = TileOptions(jobs=2, grids=(grids,), textures=textures)
    build_tileset([source], out, options=options, report=report)
    return report


def _ktx2_images(out: Path) -> tuple[int, list[Path]]:
    """(KTX2 images, GLB paths) of a tileset; asserts each image and its texture."""
    count = 0
    glbs = sorted(out.rglob("*.glb"))
    for glb in glbs:
        gltf = read_file(glb)
        doc = gltf.document
        for texture in doc.get("textures", []):
            ext = texture.get("extensions", {}).get(KHR_TEXTURE_BASISU)
            if ext is None:
                continue
            assert "source" not in texture
            assert KHR_TEXTURE_BASISU in doc["extensionsRequired"]
            image = doc["images"][ext["source"]]
            assert image["mimeType"] == "image/ktx2"
            assert_basisu_texture(gltf.view_bytes(image["bufferView"]))
            count += 1
        assert all(image["mimeType"] == "image/ktx2" for image in doc.get("images", []))
    return count, glbs


@pytest.mark.realdata
@pytest.mark.node
@pytest.mark.parametrize("encoder", encoder_params())
def test_real_textured_city_in_ktx2_passes_check_tileset(
    shared_data: Path, shared_grids: Path, tmp_path: Path, encoder: str
) -> None:
    source = shared_data / GEORES
    out = tmp_path / "ktx2"
    encoding = TextureEncoding(format="ktx2", encoder=encoder)  # type: ignore[arg-type]
    report = _tile(source, out, shared_grids, encoding)
    assert len(report.extra["appearance"]["missing_images"]) == 2  # as the manifest says
    count, glbs = _ktx2_images(out)
    assert count >= 10  # the atlas and the repeating textures
    # Only the validator's messages about KTX2 images it cannot read; nothing else.
    for glb, validation in zip(glbs, validate_gltf_files(glbs), strict=True):
        assert validation["numErrors"] == 0, glb
        unexpected = [
            m
            for m in validation["messages"]
            if not (m["severity"] == 1 and m["code"] in KTX2_WARNINGS)
            and not (m["severity"] == 2 and m["code"] in EXPECTED_INFOS)
        ]
        assert not unexpected, unexpected[:5]
    if shutil.which("node") is None or not CHECK_TILESET.is_file():
        pytest.skip("node or check-tileset is not available")
    result = subprocess.run(
        ["bash", str(CHECK_TILESET), str(out / "tileset.json"), "-q"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "CHECK_TILESET_NO_APT": "1"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.realdata
@pytest.mark.node
@pytest.mark.slow
def test_cesium_draws_ktx2_tiles_like_jpeg_tiles(
    shared_data: Path, shared_grids: Path, tmp_path: Path
) -> None:
    source = shared_data / GEORES
    pictures = {}
    for name in ("jpeg", "ktx2"):
        out = tmp_path / name
        _tile(source, out, shared_grids, TextureEncoding(format=name))  # type: ignore[arg-type]
        pictures[name] = render_rgb(out / "tileset.json", tmp_path / f"{name}.png")
    jpeg, ktx2 = pictures["jpeg"], pictures["ktx2"]
    assert jpeg.shape == ktx2.shape
    differs = np.abs(jpeg - ktx2).max(axis=2) > 40
    # Same camera and geometry: only compression noise (measured: no pixel off by more than
    # 20). Untextured (palette) tiles differ from the JPEG render in 9.4% of the pixels, so a
    # KTX2 texture CesiumJS failed to decode or drew flipped would fail here.
    assert differs.mean() < 0.005, f"{differs.mean():.2%} of the pixels differ"
