"""End-to-end tiling throughput and memory at city scale, against the bare-lxml floor.

For each size (default 10k, 100k generated LoD2 buildings; add 1000000 for the 1M run) a
synthetic city is generated once as ~1 km CityGML tiles (as states publish them, gzip to save
disk) into the work folder, then measured back to back in one run:

floor   bare single-process lxml ``iterparse`` + ``clear()`` over the same files (the stage of
        ``bench_citygml.py``, in a fresh interpreter)
tile    ``citymodel tile FILES -o OUT --jobs J`` in a fresh interpreter: wall time,
        buildings/s, MB/s of input, the report's peak RSS of the main process and of the
        largest worker, output bytes per building, contents, depth and the largest
        tileset JSON

Given CityGML files or folders (``--inputs``, e.g. the NRW tiles in ../shared/data) are measured
the same way. Compare ratios within a run: the machine may be shared (performance.md ±30 %).

Examples
--------
    .venv/bin/python bench/bench_tile.py --sizes 10000,100000
    .venv/bin/python bench/bench_tile.py --sizes 1000000 --work /var/tmp/bench-1m
    .venv/bin/python bench/bench_tile.py --inputs ../shared/data/citygml/nrw_lod2_koeln
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_citygml import run_stage
from citymodel.synthetic import SyntheticCityOptions, write_city_tiles


def generated_city(work: Path, n: int) -> list[Path]:
    """``n`` buildings as 1 km gzip CityGML tiles in ``work/city-n`` (reused when complete)."""
    folder = work / f"city-{n}"
    done = folder / ".complete"
    if done.exists():
        return sorted(folder.glob("*.gml.gz"))
    options = SyntheticCityOptions(n_buildings=n, seed=1, tile_size_m=1000.0)
    start = time.perf_counter()
    paths = write_city_tiles(folder, options)
    gz = []
    for path in paths:  # gzip: a 1M city is ~15 GB of plain XML
        target = path.with_name(path.name + ".gz")
        subprocess.run(["gzip", "-1", "-f", str(path)], check=True)
        gz.append(target)
    done.write_text(f"{n} buildings generated in {time.perf_counter() - start:.0f} s\n")
    return sorted(gz)


def input_files(items: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".gml", ".xml", ".gz"))
        else:
            files.append(path)
    return files


def largest_json(folder: Path) -> int:
    return max((p.stat().st_size for p in folder.rglob("*.json")), default=0)


def run_tile(files: list[Path], work: Path, jobs: int) -> dict[str, Any]:
    out, report_path = work / "tiles", work / "tile-report.json"
    command = [sys.executable, "-c", "from citymodel.cli.main import main; main()", "-q", "tile"]
    command += [*map(str, files), "-o", str(out), "--jobs", str(jobs)]
    command += ["--report", str(report_path)]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"citymodel tile failed: {proc.stderr.strip()[-2000:]}")
    tiling = json.loads(report_path.read_text())["tiling"]
    written = tiling["buildings"]["written"]
    return {
        "seconds": round(seconds, 1),
        "buildings": tiling["buildings"]["in"],
        "written": written,
        "timings_s": tiling["timings_s"],
        "rss_main_mb": tiling["peak_rss_mb"]["main"],
        "rss_worker_mb": tiling["peak_rss_mb"]["worker_max"],
        "bytes_per_building": tiling["bytes"]["per_building"],
        "contents": tiling["tiles"]["with_content"],
        "depth": tiling["tiles"]["depth"],
        "largest_json_kb": round(largest_json(out) / 1024, 1),
    }


def measure(label: str, files: list[Path], work: Path, jobs: int) -> dict[str, Any]:
    megabytes = sum(p.stat().st_size for p in files) / 1e6
    floor = run_stage("floor", files, work)
    if floor.status != "ok" or not floor.seconds or not floor.buildings:
        raise RuntimeError(f"floor stage failed: {floor.detail}")
    floor_rate = floor.buildings / floor.seconds
    tiled = run_tile(files, work, jobs)
    rate = tiled["buildings"] / tiled["seconds"]
    return {
        "input": label,
        "files": len(files),
        "input_mb": round(megabytes, 1),
        "floor_b_per_s": round(floor_rate),
        "tile_b_per_s": round(rate),
        "x_floor": round(rate / floor_rate, 2),
        "tile_mb_per_s": round(megabytes / tiled["seconds"], 1),
        **tiled,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="generated city sizes")
    parser.add_argument("--inputs", nargs="*", default=[], help="CityGML files/folders instead")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--work", type=Path, default=None, help="keep generated cities here")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-tile-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    if args.inputs:
        rows.append(measure("given", input_files(args.inputs), work, args.jobs))
    else:
        for size in (int(s) for s in args.sizes.split(",") if s):
            rows.append(measure(f"generated {size:,}", generated_city(work, size), work, args.jobs))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    keys = [k for k in rows[0] if k != "timings_s"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    for row in rows:
        print(f"{row['input']}: stage seconds {row['timings_s']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
