"""Per-tile texture atlases with a bounded pixel budget.

One tile content references many small facade photos; drawing them as separate glTF
textures costs a draw call and a GPU upload each. :func:`pack_textures` combines them:

- Textures whose coordinates stay inside ``[0, 1]`` (within 1e-3; the usual photo textures)
  are packed into **one atlas image** by a shelf packer (tallest first, rows left to right),
  each in a cell of whole 8x8 pixel blocks with a gutter of at least 2 repeated edge pixels,
  so that bilinear filtering, the viewer's first mipmap levels and JPEG blocks (written
  without chroma subsampling) do not bleed neighbours in. Their coordinates are remapped into the
  sub-image (after clamping to ``[0, 1]``).
- Textures that **repeat** (coordinates outside ``[0, 1]``, e.g. a brick pattern tiled across
  a wall with ``wrapMode wrap``) cannot live in an atlas without baking the repeats into
  new pixels; they stay separate images with a ``REPEAT`` sampler and their coordinates
  untouched.
- **Budget**: all pixels of a content (atlas plus separate images) stay within
  ``max_size`` x ``max_size``; when the sources are larger, every image is scaled down by
  the same factor (never up). The atlas side is a power of two no larger than ``max_size``.
- Format (:class:`~citymodel.converters.texture_encoding.TextureEncoding`): by default JPEG
  (quality 85, 4:4:4) when no packed image has transparency, else PNG; or every image PNG,
  or KTX2 with Basis Universal and its full mip chain (``KHR_texture_basisu``). The atlas is
  encoded once from its pixels (no JPEG round trip before KTX2), in the worker that writes
  the content; its pixels are freed before the next content.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from citymodel.converters.gltf_textures import (
    TextureImage,
    encode_image,
    load_image,
    to_power_of_two,
)
from citymodel.converters.texture_encoding import (
    TextureEncoding,
    encode_pixels,
    recode,
    repeats,
)
from citymodel.model.appearance import NO_INDEX, MeshAppearance, Texture

__all__ = ["DEFAULT_ATLAS_SIZE", "PackedTextures", "pack_textures"]

log = logging.getLogger(__name__)

DEFAULT_ATLAS_SIZE: Final = 4096
"""Default pixel budget of one content: at most this many pixels squared."""
_GUTTER: Final = 2
_BLOCK: Final = 8
"""Cells are whole 8x8 JPEG blocks, so no DCT block mixes two textures."""
_EPS: Final = 1e-3
_MIN_SIDE: Final = 4
_CACHE_LIMIT: Final = 64
_cache: dict[str, TextureImage | None] = {}
_encoded: dict[tuple[str, bool, TextureEncoding], TextureImage] = {}


@dataclass(frozen=True, slots=True)
class PackedTextures:
    """A mesh appearance whose textures are the images below (atlas first, if any)."""

    appearance: MeshAppearance
    images: list[TextureImage | None]
    atlas_size: tuple[int, int] | None


def _load(path: str) -> TextureImage | None:
    if path in _cache:
        return _cache[path]
    try:
        image: TextureImage | None = load_image(path)
    except (OSError, ValueError, SyntaxError) as err:
        log.warning(
            "texture image %s cannot be read (%s); its triangles stay untextured", path, err
        )
        image = None
    if len(_cache) >= _CACHE_LIMIT:
        _cache.pop(next(iter(_cache)))
    _cache[path] = image
    return image


def _pil(image: TextureImage) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(image.data))


def _cell(w: int, h: int) -> tuple[int, int]:
    """Size of the atlas cell of a ``w`` x ``h`` image: gutters added, whole JPEG blocks."""
    return (-(-(w + 2 * _GUTTER) // _BLOCK) * _BLOCK, -(-(h + 2 * _GUTTER) // _BLOCK) * _BLOCK)


def _in_cell(img: Any, cell: tuple[int, int]) -> Any:
    """``img`` at (gutter, gutter) in a cell filled with its repeated edge pixels."""
    from PIL import Image

    g = _GUTTER
    w, h = img.size
    cw, ch = cell
    right, bottom = cw - w - g, ch - h - g
    out = Image.new(img.mode, cell)
    out.paste(img, (g, g))
    out.paste(img.crop((0, 0, w, 1)).resize((w, g)), (g, 0))
    out.paste(img.crop((0, h - 1, w, h)).resize((w, bottom)), (g, h + g))
    column = out.crop((g, 0, g + 1, ch)).resize((g, ch))
    out.paste(column, (0, 0))
    column = out.crop((g + w - 1, 0, g + w, ch)).resize((right, ch))
    out.paste(column, (g + w, 0))
    return out


def _shelf(sizes: Sequence[tuple[int, int]], width: int) -> tuple[list[tuple[int, int]], int]:
    """Shelf packing of ``sizes`` (w, h) into ``width``: positions and the height used."""
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i][1], -sizes[i][0]))
    positions = [(0, 0)] * len(sizes)
    x = y = shelf = 0
    for i in order:
        w, h = sizes[i]
        if x + w > width:
            y += shelf
            x = shelf = 0
        positions[i] = (x, y)
        x += w
        shelf = max(shelf, h)
    return positions, y + shelf


def _pow2(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(n, 1))))


def pack_textures(
    appearance: MeshAppearance,
    triangles: Any,
    max_size: int = DEFAULT_ATLAS_SIZE,
    encoding: TextureEncoding | None = None,
) -> PackedTextures:
    """Combine the textures of one tile content into an atlas (plus repeating textures).

    Parameters
    ----------
    appearance
        The content's appearance (texture coordinates per vertex, texture per triangle).
    triangles
        ``(M, 3)`` vertex indices of the content's mesh.
    max_size
        Pixel budget: all images together hold at most ``max_size**2`` pixels and the atlas
        is at most ``max_size`` on a side.
    encoding
        Image format of the atlas and the separate images; None = ``auto`` (JPEG/PNG).

    Returns
    -------
    PackedTextures
        The remapped appearance and one image per texture; textures whose image cannot be
        read are dropped (their triangles are written untextured).
    """
    tex = appearance.triangle_texture
    used = sorted(set(np.unique(tex[tex >= 0]).tolist()))
    if not used:
        return PackedTextures(appearance, [None] * len(appearance.textures), None)
    vertex_texture = np.full(appearance.uv.shape[0], NO_INDEX, np.int64)
    tri = np.asarray(triangles, dtype=np.int64)
    vertex_texture[tri.ravel()] = np.repeat(tex.astype(np.int64), 3)
    loaded = {i: _load(appearance.textures[i].image) for i in used}
    images = {i: image for i, image in loaded.items() if image is not None}
    return _pack(appearance, images, vertex_texture, max_size, encoding or TextureEncoding())


def _pack(
    appearance: MeshAppearance,
    images: dict[int, TextureImage],
    vertex_texture: Any,
    max_size: int,
    encoding: TextureEncoding,
) -> PackedTextures:
    uv = appearance.uv.astype(np.float64)
    readable = sorted(images)
    inside: dict[int, bool] = {}
    for i in readable:
        mask = vertex_texture == i
        coords = uv[mask]
        inside[i] = bool(
            coords.size == 0 or ((coords >= -_EPS).all() and (coords <= 1 + _EPS).all())
        )
    area = sum(images[i].width * images[i].height for i in readable)
    scale = min(1.0, math.sqrt(max_size * max_size / area)) if area else 1.0
    atlas_ids = [i for i in readable if inside[i]]
    separate = [i for i in readable if not inside[i]]
    new_uv = uv.copy()
    textures: list[Texture] = []
    out_images: list[TextureImage | None] = []
    new_index = np.full(len(appearance.textures) + 1, NO_INDEX, np.int32)
    atlas_size = None
    if atlas_ids:
        atlas, rects, atlas_size = _atlas(atlas_ids, images, scale, max_size, encoding)
        width, height = atlas_size
        for i in atlas_ids:
            x, y, w, h = rects[i]
            mask = vertex_texture == i
            u = np.clip(uv[mask, 0], 0.0, 1.0)
            t = np.clip(uv[mask, 1], 0.0, 1.0)
            new_uv[mask, 0] = (x + u * w) / width
            new_uv[mask, 1] = 1.0 - (y + (1.0 - t) * h) / height
            new_index[i] = 0
        textures.append(Texture(image="atlas", wrap="clamp"))
        out_images.append(atlas)
    for i in separate:
        image = _separate(appearance.textures[i], images[i], scale, encoding)
        new_index[i] = len(textures)
        textures.append(appearance.textures[i])
        out_images.append(image)
    packed = MeshAppearance(
        uv=new_uv.astype(np.float32),
        triangle_texture=new_index[appearance.triangle_texture],
        triangle_material=appearance.triangle_material,
        textures=tuple(textures),
        materials=appearance.materials,
    )
    return PackedTextures(packed, out_images, atlas_size)


def _separate(
    texture: Texture, image: TextureImage, scale: float, encoding: TextureEncoding
) -> TextureImage:
    """A repeating texture's own image: scaled to the budget, power of two, encoded.

    Full-size results are cached per process (a brick texture recurs in many contents, and
    KTX2 encoding costs seconds).
    """
    repeat = repeats(texture.wrap)
    key = (texture.image, repeat, encoding)
    if scale >= 1.0 and key in _encoded:
        return _encoded[key]
    if scale < 1.0:
        side = (
            max(_MIN_SIDE, round(image.width * scale)),
            max(_MIN_SIDE, round(image.height * scale)),
        )
        image = encode_image(_pil(image).resize(side), has_alpha=image.has_alpha)
    image = recode(to_power_of_two(image), encoding=encoding, repeat=repeat, name=texture.image)
    if scale >= 1.0:
        if len(_encoded) >= _CACHE_LIMIT:
            _encoded.pop(next(iter(_encoded)))
        _encoded[key] = image
    return image


def _atlas(
    ids: list[int],
    images: dict[int, TextureImage],
    scale: float,
    max_size: int,
    encoding: TextureEncoding,
) -> tuple[TextureImage, dict[int, tuple[int, int, int, int]], tuple[int, int]]:
    """Pack ``ids`` at ``scale`` (shrunk further until they fit) into one atlas image."""
    from PIL import Image

    g = _GUTTER
    while True:
        sizes = {}
        for i in ids:
            image = images[i]
            sizes[i] = (
                max(_MIN_SIDE, round(image.width * scale)),
                max(_MIN_SIDE, round(image.height * scale)),
            )
        padded = [_cell(w, h) for w, h in sizes.values()]
        total = sum(w * h for w, h in padded)
        widest = max(w for w, _ in padded)
        width = min(max_size, max(_pow2(widest), _pow2(math.ceil(math.sqrt(total)))))
        positions, used_height = _shelf(padded, width)
        if used_height <= max_size and widest <= max_size:
            break
        scale *= 0.85
    height = _pow2(used_height)
    has_alpha = any(images[i].has_alpha for i in ids)
    atlas = Image.new("RGBA" if has_alpha else "RGB", (width, height))
    rects: dict[int, tuple[int, int, int, int]] = {}
    for (i, (w, h)), (x, y), cell in zip(sizes.items(), positions, padded, strict=True):
        img = _pil(images[i]).convert(atlas.mode)
        if img.size != (w, h):
            img = img.resize((w, h), Image.Resampling.LANCZOS)
        atlas.paste(_in_cell(img, cell), (x, y))
        rects[i] = (x + g, y + g, w, h)
    encoded = encode_pixels(
        atlas,
        has_alpha=has_alpha,
        encoding=encoding,
        name=f"the texture atlas of {len(ids)} images",
    )
    return encoded, rects, (width, height)
