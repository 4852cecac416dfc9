"""``convert --jobs 2`` on one big CityGML file writes the very bytes of ``--jobs 1``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from citymodel.converters.convert import ConvertOptions, convert
from citymodel.converters.selection import BBox2D, FeatureSelection
from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city
from tests.conftest import CITYGML_DIR

SPLIT = 120_000


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 buildings; some polygons broken (skips), some buildings without gml:id."""
    path = tmp_path_factory.mktemp("convert_chunks") / "city.gml"
    write_city(path, SyntheticCityOptions(n_buildings=200, part_ratio=0.4, courtyard_ratio=0.3))
    text = path.read_text()
    count = iter(range(10**9))

    def breaks(match: re.Match[str]) -> str:
        return "<gml:posList>1 2 3 4</gml:posList>" if next(count) % 97 == 5 else match.group(0)

    text = re.sub(r"<gml:posList[^>]*>[^<]*</gml:posList>", breaks, text)
    text = re.sub(
        r'(<bldg:Building) gml:id="[^"]*"',
        lambda m: m.group(1) if next(count) % 3 else m.group(0),
        text,
    )
    path.write_text(text)
    return path


def _both(
    inputs: list[Path], tmp_path: Path, suffix: str = ".glb", **options: object
) -> tuple[bytes, JobReport, bytes, JobReport]:
    """Convert with one job and with two (small chunks); same output name in two folders."""
    outputs: list[bytes] = []
    reports: list[JobReport] = []
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}" / f"city{suffix}"
        out.parent.mkdir()
        opts = ConvertOptions(jobs=jobs, split_bytes=SPLIT, **options)  # type: ignore[arg-type]
        reports.append(convert(inputs, out, options=opts))
        outputs.append(out.read_bytes())
    return outputs[0], reports[0], outputs[1], reports[1]


def _assert_same_report(one: JobReport, two: JobReport) -> None:
    a, b = one.to_dict(), two.to_dict()
    assert a["inputs"] == b["inputs"]
    for key in ("crs", "counts", "warnings"):
        assert a[key] == b[key], key
    assert sorted(map(repr, a["skipped"])) == sorted(map(repr, b["skipped"]))


def test_glb_identical_and_same_report(city: Path, tmp_path: Path) -> None:
    glb1, one, glb2, two = _both([city], tmp_path)
    assert glb1 == glb2
    _assert_same_report(one, two)
    assert one.skipped  # the broken polygons are reported in both modes
    assert any("generated ids" in w for w in one.warnings)


def test_obj_identical(city: Path, tmp_path: Path) -> None:
    obj1, _, obj2, _ = _both([city], tmp_path, ".obj")
    assert obj1 == obj2


def test_selection_identical(city: Path, tmp_path: Path) -> None:
    selection = FeatureSelection(bbox=BBox2D(356200.0, 5645200.0, 356700.0, 5645700.0))
    glb1, one, glb2, two = _both([city], tmp_path, selection=selection)
    assert glb1 == glb2
    _assert_same_report(one, two)


def test_two_inputs_identical(city: Path, tmp_path: Path) -> None:
    glb1, one, glb2, two = _both([city, city], tmp_path)
    assert glb1 == glb2
    _assert_same_report(one, two)


@pytest.mark.realdata
def test_nrw_tile_identical(tmp_path: Path, shared_data: Path) -> None:
    path = CITYGML_DIR / "nrw_lod2_koeln" / "LoD2_32_357_5654_1_NW.gml"
    one = convert([path], tmp_path / "one.glb", options=ConvertOptions(jobs=1))
    two = convert([path], tmp_path / "two.glb", options=ConvertOptions(jobs=2, split_bytes=400_000))
    assert (tmp_path / "one.glb").read_bytes() == (tmp_path / "two.glb").read_bytes()
    _assert_same_report(one, two)
