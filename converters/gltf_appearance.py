"""Textures and X3D materials in the glTF encoder (:mod:`citymodel.converters.gltf`).

Primitives are split by (texture, material, surface type). A triangle with a usable texture
shows the texture (the source's texture wins over its material, as CityGML viewers do); one
with a material only gets the X3D material's colours; the rest keep the semantic palette.
Textured primitives read ``TEXCOORD_0`` (float32, one per vertex, shared by all primitives;
``t`` flipped because glTF's image origin is the upper-left corner). Images are embedded in
the binary buffer (``bufferView`` + ``mimeType``), one per texture used. KTX2 images
(:mod:`citymodel.converters.texture_encoding`) are referenced through the texture's
``KHR_texture_basisu`` extension, without a fallback ``source``, so the extension is also
required (:meth:`AppearanceEncoder.required_extensions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from citymodel.converters.gltf_binary import BufferBuilder
from citymodel.converters.gltf_compression import ViewWriter
from citymodel.converters.gltf_textures import (
    TextureImage,
    material_object,
    sampler_object,
    textured_material_object,
)
from citymodel.converters.materials import SemanticMaterials
from citymodel.converters.texture_encoding import KHR_TEXTURE_BASISU, KTX2_MIME
from citymodel.model.appearance import NO_INDEX, MeshAppearance

__all__ = ["AppearanceEncoder"]

_FLOAT: Final = 5126
_SURFACE_CODES: Final = 256


@dataclass(slots=True)
class AppearanceEncoder:
    """Per-primitive materials, the ``TEXCOORD_0`` accessor and texture objects of one mesh."""

    appearance: MeshAppearance
    images: Sequence[TextureImage | None]
    palette: SemanticMaterials
    builder: BufferBuilder
    texture: npt.NDArray[np.int64]  # (M,) usable texture per triangle or -1
    textures: list[dict[str, Any]] = field(default_factory=list)
    image_objects: list[dict[str, Any]] = field(default_factory=list)
    samplers: list[dict[str, Any]] = field(default_factory=list)
    _gltf_texture: dict[int, int] = field(default_factory=dict)
    _sampler_of: dict[str, int] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        appearance: MeshAppearance,
        images: Sequence[TextureImage | None] | None,
        palette: SemanticMaterials,
        builder: BufferBuilder,
    ) -> AppearanceEncoder:
        """An encoder; textures whose image is None (or all, without ``images``) are dropped."""
        tex = appearance.triangle_texture.astype(np.int64)
        usable = np.zeros(len(appearance.textures) + 1, dtype=np.bool_)
        if images is not None:
            if len(images) != len(appearance.textures):
                raise ValueError("one image (or None) per texture of the mesh appearance needed")
            usable[:-1] = [img is not None for img in images]
        tex = np.where(usable[tex], tex, NO_INDEX)
        return cls(appearance, images or (), palette, builder, tex)

    @property
    def _materials(self) -> int:
        return len(self.appearance.materials) + 1

    def group_codes(self, surface_types: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
        """One sortable code per triangle: texture, else material, then surface type."""
        mat = np.where(self.texture >= 0, NO_INDEX, self.appearance.triangle_material)
        key = (self.texture + 1) * self._materials + (mat.astype(np.int64) + 1)
        return key * _SURFACE_CODES + surface_types.astype(np.int64)

    def uv_accessor(self, views: ViewWriter, n: int) -> dict[str, Any] | None:
        """The ``TEXCOORD_0`` accessor (``t`` flipped), or None when nothing is textured."""
        if not (self.texture >= 0).any():
            return None
        uv = np.empty((n, 2), dtype="<f4")
        uv[:, 0] = self.appearance.uv[:, 0]
        uv[:, 1] = 1.0 - self.appearance.uv[:, 1]
        return {
            "bufferView": views.vertices(uv),
            "componentType": _FLOAT,
            "count": n,
            "type": "VEC2",
        }

    def material(self, code: int) -> tuple[dict[str, Any], bool]:
        """The glTF material of a group code and whether it is textured."""
        surface_type = code % _SURFACE_CODES
        key = code // _SURFACE_CODES
        tex = key // self._materials - 1
        mat = key % self._materials - 1
        double_sided = self.palette.double_sided
        if tex >= 0:
            image = self.images[tex]
            has_alpha = image is not None and image.has_alpha
            return (
                textured_material_object(
                    self._texture_index(tex),
                    has_alpha=has_alpha,
                    double_sided=double_sided,
                    name=f"texture_{tex}",
                ),
                True,
            )
        if mat >= 0:
            material = self.appearance.materials[mat]
            return (
                material_object(
                    material, double_sided=double_sided, name=material.name or f"material_{mat}"
                ),
                False,
            )
        return self.palette.gltf_material(surface_type), False

    def _texture_index(self, tex: int) -> int:
        found = self._gltf_texture.get(tex)
        if found is not None:
            return found
        image = self.images[tex]
        if image is None:  # excluded by create()
            raise ValueError(f"texture {tex} has no image")
        view = self.builder.add_view(image.data)
        self.image_objects.append({"bufferView": view, "mimeType": image.mime_type})
        wrap = self.appearance.textures[tex].wrap
        sampler = self._sampler_of.get(wrap)
        if sampler is None:
            sampler = self._sampler_of[wrap] = len(self.samplers)
            self.samplers.append(sampler_object(wrap))
        source = len(self.image_objects) - 1
        if image.mime_type == KTX2_MIME:
            self.textures.append(
                {"sampler": sampler, "extensions": {KHR_TEXTURE_BASISU: {"source": source}}}
            )
        else:
            self.textures.append({"sampler": sampler, "source": source})
        index = self._gltf_texture[tex] = len(self.textures) - 1
        return index

    def required_extensions(self) -> list[str]:
        """glTF extensions the written textures need (``KHR_texture_basisu`` for KTX2)."""
        if any(image["mimeType"] == KTX2_MIME for image in self.image_objects):
            return [KHR_TEXTURE_BASISU]
        return []

    def finish(self, document: dict[str, Any]) -> None:
        """Add ``textures``, ``images`` and ``samplers`` to the glTF document."""
        if self.textures:
            document["textures"] = self.textures
            document["images"] = self.image_objects
            document["samplers"] = self.samplers
