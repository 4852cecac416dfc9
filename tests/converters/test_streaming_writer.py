"""The life cycle the CityJSON and CityGML writers share (converters/_streaming_writer.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from citymodel.converters._streaming_writer import StreamingWriter
from citymodel.converters.citygml_writer import CityGMLWriter
from citymodel.converters.cityjson_writer import CityJSONWriter
from citymodel.errors import OutputError
from citymodel.model import Feature, SurfaceGeometry, SurfaceType
from citymodel.report import JobReport

WRITERS: dict[str, Callable[[Path], StreamingWriter]] = {
    "citygml-2.0": lambda d: CityGMLWriter(d / "out.gml", crs=None, report=JobReport()),
    "citygml-3.0": lambda d: CityGMLWriter(
        d / "out.gml", crs=None, report=JobReport(), version="3.0"
    ),
    "cityjson": lambda d: CityJSONWriter(d / "out.city.json", crs=None, report=JobReport()),
    "cityjsonseq": lambda d: CityJSONWriter(d / "out.city.jsonl", crs=None, report=JobReport()),
}


def _building(name: str) -> Feature:
    square = np.array([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]], dtype=np.float64)
    geometry = SurfaceGeometry.from_polygons([[square]], [int(SurfaceType.GROUND)], lod="1")
    return Feature(id=name, type="Building", geometries=(geometry,))


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_with_block_closes_and_publishes(tmp_path: Path, kind: str) -> None:
    with WRITERS[kind](tmp_path) as writer:
        assert not writer.closed
        writer.write(_building("b1"))
    assert writer.closed
    assert writer.path.exists()
    writer.close()  # closing again does nothing
    with pytest.raises(OutputError, match="the writer is closed"):
        writer.write(_building("b2"))


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_an_exception_aborts_and_leaves_nothing(tmp_path: Path, kind: str) -> None:
    with pytest.raises(RuntimeError, match="stop"), WRITERS[kind](tmp_path) as writer:
        writer.write(_building("b1"))
        raise RuntimeError("stop")
    assert writer.closed
    assert sorted(tmp_path.iterdir()) == []
    writer.abort()  # aborting again does nothing
    with pytest.raises(OutputError, match="the writer is closed"):
        writer.write(_building("b2"))
