"""Type aliases shared across the package."""

from __future__ import annotations

import datetime as _dt
import os
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

Float64Array: TypeAlias = npt.NDArray[np.float64]
Float32Array: TypeAlias = npt.NDArray[np.float32]
IndexArray: TypeAlias = npt.NDArray[np.int64]
UInt32Array: TypeAlias = npt.NDArray[np.uint32]
UInt8Array: TypeAlias = npt.NDArray[np.uint8]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
PathLike: TypeAlias = str | os.PathLike[str]
AttributeValue: TypeAlias = str | int | float | bool | _dt.date | None
"""A scalar attribute value; dates are kept as :class:`datetime.date`."""
