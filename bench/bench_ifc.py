"""IFC throughput and peak memory: citymodel's reader and tiler against py3dtiles on the same IFC.

Inputs: every IFC model in ../shared/data/ifc and a generated large model (``--elements``,
default 20,000 elements: walls, slabs, columns and windows on a storey grid, millimetre units,
IfcMapConversion, surface styles and a property set per element; written with
``ifcopenshell.api`` and cached in ``build/bench/``). Per input, each stage in a fresh process,
back to back:

kernel      the bare IfcOpenShell geometry iterator over the elements citymodel reads (same
            settings and kernel, one thread, one process, nothing done with the meshes): the
            single-core floor of any IfcOpenShell-based reader
read        ``IFCReader.features()`` with ``--processes`` kernel workers: meshes georeferenced,
            properties flattened, Feature objects
tile        ``citymodel tile FILE -o DIR`` (3D Tiles 1.1), checked with ``check-tileset``
py3dtiles   ``py3dtiles convert FILE --out DIR`` (py3dtiles 12 with ifcopenshell 0.9 in the
            separate venv ``build/peer-venv``, created on first use; see ``bench/_peer.py``),
            checked with ``check-tileset``

Times are wall-clock and CPU seconds (user + system, all processes of the tree) of the whole
process (interpreter start and imports included); elements/s (wall) counts the elements with a
body that citymodel reads. Peak RSS is the largest sum
over the process tree (workers included), sampled every 20 ms. Machines are shared and noisy
(performance.md: ±30 %): compare ratios within one run. With ``--repeat N`` the *tile* and
*py3dtiles* runs of every input smaller than ``--repeat-below-mb`` alternate N times (tile,
py3dtiles, tile, ...) and the fastest run of each is kept; each row notes the load average.

Both tools run with compiled bytecode, as installed packages do: the peer venv's packages were
compiled by pip, and citymodel (an editable install here) gets a bytecode cache in
``build/bench/pycache`` even when ``PYTHONDONTWRITEBYTECODE`` is set, filled by an untimed
warm-up run of each tool (without it every citymodel process, workers included, compiles its
modules again: 0.6-2 s more per run on the project machine).

Examples
--------
    .venv/bin/python bench/bench_ifc.py --small
    .venv/bin/python bench/bench_ifc.py --elements 20000 --json build/bench/ifc.json
    .venv/bin/python bench/bench_ifc.py --compare-only --repeat 3 --json build/bench/ifc.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peer import check_tileset, peer_tool, run_measured

REPO = Path(__file__).resolve().parents[1]
SHARED_IFC = REPO.parent / "shared" / "data" / "ifc"
CACHE = REPO / "build" / "bench"
CITYMODEL = Path(sys.executable).with_name("citymodel")
PEER_EXTRAS = ("ifcopenshell==0.9.*",)
# options a user has to give for the sample models (see tests/converters/test_ifc_realdata.py)
OPTIONS: dict[str, list[str]] = {
    "IfcOpenHouse_IFC4.ifc": ["--in-crs", "EPSG:25832+7837", "--origin", "458700,5438300,112,15"],
    "duplex.ifc": ["--vertical-mode", "ellipsoidal-as-is"],
    "ISSUE_171_IfcSurfaceCurveSweptAreaSolid.ifc": ["--vertical-mode", "ellipsoidal-as-is"],
}
PYCACHE = CACHE / "pycache"
SMALL = {
    "IfcOpenHouse_IFC4.ifc",
    "Sample_entities.ifc",
    "bsi_geographic-referencing_IFC4_EPSG25832.ifc",
}


@dataclass
class Row:
    input: str
    stage: str
    status: str
    seconds: float | None = None
    cpu_seconds: float | None = None
    elements: int | None = None
    elements_per_s: float | None = None
    peak_rss_mb: float | None = None
    valid: str = ""
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    load: float | None = None
    runs: int = 1


# -- the generated model ------------------------------------------------------------------


def generate_model(path: Path, elements: int) -> Path:
    """A storey grid of walls, slabs, columns and windows (mm units, georeferenced)."""
    import ifcopenshell
    import ifcopenshell.api.aggregate
    import ifcopenshell.api.context
    import ifcopenshell.api.geometry
    import ifcopenshell.api.georeference
    import ifcopenshell.api.project
    import ifcopenshell.api.pset
    import ifcopenshell.api.root
    import ifcopenshell.api.spatial
    import ifcopenshell.api.style
    import ifcopenshell.api.unit
    import numpy as np

    api = ifcopenshell.api
    f = api.project.create_file(version="IFC4")
    project = api.root.create_entity(f, ifc_class="IfcProject", name="bench")
    api.unit.assign_unit(f, length={"is_metric": True, "raw": "MILLIMETERS"})
    model = api.context.add_context(f, context_type="Model")
    body = api.context.add_context(
        f, context_type="Model", context_identifier="Body", target_view="MODEL_VIEW", parent=model
    )
    api.georeference.add_georeferencing(f, name="EPSG:25832")
    angle = math.radians(12.0)
    api.georeference.edit_georeferencing(
        f,
        projected_crs={"VerticalDatum": "EPSG:7837"},
        coordinate_operation={
            "Eastings": 566000.0,
            "Northings": 5935000.0,
            "OrthogonalHeight": 10.0,
            "XAxisAbscissa": math.cos(angle),
            "XAxisOrdinate": math.sin(angle),
            "Scale": 0.001,
        },
    )
    site = api.root.create_entity(f, ifc_class="IfcSite", name="site")
    building = api.root.create_entity(f, ifc_class="IfcBuilding", name="building")
    api.aggregate.assign_object(f, relating_object=project, products=[site])
    api.aggregate.assign_object(f, relating_object=site, products=[building])
    styles = {}
    for name, rgb in (
        ("concrete", (0.7, 0.7, 0.68)),
        ("brick", (0.6, 0.3, 0.2)),
        ("steel", (0.4, 0.45, 0.5)),
    ):
        style = api.style.add_style(f, name=name)
        api.style.add_surface_style(
            f,
            style=style,
            ifc_class="IfcSurfaceStyleShading",
            attributes={
                "SurfaceColour": {"Name": None, "Red": rgb[0], "Green": rgb[1], "Blue": rgb[2]}
            },
        )
        styles[name] = style
    per_cell = 4  # wall x, wall y, slab, column
    storeys = max(1, round(elements / 2000))
    side = max(1, math.ceil(math.sqrt(elements / (storeys * per_cell))))
    cell, height = 6.0, 3.0
    made = 0
    for level in range(storeys):
        storey = api.root.create_entity(f, ifc_class="IfcBuildingStorey", name=f"Level {level}")
        api.aggregate.assign_object(f, relating_object=building, products=[storey])
        contained = []
        for i in range(side):
            for j in range(side):
                if made >= elements:
                    break
                x, y, z = i * cell, j * cell, level * height
                for kind in ("wall_x", "wall_y", "slab", "column"):
                    if made >= elements:
                        break
                    matrix = np.eye(4)
                    matrix[:3, 3] = (x, y, z)
                    if kind.startswith("wall"):
                        element = api.root.create_entity(f, ifc_class="IfcWall", name=f"W{made}")
                        if kind == "wall_y":
                            matrix[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
                        rep = api.geometry.add_wall_representation(
                            f, context=body, length=cell, height=height, thickness=0.24
                        )
                        style = styles["brick"]
                    elif kind == "slab":
                        element = api.root.create_entity(f, ifc_class="IfcSlab", name=f"S{made}")
                        rep = api.geometry.add_slab_representation(
                            f,
                            context=body,
                            depth=0.2,
                            polyline=[(0, 0), (cell, 0), (cell, cell), (0, cell)],
                        )
                        style = styles["concrete"]
                    else:
                        element = api.root.create_entity(f, ifc_class="IfcColumn", name=f"C{made}")
                        rep = api.geometry.add_wall_representation(
                            f, context=body, length=0.3, height=height, thickness=0.3
                        )
                        style = styles["steel"]
                    api.geometry.edit_object_placement(f, product=element, matrix=matrix)
                    api.geometry.assign_representation(f, product=element, representation=rep)
                    api.style.assign_representation_styles(
                        f, shape_representation=rep, styles=[style]
                    )
                    pset = api.pset.add_pset(f, product=element, name="Pset_Bench")
                    api.pset.edit_pset(
                        f, pset=pset, properties={"Index": made, "Level": level, "Kind": kind}
                    )
                    contained.append(element)
                    made += 1
        if contained:
            api.spatial.assign_container(f, relating_structure=storey, products=contained)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    f.write(str(partial))
    partial.replace(path)
    return path


# -- child stages ---------------------------------------------------------------------------


def child_kernel(path: Path, _processes: int) -> dict[str, Any]:
    """The bare geometry iterator over citymodel's element set, same settings and kernel."""
    import ifcopenshell
    import ifcopenshell.geom

    from citymodel.converters._ifc_read_file import open_model
    from citymodel.converters._ifc_read_geometry import (
        DEFAULT_EXCLUDED,
        geometry_library,
        iterator_settings,
    )

    start = time.perf_counter()
    model = open_model(path).model
    iterator = ifcopenshell.geom.iterator(
        iterator_settings(ifcopenshell),
        model,
        1,
        geometry_library=geometry_library(ifcopenshell),
        exclude=[c for c in DEFAULT_EXCLUDED if _declared(model, c)],
    )
    count = triangles = 0
    if iterator.initialize():
        while True:
            shape = iterator.get()
            count += 1
            triangles += len(shape.geometry.faces_buffer) // 12
            if not iterator.next():
                break
    return {"elements": count, "triangles": triangles, "seconds": time.perf_counter() - start}


def _declared(model: Any, name: str) -> bool:
    import ifcopenshell

    schema = ifcopenshell.ifcopenshell_wrapper.schema_by_name(model.schema_identifier)
    try:
        schema.declaration_by_name(name)
    except RuntimeError:
        return False
    return True


def child_read(path: Path, processes: int, options: list[str]) -> dict[str, Any]:
    from citymodel.converters.ifc import IFCReader
    from citymodel.report import JobReport

    kwargs: dict[str, Any] = {}
    if "--in-crs" in options:
        kwargs["in_crs"] = options[options.index("--in-crs") + 1]
    if "--origin" in options:
        kwargs["origin"] = options[options.index("--origin") + 1]
    start = time.perf_counter()
    report = JobReport()
    count = triangles = 0
    reader = IFCReader(path, processes=processes or None, **kwargs)
    for feature in reader.features(report=report):
        count += 1
        triangles += feature.geometries[0].polygon_count
    return {
        "elements": count,
        "triangles": triangles,
        "skipped": len(report.skipped),
        "seconds": time.perf_counter() - start,
    }


# -- parent ---------------------------------------------------------------------------------


def tool_env() -> dict[str, str]:
    """The environment of measured runs: bytecode cached (see the module docstring)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def _child(
    stage: str, path: Path, processes: int, options: list[str]
) -> tuple[dict[str, Any] | None, Any]:
    command = [sys.executable, __file__, "--child", stage, str(path), "--processes", str(processes)]
    if options:
        command += ["--child-options", json.dumps(options)]
    measured = run_measured(command, env=tool_env())
    if measured.returncode != 0:
        return None, measured
    return json.loads(measured.stdout.strip().splitlines()[-1]), measured


def bench_input(
    path: Path,
    *,
    processes: int,
    jobs: int,
    peer: bool,
    work: Path,
    stages: bool = True,
    repeat: int = 1,
) -> list[Row]:
    name = path.name
    options = OPTIONS.get(name, [])
    rows: list[Row] = []
    elements = None
    for stage in ("kernel", "read") if stages else ():
        result, measured = _child(stage, path, processes, options)
        if result is None:
            rows.append(Row(name, stage, "error", detail=measured.stderr.strip()[-300:]))
            continue
        if stage == "read":
            elements = result["elements"]
        rows.append(
            Row(
                name,
                stage,
                "ok",
                seconds=measured.seconds,
                cpu_seconds=measured.cpu_seconds,
                elements=result["elements"],
                peak_rss_mb=measured.peak_rss_mb,
                extra={k: v for k, v in result.items() if k not in ("elements",)},
            )
        )
    best: dict[str, Row] = {}
    for _ in range(repeat):  # interleaved: both tools see the same load
        runs = [("tile", lambda: _tile(path, jobs=jobs, options=options, work=work))]
        if peer:
            runs.append(("py3dtiles", lambda: _py3dtiles(path, jobs=jobs, work=work)))
        for stage, run in runs:
            row = run()
            kept = best.get(stage)
            if kept is None or (
                row.status == "ok"
                and (kept.status != "ok" or (row.seconds or 0) < (kept.seconds or 0))
            ):
                best[stage] = row
    for stage in ("tile", "py3dtiles"):
        if stage in best:
            best[stage].runs = repeat
            best[stage].elements = elements or best["tile"].elements
            rows.append(best[stage])
    for r in rows:
        if r.seconds and r.elements:
            r.elements_per_s = r.elements / r.seconds
    return rows


def _tile(path: Path, *, jobs: int, options: list[str], work: Path) -> Row:
    out = work / f"{path.stem}-citymodel"
    report = work / f"{path.stem}-report.json"
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    command = [str(CITYMODEL), "tile", str(path), "-o", str(out), "-j", str(jobs), *options]
    measured = run_measured([*command, "--report", str(report)], env=tool_env())
    row = Row(
        path.name,
        "tile",
        "ok" if measured.returncode == 0 else "error",
        seconds=measured.seconds,
        cpu_seconds=measured.cpu_seconds,
        peak_rss_mb=measured.peak_rss_mb,
        load=load,
    )
    if measured.returncode == 0:
        passed, summary = check_tileset(out / "tileset.json")
        row.valid = ("PASS " if passed else "FAIL ") + summary.replace("check-tileset: ", "")
        row.elements = json.loads(report.read_text())["tiling"]["buildings"]["written"]
    else:
        row.detail = (
            measured.stderr.strip().splitlines()[-1][-300:] if measured.stderr.strip() else ""
        )
    return row


def _py3dtiles(path: Path, *, jobs: int, work: Path) -> Row:
    tool = peer_tool("py3dtiles", *PEER_EXTRAS)
    out = work / f"{path.stem}-py3dtiles"
    command = [
        str(tool),
        "convert",
        str(path),
        "--out",
        str(out),
        "--jobs",
        str(jobs),
        "--overwrite",
    ]
    load = os.getloadavg()[0]
    measured = run_measured(command, env=tool_env())
    row = Row(
        path.name,
        "py3dtiles",
        "ok",
        seconds=measured.seconds,
        cpu_seconds=measured.cpu_seconds,
        peak_rss_mb=measured.peak_rss_mb,
        load=load,
    )
    tileset = out / "tileset.json"
    if measured.returncode != 0 or not tileset.is_file():
        row.status = "error"
        text = (measured.stderr or measured.stdout).strip().splitlines()
        row.detail = text[-1][-300:] if text else f"exit {measured.returncode}"
        return row
    passed, summary = check_tileset(tileset)
    row.valid = ("PASS " if passed else "FAIL ") + summary.replace("check-tileset: ", "")
    return row


def warm_up(path: Path, *, jobs: int, peer: bool, work: Path) -> None:
    """One untimed run of each tool: bytecode compiled and cached, files in the OS cache."""
    _tile(path, jobs=jobs, options=OPTIONS.get(path.name, []), work=work)
    if peer:
        _py3dtiles(path, jobs=jobs, work=work)


def _table(rows: list[Row]) -> str:
    lines = [
        "| input | stage | wall s | CPU s | elements/s | peak RSS MB | load | runs | output check |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        seconds = f"{r.seconds:.2f}" if r.seconds is not None else r.status
        rate = f"{r.elements_per_s:.0f}" if r.elements_per_s else ""
        rss = f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb is not None else ""
        cpu = f"{r.cpu_seconds:.2f}" if r.cpu_seconds is not None else ""
        check = r.valid or r.detail
        load = f"{r.load:.1f}" if r.load is not None else ""
        lines.append(
            f"| {r.input} | {r.stage} | {seconds} | {cpu} | {rate} | {rss} | {load} | {r.runs} "
            f"| {check} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--elements", type=int, default=20_000, help="generated model size")
    parser.add_argument(
        "--small", action="store_true", help="small sample models, 2,000 generated elements"
    )
    parser.add_argument(
        "--inputs",
        nargs="*",
        type=Path,
        default=None,
        help="IFC files (default: ../shared/data/ifc)",
    )
    parser.add_argument(
        "--processes", type=int, default=0, help="kernel processes of the reader (0: its default)"
    )
    parser.add_argument(
        "--jobs", type=int, default=len(os.sched_getaffinity(0)), help="tile/py3dtiles jobs"
    )
    parser.add_argument("--skip-peer", action="store_true", help="do not run py3dtiles")
    parser.add_argument(
        "--compare-only",
        action="store_true",
        help="only tile and py3dtiles (no kernel/read stages)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="interleaved tile/py3dtiles runs, fastest kept"
    )
    parser.add_argument(
        "--repeat-below-mb",
        type=float,
        default=10.0,
        help="inputs at least this large run once whatever --repeat says",
    )
    parser.add_argument(
        "--generated-only", action="store_true", help="only the generated model, no sample files"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the rows as JSON")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-options", default="[]", help=argparse.SUPPRESS)
    parser.add_argument("child_path", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        options = json.loads(args.child_options)
        stage = (
            child_kernel(args.child_path, args.processes)
            if args.child == "kernel"
            else child_read(args.child_path, args.processes, options)
        )
        print(json.dumps(stage))
        return 0
    elements = 2_000 if args.small else args.elements
    inputs = args.inputs
    if inputs is None:
        inputs = sorted(SHARED_IFC.glob("*.ifc")) if SHARED_IFC.is_dir() else []
        if args.generated_only:
            inputs = []
        elif args.small:
            inputs = [p for p in inputs if p.name in SMALL]
        generated = CACHE / f"generated_{elements}.ifc"
        if not generated.is_file():
            started = time.perf_counter()
            generate_model(generated, elements)
            print(
                f"generated {generated} ({elements} elements) in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
        inputs.append(generated)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(
        prefix="bench-ifc-", dir=CACHE if CACHE.is_dir() else None
    ) as tmp:
        if inputs:
            warm_up(
                min(inputs, key=lambda p: p.stat().st_size),
                jobs=args.jobs,
                peer=not args.skip_peer,
                work=Path(tmp),
            )
        for path in inputs:
            print(f"{path.name} ...", file=sys.stderr)
            small = path.stat().st_size < args.repeat_below_mb * 2**20
            rows.extend(
                bench_input(
                    path,
                    processes=args.processes,
                    jobs=args.jobs,
                    peer=not args.skip_peer,
                    work=Path(tmp),
                    stages=not args.compare_only,
                    repeat=max(1, args.repeat) if small else 1,
                )
            )
            shutil.rmtree(tmp, ignore_errors=True)
            Path(tmp).mkdir(exist_ok=True)
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
        f"processes {args.processes}, jobs {args.jobs}"
    )
    print(_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
