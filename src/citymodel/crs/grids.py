"""PROJ grids: registration, shipped-grid verification and missing-grid errors (GEO-1, 3, 9).

:func:`register_grids` puts the grids shipped in ``citymodel/grids`` (GCG2016 quasigeoid,
BETA2007) and user grid folders on PROJ's search path, once per process; it is also the
initializer for spawned worker processes. :func:`grid_missing_error` names a missing grid file
and every way to provide it, so a missing geoid grid is an error instead of heights 40 m off.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pyproj
import pyproj.datadir
import pyproj.network

from citymodel.crs.caches import clear_caches
from citymodel.crs.resolved import crs_label_and_name
from citymodel.errors import CRSError, GridMissingError

if TYPE_CHECKING:
    from pyproj._crs import CoordinateOperation

__all__ = [
    "ACCEPTED_SUBSTITUTES",
    "NO_BUNDLED_GRIDS_ENV",
    "ensure_bundled_grids_registered",
    "grid_missing_error",
    "missing_grids",
    "register_grids",
]

logger = logging.getLogger(__name__)

NO_BUNDLED_GRIDS_ENV = "CITYMODEL_NO_BUNDLED_GRIDS"
"""Environment variable: when ``1``/``true``/``yes``/``on``, :func:`register_grids` does not
register the grids shipped with citymodel."""

_BUNDLED_GRID_DIR = Path(__file__).resolve().parent.parent / "grids"  # citymodel/grids
# sha256 of the shipped files, as published with PROJ-data (see grids/NOTICE.md, GEO-9).
_BUNDLED_GRIDS: dict[str, str] = {
    "de_bkg_gcg2016.tif": "598f18324dea7f8e72421d18add7ac6228259adf91eeb335cc9c27d98484f7ac",
    "de_adv_BETA2007.tif": "46e681fcc7d022dde1db1f9d0a3426a9bfb1d4a151af69a81b3c30104c9388e2",
}
_bundled_problem: str | None = None  # None: not verified yet; "": verified OK; else: reason


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_bundled_grids() -> str:
    """Check the shipped grids once per process; return "" when fine, else the reason."""
    global _bundled_problem
    if _bundled_problem is None:
        problems = []
        for name, expected in _BUNDLED_GRIDS.items():
            path = _BUNDLED_GRID_DIR / name
            if not path.is_file():
                problems.append(f"{path} is missing")
            elif _sha256(path) != expected:
                problems.append(f"{path} fails its sha256 check (expected {expected})")
        _bundled_problem = "; ".join(problems)
        if _bundled_problem:
            logger.error("bundled PROJ grids not used: %s; reinstall citymodel", _bundled_problem)
    return _bundled_problem


def _bundled_grids_unused_reason() -> str | None:
    """Why the shipped grids are not on PROJ's path (None when they are in use)."""
    if _env_flag(NO_BUNDLED_GRIDS_ENV):
        return f"disabled by {NO_BUNDLED_GRIDS_ENV}"
    return _verify_bundled_grids() or None


def _user_data_dir() -> str:
    # Public pyproj API, re-exported by pyproj.datadir from its Cython module.
    return str(pyproj.datadir.get_user_data_dir())  # type: ignore[attr-defined]


def _network_enabled() -> bool:
    return bool(pyproj.network.is_network_enabled())  # type: ignore[attr-defined]


def _data_dirs() -> list[str]:
    return [d for d in pyproj.datadir.get_data_dir().split(os.pathsep) if d]


def register_grids(extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Put the shipped grids and user grid folders on PROJ's search path (GEO-1, GEO-9).

    Appends, with :func:`pyproj.datadir.append_data_dir` (``PROJ_DATA`` is ignored by the
    pyproj wheels), first ``citymodel/grids`` (GCG2016 and BETA2007, sha256-verified once per
    process; skipped when ``CITYMODEL_NO_BUNDLED_GRIDS=1``), then every folder of
    ``extra_dirs`` (``--grids DIR``: NAP, EGM96, ... grids). Folders already on the path are
    not added twice, so calling it again is cheap and harmless.

    Spawned worker processes do not inherit appended folders: pass this function as the pool
    initializer, e.g. ``ProcessPoolExecutor(mp_context=spawn, initializer=register_grids,
    initargs=([grids_dir],))``.

    PROJ's network access is left as the user configured it (``PROJ_NETWORK=ON``).

    Parameters
    ----------
    extra_dirs
        Folders holding additional PROJ grid files.

    Raises
    ------
    CRSError
        If an extra folder does not exist.
    """
    wanted: list[str] = []
    if _bundled_grids_unused_reason() is None:
        wanted.append(str(_BUNDLED_GRID_DIR))
    for entry in extra_dirs:
        path = Path(entry).expanduser().resolve()
        if not path.is_dir():
            raise CRSError(f"grid folder {path} does not exist (given as {os.fspath(entry)!r})")
        wanted.append(str(path))
    present = set(_data_dirs())
    added = False
    for folder in dict.fromkeys(wanted):
        if folder not in present:
            pyproj.datadir.append_data_dir(folder)
            present.add(folder)
            added = True
            logger.debug("PROJ grid folder registered: %s", folder)
    if added:
        # Transformers built before may have been built without a grid that is now available.
        clear_caches()


_bundled_registration_done = False


def ensure_bundled_grids_registered() -> None:
    """Register the shipped grids once per process, on first use.

    So the Python API works without an explicit :func:`register_grids` call; user grid
    folders still need ``register_grids([...])``.
    """
    global _bundled_registration_done
    if not _bundled_registration_done:
        register_grids()
        _bundled_registration_done = True


# Best operations whose grid may be missing while PROJ's next candidate is a documented EPSG
# transformation of known, sufficient accuracy. Anything not listed is an error (GEO-3).
ACCEPTED_SUBSTITUTES: dict[str, tuple[str, str]] = {
    # RD New: the RDNAPTRANS(TM)2018 horizontal grid (EPSG:9282, exact by definition) is in
    # PROJ-data but often not installed; EPSG:9281 is IOGP's published Helmert approximation.
    "nl_nsgi_rdtrans2018.tif": (
        "Amersfoort to ETRS89 (8)",
        (
            "EPSG:9281 'Amersfoort to ETRS89 (8)' (Helmert, documented accuracy 0.25 m onshore "
            "Netherlands) is used instead of the RDNAPTRANS(TM)2018 grid "
            "nl_nsgi_rdtrans2018.tif; horizontal positions may be off by up to 0.25 m. Provide "
            "the grid with --grids DIR for exact results"
        ),
    ),
}


def grid_missing_error(src: pyproj.CRS, dst: pyproj.CRS, grids: dict[str, str]) -> GridMissingError:
    """GEO-3: name the missing grid file(s) and every way to provide them."""
    # Grids with an accepted substitute are only recommended when others are missing too.
    required = {n: u for n, u in grids.items() if n not in ACCEPTED_SUBSTITUTES} or grids
    optional = [n for n in grids if n not in required]
    listing = ", ".join(f"{n} ({u})" if u else n for n, u in required.items())
    parts = [
        (
            f"The transformation {crs_label_and_name(src)} -> {crs_label_and_name(dst)} needs the grid file(s) "
            f"{listing}, which PROJ cannot find. Without it PROJ would silently fall back to a "
            "less accurate or 'ballpark' operation (for a geoid grid: heights tens of metres "
            "off), so citymodel refuses (GEO-3)."
        )
    ]
    if optional:
        parts.append(f"Also recommended for full accuracy: {', '.join(optional)}.")
    reason = _bundled_grids_unused_reason()
    shipped = [n for n in grids if n in _BUNDLED_GRIDS]
    if shipped and reason:
        parts.append(f"citymodel ships {', '.join(shipped)}, but it is not in use: {reason}.")
    parts.append(
        "Provide it: put the file into a folder and pass --grids DIR (register_grids([DIR])), "
        f"or copy it into the PROJ user data directory {_user_data_dir()}, "
        "or set PROJ_NETWORK=ON when online so that PROJ downloads it from cdn.proj.org."
    )
    if _network_enabled():
        parts.append("PROJ network access is enabled, but the grid could not be obtained.")
    return GridMissingError(" ".join(parts), grids=(*required, *optional))


def missing_grids(operations: Iterable[CoordinateOperation]) -> dict[str, str]:
    """Short names (-> download URL, may be empty) of the grids ``operations`` lack."""
    out: dict[str, str] = {}
    for op in operations:
        for grid in op.grids:
            if not grid.available and grid.short_name:
                out.setdefault(grid.short_name, grid.url or "")
    return out
