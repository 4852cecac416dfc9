"""``bench/check_real_data.py`` on a small representative subset of ../shared/data.

The script tiles every real CityGML / CityJSON file in three variants, runs check-tileset on
each and renders the explicit one in CesiumJS (docs/real-data.md has the full table). Here
its per-file function runs on one input of each kind the full run covers: CityGML 3.0 with
objects that have no surfaces (reported, not written), a gzip-compressed CityGML 2.0 file, a
CityJSONSeq with its header, a CityJSON file without a CRS tiled with ``--in-crs``, and an
inline local CRS that must fail cleanly. One of them is drawn and picked (issue 4, T3D-0).
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO
from tests.tiler.conftest import CHECK_TILESET

pytestmark = [pytest.mark.realdata, pytest.mark.node, pytest.mark.slow]


def _script() -> ModuleType:
    path = REPO / "bench" / "check_real_data.py"
    spec = importlib.util.spec_from_file_location("check_real_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script(shared_data: Path) -> ModuleType:
    if shutil.which("node") is None or not CHECK_TILESET.is_file():
        pytest.skip("node or check-tileset is not available")
    return _script()


@pytest.mark.parametrize(
    ("relative", "objects_in", "written", "not_converted"),
    [
        ("citygml3/ogc_examples/BuildingUnits_Storeys_xlink.gml", 8, 6, {"BuildingUnit": 2}),
        ("cityjson/cjseq_3dbag/3dbag_b2.city.jsonl", 4, 4, {}),
        ("cityjson/cjio/multi_lod_v2.city.json", 10, 10, {}),
    ],
)
def test_tiles_checks_and_accounts(
    script: ModuleType,
    shared_data: Path,
    tmp_path: Path,
    relative: str,
    objects_in: int,
    written: int,
    not_converted: dict[str, int],
) -> None:
    case = script.make_case(relative, shared_data / relative)
    result = script.check_file(case, tmp_path)
    assert result.problems == [], result.problems
    assert sum(result.objects_in.values()) == objects_in
    assert [v.variant for v in result.variants] == list(script.VARIANTS)
    for v in result.variants:
        assert v.check == "PASS", v.check_detail
        assert sum(v.written.values()) == written
        assert v.not_converted == not_converted
        assert v.tiles >= 1 and v.bytes > 0
    assert result.ok


def test_gzip_copy_matches_the_plain_file(
    script: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    plain = shared_data / "citygml/ogc_citygml2_examples/Building_and_garage_LOD2-EPSG25832.gml"
    packed = tmp_path / (plain.name + ".gz")
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    results = [
        script.check_file(
            script.make_case(p.name, p), tmp_path / "work" / p.name, variants=("explicit",)
        )
        for p in (plain, packed)
    ]
    assert [r.problems for r in results] == [[], []]
    a, b = (r.variants[0] for r in results)
    assert a.written == b.written and sum(a.written.values()) >= 2
    assert a.tiles == b.tiles


def test_local_crs_fails_cleanly(script: ModuleType, shared_data: Path, tmp_path: Path) -> None:
    relative = "citygml3/ogc_examples/LocalCRS_CityGML3.gml"
    case = script.make_case(relative, shared_data / relative)
    assert case.expect_error == "#local-CRS-1"
    result = script.check_file(case, tmp_path)
    assert result.ok, result.problems
    (v,) = result.variants
    assert v.error is not None and "--in-crs" in v.error
    slug = "citygml3_ogc_examples_LocalCRS_CityGML3.gml"
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == [slug, f"{slug}/tiles-explicit.report.json"]  # no tileset, no partial folder


def test_unexpected_success_is_a_problem(
    script: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    """The check can fail: a tileable file declared as an expected error is not OK."""
    relative = "cityjson/cjseq_3dbag/3dbag_b2.city.jsonl"
    case = script.Case(relative, shared_data / relative, expect_error="no srsName found")
    result = script.check_file(case, tmp_path, run_check=False)
    assert not result.ok
    assert "expected a clean error" in result.problems[0]


def test_render_and_pick_return_an_input_id(
    script: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).is_file():
        pytest.skip(f"chromium is not installed ({chromium}): check-tileset --render needs it")
    relative = "cityjson/cjseq_3dbag/3dbag_b2.city.jsonl"
    case = script.make_case(relative, shared_data / relative)
    result = script.check_file(
        case, tmp_path, variants=("explicit",), run_check=False, run_render=True
    )
    assert result.ok, result.problems
    (v,) = result.variants
    assert v.render == "PASS", v.render_detail
    assert v.picked_id in script.input_ids(case)
    assert (tmp_path / "cityjson_cjseq_3dbag_3dbag_b2.city.jsonl" / "explicit.png").is_file()


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("cityjson/corpus_conformance/cityjson_minimal.city.json", "hold no city objects"),
        ("cityjson/corpus_conformance/geometry_instance.city.json", "(3 skipped, see the report)"),
    ],
)
def test_nothing_to_tile_names_why(
    script: ModuleType, shared_data: Path, tmp_path: Path, relative: str, message: str
) -> None:
    """No object at all, or only objects without surfaces (each reported): a clean error."""
    case = script.make_case(relative, shared_data / relative)
    assert case.expect_error == script.NOTHING_TO_TILE
    result = script.check_file(case, tmp_path)
    assert result.ok, result.problems
    (v,) = result.variants
    assert v.error is not None and message in v.error
