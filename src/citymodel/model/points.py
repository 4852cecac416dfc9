"""Point cloud batches as read from LAS/LAZ/COPC (or any point source)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float64Array

__all__ = ["POINT_ATTRIBUTES", "PointChunk"]

POINT_ATTRIBUTES: Mapping[str, str] = {
    "classification": "uint8",
    "intensity": "uint16",
    "return_number": "uint8",
    "number_of_returns": "uint8",
    "color": "uint8",
}
"""Standard per-point attributes and their dtypes (``color`` is ``(N, 3)`` sRGB, 8 bit).

Any other key of :attr:`PointChunk.attributes` is an extra dimension, named as in the source
(LAS ExtraBytes), with the dtype it was read with.
"""


@dataclass(frozen=True, slots=True)
class PointChunk:
    """A batch of points: positions and per-point attributes, all of length ``N``.

    Attributes
    ----------
    xyz
        ``(N, 3)`` float64 coordinates in the source CRS and its units (scale and offset of
        the file already applied; x = east/longitude first, AX-3).
    attributes
        Per-point arrays by name: the keys of :data:`POINT_ATTRIBUTES` that the source has,
        plus requested extra dimensions. Arrays have ``N`` rows (``color``: ``(N, 3)``).
    """

    xyz: Float64Array
    attributes: Mapping[str, npt.NDArray[np.generic]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.xyz.shape[0]
        if self.xyz.ndim != 2 or self.xyz.shape[1] != 3:
            raise ValueError(f"xyz must have shape (N, 3), got {self.xyz.shape}")
        for name, values in self.attributes.items():
            if values.shape[0] != n:
                raise ValueError(f"attribute {name!r} has {values.shape[0]} rows, expected {n}")

    def __len__(self) -> int:
        return int(self.xyz.shape[0])

    def select(self, keep: npt.NDArray[np.bool_]) -> PointChunk:
        """The points where ``keep`` is True."""
        return PointChunk(
            xyz=self.xyz[keep],
            attributes={name: values[keep] for name, values in self.attributes.items()},
        )
