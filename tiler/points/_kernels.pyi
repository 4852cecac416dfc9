"""Types of the compiled point kernels (``_kernels.pyx``; see ``kernels.py``)."""

import numpy as np
import numpy.typing as npt

def xyz_bounds(
    xyz: npt.NDArray[np.float64],
) -> tuple[tuple[float, float, float], tuple[float, float, float], int, int]: ...
def interpolate(
    xyz: npt.NDArray[np.float64],
    x0: float,
    y0: float,
    dx: float,
    dy: float,
    nx: int,
    ny: int,
    z0: float,
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    valid: npt.NDArray[np.uint8] | None,
    out: npt.NDArray[np.float64],
    inside: npt.NDArray[np.uint8],
) -> bool: ...
def encode(
    enu: npt.NDArray[np.float64],
    lx: float,
    ly: float,
    lz: float,
    scale: float,
    edge: float,
    codes: npt.NDArray[np.uint64],
) -> tuple[
    bool,
    tuple[float, float, float] | None,
    tuple[float, float, float] | None,
    int,
    float,
]: ...
def closest_per_voxel(
    codes: npt.NDArray[np.uint64],
    enu: npt.NDArray[np.float64],
    lx: float,
    ly: float,
    lz: float,
    factor: float,
    shift: int,
    out: npt.NDArray[np.int64],
) -> int: ...
def local_offsets(
    enu: npt.NDArray[np.float64], out: npt.NDArray[np.float32]
) -> tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]: ...
