"""The bundled sample is exactly what the generator makes (samples/ holds only generated data)."""

from __future__ import annotations

import gzip
from pathlib import Path

from citymodel.synthetic import SyntheticCityOptions, write_city

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "synthetic_city.gml.gz"


def test_bundled_sample_is_reproducible(tmp_path: Path) -> None:
    regenerated = tmp_path / SAMPLE.name
    write_city(regenerated, SyntheticCityOptions(n_buildings=200, seed=1))
    assert gzip.decompress(regenerated.read_bytes()) == gzip.decompress(SAMPLE.read_bytes())
