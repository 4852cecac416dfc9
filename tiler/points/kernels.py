"""The optional compiled point kernels: loading them, and the switch to turn them off.

``citymodel.tiler.points._kernels`` is a C extension (Cython, built by ``setup.py`` when a
compiler is present) holding the point tiler's per-point loops: lattice georeferencing
(:mod:`citymodel.tiler.points.georef`), octree codes with bounds (:meth:`citymodel.tiler.
points.frame.OctreeFrame.encode`) and the closest point per voxel
(:func:`citymodel.tiler.points.octree.closest_per_voxel`). Each replaces several whole-array
numpy passes by one loop over the points, with the same floating-point operations in the same
order: the results are bit-identical to the numpy code, which runs when the extension is not
built (tests compare both).

Set the environment variable ``CITYMODEL_COMPILED_KERNELS=0`` (before the tiler is imported;
workers inherit it) to force the numpy code.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType

__all__ = ["COMPILED", "status"]

log = logging.getLogger(__name__)


def _load() -> tuple[ModuleType | None, str]:
    if os.environ.get("CITYMODEL_COMPILED_KERNELS", "1").strip().lower() in {
        "0",
        "no",
        "false",
        "off",
    }:
        return None, "turned off (CITYMODEL_COMPILED_KERNELS)"
    try:
        from citymodel.tiler.points import _kernels
    except ImportError as err:
        return None, f"not built ({err})"
    return _kernels, "yes"


COMPILED, _STATUS = _load()
"""The compiled kernels module, or None: the numpy code runs."""
log.debug("compiled point kernels: %s", _STATUS)


def status() -> str:
    """One line for ``--version`` output: whether the compiled point kernels are used."""
    return _STATUS if COMPILED is not None else "no: " + _STATUS
