"""Texture images for glTF: loading, checking, re-encoding, and the glTF texture objects.

glTF 2.0 core accepts JPEG and PNG only. Images are read once per file name; JPEG and PNG
files that Pillow can decode and whose sides are powers of two are embedded byte for byte;
other sizes are resampled to the nearest power of two (repeating, mipmapped textures need
that in WebGL 1) and other formats (TIFF, GIF, BMP, ...) re-encoded (PNG when they have an
alpha channel, else JPEG quality 90). A missing or
undecodable image is reported once (``report.warn`` and ``report.extra["appearance"]
["missing_images"]``) and its polygons are written untextured; the geometry is never lost.

Samplers: ``LINEAR`` magnification, ``LINEAR_MIPMAP_LINEAR`` minification (viewers build the
mipmaps), wrap from the source's wrap mode (``wrap``/``none`` -> ``REPEAT``, ``mirror`` ->
``MIRRORED_REPEAT``, ``clamp``/``border`` -> ``CLAMP_TO_EDGE``; glTF has no border colour).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np

from citymodel.errors import MissingDependencyError
from citymodel.mesh import MeshBatch
from citymodel.model.appearance import NO_INDEX, Material, Texture, WrapMode
from citymodel.report import JobReport

__all__ = [
    "MAG_LINEAR",
    "MIN_LINEAR_MIPMAP_LINEAR",
    "TextureImage",
    "image_problem",
    "load_image",
    "load_texture_images",
    "material_object",
    "sampler_object",
    "textured_material_object",
    "to_power_of_two",
    "without_unusable_textures",
]

log = logging.getLogger(__name__)

MAG_LINEAR: Final = 9729
MIN_LINEAR_MIPMAP_LINEAR: Final = 9987
_REPEAT: Final = 10497
_MIRRORED_REPEAT: Final = 33648
_CLAMP_TO_EDGE: Final = 33071
_WRAP: Final[dict[str, int]] = {
    "none": _REPEAT,
    "wrap": _REPEAT,
    "mirror": _MIRRORED_REPEAT,
    "clamp": _CLAMP_TO_EDGE,
    "border": _CLAMP_TO_EDGE,
}
_JPEG_MAGIC: Final = b"\xff\xd8\xff"
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True)
class TextureImage:
    """An image ready to embed: JPEG or PNG bytes, size and whether it has transparency."""

    data: bytes
    mime_type: str
    width: int
    height: int
    has_alpha: bool


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as err:
        raise MissingDependencyError("PIL", "textures") from err
    return Image


def load_image(path: str) -> TextureImage:
    """Read and check one image file; re-encode formats glTF does not accept.

    Raises
    ------
    OSError
        When the file is missing or not a decodable image (Pillow's ``UnidentifiedImageError``
        is an OSError).
    MissingDependencyError
        Without Pillow.
    """
    image_mod = _pillow()
    data = Path(path).read_bytes()
    with image_mod.open(io.BytesIO(data)) as img:
        img.load()  # decodes: a truncated file fails here rather than in the viewer
        mode = img.mode
        has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info)
        width, height = img.size
        if img.info.get("icc_profile"):  # glTF images are sRGB; viewers ignore profiles
            return encode_image(_srgb_without_profile(img), has_alpha=has_alpha)
        if data.startswith(_JPEG_MAGIC) and img.format == "JPEG" and mode in ("RGB", "L"):
            return TextureImage(data, "image/jpeg", width, height, False)
        if data.startswith(_PNG_MAGIC) and img.format == "PNG":
            return TextureImage(data, "image/png", width, height, has_alpha)
        return encode_image(img, has_alpha=has_alpha)


def _srgb_without_profile(img: Any) -> Any:
    """The pixels of ``img`` converted from its embedded ICC profile to sRGB, profile dropped.

    glTF samples images as sRGB and viewers ignore embedded profiles (the Khronos validator
    warns about them): colours are converted once here. A profile that cannot be read leaves
    the pixels as they are.
    """
    from PIL import ImageCms

    mode = "RGBA" if img.mode in ("RGBA", "LA", "PA", "P") else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        out = ImageCms.profileToProfile(img, source, srgb, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        log.debug("unreadable ICC profile or unsupported mode %s: pixels kept", img.mode)
        out = None
    if out is None:
        out = img.convert(mode)
    out.info.pop("icc_profile", None)
    return out


def encode_image(img: Any, *, has_alpha: bool, quality: int = 90) -> TextureImage:
    """Encode a Pillow image as PNG (with alpha) or JPEG (opaque)."""
    out = io.BytesIO()
    if has_alpha:
        img.convert("RGBA").save(out, format="PNG", optimize=True)
        mime = "image/png"
    else:
        img.convert("RGB").save(out, format="JPEG", quality=quality, optimize=True)
        mime = "image/jpeg"
    width, height = img.size
    return TextureImage(out.getvalue(), mime, width, height, has_alpha)


def _nearest_power_of_two(n: int) -> int:
    lower = 1 << (max(n, 1).bit_length() - 1)
    return lower if n - lower <= 2 * lower - n else 2 * lower


def to_power_of_two(image: TextureImage) -> TextureImage:
    """``image`` resampled to the nearest power-of-two width and height (unchanged when so).

    Repeating, mipmapped textures need power-of-two sizes in WebGL 1 (viewers otherwise
    resample them at load time, and the Khronos validator flags them).
    """
    width, height = _nearest_power_of_two(image.width), _nearest_power_of_two(image.height)
    if (width, height) == (image.width, image.height):
        return image
    img = _pillow().open(io.BytesIO(image.data))
    resized = img.convert("RGBA" if image.has_alpha else "RGB").resize(
        (width, height), _pillow().Resampling.LANCZOS
    )
    return encode_image(resized, has_alpha=image.has_alpha)


def report_missing(image: str, reason: str, report: JobReport | None) -> None:
    """Report an unusable image once per job (warning + ``appearance.missing_images``)."""
    if report is None:
        log.warning("texture image %s: %s; its polygons are written untextured", image, reason)
        return
    stats: dict[str, Any] = report.extra.setdefault("appearance", {})
    missing: list[str] = stats.setdefault("missing_images", [])
    if image in missing:
        return
    missing.append(image)
    report.warn(f"texture image {image}: {reason}; its polygons are written untextured")


def load_texture_images(
    textures: Sequence[Texture],
    report: JobReport | None,
    cache: dict[str, TextureImage | None] | None = None,
) -> list[TextureImage | None]:
    """The image of every texture (None when missing, broken or remote), each file read once.

    ``cache`` (image path -> result) may be shared between calls of one job.
    """
    cache = {} if cache is None else cache
    out: list[TextureImage | None] = []
    for texture in textures:
        key = texture.image
        if key not in cache:
            cache[key] = _load_reported(key, report)
        out.append(cache[key])
    return out


def _load_reported(image: str, report: JobReport | None) -> TextureImage | None:
    if "://" in image:
        report_missing(image, "remote images are not fetched", report)
        return None
    try:
        return to_power_of_two(load_image(image))
    except FileNotFoundError:
        report_missing(image, "file not found", report)
    except OSError as err:
        report_missing(image, f"not a readable image ({err})", report)
    except (ValueError, SyntaxError) as err:  # Pillow raises these for some corrupt files
        report_missing(image, f"not a readable image ({err})", report)
    return None


_CHECKED: dict[str, str | None] = {}
"""Per process: image path -> why it is unusable (None: usable)."""


def image_problem(image: str) -> str | None:
    """Why an image cannot be used (missing, not decodable, remote), None when it can.

    Cheap: reads the file header and checks the structure (Pillow ``verify``), not the pixels.
    Results are cached per process.
    """
    if image in _CHECKED:
        return _CHECKED[image]
    problem: str | None = None
    if "://" in image:
        problem = "remote images are not fetched"
    else:
        try:
            with _pillow().open(image) as img:
                img.verify()
        except FileNotFoundError:
            problem = "file not found"
        except (OSError, ValueError, SyntaxError) as err:
            problem = f"not a readable image ({err})"
    if len(_CHECKED) > 65536:
        _CHECKED.clear()
    _CHECKED[image] = problem
    return problem


def without_unusable_textures(batch: MeshBatch, report: JobReport | None) -> MeshBatch:
    """``batch`` without the textures whose image is unusable (reported once per image).

    The triangles of a dropped texture keep their material (if any) and geometry.
    """
    appearance = batch.mesh.appearance
    if appearance is None or not appearance.textures:
        return batch
    usable = np.ones(len(appearance.textures) + 1, dtype=np.bool_)
    for i, texture in enumerate(appearance.textures):
        problem = image_problem(texture.image)
        if problem is not None:
            usable[i] = False
            report_missing(texture.image, problem, report)
    if usable.all():
        return batch
    new_index = np.full(len(appearance.textures) + 1, NO_INDEX, dtype=np.int32)
    kept = np.flatnonzero(usable[:-1])
    new_index[kept] = np.arange(kept.size, dtype=np.int32)
    cleaned = replace(
        appearance,
        triangle_texture=new_index[appearance.triangle_texture],
        textures=tuple(appearance.textures[i] for i in kept.tolist()),
    )
    return replace(batch, mesh=replace(batch.mesh, appearance=cleaned))


def sampler_object(wrap: WrapMode) -> dict[str, Any]:
    """The glTF sampler of a wrap mode (mipmapped minification)."""
    mode = _WRAP.get(wrap, _REPEAT)
    return {
        "magFilter": MAG_LINEAR,
        "minFilter": MIN_LINEAR_MIPMAP_LINEAR,
        "wrapS": mode,
        "wrapT": mode,
    }


def material_object(material: Material, *, double_sided: bool, name: str) -> dict[str, Any]:
    """glTF material of an X3D material: diffuse -> base colour, emissive, alpha = 1 - transparency.

    Specular colour and shininess map to roughness (``1 - shininess``); metallic is 0.
    """
    r, g, b = (min(max(float(c), 0.0), 1.0) for c in material.diffuse)
    alpha = 1.0 - min(max(material.transparency, 0.0), 1.0)
    out: dict[str, Any] = {
        "name": name,
        "pbrMetallicRoughness": {
            "baseColorFactor": [round(r, 6), round(g, 6), round(b, 6), round(alpha, 6)],
            "metallicFactor": 0.0,
            "roughnessFactor": round(1.0 - min(max(material.shininess, 0.0), 1.0), 6),
        },
    }
    emissive = [round(min(max(float(c), 0.0), 1.0), 6) for c in material.emissive]
    if any(emissive):
        out["emissiveFactor"] = emissive
    if alpha < 1.0:
        out["alphaMode"] = "BLEND"
    if double_sided:
        out["doubleSided"] = True
    return out


def textured_material_object(
    texture_index: int, *, has_alpha: bool, double_sided: bool, name: str
) -> dict[str, Any]:
    """glTF material showing texture ``texture_index`` as base colour (metallic 0, rough 1)."""
    out: dict[str, Any] = {
        "name": name,
        "pbrMetallicRoughness": {
            "baseColorTexture": {"index": texture_index},
            "metallicFactor": 0.0,
            "roughnessFactor": 1.0,
        },
    }
    if has_alpha:
        out["alphaMode"] = "MASK"
        out["alphaCutoff"] = 0.5
    if double_sided:
        out["doubleSided"] = True
    return out
