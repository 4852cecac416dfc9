"""LiDAR throughput and peak memory: bare laspy decode, the citymodel reader, ``citymodel tile``
and ``py3dtiles convert``, side by side on the same files, in one run.

Input: a generated airborne scan of the synthetic city (``citymodel.synthetic_points``; 10 M
points by default, LAS 1.4 point format 7 LAZ with EPSG:25832 + DHHN2016, reused from
``build/bench/`` when it exists), plus the LAS/LAZ files in ``../shared/data/las`` when present.

Stages, each in a fresh process tree, back to back:

laspy          bare ``laspy.open().chunk_iterator(1_000_000)`` with laspy's default LAZ backend
               (lazrs, multi-threaded): the decode floor the issue's targets refer to
laspy-1t       the same with lazrs' single-threaded decoder
reader         ``citymodel.converters.las.open_point_cloud(...).read()``: one reader
reader-2p      two processes, each reading one half of the file (what the tiler's workers do),
               single-threaded LAZ decoding (the reader's default)
reader-2p-par  the same with lazrs' multi-threaded decoder in each process
tile           ``citymodel tile FILE -o OUT --jobs J`` (once ``citymodel.tiler.points.build``
               exists; else "n/a"), then ``check-tileset`` on the output
py3dtiles      ``py3dtiles convert FILE --out OUT --jobs J`` from py3dtiles 12 in a separate
               venv (``build/peer-venv``, created on demand by ``bench/_peer.py``, with laspy
               and lazrs for LAS/LAZ; never a citymodel dependency), then ``check-tileset``.
               When it hangs on a LAZ file (it forks workers after lazrs' thread pool started,
               performance.md) the row says so and it runs again on a LAS copy

Measured per stage with ``bench/_peer.py``'s ``run_measured`` (shared with the other benchmarks,
which also keeps the peer venv): wall time, CPU time of the whole process tree (the last
sample of each process), peak RSS of the process tree (sum over its processes, sampled every
20 ms), output bytes. Machines are shared and noisy (performance.md: ±30 %): compare ratios
within one run; the CPU-time rate is less sensitive to other load than the wall-time rate.

Output: the per-stage table, then a summary per input (citymodel tile vs py3dtiles --jobs J vs
bare laspy decode: points/s, × py3dtiles against the target 3, × laspy against the target
0.5, peak RSS, output bytes, check-tileset of both), and the same as JSON in
``WORK/bench_lidar_<points>.json`` (or ``--json``), rewritten after every stage.

Examples
--------
    .venv/bin/python bench/bench_lidar.py --points 200000 --no-shared
    .venv/bin/python bench/bench_lidar.py                      # 10 M points, all stages
    .venv/bin/python bench/bench_lidar.py --stages laspy,reader,reader-2p --json lidar.json
    .venv/bin/python bench/bench_lidar.py --stages laspy,tile --tiler /path/to/other/citymodel
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peer import PEER_VENV, Measured, check_tileset, peer_tool, run_measured

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PEER_LAS_SPECS = ("laspy>=2.5,<3", "lazrs")
"""py3dtiles' LAS/LAZ support, installed beside it in the peer venv (``bench/_peer.py``)."""
STAGES = ("laspy", "laspy-1t", "reader", "reader-2p", "reader-2p-par", "tile", "py3dtiles")
SHARED_STAGES = ("laspy", "reader", "tile", "py3dtiles")
CHUNK = 1_000_000

# Per real file: citymodel tile options and py3dtiles' --srs_in, where the file lacks a usable
# CRS (MANIFEST.md); files whose coordinates belong to no known CRS are left out.
SHARED_FILES: dict[str, tuple[list[str], str | None]] = {
    "nrw_potree_root/3dm_32_291_5744_1_nw_potree_r.laz": (["--in-crs", "EPSG:25832+7837"], "25832"),
    "pdal/autzen_trim.laz": (["--vertical-mode", "ellipsoidal-as-is"], None),
    "pdal/4_6_crop.las": (["--vertical-mode", "ellipsoidal-as-is"], None),
    # NAD83 (1986) needs NOAA HPGN grids that are not available offline: NAD83(2011) instead
    "pdal/mvk-thin.las": (
        ["--in-crs", "EPSG:6510", "--vertical-mode", "ellipsoidal-as-is"],
        "6510",
    ),
    "pdal/lone-star.copc.laz": (
        ["--in-crs", "EPSG:32612", "--vertical-mode", "ellipsoidal-as-is"],
        "32612",
    ),
    "laspy/simple.las": (["--in-crs", "EPSG:2994", "--vertical-mode", "ellipsoidal-as-is"], "2994"),
    "laspy/simple.copc.laz": (
        ["--in-crs", "EPSG:6556", "--vertical-mode", "ellipsoidal-as-is"],
        "6556",
    ),
    "laspy/file_with_both_wkt_and_geotiff_vlrs.las": (
        ["--vertical-mode", "ellipsoidal-as-is"],
        None,
    ),
    "laspy/autzen.las": (["--vertical-mode", "ellipsoidal-as-is"], None),
    "laspy/test1_4.las": (["--vertical-mode", "ellipsoidal-as-is"], None),
}


@dataclass
class Result:
    input: str
    stage: str
    status: str  # "ok", "n/a", "error", "timeout"
    points: int | None = None
    seconds: float | None = None
    cpu_seconds: float | None = None
    peak_rss_mb: float | None = None
    output_bytes: int | None = None
    check: str | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mpts(self) -> float | None:
        if self.status != "ok" or not self.points or not self.seconds:
            return None
        return self.points / self.seconds / 1e6

    @property
    def mpts_cpu(self) -> float | None:
        if self.status != "ok" or not self.points or not self.cpu_seconds:
            return None
        return self.points / self.cpu_seconds / 1e6


# --- child stages (run as `bench_lidar.py --child STAGE FILE [start stop]`) ---------------------


def child(stage: str, path: str, start: int, stop: int | None) -> dict[str, Any]:
    """Decode points of ``path`` and return how many (runs in a fresh process)."""
    if stage in ("reader-2p", "reader-2p-par"):
        # Two processes decoding one half each, at the same time, as the tiler's workers do.
        one = "reader-1p-par" if stage == "reader-2p-par" else "reader-1p"
        n = point_count(Path(path))
        me = [sys.executable, str(Path(__file__).resolve()), "--child", one, path]
        halves = [
            subprocess.Popen([*me, str(a), str(b)], stdout=subprocess.PIPE, text=True)
            for a, b in ((0, n // 2), (n // 2, n))
        ]
        outputs = [p.communicate()[0] for p in halves]
        if any(p.returncode for p in halves):
            raise RuntimeError(f"a reader process failed: {outputs}")
        return {"points": sum(json.loads(o.strip().splitlines()[-1])["points"] for o in outputs)}
    if stage in ("laspy", "laspy-1t"):
        import laspy

        backend = laspy.LazBackend.Lazrs if stage == "laspy-1t" else None
        kwargs = {"laz_backend": backend} if backend is not None else {}
        n = 0
        with laspy.open(path, **kwargs) as reader:
            for chunk in reader.chunk_iterator(CHUNK):
                n += len(chunk)
        return {"points": n}
    from citymodel.converters.las import open_point_cloud

    parallel = stage in ("reader", "reader-1p-par")
    with open_point_cloud(path, parallel_decode=parallel) as cloud:
        n = sum(len(c) for c in cloud.read(start, stop, chunk_size=CHUNK))
    return {"points": n}


# --- stages -------------------------------------------------------------------------------------


def _tail(text: str, lines: int = 2, limit: int = 240) -> str:
    tail = " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])
    return tail if len(tail) <= limit else tail[: limit - 3] + "..."


def folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _measured(
    input_name: str, stage: str, command: list[str], timeout: float, points: int | None = None
) -> tuple[Result, Measured]:
    """Run ``command`` measured (``bench/_peer.py``); a timeout makes the status "timeout"."""
    m = run_measured(command, timeout=timeout)
    result = Result(
        input_name,
        stage,
        "ok",
        points=points,
        seconds=m.seconds,
        cpu_seconds=m.cpu_seconds,
        peak_rss_mb=m.peak_rss_mb,
    )
    if m.seconds >= timeout:
        result.status, result.detail = "timeout", f"no result after {timeout:.0f} s (killed)"
    elif m.returncode:
        result.status, result.detail = "error", _tail(m.stderr or m.stdout)
    return result, m


def _checked(result: Result, out: Path) -> Result:
    if result.status == "ok":
        result.output_bytes = folder_bytes(out)
        result.check = check_tileset(out / "tileset.json")[1].replace("check-tileset: ", "")
    return result


def run_decode(stage: str, path: Path, timeout: float) -> Result:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", stage, str(path)]
    result, m = _measured(path.name, stage, command, timeout)
    if result.status == "ok":
        result.points = int(json.loads(m.stdout.strip().splitlines()[-1])["points"])
    return result


def tiler_available() -> bool:
    return importlib.util.find_spec("citymodel.tiler.points.build") is not None


def run_tile(
    path: Path,
    points: int,
    out: Path,
    jobs: int,
    options: Sequence[str],
    timeout: float,
    tiler: Path | None = None,
) -> Result:
    if tiler is None and not tiler_available():
        return Result(path.name, "tile", "n/a", detail="citymodel.tiler.points.build not available")
    exe = tiler or Path(sys.executable).with_name("citymodel")
    shutil.rmtree(out, ignore_errors=True)
    command = [str(exe), "tile", str(path), "-o", str(out), "--jobs", str(jobs), *options]
    return _checked(_measured(path.name, "tile", command, timeout, points)[0], out)


def run_py3dtiles(
    path: Path, points: int, out: Path, jobs: int, srs_in: str | None, timeout: float
) -> Result:
    try:
        tool = peer_tool("py3dtiles", *PEER_LAS_SPECS)
    except (OSError, subprocess.SubprocessError) as err:
        return Result(path.name, "py3dtiles", "n/a", detail=f"{PEER_VENV}: {err}")
    shutil.rmtree(out, ignore_errors=True)
    command = [str(tool), "convert", str(path), "--out", str(out), "--jobs", str(jobs)]
    command += ["--overwrite", "--srs_out", "4978"]
    if srs_in is not None:
        command += ["--srs_in", srs_in]
    result = _checked(_measured(path.name, "py3dtiles", command, timeout, points)[0], out)
    version = subprocess.run(
        [str(tool.with_name("python")), "-c", "import py3dtiles; print(py3dtiles.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    result.extra["version"] = version
    return result


def laz_timeout(points: int, args: argparse.Namespace) -> float:
    """How long py3dtiles gets on LAZ before it counts as hung: 10× its expected time."""
    return float(min(args.timeout, 120.0 + points / 40_000.0))


def uncompressed_copy(path: Path, work: Path) -> Path:
    """A .las copy of a LAZ file (written in chunks; reused when present)."""
    import laspy
    from laspy.vlrs.vlrlist import VLRList

    copy = work / "las-copies" / (path.name.removesuffix(".laz").removesuffix(".copc") + ".las")
    if copy.exists():
        return copy
    copy.parent.mkdir(parents=True, exist_ok=True)
    partial = copy.with_suffix(".partial")
    with laspy.open(path) as reader:
        header = reader.header
        # laspy cannot write COPC records; the copy is a plain LAS of the same points.
        header.vlrs = VLRList([v for v in header.vlrs if v.user_id != "copc"])
        if header.evlrs is not None:
            header.evlrs = VLRList([v for v in header.evlrs if v.user_id != "copc"])
        with laspy.open(partial, mode="w", header=header) as writer:
            for chunk in reader.chunk_iterator(CHUNK):
                writer.write_points(chunk)
    partial.replace(copy)
    return copy


# --- input --------------------------------------------------------------------------------------


def synthetic_input(work: Path, points: int, seed: int) -> Path:
    path = work / f"lidar_{points}_seed{seed}.laz"
    if path.exists():
        print(f"reusing {path}", file=sys.stderr)
        return path
    from citymodel.synthetic import SyntheticCityOptions
    from citymodel.synthetic_points import SyntheticPointCloudOptions, write_point_cloud

    # About 10 points per square metre, as airborne city scans: 10 M points cover one 1 km tile
    # of 400 buildings; smaller runs a square of 50 m parcels with one building each.
    if points >= 10_000_000:
        tile, buildings = 1000.0, 400 * -(-points // 10_000_000)
    else:
        tile = max(100.0, round((points / 10.0) ** 0.5 / 50.0) * 50.0)
        buildings = int(tile // 50.0) ** 2
    city = SyntheticCityOptions(n_buildings=buildings, tile_size_m=tile, seed=seed)
    print(f"generating {points:,} points into {path} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    write_point_cloud(path, SyntheticPointCloudOptions(n_points=points, city=city))
    print(
        f"  {time.perf_counter() - start:.1f} s, {path.stat().st_size / 1e6:.1f} MB",
        file=sys.stderr,
    )
    return path


def point_count(path: Path) -> int:
    import laspy

    with laspy.open(path) as reader:
        return int(reader.header.point_count)


# --- report -------------------------------------------------------------------------------------


def table(results: Sequence[Result]) -> str:
    head = (
        "| input | stage | points | wall s | CPU s | M pts/s | M pts/CPU-s | × laspy | "
        "peak RSS MiB | output MB | check-tileset | note |"
    )
    lines = [head, "|" + "---|" * 12]
    floors = {r.input: r.mpts for r in results if r.stage == "laspy" and r.mpts}

    def f(v: float | None, fmt: str) -> str:
        return format(v, fmt) if v is not None else ""

    for r in results:
        floor = floors.get(r.input)
        ratio = r.mpts / floor if r.mpts and floor else None
        rss = f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb else ""
        note = r.detail if r.status == "ok" else f"{r.status}: {r.detail}"
        if r.extra.get("version"):
            note = f"py3dtiles {r.extra['version']} {note}".strip()
        lines.append(
            f"| {r.input} | {r.stage} | {f(r.points, ',')} | {f(r.seconds, '.2f')} | "
            f"{f(r.cpu_seconds, '.2f')} | {f(r.mpts, '.2f')} | {f(r.mpts_cpu, '.2f')} | "
            f"{f(ratio, '.2f')} | {rss} | {f(r.output_bytes / 1e6 if r.output_bytes else None, '.1f')} | "
            f"{r.check or ''} | {note.replace('|', '/')} |"
        )
    return "\n".join(lines)


TARGET_VS_PEER = 3.0
"""Issue 6: citymodel tile >= 3x the points/s of py3dtiles convert on the same input."""
TARGET_VS_DECODE = 0.5
"""Issue 6: citymodel tile >= 50 % of the points/s of a bare laspy decode of the same file."""


def _rate(results: Sequence[Result], name: str, *stages: str) -> Result | None:
    for r in results:
        if r.input == name and r.stage in stages and r.mpts is not None:
            return r
    return None


def summary(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Per input: citymodel tile against py3dtiles and a bare decode, with the issue's targets."""
    rows: list[dict[str, Any]] = []
    for name in dict.fromkeys(r.input for r in results):
        tile = _rate(results, name, "tile")
        peer = _rate(results, name, "py3dtiles", "py3dtiles (.las copy)")
        decode = _rate(results, name, "laspy")
        tile_row = next((r for r in results if r.input == name and r.stage == "tile"), None)
        peer_rows = [r for r in results if r.input == name and r.stage.startswith("py3dtiles")]
        vs_peer = tile.mpts / peer.mpts if tile and peer and tile.mpts and peer.mpts else None
        vs_decode = (
            tile.mpts / decode.mpts if tile and decode and tile.mpts and decode.mpts else None
        )
        rows.append(
            {
                "input": name,
                "points": next((r.points for r in results if r.input == name and r.points), None),
                "citymodel_mpts": tile.mpts if tile else None,
                "citymodel_mpts_cpu": tile.mpts_cpu if tile else None,
                "citymodel_peak_rss_mb": tile.peak_rss_mb if tile else None,
                "citymodel_output_bytes": tile.output_bytes if tile else None,
                "citymodel_check": tile_row.check if tile_row else None,
                "citymodel_status": tile_row.status if tile_row else "not run",
                "citymodel_detail": tile_row.detail if tile_row else "",
                "py3dtiles_mpts": peer.mpts if peer else None,
                "py3dtiles_peak_rss_mb": peer.peak_rss_mb if peer else None,
                "py3dtiles_output_bytes": peer.output_bytes if peer else None,
                "py3dtiles_check": peer.check if peer else None,
                "py3dtiles_status": "; ".join(f"{r.stage}: {r.status}" for r in peer_rows)
                or "not run",
                "laspy_mpts": decode.mpts if decode else None,
                "x_py3dtiles": vs_peer,
                "x_laspy": vs_decode,
                "target_x_py3dtiles_met": None if vs_peer is None else vs_peer >= TARGET_VS_PEER,
                "target_x_laspy_met": None if vs_decode is None else vs_decode >= TARGET_VS_DECODE,
            }
        )
    return rows


def summary_table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        "| input | points | citymodel M pts/s | py3dtiles M pts/s | laspy decode M pts/s | "
        f"× py3dtiles (target {TARGET_VS_PEER:g}) | × laspy (target {TARGET_VS_DECODE:g}) | "
        "peak RSS MiB citymodel / py3dtiles | output MB citymodel / py3dtiles | "
        "check-tileset citymodel / py3dtiles |"
    )
    lines = [head, "|" + "---|" * 10]

    def f(v: Any, fmt: str) -> str:
        return format(v, fmt) if v is not None else "–"

    for r in rows:
        out_c = r["citymodel_output_bytes"] / 1e6 if r["citymodel_output_bytes"] else None
        out_p = r["py3dtiles_output_bytes"] / 1e6 if r["py3dtiles_output_bytes"] else None
        check_c = r["citymodel_check"] or r["citymodel_status"]
        check_p = r["py3dtiles_check"] or r["py3dtiles_status"]
        lines.append(
            f"| {r['input']} | {f(r['points'], ',')} | {f(r['citymodel_mpts'], '.2f')} | "
            f"{f(r['py3dtiles_mpts'], '.2f')} | {f(r['laspy_mpts'], '.2f')} | "
            f"{f(r['x_py3dtiles'], '.1f')} | {f(r['x_laspy'], '.2f')} | "
            f"{f(r['citymodel_peak_rss_mb'], '.0f')} / {f(r['py3dtiles_peak_rss_mb'], '.0f')} | "
            f"{f(out_c, '.1f')} / {f(out_p, '.1f')} | {check_c} / {check_p} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--points", type=int, default=10_000_000, help="generated points (default 10 M)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=REPO / "build" / "bench")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--stages", default=",".join(STAGES), help=f"subset of {','.join(STAGES)}")
    p.add_argument("--no-shared", action="store_true", help="skip ../shared/data/las")
    p.add_argument("--timeout", type=float, default=3600.0, help="per stage, seconds")
    p.add_argument(
        "--tiler",
        type=Path,
        default=None,
        help="the citymodel executable of the tile stage (default: this venv's), e.g. a "
        "wrapper running another checkout, to compare two versions in interleaved runs",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write the results as JSON (default: WORK/bench_lidar_<points>.json)",
    )
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        stage, path, *rng = args.child
        start = int(rng[0]) if rng else 0
        stop = int(rng[1]) if len(rng) > 1 else None
        print(json.dumps(child(stage, path, start, stop)))
        return 0
    stages = [s for s in args.stages.split(",") if s]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        print(f"unknown stages: {unknown}; known: {STAGES}", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    generated = synthetic_input(args.work, args.points, args.seed)
    inputs: list[tuple[Path, list[str], str | None, tuple[str, ...]]] = [
        (generated, [], None, tuple(stages))  # the file's WKT holds EPSG:25832+7837
    ]
    if not args.no_shared and (SHARED / "data" / "las").is_dir():
        for name, (options, srs_in) in SHARED_FILES.items():
            path = SHARED / "data" / "las" / name
            if path.exists():
                inputs.append(
                    (path, options, srs_in, tuple(s for s in stages if s in SHARED_STAGES))
                )
    results: list[Result] = []
    for path, options, srs_in, wanted in inputs:
        n = point_count(path)
        for stage in wanted:
            print(f"{path.name}: {stage} ...", file=sys.stderr, flush=True)
            out = args.work / "out" / f"{path.stem}-{stage}"
            try:
                result = run_stage(stage, path, n, out, options, srs_in, args, results)
            except Exception as err:  # a broken stage must not lose the other results
                result = Result(path.name, stage, "error", detail=f"{type(err).__name__}: {err}")
            results.append(result)
            if result.status != "ok":
                print(f"  {result.status}: {result.detail}", file=sys.stderr)
            # Written after every stage: a run stopped half-way keeps what it measured.
            write_json(results, generated, args)
    _print_report(results, generated, args)
    return 0


def run_stage(
    stage: str,
    path: Path,
    n: int,
    out: Path,
    options: Sequence[str],
    srs_in: str | None,
    args: argparse.Namespace,
    results: list[Result],
) -> Result:
    """One stage on one input; a py3dtiles hang on LAZ adds a row and retries on a LAS copy."""
    if stage == "tile":
        return run_tile(path, n, out, args.jobs, options, args.timeout, args.tiler)
    if stage != "py3dtiles":
        return run_decode(stage, path, args.timeout)
    result = run_py3dtiles(path, n, out, args.jobs, srs_in, laz_timeout(n, args))
    if result.status == "timeout" and path.suffix.lower() == ".laz":
        # py3dtiles forks its workers after laspy started lazrs' thread pool in the main
        # process, and can wait for ever (performance.md): measure it on a LAS copy as well.
        result.status = "hang"
        results.append(result)
        copy = uncompressed_copy(path, args.work)
        result = run_py3dtiles(copy, n, out, args.jobs, srs_in, args.timeout)
        result.input, result.stage = path.name, "py3dtiles (.las copy)"
    return result


def _print_report(results: Sequence[Result], generated: Path, args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(
        f"\nmachine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f}; "
        f"Python {sys.version.split()[0]}; generated input: {generated.name} "
        f"({generated.stat().st_size / 1e6:.1f} MB)\n"
    )
    print(table(results))
    print("\nSummary (issue 6 targets; CPU-s rates are less sensitive to other load):\n")
    print(summary_table(summary(results)))
    print(f"\nJSON: {write_json(results, generated, args)}")


def write_json(results: Sequence[Result], generated: Path, args: argparse.Namespace) -> Path:
    """The results, the summary and the machine's state as JSON (``--json`` or WORK/...)."""
    load = os.getloadavg()
    rows = summary(results)
    target: Path = args.json or args.work / f"bench_lidar_{args.points}.json"
    document = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": list(load),
            "python": sys.version.split()[0],
        },
        "generated_input": {"path": str(generated), "bytes": generated.stat().st_size},
        "jobs": args.jobs,
        "tiler": str(args.tiler) if args.tiler else None,
        "targets": {"x_py3dtiles": TARGET_VS_PEER, "x_laspy": TARGET_VS_DECODE},
        "summary": rows,
        "stages": [{**asdict(r), "mpts": r.mpts, "mpts_cpu": r.mpts_cpu} for r in results],
    }
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(document, indent=2))
    partial.replace(target)
    return target


if __name__ == "__main__":
    sys.exit(main())
