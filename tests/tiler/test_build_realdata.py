"""``build_tileset`` on every CityGML 1.0/2.0 file in ``../shared/data`` (realdata, T3D-0..T3D-5).

Each group of similar files becomes one tileset in three variants (explicit folder with REPLACE
block parents, implicit folder with ADD, explicit ``.3tz``); each must pass
``../shared/tools/check-tileset`` with 0 errors and 0 warnings and hold every input building
exactly once in its leaves (explicit) or contents (implicit, ADD), unless the report lists it as
skipped. Buildings are keyed by ``(source_file, building_id)``: the OGC example files repeat
one ``gml:id`` in six files. The Köln explicit tileset is also drawn in CesiumJS.
"""

from __future__ import annotations

import functools
import json
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyproj import Transformer

from citymodel.errors import CRSError
from citymodel.report import JobReport
from citymodel.sources import open as open_source
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.validate import validate_tileset
from tests.gltf_reader import read_glb
from tests.tiler.conftest import assert_check_tileset_passes
from tests.tiler.tileset_walk import WalkedTileset, assert_replace_tree, walk_tileset
from tests.tileset_render import run_render

pytestmark = [pytest.mark.realdata, pytest.mark.node]

CITYGML = "citygml"
KOELN = "nrw_lod2_koeln"
KOELN_NEAR = "6.9,51.0,30"
"""Longitude, latitude (degrees) and distance (km) the Köln tileset must be near."""

KOELN_CLUSTER = ("354_5652", "354_5653", "354_5654", "355_5652", "355_5654", "356_5655", "357_5654")
"""The contiguous block of 7 Köln tiles (SW corners, km): dense enough on screen to pick."""

GROUPS: dict[str, tuple[str, ...]] = {
    # ETRS89 / UTM 32N with DHHN2016 (AdV URN) or DHHN92 (compound OGC URNs): NRW, Lower Saxony,
    # KIT Karlsruhe and the OGC CityGML 2.0 examples (all six repeat one gml:id).
    "utm32": (
        "nrw_lod2_solingen/*.gml",
        "lowersaxony_lod1/*.gml",
        "kit_fzk_haus_lod3/*.gml",
        "ogc_citygml2_examples/*-EPSG25832.gml",
    ),
    # ETRS89 / UTM 33N without a vertical CRS; one of the files has textures without images.
    "utm33": ("berlin_lod2/*.gml", "berlin_lod2_textured_noimages/*.gml"),
    # DHDN Gauss-Krüger zones 4 (+ DHHN92) and 3: datum shift to ETRS89.
    "gauss_krueger": ("bavaria_fuerth_lod2_gk4/*.gml", "geores_textured/*.xml"),
    # RD New + NAP inside a zip (NAP needs the grid in ../shared/proj).
    "rd_new": ("denhaag_lod2/*.zip",),
}
LOCAL_CRS = "ogc_citygml2_examples/Building_LOD1-LocalEngineeringCRS.gml"
"""The one CityGML 1.0/2.0 file that cannot be georeferenced (``srsName="#local-CRS-1"``)."""

VARIANTS = ("explicit", "implicit", "3tz")

Key = tuple[str, str]
"""``(source_file, building_id)``: a building of one input file."""


@dataclass(frozen=True)
class Built:
    """A tileset written by ``build_tileset`` and what it was made from."""

    variant: str
    target: Path
    """What check-tileset is given: ``tileset.json`` or the ``.3tz``."""
    folder: Path
    """The tileset folder (a ``.3tz`` unpacked)."""
    inputs: tuple[Path, ...]
    report: JobReport


def _group_files(data: Path, patterns: Iterable[str]) -> tuple[Path, ...]:
    files: list[Path] = []
    for pattern in patterns:
        found = sorted((data / CITYGML).glob(pattern))
        assert found, f"{pattern}: no file in {data / CITYGML}"
        files.extend(found)
    return tuple(files)


def _all_citygml(data: Path) -> set[Path]:
    """Every CityGML 1.0/2.0 input below ``data/citygml`` (texture images aside)."""
    return {
        p
        for p in (data / CITYGML).rglob("*")
        if p.suffix in (".gml", ".xml", ".zip") and "appearances" not in p.parts
    }


@functools.cache
def _input_keys(paths: tuple[Path, ...]) -> frozenset[Key]:
    """Keys of the top-level buildings, read with the project's reader (cached per input set)."""
    keys: set[Key] = set()
    for path in paths:
        with open_source(path) as reader:
            for feature in reader.features():
                assert feature.source is not None
                keys.add((feature.source.label, feature.id))
    return frozenset(keys)


def _content_keys(content: Path) -> set[Key]:
    table = read_glb(content.read_bytes()).property_table()
    return {
        (str(f), str(b)) for f, b in zip(table["source_file"], table["building_id"], strict=True)
    }


def _unpack_3tz(archive: Path, folder: Path) -> Path:
    with zipfile.ZipFile(archive) as packed:
        names = [n for n in packed.namelist() if n != "@3dtilesIndex1@"]
        packed.extractall(folder, members=names)
    return folder


def _build(inputs: tuple[Path, ...], out: Path, variant: str, jobs: int, grids: Path) -> Built:
    target = out / ("tiles.3tz" if variant == "3tz" else "tiles")
    options = TileOptions(jobs=jobs, implicit=variant == "implicit", grids=(grids,))
    report = build_tileset(inputs, target, options=options)
    if variant == "3tz":
        folder = _unpack_3tz(target, out / "unpacked")
        return Built(variant, target, folder, inputs, report)
    return Built(variant, target / "tileset.json", target, inputs, report)


@pytest.fixture(scope="module")
def koeln(shared_data: Path) -> tuple[Path, ...]:
    folder = shared_data / CITYGML / KOELN
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    files = tuple(sorted(folder.glob("*.gml")))
    assert len(files) == 20
    return files


@pytest.fixture(scope="module")
def koeln_tiles(
    tmp_path_factory: pytest.TempPathFactory, koeln: tuple[Path, ...], shared_grids: Path
) -> Built:
    return _build(koeln, tmp_path_factory.mktemp("koeln-explicit"), "explicit", 2, shared_grids)


@pytest.fixture(
    scope="module",
    params=[(g, v) for g in ("koeln", *GROUPS) for v in VARIANTS],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def built(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_data: Path,
    shared_grids: Path,
) -> Built:
    group, variant = request.param
    if group == "koeln":
        if variant == "explicit":
            return request.getfixturevalue("koeln_tiles")  # type: ignore[no-any-return]
        inputs = request.getfixturevalue("koeln")
        jobs = 2
    else:
        inputs = _group_files(shared_data, GROUPS[group])
        jobs = 1  # small inputs: worker start-up would cost more than it saves
    return _build(
        inputs, tmp_path_factory.mktemp(f"{group}-{variant}"), variant, jobs, shared_grids
    )


def test_every_citygml_file_is_tiled(shared_data: Path) -> None:
    """The groups (with Köln and the local-CRS example) cover every CityGML input in the folder."""
    covered = {p for patterns in GROUPS.values() for p in _group_files(shared_data, patterns)}
    covered |= set((shared_data / CITYGML / KOELN).glob("*.gml"))
    covered.add(shared_data / CITYGML / LOCAL_CRS)
    assert _all_citygml(shared_data) == covered


def test_passes_check_tileset(built: Built) -> None:
    """T3D-0: official validator, glTF validator and loaders.gl: 0 errors, 0 warnings."""
    assert_check_tileset_passes(built.target)


def test_each_building_exactly_once(built: Built) -> None:
    """Leaves (explicit, REPLACE) or contents (implicit, ADD) hold each input building once."""
    assert validate_tileset(built.folder) == []
    tileset = walk_tileset(built.folder)
    implicit = "implicitTiling" in tileset.document["root"]
    assert implicit == (built.variant == "implicit")
    holders = tileset.root.walk() if implicit else tileset.root.leaves()
    counts: Counter[Key] = Counter()
    for tile in holders:
        if tile.content is not None:
            counts.update(_content_keys(tile.content))
    assert [k for k, n in counts.items() if n > 1] == [], "a building is in two tiles"

    expected = _input_keys(built.inputs)
    skipped = {s.id for s in built.report.skipped if s.id is not None}
    found = set(counts)
    assert found - expected == set(), "a building that is not in the input"
    missing = {bid for _, bid in expected - found}
    assert missing <= skipped, f"neither tiled nor skipped: {sorted(missing)[:10]}"
    summary = built.report.extra["tiling"]["buildings"]
    assert summary["in"] == len(expected)
    assert summary["written"] == len(found)
    if not implicit:
        _assert_replace_rules(tileset, expected, skipped)


def _assert_replace_rules(
    tileset: WalkedTileset, expected: frozenset[Key], skipped: set[str]
) -> None:
    """REPLACE rules of T3D-4 (block parents show only buildings below them, once per level).

    They compare ``building_id`` alone, so they apply where ids are unique across files.
    """
    ids = [bid for _, bid in expected]
    if len(ids) == len(set(ids)):
        assert_replace_tree(tileset, set(ids), skipped)
    else:
        assert tileset.root.refine == "REPLACE"
        assert all(leaf.geometric_error == 0.0 for leaf in tileset.root.leaves())


def test_koeln_summary(koeln_tiles: Built) -> None:
    summary = koeln_tiles.report.extra["tiling"]
    assert summary["buildings"]["in"] == len(_input_keys(koeln_tiles.inputs)) == 1779
    assert summary["crs"] == ["EPSG:25832+7837"]


def test_local_engineering_crs_fails_clearly(shared_data: Path, tmp_path: Path) -> None:
    """An inline local CRS cannot be placed on the globe: a one-line CRSError, no output."""
    path = shared_data / CITYGML / LOCAL_CRS
    out = tmp_path / "tiles"
    with pytest.raises(CRSError) as caught:
        build_tileset([path], out, options=TileOptions(jobs=1))
    message = str(caught.value)
    assert "\n" not in message
    assert path.name in message and "#local-CRS-1" in message and "--in-crs" in message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


# -- CesiumJS ----------------------------------------------------------------------------------


def _render(tileset: Path, png: Path, *extra: str) -> dict[str, object]:
    """``check-tileset --render``; skips without node, the tool or Chromium; returns OUT.json."""
    result = run_render(tileset, png, *extra)
    assert "errors=0" in result.stdout.strip().splitlines()[-1]
    assert png.is_file() and png.stat().st_size > 10_000
    out: dict[str, object] = json.loads(png.with_suffix(".json").read_text(encoding="utf-8"))
    assert out["pass"] is True, out.get("problems")
    assert out["consoleErrors"] == [] and out["pageErrors"] == []
    return out


def test_koeln_renders_near_koeln(koeln_tiles: Built, tmp_path: Path) -> None:
    """CesiumJS draws all 20 tiles where they belong (the PNG is worth a look when this changes)."""
    out = _render(koeln_tiles.target, tmp_path / "koeln.png", "--expect-near", KOELN_NEAR)
    assert out["tiles"] == {"loaded": out["tiles"]["loaded"], "failed": 0, "unloaded": 0}  # type: ignore[index]
    assert float(out["distanceFromExpectedKm"]) < 5  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def koeln_cluster_tiles(
    tmp_path_factory: pytest.TempPathFactory, koeln: tuple[Path, ...], shared_grids: Path
) -> Built:
    names = {f"LoD2_32_{corner}_1_NW.gml" for corner in KOELN_CLUSTER}
    inputs = tuple(p for p in koeln if p.name in names)
    assert len(inputs) == len(KOELN_CLUSTER)
    return _build(inputs, tmp_path_factory.mktemp("koeln-cluster"), "explicit", 2, shared_grids)


def test_koeln_picking_returns_the_gml_id(koeln_cluster_tiles: Built, tmp_path: Path) -> None:
    """Picking in CesiumJS returns a building of the input, drawn inside its own 1 km tile.

    The whole Köln window (18 km x 11 km) covers 0.1 % of the screen, too little for the
    picking probes of check-tileset, so the contiguous 7-tile block is picked instead.
    """
    out = _render(
        koeln_cluster_tiles.target,
        tmp_path / "cluster.png",
        "--expect-near",
        "6.95,51.02,5",
        "--pick",
    )
    pick = out["pick"]
    assert isinstance(pick, dict) and pick["isFeature"] is True, pick
    props = pick["properties"]
    (source,) = [p for p in koeln_cluster_tiles.inputs if p.name == props["source_file"]]
    with open_source(source) as reader:
        buildings = {f.id: f for f in reader.features()}
    assert props["building_id"] in buildings
    top = buildings[props["building_id"]]
    assert props["gml_id"] in {f.id for f, _ in top.walk()}
    # GEO-2: the picked point lies at its file's tile (name = SW corner in km, UTM 32N). The
    # position comes from the depth buffer where the pick ray meets the globe (no terrain), up
    # to h / tan(35 deg) = 140 m beyond a building at h = 96 m ellipsoidal: hence 250 m slack.
    east_km, north_km = (int(v) for v in source.name.split("_")[2:4])
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)
    east, north = to_utm.transform(pick["position"]["lon"], pick["position"]["lat"])
    assert east_km * 1000 - 250 < east < (east_km + 1) * 1000 + 250
    assert north_km * 1000 - 250 < north < (north_km + 1) * 1000 + 250
