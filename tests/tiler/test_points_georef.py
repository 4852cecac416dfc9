"""Lattice georeferencing of point batches: equal to PROJ within 0.5 mm, or PROJ itself (GEO-2, GEO-4)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from citymodel.crs import Georeferencer
from citymodel.ops.frames import enu_to_ecef_matrix
from citymodel.tiler.points.georef import TOLERANCE_M, LatticeGeoreferencer

HAMBURG = (566000.0, 5935000.0)


def _frame(georef: Georeferencer, x: float, y: float) -> npt.NDArray[np.float64]:
    lon, lat, _ = georef.to_geodetic([[x, y, 10.0]])[0]
    return enu_to_ecef_matrix(lon, lat, georef.to_ecef([[x, y, 10.0]])[0])


def _strip(n: int, x0: float, y0: float, size: float, seed: int = 0) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    return np.c_[x0 + rng.random(n) * size, y0 + rng.random(n) * size / 4, rng.random(n) * 120 - 5]


@pytest.mark.parametrize(
    ("crs", "x0", "y0", "size", "mode"),
    [
        ("EPSG:25832+7837", *HAMBURG, 1500.0, "auto"),  # GCG2016 quasigeoid (GEO-1)
        ("EPSG:25833+7837", 317000.0, 5690000.0, 3000.0, "auto"),  # Leipzig
        # Gauss-Krüger zone 3 (DHDN, BETA2007 grid) + DHHN92 (GCG2016): two grids at once
        ("EPSG:31467+5783", 3566000.0, 5935000.0, 2000.0, "auto"),
        ("EPSG:4326", 9.99, 53.55, 0.02, "ellipsoidal-as-is"),  # degrees
        ("EPSG:6557", 635000.0, 849000.0, 4000.0, "ellipsoidal-as-is"),  # Oregon, feet
    ],
)
def test_lattice_equals_proj(crs: str, x0: float, y0: float, size: float, mode: str) -> None:
    georef = Georeferencer.create(crs, vertical_mode=mode)  # type: ignore[arg-type]
    lattice = LatticeGeoreferencer(georef, _frame(georef, x0, y0))
    xyz = _strip(200_000, x0, y0, size)
    enu = lattice.to_enu(xyz)
    assert lattice.exact_batches == 0  # the lattice was used
    exact = lattice.exact(xyz)
    assert np.abs(enu - exact).max() < TOLERANCE_M


def test_sparse_or_small_batches_go_through_proj() -> None:
    georef = Georeferencer.create("EPSG:25832+7837")
    lattice = LatticeGeoreferencer(georef, _frame(georef, *HAMBURG))
    sparse = _strip(5000, *HAMBURG, 80_000.0)  # 5000 points over 80 km: no lattice
    assert np.array_equal(lattice.to_enu(sparse), lattice.exact(sparse))
    small = _strip(100, *HAMBURG, 100.0)
    assert np.array_equal(lattice.to_enu(small), lattice.exact(small))
    assert lattice.exact_batches == 2


def test_points_outside_the_geoid_grid_stay_infinite() -> None:
    """GCG2016 ends at the border: points beyond it have no DHHN2016 -> ellipsoid step."""
    georef = Georeferencer.create("EPSG:25832+7837")
    lattice = LatticeGeoreferencer(georef, _frame(georef, *HAMBURG))
    xyz = _strip(50_000, 566000.0, 6_116_000.0, 16_000.0)  # straddles the northern grid edge
    enu = lattice.to_enu(xyz)
    exact = lattice.exact(xyz)
    finite = np.isfinite(exact).all(axis=1)
    assert 0 < finite.sum() < len(xyz)
    assert (np.isfinite(enu).all(axis=1) == finite).all()
    assert np.abs(enu[finite] - exact[finite]).max() < TOLERANCE_M


def test_a_batch_that_fails_its_check_goes_through_proj(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check sample decides: a lattice off by more than the tolerance is not used."""
    import citymodel.tiler.points.georef as module

    georef = Georeferencer.create("EPSG:25832+7837")
    lattice = LatticeGeoreferencer(georef, _frame(georef, *HAMBURG))
    xyz = _strip(50_000, *HAMBURG, 1500.0)
    real = module._interpolate

    def off_by_a_millimetre(
        grid: module._Lattice, points: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        enu, inside = real(grid, points)
        return enu + 1e-3, inside

    monkeypatch.setattr(module, "_interpolate", off_by_a_millimetre)
    assert np.array_equal(lattice.to_enu(xyz), lattice.exact(xyz))
    assert lattice.exact_batches == 1
