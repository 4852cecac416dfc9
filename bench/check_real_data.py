"""Tile, check and render every real CityGML / CityJSON file in ../shared/data.

For each input file (CityGML 1.0/2.0/3.0 ``.gml``/``.xml``, a gzip copy, the zipped Den
Haag model and the CityJSON member of its zip, CityJSON and CityJSONSeq; ``broken/`` aside)
this runs the command-line tools as a user would:

1. ``citymodel info --json FILE`` -> city objects in, by type, the CRS and the extent;
2. ``citymodel tile FILE -o OUT --jobs 1 --report R`` once per variant (explicit folder,
   ``--implicit`` folder, explicit ``.3tz``);
3. ``check-tileset OUT -q`` (official 3d-tiles-validator, Khronos glTF validator, loaders.gl
   walk with the bounds test) on each variant;
4. with ``--render``: ``check-tileset OUT --render PNG --pick --expect-near LON,LAT,KM`` on
   the explicit variant (CesiumJS in headless Chromium), the picked ``gml_id`` looked up among
   the ids the project's reader returns for the file.

Object accounting per file: ``in`` (``info`` counts, every city object class) must equal
``read`` (the tile report) per class, or read + reported for classes that are not read
(CityGML 3.0 Versions), and every object read is either written or reported: ``written``
(the report's counts) plus the objects named in "not converted" warnings plus skip records
must cover ``in``. Skip records also cover objects written with a defect (polygons that did
not triangulate, "triangles kept"), so the check is ``written + not_converted + skipped >=
in`` and ``written <= in``; the JSON keeps the per-type counts to look closer.

Inputs that cannot be tiled by design (an inline local engineering CRS, no city object at
all, a CityJSON version older than 1.0) are listed in :data:`EXPECTED_ERRORS`: for them the
tool must fail with a one-line message containing the expected text, and nothing must be
written. Files without a CRS get the ``--in-crs`` of :data:`IN_CRS` (the CRS their producer
uses, or a stated placement for synthetic conformance cases).

The table is printed and written as JSON (``--json``); a failure of one file never stops
the run. Exit status 1 when a row is not OK.

Examples
--------
    .venv/bin/python bench/check_real_data.py --json /tmp/real-data.json
    .venv/bin/python bench/check_real_data.py --render --variants explicit --json /tmp/r.json
    .venv/bin/python bench/check_real_data.py --only koeln/LoD2_32_350 --render
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"
GRIDS = SHARED / "proj"
CHECK_TILESET = SHARED / "tools" / "check-tileset"
CITYMODEL = [sys.executable, "-c", "from citymodel.cli.main import cli; cli()"]
"""The ``citymodel`` command in this interpreter (a fresh process per call, as a user runs it)."""

VARIANTS = ("explicit", "implicit", "3tz")
FOLDERS = ("citygml", "citygml3", "cityjson")
SUFFIXES = (".gml", ".xml", ".gml.gz", ".xml.gz", ".zip", ".city.json", ".city.jsonl", ".json")

SYNTHETIC_PLACEMENT = "EPSG:25832"
"""Where the synthetic cases (metre coordinates around 0,0,0, no CRS) are put: UTM 32N with z
as ellipsoidal height (:data:`SYNTHETIC_ARGS`), as no geoid grid covers the equator; the test
is the geometry and the accounting, not the place."""
SYNTHETIC_ARGS = ("--vertical-mode", "ellipsoidal-as-is")

IN_CRS: dict[str, str] = {
    # no CRS in the file; the producer's CRS (3D BAG / TU Delft samples are RD New + NAP)
    "cityjson/cjio/multi_lod_v2.city.json": "EPSG:7415",
    "cityjson/rotterdam_textured/rotterdam_subset_v2.city.json": "EPSG:7415",
    "cityjson/tyler_3dbag/3dbag_x00+feature_x71.city.jsonl": "EPSG:7415",
    # synthetic conformance cases
    "cityjson/corpus_conformance/appearance_complete.city.json": SYNTHETIC_PLACEMENT,
    "cityjson/corpus_conformance/cityobject_all_types.city.json": SYNTHETIC_PLACEMENT,
    "cityjson/corpus_conformance/geometry_instance.city.json": SYNTHETIC_PLACEMENT,
    "cityjson/corpus_conformance/geometry_texture_solid.city.json": SYNTHETIC_PLACEMENT,
    "cityjson/corpus_conformance/cityjsonfeature_minimal.city.jsonl": SYNTHETIC_PLACEMENT,
    "cityjson/corpus_conformance/cityjson_minimal.city.json": SYNTHETIC_PLACEMENT,
    "cityjson/corpus_conformance/coordinates_precision_utm.city.json": SYNTHETIC_PLACEMENT,
    "citygml3/ogc_examples/ParkingGarage_CityGML3.0_LOD2_with_CityObjectRelations.gml": (
        SYNTHETIC_PLACEMENT
    ),
    # Lyon, RGF93 v1 / CC46 without a vertical CRS: NGF-IGN69 would need fr_ign_RAF18.tif,
    # which ../shared/proj lacks, so z is taken as ellipsoidal (heights ~50 m low)
    "citygml3/ogc_examples/historicalSuccession_CityGML_3.0_LOD2_Versioning.gml": "EPSG:3946",
    "citygml3/ogc_examples/Opera-Lyon_CityGML3.0_LOD2_with_xAL3_FullyStructured.gml": "EPSG:3946",
}
"""``--in-crs`` per input (path relative to ../shared/data) for files that declare none."""

NOTHING_TO_TILE = "nothing to tile"
"""The error of an input whose objects all have no surfaces (each one reported)."""

EXPECTED_ERRORS: dict[str, str] = {
    "citygml/ogc_citygml2_examples/Building_LOD1-LocalEngineeringCRS.gml": "#local-CRS-1",
    "citygml3/ogc_examples_from_v2/Building_LOD1-LocalEngineeringCRS.gml": "#local-CRS-1",
    "citygml3/ogc_examples/LocalCRS_CityGML3.gml": "#local-CRS-1",
    # no city object at all (a header-only file, the smallest valid document, a precision case)
    "cityjson/corpus_conformance/cityjson_minimal.city.json": NOTHING_TO_TILE,
    "cityjson/corpus_conformance/coordinates_precision_utm.city.json": NOTHING_TO_TILE,
    "cityjson/tyler_3dbag/3dbag_x00.city.json": NOTHING_TO_TILE,
    # objects without surfaces (no geometry, a MultiPoint template, collinear vertices): each
    # top-level object is reported (skipped, with its children), so there is nothing to tile
    "cityjson/corpus_conformance/cityjsonfeature_minimal.city.jsonl": NOTHING_TO_TILE,
    "cityjson/corpus_conformance/cityobject_all_types.city.json": NOTHING_TO_TILE,
    "cityjson/corpus_conformance/geometry_instance.city.json": NOTHING_TO_TILE,
    "cityjson/corpus_conformance/geometry_texture_solid.city.json": NOTHING_TO_TILE,
    # a CityJSONSeq feature line without its header line and no --in-crs (the joined case is
    # tiled instead)
    "cityjson/tyler_3dbag/3dbag_feature_x71.city.jsonl": "no srsName found",
    # pre-1.0 CityJSON is refused with an upgrade hint (the CityGML member of the zip is tiled)
    "citygml/denhaag_lod2/DenHaag_01.zip!DenHaag_01.json": "CityJSON 0.8 is not supported",
}
"""Inputs that cannot be tiled: the expected text of the one-line error."""


@dataclass(frozen=True, slots=True)
class Case:
    """One input file and how it is tiled."""

    name: str
    """Path relative to ../shared/data (derived inputs: a ``+``/``!`` name)."""
    path: Path
    in_crs: str | None = None
    expect_error: str | None = None
    tile_args: tuple[str, ...] = ()
    """Further ``citymodel tile`` options."""


@dataclass(slots=True)
class VariantResult:
    """One tileset variant of one input: tiling, check and (explicit only) render."""

    variant: str
    ok: bool = False
    error: str | None = None
    seconds: float = 0.0
    read: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    not_converted: dict[str, int] = field(default_factory=dict)
    tiles: int = 0
    bytes: int = 0
    check: str = "-"
    check_detail: str = ""
    render: str = "-"
    render_detail: str = ""
    picked_id: str | None = None
    textured_polygons: int = 0
    images: int = 0
    """Images embedded in the written GLB contents (explicit folder)."""
    grouping: dict[str, int] = field(default_factory=dict)
    """Objects shown through their children (:func:`grouping_objects`)."""


@dataclass(slots=True)
class FileResult:
    """All variants of one input and the object accounting."""

    name: str
    objects_in: dict[str, int] = field(default_factory=dict)
    info_error: str | None = None
    expect_error: str | None = None
    variants: list[VariantResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every variant and the accounting passed."""
        return not self.problems and all(v.ok for v in self.variants)


# -- inputs -------------------------------------------------------------------------------------


def discover(data: Path, derived: Path) -> list[Case]:
    """Every CityGML / CityJSON input below ``data`` plus the derived inputs made in ``derived``.

    Derived: a gzip copy of the Solingen tile (the ``.gml.gz`` path), the CityJSON 0.8 member
    of the Den Haag zip (the CityGML reader takes only the zip's XML member), and the tyler
    CityJSONSeq feature joined to its header file (as tyler reads them).
    """
    files = sorted(
        p
        for folder in FOLDERS
        if (data / folder).is_dir()
        for p in (data / folder).rglob("*")
        if p.is_file() and p.name.lower().endswith(SUFFIXES) and "appearances" not in p.parts
    )
    cases = [make_case(p.relative_to(data).as_posix(), p) for p in files]
    derived.mkdir(parents=True, exist_ok=True)
    solingen = sorted((data / "citygml" / "nrw_lod2_solingen").glob("*.gml"))
    if solingen:
        gz = derived / (solingen[0].name + ".gz")
        with solingen[0].open("rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
        cases.append(make_case(f"citygml/nrw_lod2_solingen/{gz.name} (gzip copy)", gz))
    denhaag = data / "citygml" / "denhaag_lod2" / "DenHaag_01.zip"
    if denhaag.is_file():
        with zipfile.ZipFile(denhaag) as archive:
            member = derived / "DenHaag_01.city.json"
            member.write_bytes(archive.read("DenHaag/DenHaag_01.json"))
        cases.append(make_case("citygml/denhaag_lod2/DenHaag_01.zip!DenHaag_01.json", member))
    tyler = data / "cityjson" / "tyler_3dbag"
    if (tyler / "3dbag_x00.city.json").is_file():
        joined = derived / "3dbag_x00+feature_x71.city.jsonl"
        header = json.loads((tyler / "3dbag_x00.city.json").read_text(encoding="utf-8"))
        lines = (tyler / "3dbag_feature_x71.city.jsonl").read_text(encoding="utf-8")
        joined.write_text(json.dumps(header) + "\n" + lines, encoding="utf-8")
        cases.append(make_case("cityjson/tyler_3dbag/3dbag_x00+feature_x71.city.jsonl", joined))
    return cases


def make_case(name: str, path: Path) -> Case:
    """The :class:`Case` of ``path`` named ``name`` (relative to ../shared/data)."""
    in_crs = IN_CRS.get(name)
    extra = SYNTHETIC_ARGS if in_crs in (SYNTHETIC_PLACEMENT, "EPSG:3946") else ()
    return Case(name, path, in_crs, EXPECTED_ERRORS.get(name), extra)


# -- running the tools --------------------------------------------------------------------------


def _run(args: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHECK_TILESET_NO_APT": "1", "PYTHONWARNINGS": "ignore"}
    try:
        return subprocess.run(
            list(args), capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except subprocess.TimeoutExpired as err:
        return subprocess.CompletedProcess(list(args), -9, "", f"timed out after {err.timeout} s")


def _last_error_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("Error:", "citymodel: error"))]
    return (errors or lines or ["(no output)"])[-1][:400]


def info_counts(case: Case) -> tuple[dict[str, int], dict[str, Any] | None, str | None]:
    """``citymodel info --json``: (counts by type, the whole answer, error line or None)."""
    args = [*CITYMODEL, "info", "--json", str(case.path)]
    if case.in_crs:
        args += ["--in-crs", case.in_crs]
    result = _run(args, 600)
    if result.returncode != 0:
        return {}, None, _last_error_line(result.stderr + result.stdout)
    answer: dict[str, Any] = json.loads(result.stdout)
    return dict(answer.get("counts") or {}), answer, None


_NOT_CONVERTED = re.compile(r"not converted \(no surfaces to mesh\): (.*)$")
_COUNTED = re.compile(r"^(\w+)\b.* x(\d+)$")
"""One entry of that list: ``BuildingUnit without geometry x2`` -> type and count."""


def not_converted(warnings: Iterable[str]) -> dict[str, int]:
    """Objects named by "not converted (no surfaces to mesh): Type xN, ..." warnings."""
    out: Counter[str] = Counter()
    for warning in warnings:
        found = _NOT_CONVERTED.search(warning)
        if found:
            for entry in found.group(1).split(", "):
                counted = _COUNTED.match(entry.strip())
                if counted:
                    out[counted.group(1)] += int(counted.group(2))
    return dict(out)


def tile(case: Case, out: Path, variant: str, *, timeout: float = 1800) -> VariantResult:
    """``citymodel tile`` one variant with ``--jobs 1``; fills counts, tiles and bytes."""
    result = VariantResult(variant)
    report = out.with_name(out.name + ".report.json")
    args = [*CITYMODEL, "tile", str(case.path), "-o", str(out), "-j", "1"]
    args += ["--report", str(report), "--grids", str(GRIDS)]
    if variant == "implicit":
        args.append("--implicit")
    if case.in_crs:
        args += ["--in-crs", case.in_crs]
    args += case.tile_args
    started = time.perf_counter()
    run = _run(args, timeout)
    result.seconds = round(time.perf_counter() - started, 2)
    if run.returncode != 0:
        result.error = _last_error_line(run.stderr + run.stdout)
    if report.is_file():
        data = json.loads(report.read_text(encoding="utf-8"))
        counts = data.get("counts", {})
        result.read = dict(counts.get("read", {}))
        result.written = dict(counts.get("written", {}))
        result.skipped = len(data.get("skipped", []))
        result.not_converted = not_converted(data.get("warnings", []))
        result.textured_polygons = int(data.get("appearance", {}).get("textured_polygons", 0))
        tiling = data.get("tiling", {})
        result.tiles = int(tiling.get("tiles", {}).get("with_content", 0))
        result.bytes = int(tiling.get("bytes", {}).get("total", 0))
    if variant == "3tz" and out.is_file():
        result.bytes = out.stat().st_size
    return result


def content_images(folder: Path) -> int:
    """Number of images embedded in the ``.glb`` contents below ``folder`` (JSON chunks only)."""
    total = 0
    for glb in folder.rglob("*.glb"):
        with glb.open("rb") as fh:
            head = fh.read(20)
            if len(head) < 20 or head[:4] != b"glTF" or head[16:20] != b"JSON":
                continue
            size = int.from_bytes(head[12:16], "little")
            total += len(json.loads(fh.read(size)).get("images", []))
    return total


def check_tileset(target: Path, *extra: str, timeout: float = 900) -> tuple[str, str]:
    """``check-tileset TARGET -q ...``: ("PASS"/"FAIL"/"WARN", the lines worth reading)."""
    run = _run(["bash", str(CHECK_TILESET), str(target), "-q", *extra], timeout)
    lines = (run.stdout or run.stderr).strip().splitlines()
    summary = lines[-1] if lines else f"(no output, exit {run.returncode})"
    if run.returncode != 0:
        failing = [ln for ln in lines if "FAIL" in ln or "error" in ln.lower()]
        return "FAIL", " | ".join(failing[-6:])[:1200] or summary
    if "warnings=0" not in summary:
        return "WARN", " | ".join(lines[-6:])[:1200]
    return "PASS", summary


def expected_place(answer: dict[str, Any]) -> str | None:
    """``LON,LAT,KM`` around the input's extent centre (for ``--expect-near``), or None."""
    extent = answer.get("extent")
    horizontal = (answer.get("crs") or {}).get("horizontal")
    if not extent or not horizontal:
        return None
    from pyproj import Transformer

    x = (extent[0] + extent[3]) / 2
    y = (extent[1] + extent[4]) / 2
    lon, lat = Transformer.from_crs(horizontal, "EPSG:4326", always_xy=True).transform(x, y)
    radius_km = max(2.0, ((extent[3] - extent[0]) ** 2 + (extent[4] - extent[1]) ** 2) ** 0.5 / 1e3)
    return f"{lon:.5f},{lat:.5f},{radius_km:.1f}"


def input_ids(case: Case) -> set[str]:
    """Every city object id the project's reader returns for the input (with children)."""
    from citymodel.sources import open as open_source

    options = {"in_crs": case.in_crs} if case.in_crs else {}
    ids: set[str] = set()
    with open_source(case.path, **options) as reader:
        for feature in reader.features():
            ids.update(f.id for f, _ in feature.walk())
    return ids


def render(
    case: Case, target: Path, png: Path, near: str | None, *, textured: bool
) -> tuple[str, str, str | None]:
    """CesiumJS render with picking: (result, detail, picked gml_id).

    The validators ran in the check pass already, so only the render check runs here. A
    ``textured`` tileset (images in its contents) must upload texture bytes to the GPU.
    """
    extra = ["--render", str(png), "--pick", "--skip", "glb,loaders,validator"]
    if near:
        extra += ["--expect-near", near]
    status, detail = check_tileset(target, *extra)
    sidecar = png.with_suffix(".json")
    picked: str | None = None
    texture_bytes = 0
    if sidecar.is_file():
        out = json.loads(sidecar.read_text(encoding="utf-8"))
        pick = out.get("pick") or {}
        props = pick.get("properties") or {}
        picked = props.get("gml_id")
        tiles = out.get("tiles", {})
        visible = out.get("visible") or {}
        texture_bytes = int((out.get("memory") or {}).get("texturesByteLength") or 0)
        detail = (
            f"tiles loaded={tiles.get('loaded')} failed={tiles.get('failed')} "
            f"features={visible.get('features')} triangles={visible.get('triangles')} "
            f"pixels={(out.get('render') or {}).get('tilesetPixelFraction')} "
            f"texture_bytes={texture_bytes} km={out.get('distanceFromExpectedKm')} "
            f"problems={out.get('problems')}"
        )
        if out.get("consoleErrors") or out.get("pageErrors"):
            detail += (
                f" consoleErrors={out.get('consoleErrors')} pageErrors={out.get('pageErrors')}"
            )
    if status == "PASS" and textured and texture_bytes == 0:
        return "FAIL", f"textured input drawn without textures; {detail}", picked
    if status == "PASS" and picked is not None and picked not in input_ids(case):
        return "FAIL", f"picked gml_id {picked!r} is not an id of the input; {detail}", picked
    if status == "PASS" and picked is None:
        return "FAIL", f"pick returned no gml_id; {detail}", picked
    return status, detail, picked


# -- one file -----------------------------------------------------------------------------------


def check_file(
    case: Case,
    work: Path,
    *,
    variants: Sequence[str] = VARIANTS,
    run_check: bool = True,
    run_render: bool = False,
) -> FileResult:
    """Tile ``case`` in each variant below ``work``, check and optionally render it.

    Never raises for a failing tool: problems end up in the result.
    """
    result = FileResult(case.name, expect_error=case.expect_error)
    result.objects_in, answer, result.info_error = info_counts(case)
    if result.info_error and not case.expect_error:
        result.problems.append(f"info: {result.info_error}")
    slug = re.sub(r"[^\w.+-]+", "_", case.name)
    if case.expect_error is not None:
        variants = variants[:1]  # the same error for every variant
    for variant in variants:
        out = work / slug / ("tiles.3tz" if variant == "3tz" else f"tiles-{variant}")
        out.parent.mkdir(parents=True, exist_ok=True)
        v = tile(case, out, variant)
        result.variants.append(v)
        if case.expect_error is not None:
            v.ok = v.error is not None and case.expect_error in v.error and not out.exists()
            if v.ok and case.expect_error == NOTHING_TO_TILE:
                n_in, n_read = sum(result.objects_in.values()), sum(v.read.values())
                reported = v.skipped + sum(v.not_converted.values())
                v.ok = n_read == n_in and (n_in == 0 or reported > 0)
                if not v.ok:
                    result.problems.append(f"{variant}: {n_in} in, {n_read} read, none reported")
                continue
            if not v.ok:
                result.problems.append(
                    f"{variant}: expected a clean error with {case.expect_error!r}, got "
                    f"{v.error!r} (output exists: {out.exists()})"
                )
            continue
        if v.error is not None:
            result.problems.append(f"{variant}: tile failed: {v.error}")
            continue
        _account(result, v, case)
        target = out if variant == "3tz" else out / "tileset.json"
        if variant != "3tz":
            v.images = content_images(out)
        if run_check:
            v.check, v.check_detail = check_tileset(target)
        if run_render and variant == "explicit":
            near = expected_place(answer) if answer and case.in_crs is None else None
            v.render, v.render_detail, v.picked_id = render(
                case, target, out.parent / f"{variant}.png", near, textured=v.images > 0
            )
        v.ok = v.check in ("PASS", "-") and v.render in ("PASS", "-")
        if not v.ok:
            result.problems.append(f"{variant}: check {v.check} render {v.render}")
    return result


def grouping_objects(case: Case) -> dict[str, int]:
    """Objects without geometry of their own whose children carry it (a CityGML 3.0 Section
    holding TrafficSpaces): shown through their children, so neither written nor reported."""
    from citymodel.sources import open as open_source

    options = {"in_crs": case.in_crs} if case.in_crs else {}
    found: Counter[str] = Counter()
    with open_source(case.path, **options) as reader:
        for feature in reader.features():
            for f, _ in feature.walk():
                if not f.geometries and f.children:
                    found[f.type] += 1
    return dict(found)


def _account(result: FileResult, v: VariantResult, case: Case) -> None:
    """Every object in is read, and written or reported (see the module docstring)."""
    n_in = sum(result.objects_in.values())
    n_read = sum(v.read.values())
    n_written = sum(v.written.values())
    reported = sum(v.not_converted.values()) + v.skipped
    if n_written + reported < n_in:  # only then: it reads the file once more
        v.grouping = grouping_objects(case)
        reported += sum(v.grouping.values())
    unread = {  # objects that are not read must at least be reported (CityGML 3.0 Versions)
        t: n - v.read.get(t, 0)
        for t, n in result.objects_in.items()
        if v.read.get(t, 0) != n and v.read.get(t, 0) + v.not_converted.get(t, 0) != n
    }
    if unread or n_read > n_in:
        result.problems.append(f"{v.variant}: {n_in} objects in (info), {n_read} read: {unread}")
    if n_written > n_in:
        result.problems.append(f"{v.variant}: {n_written} written > {n_in} in")
    if n_written + reported < n_in:
        shown = Counter(v.written) + Counter(v.not_converted) + Counter(v.grouping)
        missing = {t: n - shown[t] for t, n in result.objects_in.items() if n > shown[t]}
        result.problems.append(f"{v.variant}: neither written nor reported: {missing}")


# -- table --------------------------------------------------------------------------------------


def rows(results: Iterable[FileResult]) -> list[dict[str, Any]]:
    """One flat row per input (the numbers of the explicit variant, results of all)."""
    out = []
    for r in results:
        by = {v.variant: v for v in r.variants}
        first = by.get("explicit") or (r.variants[0] if r.variants else VariantResult("-"))
        out.append(
            {
                "file": r.name,
                "in": sum(r.objects_in.values()),
                "written": sum(first.written.values()),
                "not_converted": sum(first.not_converted.values()),
                "skipped": first.skipped,
                "tiles": first.tiles,
                "bytes": first.bytes,
                "check": {k: v.check if v.error is None else "error" for k, v in by.items()},
                "render": first.render,
                "picked_id": first.picked_id,
                "ok": r.ok,
                "expected_error": r.expect_error,
                "problems": r.problems,
            }
        )
    return out


def print_table(table: list[dict[str, Any]], file: Any = sys.stdout) -> None:
    """A fixed-width table of :func:`rows`."""
    head = (
        f"{'file':<72} {'in':>5} {'wr':>5} {'nc':>3} {'sk':>3} {'tiles':>5} {'bytes':>10} "
        f"{'check e/i/3':<14} {'render':<6} picked / problem"
    )
    print(head, file=file)
    for row in table:
        checks = "/".join(row["check"].get(v, "-")[:4] for v in VARIANTS)
        note = row["picked_id"] or ""
        if row["expected_error"] and row["ok"]:
            note = f"expected error: {row['expected_error']}"
        if row["problems"]:
            note = "; ".join(row["problems"])[:300]
        print(
            f"{row['file'][-72:]:<72} {row['in']:>5} {row['written']:>5} "
            f"{row['not_converted']:>3} {row['skipped']:>3} {row['tiles']:>5} "
            f"{row['bytes']:>10} {checks:<14} {row['render']:<6} {note}",
            file=file,
        )
    bad = sum(1 for r in table if not r["ok"])
    print(f"{len(table)} inputs, {len(table) - bad} OK, {bad} not OK", file=file)


def markdown(documents: Sequence[dict[str, Any]]) -> str:
    """A Markdown table merging the rows of runs written by ``--json``.

    A run with ``--render`` gives the render column, any other run the counts and checks; for
    a file in several runs of one kind the later run wins (a re-run replaces a row).
    """
    passes: dict[str, dict[str, dict[str, Any]]] = {"check": {}, "render": {}}
    for document in documents:
        kind = "render" if "--render" in document["command"].split() else "check"
        details = {
            f["name"]: v["render_detail"]
            for f in document["files"]
            for v in f["variants"]
            if v["variant"] == "explicit"
        }
        for row in document["rows"]:
            passes[kind][row["file"]] = {**row, "render_detail": details.get(row["file"], "")}
    merged: dict[str, dict[str, Any]] = {}
    for name in sorted({*passes["check"], *passes["render"]}):
        check, shown = passes["check"].get(name), passes["render"].get(name)
        row = dict(check or shown or {})
        row["check"] = check["check"] if check else {}
        row["render"], row["picked_id"] = (
            (shown["render"], shown["picked_id"]) if shown else ("-", None)
        )
        row["problems"] = [*(check or {}).get("problems", []), *(shown or {}).get("problems", [])]
        detail = (shown or {}).get("render_detail", "")
        if row["render"] == "FAIL" and "problems=['pick found no feature']" in detail:
            # drawn where expected, but check-tileset's pick probes hit no feature
            pixels = re.search(r"pixels=([\d.]+)", detail)
            share = f"{float(pixels.group(1)) * 100:.1f} %" if pixels else "?"
            row["render"] = "drawn, no pick"
            row["problems"] = [p for p in row["problems"] if "render FAIL" not in p]
            row["problems"].append(f"pick probes missed: the tileset covers {share} of the screen")
        merged[name] = row
    lines = [
        (
            "| file | in | written | not conv. | skip rec. | tiles | bytes | check expl/impl/3tz "
            "| render | picked gml_id / note |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name, row in merged.items():
        checks = "/".join(row["check"].get(v, "-") for v in VARIANTS)
        note = f"`{row['picked_id']}`" if row.get("picked_id") else ""
        if row["expected_error"]:
            checks, note = "-", f"expected error: {row['expected_error']}"
        if row["problems"]:
            note = "; ".join(row["problems"])[:200].replace("|", "/")
        lines.append(
            f"| `{name}` | {row['in']} | {row['written']} | {row['not_converted']} "
            f"| {row['skipped']} | {row['tiles']} | {row['bytes']:,} | {checks} "
            f"| {row.get('render', '-')} | {note} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, help="keep the tilesets here (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--render", action="store_true", help="render the explicit variant")
    parser.add_argument("--no-check", action="store_true", help="skip the validator pass")
    parser.add_argument("--only", action="append", default=[], help="substring of the file name")
    parser.add_argument(
        "--largest-first", action="store_true", help="largest inputs first (default: smallest)"
    )
    parser.add_argument("--exclude", action="append", default=[], help="substring to leave out")
    parser.add_argument(
        "--resume", action="store_true", help="keep the files already in --json, run the rest"
    )
    parser.add_argument(
        "--markdown",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="print a Markdown table merging earlier --json outputs (check and render runs)",
    )
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown([json.loads(p.read_text(encoding="utf-8")) for p in args.markdown]), end="")
        return 0
    variants = [v for v in args.variants.split(",") if v]
    if set(variants) - set(VARIANTS):
        parser.error(f"--variants: choose from {','.join(VARIANTS)}")
    work = args.work or Path(tempfile.mkdtemp(prefix="check-real-data-"))
    cases = discover(args.data, work / "derived")
    if args.only:
        cases = [c for c in cases if any(o in c.name for o in args.only)]
    cases = [c for c in cases if not any(x in c.name for x in args.exclude)]
    cases.sort(key=lambda c: (c.path.stat().st_size, c.name))  # most files per minute first
    if args.largest_first:
        cases.reverse()
    results: list[FileResult] = []
    if args.resume and args.json and args.json.is_file():
        results = _load(args.json)
        done = {r.name for r in results}
        cases = [c for c in cases if c.name not in done]
    started = time.time()
    for i, case in enumerate(cases, 1):
        print(f"[{i}/{len(cases)}] {case.name}", file=sys.stderr, flush=True)
        r = check_file(
            case, work, variants=variants, run_check=not args.no_check, run_render=args.render
        )
        results.append(r)
        if args.json:
            _write(args.json, results, args, started)
    table = rows(results)
    print_table(table)
    if args.json:
        _write(args.json, results, args, started)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r["ok"] for r in table) else 1


def _load(path: Path) -> list[FileResult]:
    """The results of an earlier run written by :func:`_write`."""
    out = []
    for raw in json.loads(path.read_text(encoding="utf-8"))["files"]:
        raw = {k: v for k, v in raw.items() if k != "ok"}
        variants = [VariantResult(**v) for v in raw.pop("variants")]
        out.append(FileResult(**raw, variants=variants))
    return out


def _write(path: Path, results: list[FileResult], args: argparse.Namespace, started: float) -> None:
    document = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(sys.argv),
        "elapsed_s": round(time.time() - started, 1),
        "rows": rows(results),
        "files": [{**asdict(r), "ok": r.ok} for r in results],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1), encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
