"""Point columns: how points travel through the scratch store between passes.

Points are kept column-wise (:class:`PointColumns`): their octree codes (uint64, see
:mod:`citymodel.tiler.points.frame`), their positions in the dataset's ENU frame (float64
metres — full precision, so the store never moves a point) and one array per attribute of
:data:`citymodel.model.POINT_ATTRIBUTES` the inputs have plus the requested extra dimensions.
Columns gather and sort several times faster than a structured record array, and they are
what the content encoders need.

On disk a *block* of ``n`` points is the columns one after another, each contiguous and
little-endian (:func:`write_block`); a slice of a block is one read per column
(:func:`read_block`). About 40 bytes per point with colour.

The :class:`RecordLayout` is the union of the attributes over the job's input files: a file
that lacks an attribute others have gets a fill value (0, white for colour).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from citymodel._typing import Float64Array
from citymodel.errors import OutputError
from citymodel.model import POINT_ATTRIBUTES, PointChunk
from citymodel.tiler.points.frame import UInt64Array

__all__ = [
    "AttributeSpec",
    "PointColumns",
    "RecordLayout",
    "read_block",
    "read_codes",
    "write_block",
]

_STANDARD_ORDER = tuple(POINT_ATTRIBUTES)
_FILL = {"color": 255}
"""Fill values for attributes a file lacks (default 0); colour fills white."""
_CODE_DTYPE = np.dtype("<u8")
_XYZ_DTYPE = np.dtype("<f8")


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """One per-point attribute: name, little-endian dtype string and per-point shape."""

    name: str
    dtype: str
    shape: tuple[int, ...] = ()

    @classmethod
    def of(cls, name: str, values: npt.NDArray[np.generic]) -> AttributeSpec:
        """The spec of an attribute array of ``N`` rows (``(N,)`` or ``(N, k)``)."""
        dtype = np.dtype(values.dtype).newbyteorder("<")
        if dtype.kind not in "biuf":
            raise ValueError(f"point attribute {name!r} has unsupported dtype {values.dtype}")
        return cls(name, dtype.str, tuple(int(s) for s in values.shape[1:]))

    @property
    def is_standard(self) -> bool:
        """True for the LAS attributes of :data:`citymodel.model.POINT_ATTRIBUTES`."""
        return self.name in POINT_ATTRIBUTES

    @property
    def fill(self) -> int:
        """Value written for points of files without this attribute."""
        return _FILL.get(self.name, 0)

    @property
    def numpy_dtype(self) -> np.dtype[np.generic]:
        """The dtype as a numpy object."""
        return np.dtype(self.dtype)

    @property
    def width(self) -> int:
        """Values per point (1 for scalars)."""
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def row_bytes(self) -> int:
        """Bytes per point."""
        return self.numpy_dtype.itemsize * self.width


@dataclass(frozen=True, slots=True)
class RecordLayout:
    """The attributes of a job's points, standard ones first, then extra dimensions.

    Attributes
    ----------
    attributes
        The specs in storage order.
    """

    attributes: tuple[AttributeSpec, ...] = ()

    @classmethod
    def of_chunk(cls, chunk: PointChunk) -> RecordLayout:
        """The layout of the attributes in ``chunk``."""
        return cls(tuple(AttributeSpec.of(n, v) for n, v in chunk.attributes.items())).sorted()

    def sorted(self) -> RecordLayout:
        """Standard attributes in :data:`POINT_ATTRIBUTES` order, then extras by name."""

        def key(spec: AttributeSpec) -> tuple[int, str]:
            if spec.is_standard:
                return (_STANDARD_ORDER.index(spec.name), "")
            return (len(_STANDARD_ORDER), spec.name)

        return RecordLayout(tuple(sorted(self.attributes, key=key)))

    def union(self, other: RecordLayout) -> RecordLayout:
        """Attributes of both; a dtype present in both is promoted (``np.result_type``).

        Raises
        ------
        ValueError
            When one attribute has different per-point shapes.
        """
        merged = {a.name: a for a in self.attributes}
        for spec in other.attributes:
            have = merged.get(spec.name)
            if have is None:
                merged[spec.name] = spec
                continue
            if have.shape != spec.shape:
                raise ValueError(
                    f"point attribute {spec.name!r} has shape {have.shape} in one input and "
                    f"{spec.shape} in another"
                )
            dtype = np.result_type(have.numpy_dtype, spec.numpy_dtype).newbyteorder("<")
            merged[spec.name] = AttributeSpec(spec.name, dtype.str, spec.shape)
        return RecordLayout(tuple(merged.values())).sorted()

    @property
    def names(self) -> tuple[str, ...]:
        """Attribute names in storage order."""
        return tuple(a.name for a in self.attributes)

    def get(self, name: str) -> AttributeSpec | None:
        """The spec called ``name``, or None."""
        return next((a for a in self.attributes if a.name == name), None)

    def missing_in(self, other: RecordLayout) -> tuple[str, ...]:
        """Attributes of this layout that ``other`` lacks (they get fill values)."""
        have = set(other.names)
        return tuple(a.name for a in self.attributes if a.name not in have)

    @property
    def row_bytes(self) -> int:
        """Bytes per stored point (code, position, attributes)."""
        return 8 + 24 + sum(a.row_bytes for a in self.attributes)

    def columns_of(
        self,
        codes: UInt64Array,
        xyz: Float64Array,
        attributes: Mapping[str, npt.NDArray[np.generic]],
    ) -> PointColumns:
        """Columns of this layout: attributes cast to its dtypes, missing ones filled."""
        n = codes.shape[0]
        out: dict[str, npt.NDArray[np.generic]] = {}
        for spec in self.attributes:
            values = attributes.get(spec.name)
            if values is None:
                out[spec.name] = np.full((n, *spec.shape), spec.fill, dtype=spec.numpy_dtype)
            else:
                out[spec.name] = np.asarray(values, dtype=spec.numpy_dtype)
        return PointColumns(codes, xyz, out)

    def empty(self) -> PointColumns:
        """Columns of no points."""
        return self.columns_of(np.zeros(0, np.uint64), np.zeros((0, 3)), {})


@dataclass(frozen=True, slots=True)
class PointColumns:
    """Points column-wise: codes, ENU positions and attributes, all of ``N`` rows.

    Attributes
    ----------
    codes
        (N,) uint64 octree codes.
    xyz
        (N, 3) float64 positions in the dataset's ENU frame, metres.
    attributes
        Per-point arrays by name in layout order (``color`` is ``(N, 3)`` uint8 sRGB).
    """

    codes: UInt64Array
    xyz: Float64Array
    attributes: Mapping[str, npt.NDArray[np.generic]]

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.int64]) -> PointColumns:
        """The points at ``index`` (in that order)."""
        return PointColumns(
            np.take(self.codes, index),
            np.take(self.xyz, index, axis=0),
            {k: np.take(v, index, axis=0) for k, v in self.attributes.items()},
        )

    def slice(self, start: int, stop: int) -> PointColumns:
        """Points ``start``..``stop`` (views)."""
        return PointColumns(
            self.codes[start:stop],
            self.xyz[start:stop],
            {k: v[start:stop] for k, v in self.attributes.items()},
        )

    @staticmethod
    def concat(parts: Sequence[PointColumns]) -> PointColumns:
        """The points of ``parts`` one after another (same attributes)."""
        if len(parts) == 1:
            return parts[0]
        names = list(parts[0].attributes)
        return PointColumns(
            np.concatenate([p.codes for p in parts]),
            np.concatenate([p.xyz for p in parts]),
            {k: np.concatenate([p.attributes[k] for p in parts]) for k in names},
        )

    def code_order(self) -> npt.NDArray[np.intp] | None:
        """The permutation that sorts the points by code (stable), None when they are sorted."""
        if self.codes.shape[0] < 2 or bool((self.codes[1:] >= self.codes[:-1]).all()):
            return None
        return np.argsort(self.codes, kind="stable")

    def sorted_by_code(self) -> PointColumns:
        """The points sorted by code (stable: equal codes keep their order)."""
        order = self.code_order()
        return self if order is None else self.take(order)


def _columns(layout: RecordLayout) -> list[tuple[str, np.dtype[np.generic], int]]:
    """(name, dtype, values per point) of every stored column, in storage order."""
    cols: list[tuple[str, np.dtype[np.generic], int]] = [
        ("#code", _CODE_DTYPE, 1),
        ("#xyz", _XYZ_DTYPE, 3),
    ]
    cols.extend((a.name, a.numpy_dtype, a.width) for a in layout.attributes)
    return cols


def write_block(file: BinaryIO, columns: PointColumns, layout: RecordLayout, path: Path) -> int:
    """Append ``columns`` to an open binary file as one block; returns the bytes written.

    Raises
    ------
    OutputError
        When the file cannot be written.
    """
    arrays: list[npt.NDArray[np.generic]] = [columns.codes, columns.xyz]
    arrays.extend(columns.attributes[a.name] for a in layout.attributes)
    written = 0
    try:
        for (_, dtype, _), values in zip(_columns(layout), arrays, strict=True):
            data = np.ascontiguousarray(values, dtype=dtype)
            data.tofile(file)
            written += data.nbytes
    except OSError as err:
        raise OutputError(f"{path}: cannot write scratch data: {err.strerror}") from err
    return written


def read_codes(path: Path, offset: int, count: int) -> np.memmap[tuple[int], np.dtype[np.uint64]]:
    """The code column of the block at byte ``offset`` holding ``count`` points (memory-mapped)."""
    return np.memmap(path, dtype=_CODE_DTYPE, mode="r", offset=offset, shape=(count,))


def read_block(
    file: BinaryIO, layout: RecordLayout, offset: int, count: int, start: int, stop: int
) -> PointColumns:
    """Points ``start``..``stop`` of the block at byte ``offset`` holding ``count`` points.

    Raises
    ------
    OutputError
        When the file is shorter than the block (the scratch store was changed).
    """
    n = stop - start
    arrays: dict[str, npt.NDArray[np.generic]] = {}
    column_start = offset
    for name, dtype, width in _columns(layout):
        file.seek(column_start + start * width * dtype.itemsize)
        values = np.fromfile(file, dtype=dtype, count=n * width)
        if values.shape[0] != n * width:
            raise OutputError(
                f"{getattr(file, 'name', 'scratch file')}: scratch data is shorter than "
                "expected; the scratch folder was changed during the run"
            )
        arrays[name] = values.reshape(n, width) if width > 1 else values
        column_start += count * width * dtype.itemsize
    codes = arrays.pop("#code")
    xyz = arrays.pop("#xyz")
    shaped = {
        a.name: arrays[a.name].reshape(n, *a.shape) if a.shape else arrays[a.name]
        for a in layout.attributes
    }
    return PointColumns(codes, xyz, shaped)  # type: ignore[arg-type]
