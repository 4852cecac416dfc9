"""The readers' shared life cycle (``with`` and close): converters/_streaming_reader.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import citymodel
from citymodel.converters._citygml_chunks import ChunkReading
from citymodel.converters._streaming_reader import StreamingReader
from citymodel.converters.citygml import CityGMLReader
from citymodel.converters.cityjson import CityJSONReader
from citymodel.converters.ifc import IFCReader
from citymodel.converters.las import PointCloudReader
from citymodel.synthetic import SyntheticCityOptions, write_city

_CITYJSON = {
    "type": "CityJSON",
    "version": "2.0",
    "transform": {"scale": [0.001, 0.001, 0.001], "translate": [356000.0, 5645000.0, 50.0]},
    "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/25832"},
    "CityObjects": {
        "b1": {
            "type": "Building",
            "geometry": [
                {
                    "type": "MultiSurface",
                    "lod": "1",
                    "boundaries": [[[0, 1, 2]]],
                }
            ],
        }
    },
    "vertices": [[0, 0, 0], [10000, 0, 0], [0, 10000, 0]],
}


@pytest.mark.parametrize(
    "reader", [CityGMLReader, CityJSONReader, IFCReader, PointCloudReader, ChunkReading]
)
def test_readers_share_the_base(reader: type) -> None:
    assert issubclass(reader, StreamingReader)
    # the base's life cycle is used, not a copy of it
    assert reader.__enter__ is StreamingReader.__enter__
    assert reader.__exit__ is StreamingReader.__exit__


def test_with_returns_the_reader_and_closes_on_exit_and_on_error(tmp_path: Path) -> None:
    closed: list[str] = []

    class Probe(StreamingReader):
        def close(self) -> None:
            closed.append("closed")

    probe = Probe()
    with probe as entered:
        assert entered is probe
    assert closed == ["closed"]
    with pytest.raises(RuntimeError, match="boom"), Probe():
        raise RuntimeError("boom")  # not swallowed
    assert closed == ["closed", "closed"]


def test_closed_cityjson_reader_reads_again(tmp_path: Path) -> None:
    path = tmp_path / "one.city.json"
    path.write_text(json.dumps(_CITYJSON), encoding="utf-8")
    reader = CityJSONReader(path)
    with reader:
        first = [f.id for f in reader.features()]
    assert reader._doc is None  # the parsed document is dropped on leaving the block
    reader.close()  # closing again is harmless
    assert [f.id for f in reader.features()] == first == ["b1"]


def test_citygml_reader_is_usable_after_close(tmp_path: Path) -> None:
    path = tmp_path / "city.gml"
    write_city(path, SyntheticCityOptions(n_buildings=2, seed=3))
    with citymodel.open(path) as reader:
        ids = [f.id for f in reader.features()]
    assert len(ids) == 2
    assert [f.id for f in reader.features()] == ids
