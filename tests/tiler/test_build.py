"""``build_tileset`` end to end on a synthetic city: explicit, implicit, 3TZ, 1.0 (T3D-0..T3D-8).

Every tileset must pass the project's own checks (``validate_tileset``: containment of every
vertex in its tile and all ancestors, layout, geometric errors) and ``check-tileset`` (marker
``node``); every input building must end up in the leaves exactly once (or in the skip list);
explicit trees refine with REPLACE (each building at most once per level, parents show a subset
of what their leaves show), implicit trees with ADD (each building in exactly one content).
A failing run leaves neither a tileset nor staging / scratch folders behind.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from citymodel.errors import InputError, OutputError, TilingError
from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city_tiles
from citymodel.tiler import build as build_module
from citymodel.tiler.archive import index_problems
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.lod import LodPolicy
from citymodel.tiler.partition import PartitionOptions
from citymodel.tiler.validate import validate_tileset
from tests.gltf_reader import read_glb
from tests.tiler.conftest import assert_check_tileset_passes
from tests.tiler.tileset_walk import (
    assert_replace_tree,
    building_ids,
    input_ids,
    walk_tileset,
)

# Small budgets so that a few hundred buildings give a tree of several levels, inner tiles
# that cannot show every block, and (explicit) external tilesets.
LEAVES = PartitionOptions(max_units=40)
PARENTS = LodPolicy(max_triangles=1500)


def options(**kwargs: object) -> TileOptions:
    """Two jobs (unless given) and the small budgets."""
    values: dict[str, object] = {"jobs": 2, "partition": LEAVES, "lod_policy": PARENTS}
    return TileOptions(**(values | kwargs))  # type: ignore[arg-type]


def leftovers(folder: Path) -> list[str]:
    """Hidden staging / scratch / old-output folders left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """300 buildings in twelve 250 m tiles (one CityGML file each)."""
    folder = tmp_path_factory.mktemp("city")
    return write_city_tiles(folder, SyntheticCityOptions(n_buildings=300, seed=7, tile_size_m=250))


@pytest.fixture(scope="module")
def city_ids(city: list[Path]) -> set[str]:
    ids = input_ids(city)
    assert len(ids) == 300
    return ids


PROGRESS: list[tuple[str, int, int]] = []


@pytest.fixture(scope="module")
def explicit(tmp_path_factory: pytest.TempPathFactory, city: list[Path]) -> tuple[Path, JobReport]:
    out = tmp_path_factory.mktemp("explicit") / "city"
    report = build_tileset(
        city,
        out,
        options=options(max_json_bytes=12_000),
        progress=lambda *step: PROGRESS.append(step),
    )
    return out, report


@pytest.fixture(scope="module")
def implicit(tmp_path_factory: pytest.TempPathFactory, city: list[Path]) -> tuple[Path, JobReport]:
    out = tmp_path_factory.mktemp("implicit") / "city"
    report = build_tileset(city, out, options=options(implicit=True, subtree_levels=2))
    return out, report


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, city: list[Path]) -> tuple[Path, JobReport]:
    out = tmp_path_factory.mktemp("archive") / "city.3tz"
    report = build_tileset(city, out, options=options())
    return out, report


@pytest.fixture(scope="module")
def version_1_0(
    tmp_path_factory: pytest.TempPathFactory, city: list[Path]
) -> tuple[Path, JobReport]:
    out = tmp_path_factory.mktemp("v10") / "city"
    report = build_tileset(city, out, options=options(tiles_version="1.0"))
    return out, report


def assert_summary(report: JobReport, *, buildings: int) -> None:
    summary = report.extra["tiling"]
    assert summary["buildings"]["in"] == buildings
    assert summary["buildings"]["written"] == buildings
    assert set(summary["timings_s"]) == {"pass1", "plan", "pass2", "write"}
    assert summary["bytes"]["total"] > summary["bytes"]["per_building"] > 0
    assert summary["peak_rss_mb"]["main"] > 0
    assert summary["peak_rss_mb"]["worker_max"] > 0
    assert sum(summary["tiles"]["contents_per_level"].values()) == summary["tiles"]["with_content"]
    assert summary["crs"] == ["EPSG:25832+7837"]
    assert report.read["Building"] == report.written["Building"] == buildings
    assert not report.skipped
    assert report.outputs == [summary["output"]]


# -- explicit ----------------------------------------------------------------------------------


def test_explicit_passes_the_project_checks(explicit: tuple[Path, JobReport]) -> None:
    out, report = explicit
    assert validate_tileset(out) == []
    assert (out / "tilesets").is_dir(), "max_json_bytes forces external tilesets"
    assert leftovers(out.parent) == []
    assert_summary(report, buildings=300)
    assert report.extra["tiling"]["tiles"]["depth"] >= 2


def test_explicit_progress_counts_files_then_contents(
    explicit: tuple[Path, JobReport], city: list[Path]
) -> None:
    _, report = explicit
    reads = [(done, total) for stage, done, total in PROGRESS if stage == "read"]
    writes = [(done, total) for stage, done, total in PROGRESS if stage == "write"]
    assert reads == [(i, len(city)) for i in range(1, len(city) + 1)]
    contents = report.extra["tiling"]["tiles"]["with_content"]
    assert writes == [(i, contents) for i in range(1, contents + 1)]


def test_output_does_not_depend_on_scheduling(
    explicit: tuple[Path, JobReport], city: list[Path], tmp_path: Path
) -> None:
    """Two workers (results in completion order) and one give byte-identical tilesets."""
    out, _ = explicit
    again = tmp_path / "again"
    build_tileset(city, again, options=options(jobs=1, max_json_bytes=12_000))
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for name in files:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_explicit_ids_and_replace_refinement(
    explicit: tuple[Path, JobReport], city_ids: set[str]
) -> None:
    out, _ = explicit
    tileset = walk_tileset(out)
    assert_replace_tree(tileset, city_ids, skipped=set())
    # Inner tiles could not afford every block: some parents show fewer buildings than below.
    root_ids = set(building_ids(tileset.root.content)) if tileset.root.content else set()
    assert 0 < len(root_ids) < len(city_ids)


def test_explicit_schema_matches_the_contents(explicit: tuple[Path, JobReport]) -> None:
    out, _ = explicit
    tileset = walk_tileset(out)
    schema = tileset.document["schema"]
    for tile in tileset.root.walk():
        if tile.content is None:
            continue
        ext = read_glb(tile.content.read_bytes()).document["extensions"]["EXT_structural_metadata"]
        assert ext["schema"]["id"] == schema["id"]
        assert ext["schema"]["classes"].keys() == schema["classes"].keys()
        for name, cls in ext["schema"]["classes"].items():
            assert cls["properties"].keys() == schema["classes"][name]["properties"].keys()


@pytest.mark.node
def test_explicit_passes_check_tileset(explicit: tuple[Path, JobReport]) -> None:
    assert_check_tileset_passes(explicit[0] / "tileset.json")


# -- implicit ----------------------------------------------------------------------------------


def test_implicit_contents_inside_their_cells(implicit: tuple[Path, JobReport]) -> None:
    out, report = implicit
    assert validate_tileset(out) == []  # includes the computed-cell containment (T3D-5)
    assert leftovers(out.parent) == []
    assert_summary(report, buildings=300)
    document = json.loads((out / "tileset.json").read_text(encoding="utf-8"))
    assert document["root"]["refine"] == "ADD"
    assert document["root"]["implicitTiling"]["subtreeLevels"] == 2
    assert len(list((out / "subtrees").rglob("*.subtree"))) > 1


def test_implicit_each_building_in_exactly_one_content(
    implicit: tuple[Path, JobReport], city_ids: set[str]
) -> None:
    out, _ = implicit
    tileset = walk_tileset(out)
    counts: Counter[str] = Counter()
    inner_with_content = 0
    for tile in tileset.root.walk():
        for child in tile.children:
            assert child.geometric_error < tile.geometric_error
        if tile.content is not None:
            counts.update(set(building_ids(tile.content)))
            inner_with_content += bool(tile.children)
    assert set(counts) == city_ids
    assert max(counts.values()) == 1  # ADD: never drawn twice (T3D-4)
    # Buildings crossing a cell border sit in a coarser tile (T3D-5).
    assert inner_with_content > 0
    reachable = {t.content for t in tileset.root.walk() if t.content is not None}
    assert reachable == {p.resolve() for p in (out / "content").rglob("*.glb")}


@pytest.mark.node
def test_implicit_passes_check_tileset(implicit: tuple[Path, JobReport]) -> None:
    assert_check_tileset_passes(implicit[0] / "tileset.json")


# -- 3TZ and 1.0 -------------------------------------------------------------------------------


def test_3tz_archive(archive: tuple[Path, JobReport], city_ids: set[str], tmp_path: Path) -> None:
    out, report = archive
    assert out.is_file() and index_problems(out) == []
    assert leftovers(out.parent) == []
    assert report.extra["tiling"]["bytes"]["total"] == out.stat().st_size
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp_path / "unpacked")
        assert zf.namelist()[-1] == "@3dtilesIndex1@"
    (tmp_path / "unpacked" / "@3dtilesIndex1@").unlink()
    assert validate_tileset(tmp_path / "unpacked") == []
    assert_replace_tree(walk_tileset(tmp_path / "unpacked"), city_ids, skipped=set())


@pytest.mark.node
def test_3tz_passes_check_tileset(archive: tuple[Path, JobReport]) -> None:
    assert_check_tileset_passes(archive[0])


def test_version_1_0_b3dm(version_1_0: tuple[Path, JobReport], city_ids: set[str]) -> None:
    out, _ = version_1_0
    assert validate_tileset(out) == []
    document = json.loads((out / "tileset.json").read_text(encoding="utf-8"))
    assert document["asset"]["version"] == "1.0"
    assert "schema" not in document
    assert {p.suffix for p in (out / "content").rglob("*.*")} == {".b3dm"}
    assert_replace_tree(walk_tileset(out), city_ids, skipped=set())


@pytest.mark.node
def test_version_1_0_passes_check_tileset(version_1_0: tuple[Path, JobReport]) -> None:
    assert_check_tileset_passes(version_1_0[0] / "tileset.json")


# -- skips, errors, atomicity ------------------------------------------------------------------


def test_skipped_buildings_are_reported_not_lost(city: list[Path], tmp_path: Path) -> None:
    source = city[0].read_text(encoding="utf-8")
    empty = '<core:cityObjectMember><bldg:Building gml:id="DENW_EMPTY_1"/></core:cityObjectMember>'
    assert "</core:CityModel>" in source
    broken = tmp_path / "with_empty.gml"
    broken.write_text(source.replace("</core:CityModel>", empty + "</core:CityModel>"), "utf-8")
    out = tmp_path / "out"
    report = build_tileset([broken], out, options=options(jobs=1))
    skipped = {s.id for s in report.skipped}
    assert "DENW_EMPTY_1" in skipped
    assert report.extra["tiling"]["buildings"]["in"] == 26
    assert report.extra["tiling"]["buildings"]["written"] == 25
    assert_replace_tree(walk_tileset(out), input_ids([broken]), skipped=skipped)
    assert validate_tileset(out) == []


def test_broken_file_stops_the_job_with_its_name(city: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.gml"
    data = city[1].read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"broken\.gml"):
        build_tileset([city[0], broken, *city[2:4]], out, options=options())
    assert not out.exists()
    assert leftovers(tmp_path) == []


def _drop_shards_after_planning(monkeypatch: pytest.MonkeyPatch, parent: Path) -> None:
    """Make pass 2 fail: the scratch shards vanish between planning and writing."""
    real = build_module.assign_lod

    def assign_and_break(*args: object, **kwargs: object) -> object:
        plan = real(*args, **kwargs)  # type: ignore[arg-type]
        shards = list(parent.glob(".*.scratch-*/shard-*.bin"))
        assert shards, "pass 1 wrote no scratch shards beside the output"
        for shard in shards:
            shard.unlink()
        return plan

    monkeypatch.setattr(build_module, "assign_lod", assign_and_break)


def test_failure_in_pass_2_leaves_nothing(
    city: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _drop_shards_after_planning(monkeypatch, tmp_path)
    out = tmp_path / "out"
    with pytest.raises(TilingError, match="shard"):
        build_tileset(city[:3], out, options=options())
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_failure_keeps_the_previous_tileset(
    city: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    build_tileset(city[:2], out, options=options(jobs=1))
    before = (out / "tileset.json").read_bytes()
    files_before = sorted(p.relative_to(out) for p in out.rglob("*"))

    def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("encoder exploded")

    with monkeypatch.context() as patch:
        patch.setattr(build_module, "encode_tile_glb", boom)
        with pytest.raises(RuntimeError, match="encoder exploded"):
            build_tileset(city[:4], out, options=options(jobs=1))
    assert (out / "tileset.json").read_bytes() == before
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == files_before
    assert leftovers(tmp_path) == []
    # A successful run replaces it as a whole.
    report = build_tileset(city[:4], out, options=options(jobs=1))
    assert report.extra["tiling"]["buildings"]["written"] == 100
    assert (out / "tileset.json").read_bytes() != before
    assert leftovers(tmp_path) == []
    assert validate_tileset(out) == []


def test_refuses_to_replace_a_folder_that_is_not_a_tileset(
    city: list[Path], tmp_path: Path
) -> None:
    precious = tmp_path / "docs"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me", "utf-8")
    with pytest.raises(OutputError, match="not a tileset"):
        build_tileset(city[:1], precious, options=options(jobs=1))
    assert (precious / "thesis.txt").read_text("utf-8") == "keep me"
    assert leftovers(tmp_path) == []


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match=r"implicit tiling needs 3D Tiles 1\.1"):
        TileOptions(implicit=True, tiles_version="1.0")
    with pytest.raises(ValueError, match="jobs"):
        TileOptions(jobs=0)


def test_scratch_dir_is_used_and_removed(city: list[Path], tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    seen: list[Path] = []
    real = build_module.partition

    def spy(*args: object, **kwargs: object) -> object:
        seen.extend(scratch.glob("*/shard-*.bin"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(build_module, "partition", spy)
        build_tileset(city[:1], tmp_path / "out", options=options(jobs=1, scratch_dir=scratch))
    assert seen, "shards were written below scratch_dir"
    assert list(scratch.iterdir()) == []
    shutil.rmtree(scratch)
    assert leftovers(tmp_path) == []
