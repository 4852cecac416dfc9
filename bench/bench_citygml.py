"""CityGML throughput and peak memory, stage by stage, against the bare-lxml floor.

Generates a synthetic AdV-style LoD2 city (or takes given CityGML files, e.g. the NRW tiles in
../shared/data/citygml/nrw_lod2_koeln) and measures, back to back in one run, each stage in a
fresh Python process:

floor     lxml ``iterparse`` + ``clear()``, no values: the ceiling of any lxml-based reader
parse     ``CityGMLReader(path).features()``: Feature objects with coordinates and attributes
mesh      parse + ``citymodel.meshing.mesh_features`` in chunks of 512 top-level features
mesh-2p   the same on 2 worker processes (``citymodel._pool.TaskRunner``, started first):
          big plain files split into chunks of 4 MiB (``converters/_citygml_chunks.py``),
          handed to the workers while the scan runs; one task per chunk or per smaller file
convert   end to end ``citymodel.convert(inputs, out.glb)``

Stages whose modules do not exist yet print ``n/a``. Peak RSS is the child process's
``ru_maxrss`` as reported by ``os.wait4`` (interpreter and imports included). Machines are
noisy (performance.md: ±30 %): compare the ratios to the floor of one run, not absolute
figures across runs.

Examples
--------
    .venv/bin/python bench/bench_citygml.py -n 2000
    .venv/bin/python bench/bench_citygml.py --inputs ../shared/data/citygml/nrw_lod2_koeln --json nrw.json
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any, cast

STAGES = ("floor", "parse", "mesh", "mesh-2p", "convert")
SPLIT_BYTES = 4 << 20
"""Chunk size of ``mesh-2p`` (plain files of at least twice this size are split)."""
CHUNK = 512
INPUT_SUFFIXES = (".gml", ".xml", ".gml.gz", ".xml.gz")
EXIT_NOT_AVAILABLE = 3


@dataclass
class StageResult:
    stage: str
    status: str  # "ok", "n/a" or "error"
    seconds: float | None = None
    buildings: int | None = None
    features: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    buildings_per_s: float | None = None
    mb_per_s: float | None = None
    ratio_to_floor: float | None = None
    peak_rss_mb: float | None = None


# --- stages (run in the child process) ----------------------------------------------------------


class NotAvailable(Exception):
    """The stage's module does not exist (yet)."""


@contextlib.contextmanager
def open_binary(path: Path) -> Iterator[IO[bytes]]:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            yield cast(IO[bytes], f)
    else:
        with path.open("rb") as f:
            yield f


def stage_floor(files: Sequence[Path], _work: Path) -> dict[str, Any]:
    """Bare lxml iterparse over the same bytes, clearing every Building (no values read)."""
    from lxml import etree

    buildings = 0
    start = time.perf_counter()
    for path in files:
        with open_binary(path) as f:
            for _, el in etree.iterparse(f, events=("end",), tag="{*}Building"):
                buildings += 1
                el.clear()
                parent = el.getparent()  # the cityObjectMember: drop finished siblings
                if parent is not None:
                    grand = parent.getparent()
                    while grand is not None and parent.getprevious() is not None:
                        del grand[0]
    return {"seconds": time.perf_counter() - start, "buildings": buildings}


def _reader_class() -> Any:
    try:
        from citymodel.converters.citygml import CityGMLReader
    except ImportError as err:
        raise NotAvailable(f"citymodel.converters.citygml.CityGMLReader: {err}") from err
    return CityGMLReader


def _features(reader_class: Any, files: Sequence[Path]) -> Iterator[Any]:
    for path in files:
        with reader_class(path) as reader:
            yield from reader.features()


def stage_parse(files: Sequence[Path], _work: Path) -> dict[str, Any]:
    reader_class = _reader_class()
    features = 0
    start = time.perf_counter()
    for _ in _features(reader_class, files):
        features += 1
    return {"seconds": time.perf_counter() - start, "features": features}


def stage_mesh(files: Sequence[Path], _work: Path) -> dict[str, Any]:
    reader_class = _reader_class()
    try:
        from citymodel.meshing import mesh_features
    except ImportError as err:
        raise NotAvailable(f"citymodel.meshing.mesh_features: {err}") from err
    features = triangles = 0
    start, cpu = time.perf_counter(), time.process_time()
    stream = _features(reader_class, files)
    while chunk := list(islice(stream, CHUNK)):
        batch = mesh_features(chunk)
        features += len(chunk)
        triangles += len(batch.mesh.triangles)
    seconds = time.perf_counter() - start
    extra = {"triangles": triangles, "cores used": round((time.process_time() - cpu) / seconds, 2)}
    return {"seconds": seconds, "features": features, "extra": extra}


def _mesh_unit(unit: tuple[Path, Any]) -> tuple[int, int, float]:
    """Read and mesh one file or one chunk of a file (a ``mesh-2p`` task); CPU seconds."""
    from citymodel.converters._citygml_chunks import ChunkReading
    from citymodel.converters.citygml import CityGMLReader
    from citymodel.meshing import mesh_features

    cpu = time.process_time()
    path, chunk = unit
    reader = CityGMLReader(path) if chunk is None else ChunkReading(chunk)
    features = triangles = 0
    stream = reader.features()
    while chunk_features := list(islice(stream, CHUNK)):
        features += len(chunk_features)
        triangles += len(mesh_features(chunk_features).mesh.triangles)
    return features, triangles, time.process_time() - cpu


def _units(files: Sequence[Path]) -> Iterator[tuple[Path, Any]]:
    """``mesh-2p`` tasks: the chunks of each file as the scan finds them, or the whole file."""
    from citymodel.converters._citygml_chunks import ChunkPlan, SplitWithdrawn

    for path in files:
        handed = 0
        try:
            for chunk in ChunkPlan(path, chunk_bytes=SPLIT_BYTES):
                handed += 1
                yield path, chunk
        except SplitWithdrawn as err:  # its chunks were counted already: no valid figure
            raise RuntimeError(f"{err}; benchmark such a file with --stages mesh") from err
        if not handed:
            yield path, None


def stage_mesh_2p(files: Sequence[Path], _work: Path) -> dict[str, Any]:
    try:
        from citymodel._pool import TaskRunner
        from citymodel.converters._citygml_chunks import ChunkPlan  # noqa: F401
    except ImportError as err:
        raise NotAvailable(f"citymodel.converters._citygml_chunks: {err}") from err
    # the split scan and the workers' start are part of the measured time; as in
    # `citymodel convert --jobs 2`, the workers start first and chunks go to them as the
    # scan finds them
    start = time.perf_counter()
    features = triangles = tasks = 0
    cpu = 0.0
    with TaskRunner(2, preload=("citymodel.converters._citygml_chunks",)) as runner:
        runner.start()
        for f, t, c in runner.map(_mesh_unit, _units(files)):
            features += f
            triangles += t
            cpu += c
            tasks += 1
    seconds = time.perf_counter() - start
    # cores the workers really got: their CPU time in the tasks over the stage's wall time
    extra = {"triangles": triangles, "tasks": tasks, "cores used": round(cpu / seconds, 2)}
    return {"seconds": seconds, "features": features, "extra": extra}


def stage_convert(files: Sequence[Path], work: Path) -> dict[str, Any]:
    try:
        from citymodel.converters.convert import convert
    except ImportError as err:
        raise NotAvailable(f"citymodel.converters.convert.convert: {err}") from err
    out = work / "bench_out.glb"
    start = time.perf_counter()
    report = convert([str(p) for p in files], out)
    seconds = time.perf_counter() - start
    extra: dict[str, Any] = {"glb_bytes": out.stat().st_size}
    written = getattr(report, "written", None)  # JobReport.written: Counter of what was written
    if written:
        extra.update({f"written {k}": v for k, v in sorted(written.items())})
    out.unlink()
    return {"seconds": seconds, "extra": extra}


STAGE_FUNCTIONS: dict[str, Callable[[Sequence[Path], Path], dict[str, Any]]] = {
    "floor": stage_floor,
    "parse": stage_parse,
    "mesh": stage_mesh,
    "mesh-2p": stage_mesh_2p,
    "convert": stage_convert,
}


def child_main(stage: str, result_path: Path, work: Path, files: Sequence[Path]) -> int:
    try:
        result = STAGE_FUNCTIONS[stage](files, work)
        code = 0
    except NotAvailable as err:
        result, code = {"detail": str(err)}, EXIT_NOT_AVAILABLE
    result_path.write_text(json.dumps(result), encoding="utf-8")
    return code


# --- orchestration (parent process) -------------------------------------------------------------


def run_stage(stage: str, files: Sequence[Path], work: Path) -> StageResult:
    """Run one stage in a fresh interpreter; peak RSS from the kernel's rusage of that child."""
    result_path = work / f"{stage}.json"
    result_path.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        __file__,
        "--_stage",
        stage,
        "--_result",
        str(result_path),
        "--_work",
        str(work),
    ]
    cmd += [str(p) for p in files]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace").strip()
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    peak = usage.ru_maxrss * scale / 1e6
    if proc.returncode == EXIT_NOT_AVAILABLE:
        detail = json.loads(result_path.read_text(encoding="utf-8")).get("detail", "")
        return StageResult(stage, "n/a", detail=detail)
    if proc.returncode != 0 or not result_path.exists():
        last = stderr.splitlines()[-1] if stderr else f"exit code {proc.returncode}"
        return StageResult(stage, "error", detail=last, peak_rss_mb=peak)
    data = json.loads(result_path.read_text(encoding="utf-8"))
    return StageResult(
        stage,
        "ok",
        seconds=data["seconds"],
        buildings=data.get("buildings"),
        features=data.get("features"),
        extra=data.get("extra", {}),
        peak_rss_mb=peak,
    )


def expand(items: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.name.lower().endswith(INPUT_SUFFIXES))
        elif p.is_file():
            files.append(p)
        else:
            raise SystemExit(f"no such input: {p}")
    if not files:
        raise SystemExit("no CityGML inputs found")
    return files


def generate(args: argparse.Namespace, folder: Path) -> tuple[list[Path], str]:
    from citymodel.synthetic import SyntheticCityOptions, write_city, write_city_tiles

    opts = SyntheticCityOptions(
        n_buildings=args.n, seed=args.seed, version=args.version, lod=args.lod
    )
    start = time.perf_counter()
    if args.tiles:
        files = write_city_tiles(folder, opts)
    else:
        files = [write_city(folder / f"synthetic_{args.n}.gml", opts).path]
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in files)
    note = (
        f"synthetic CityGML {args.version} LoD{args.lod}, seed {args.seed}, {len(files)} file(s); "
        f"generated in {seconds:.1f} s ({size / 1e6 / seconds:.1f} MB/s)"
    )
    return files, note


def fill_rates(results: list[StageResult], buildings: int, megabytes: float) -> None:
    floor = next((r for r in results if r.stage == "floor" and r.status == "ok"), None)
    for r in results:
        if r.status != "ok" or not r.seconds:
            continue
        r.buildings_per_s = buildings / r.seconds
        r.mb_per_s = megabytes / r.seconds
        if floor is not None and floor.seconds:
            r.ratio_to_floor = floor.seconds / r.seconds


def markdown(results: list[StageResult]) -> str:
    def num(v: float | None, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    lines = [
        "| stage | buildings/s | MB/s | × floor | peak RSS MB | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        notes = (
            r.detail if r.status != "ok" else ", ".join(f"{k} {v:,}" for k, v in r.extra.items())
        )
        if r.status == "ok" and r.features is not None:
            notes = ", ".join(filter(None, (f"features {r.features:,}", notes)))
        lines.append(
            f"| {r.stage} | {num(r.buildings_per_s, ',.0f')} | {num(r.mb_per_s, '.1f')} | "
            f"{num(r.ratio_to_floor, '.2f')} | {num(r.peak_rss_mb, '.0f')} | {notes} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("-n", type=int, default=20_000, help="synthetic buildings (default 20,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--version", choices=("1.0", "2.0"), default="2.0", help="synthetic CityGML version"
    )
    ap.add_argument("--lod", type=int, choices=(1, 2), default=2, help="synthetic LoD")
    ap.add_argument("--tiles", action="store_true", help="generate one file per 1 km tile")
    ap.add_argument("--inputs", nargs="+", metavar="PATH", help="CityGML files or folders instead")
    ap.add_argument(
        "--stages", default=",".join(STAGES), help=f"comma-separated subset of {STAGES}"
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per stage; the fastest counts")
    ap.add_argument("--workdir", type=Path, help="keep generated files here (default: a temp dir)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    ap.add_argument("--_stage", choices=STAGES, help=argparse.SUPPRESS)
    ap.add_argument("--_result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_work", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]
    if unknown := set(stages) - set(STAGES):
        ap.error(f"unknown stages: {sorted(unknown)}")
    args.stage_list = ["floor", *(s for s in STAGES if s in stages and s != "floor")]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args._stage:
        return child_main(args._stage, args._result, args._work, [Path(f) for f in args.files])

    with contextlib.ExitStack() as stack:
        if args.workdir is not None:
            work = args.workdir
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_citygml_")))
        if args.inputs:
            files, note = expand(args.inputs), f"given inputs: {', '.join(args.inputs)}"
        else:
            print(f"generating {args.n:,} synthetic buildings ...", file=sys.stderr, flush=True)
            files, note = generate(args, work / "input")
        megabytes = sum(f.stat().st_size for f in files) / 1e6

        results = []
        # rounds interleave the stages, so that a change of the machine's load hits all alike
        all_runs: dict[str, list[StageResult]] = {stage: [] for stage in args.stage_list}
        for round_ in range(max(1, args.repeat)):
            for stage in args.stage_list:
                print(f"running {stage} (round {round_ + 1}) ...", file=sys.stderr, flush=True)
                all_runs[stage].append(run_stage(stage, files, work))
        for stage in args.stage_list:
            runs = all_runs[stage]
            ok = [r for r in runs if r.status == "ok"]
            best = min(ok, key=lambda r: r.seconds or 0.0) if ok else runs[0]
            if ok:
                best.peak_rss_mb = max(r.peak_rss_mb or 0.0 for r in ok)
            results.append(best)
        floor = results[0]
        if floor.status != "ok" or not floor.buildings:
            print(f"floor stage failed: {floor.detail}", file=sys.stderr)
            return 1
        fill_rates(results, floor.buildings, megabytes)

    import lxml.etree

    header = (
        f"{floor.buildings:,} buildings, {megabytes:,.1f} MB ({len(files)} file(s)); {note}\n"
        f"python {platform.python_version()}, lxml {'.'.join(map(str, lxml.etree.LXML_VERSION))}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}; buildings/s from the floor's Building count"
    )
    print(header + "\n\n" + markdown(results))
    if args.json is not None:
        payload = {
            "inputs": {
                "files": [str(f) for f in files],
                "megabytes": megabytes,
                "buildings": floor.buildings,
            },
            "note": note,
            "python": platform.python_version(),
            "stages": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
