"""Job options: the JSON form of the ``citymodel tile`` options, validated before a job is queued.

A submitted job carries its options as JSON (the multipart field ``options`` or the
``options`` member of a JSON body). They are checked completely at submission, so a job never
fails later on an option: unknown fields, wrong types (no coercion: ``"true"`` is not a
boolean), unknown object types, an unresolvable ``in_crs`` and a compression whose package is
missing are all ``422`` answers naming the field. Server resources (worker processes, grid
folders, scratch space) are the server's settings, not job options.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from citymodel.converters.gltf_compression import Compression, meshopt_codec
from citymodel.converters.gltf_draco import draco_codec
from citymodel.converters.texture_encoding import (
    Ktx2Codec,
    TextureEncoding,
    TextureFormat,
    ktx2_encoder,
)
from citymodel.crs import resolve_crs
from citymodel.errors import CityModelError
from citymodel.formats import supported_types
from citymodel.tiler.build import TileOptions

__all__ = ["PathsJobRequest", "TileJobOptions"]

_LOD_PATTERN = r"^[0-4](\.[0-9])?$"
_CODECS: dict[str, Callable[[], ModuleType]] = {"meshopt": meshopt_codec, "draco": draco_codec}
"""The package check of each compression (what ``build_tileset`` checks before reading)."""


class TileJobOptions(BaseModel):
    """Options of a ``tile`` job (the ``citymodel tile`` options in JSON form)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    implicit: bool = Field(
        default=False, description="Implicit tiling (quadtree subtrees, 3D Tiles 1.1 only)."
    )
    tiles_version: Literal["1.1", "1.0"] = Field(
        default="1.1",
        description="1.1: glTF contents with EXT_mesh_features/EXT_structural_metadata; "
        "1.0: b3dm contents with batch tables.",
    )
    lod: Annotated[str, Field(pattern=_LOD_PATTERN)] | None = Field(
        default=None,
        description="Level of detail to convert, e.g. '2' or '1' (default: highest per object).",
        examples=["2"],
    )
    types: Annotated[list[str], Field(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="Top-level object types to convert (default: all that are read).",
        examples=[["Building"]],
    )
    in_crs: Annotated[str, Field(min_length=1, max_length=4096)] | None = Field(
        default=None,
        description="CRS of the input, overriding its srsName (e.g. 'EPSG:25832+7837').",
        examples=["EPSG:25832+7837"],
    )
    vertical_mode: Literal["auto", "ellipsoidal-as-is"] = Field(
        default="auto",
        description="auto: heights to ellipsoidal with the geoid grid; ellipsoidal-as-is: "
        "take z as ellipsoidal heights.",
    )
    compress: Compression = Field(
        default="none",
        description="Geometry compression: meshopt = 16-bit positions (error <= 1 cm) with "
        "EXT_meshopt_compression; draco = KHR_draco_mesh_compression (error <= 1 cm).",
    )
    texture_format: TextureFormat = Field(
        default="auto",
        description="Texture images: auto = JPEG, PNG where transparent; jpeg / png = "
        "re-encode all; ktx2 = KTX 2.0 with Basis Universal and mipmaps (KHR_texture_basisu).",
    )
    ktx2_codec: Ktx2Codec = Field(
        default="etc1s",
        description="Basis Universal mode of ktx2: etc1s = smallest; uastc = higher quality.",
    )
    strict: bool = Field(
        default=False, description="Fail the job instead of skipping bad features."
    )
    output: Literal["folder", "3tz"] = Field(
        default="folder",
        description="folder: a tileset folder; 3tz: one 3D Tiles archive (served from inside "
        "the archive).",
    )

    @field_validator("lod", mode="before")
    @classmethod
    def _lod_as_text(cls, value: Any) -> Any:
        # JSON clients write the LoD as a number as often as a string: 2 means "2"
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("types")
    @classmethod
    def _known_types(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        known = supported_types()
        unknown = [t for t in value if t not in known and not t.startswith("+")]
        if unknown:
            raise ValueError(
                f"unknown or unsupported object types {unknown}; "
                f"types read so far: {', '.join(known)}"
            )
        return list(dict.fromkeys(value))

    @field_validator("in_crs")
    @classmethod
    def _resolvable_crs(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            resolve_crs(value)
        except CityModelError as err:
            raise ValueError(" ".join(str(err).split())) from None
        return value

    @field_validator("compress")
    @classmethod
    def _codec_installed(cls, value: str) -> str:
        codec = _CODECS.get(value)
        if codec is not None:
            try:
                codec()
            except CityModelError as err:
                raise ValueError(f"not available on this server: {err}") from None
        return value

    @field_validator("texture_format")
    @classmethod
    def _encoder_installed(cls, value: str) -> str:
        if value == "ktx2":
            try:
                ktx2_encoder()
            except CityModelError as err:
                raise ValueError(f"not available on this server: {err}") from None
        return value

    @model_validator(mode="after")
    def _implicit_needs_1_1(self) -> Self:
        if self.implicit and self.tiles_version != "1.1":
            raise ValueError("implicit tiling needs tiles_version '1.1'")
        return self

    def tile_options(
        self,
        *,
        jobs: int,
        grids: tuple[Path, ...] = (),
        scratch_dir: Path | None = None,
        scheduler: str | None = None,
    ) -> TileOptions:
        """The :class:`~citymodel.tiler.build.TileOptions` for a job run with ``jobs`` processes.

        With ``scheduler`` (a Dask scheduler address) the tasks run on that cluster.
        """
        return TileOptions(
            jobs=jobs,
            executor="local" if scheduler is None else "dask",
            scheduler=scheduler,
            implicit=self.implicit,
            tiles_version=self.tiles_version,
            lod=self.lod,
            types=None if self.types is None else tuple(self.types),
            in_crs=self.in_crs,
            vertical_mode=self.vertical_mode,
            compress=self.compress,
            textures=TextureEncoding(format=self.texture_format, ktx2_codec=self.ktx2_codec),
            strict=self.strict,
            grids=grids,
            scratch_dir=scratch_dir,
        )


class PathsJobRequest(BaseModel):
    """A job on files the server can read: ``{"paths": [...], "options": {...}}``.

    Each path is a file or a folder (read recursively for city model files) inside one of the
    server's data roots (``--data-root``); anything resolving outside them (``..``, symbolic
    links) is refused.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    paths: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=4096)]],
        Field(min_length=1, max_length=10_000),
    ] = Field(description="Files or folders on the server, inside a configured data root.")
    options: TileJobOptions = Field(default_factory=TileJobOptions)
