"""Point cloud tiling throughput and memory against a bare laspy decode of the same file.

A synthetic airborne LAZ (:mod:`citymodel.synthetic_points`, reused when present) or given
LAS/LAZ files are measured back to back, each stage in a fresh interpreter:

decode    ``laspy.open`` + ``chunk_iterator(1M)`` reading the scaled x, y, z of every point with
          laspy's default LAZ backend (lazrs, multi-threaded): the floor the issue measures
decode1   the same with lazrs single-threaded (what one tiling worker decodes per core)
tile      ``citymodel tile FILES -o OUT --jobs J``: wall time, points/s, × decode, peak RSS of
          the main process and of the largest worker (from the job report), bytes per point,
          tiles, and the report's time per stage

Compare ratios within one run: the machine may be shared (performance.md ±30 %).

Examples
--------
    .venv/bin/python bench/bench_points.py --points 2000000
    .venv/bin/python bench/bench_points.py --points 10000000 --work /var/tmp/bench-points
    .venv/bin/python bench/bench_points.py --inputs ../shared/data/las/pdal/autzen_trim.laz \
        --extra --vertical-mode ellipsoidal-as-is
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_DECODE = """
import sys, time, laspy
backend = laspy.LazBackend.Lazrs if sys.argv[1] == "1" else None
start = time.perf_counter()
n = 0
for path in sys.argv[2:]:
    kwargs = {} if backend is None else {"laz_backend": backend}
    with laspy.open(path, **kwargs) as reader:
        for chunk in reader.chunk_iterator(1_000_000):
            x, y, z = chunk.x, chunk.y, chunk.z
            n += len(chunk)
print(n, time.perf_counter() - start)
"""


def generated(work: Path, n: int) -> list[Path]:
    """A synthetic city scan of ``n`` points as one LAZ in ``work`` (reused when present)."""
    from citymodel.synthetic_points import SyntheticPointCloudOptions, write_point_cloud

    path = work / f"city-{n}.laz"
    if not path.exists():
        write_point_cloud(path, SyntheticPointCloudOptions(n_points=n))
    return [path]


def decode(files: list[Path], threads: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _DECODE, threads, *map(str, files)],
        capture_output=True,
        text=True,
        check=True,
    )
    n, seconds = proc.stdout.split()
    return {"points": int(n), "seconds": float(seconds)}


def tile(files: list[Path], work: Path, jobs: int, extra: list[str]) -> dict[str, Any]:
    out, report_path = work / "tiles", work / "report.json"
    command = [sys.executable, "-c", "from citymodel.cli.main import main; main()", "-q", "tile"]
    command += [*map(str, files), "-o", str(out), "--jobs", str(jobs), "--report", str(report_path)]
    start = time.perf_counter()
    proc = subprocess.run([*command, *extra], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"tile failed: {proc.stderr.strip()}")
    tiling = json.loads(report_path.read_text(encoding="utf-8"))["tiling"]
    return {"seconds": seconds, "tiling": tiling}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--inputs", nargs="*", default=None, help="LAS/LAZ files instead")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--extra", action="store_true", help="pass the remaining args to tile")
    args, rest = parser.parse_known_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-points-"))
    work.mkdir(parents=True, exist_ok=True)
    files = [Path(p) for p in args.inputs] if args.inputs else generated(work, args.points)
    floor = decode(files, "auto")
    floor1 = decode(files, "1")
    result = tile(files, work, args.jobs, rest if args.extra else [])
    n = floor["points"]
    tiling = result["tiling"]
    rate = n / result["seconds"]
    rows = [
        ("decode (lazrs threads)", n / floor["seconds"], floor["seconds"], 1.0),
        (
            "decode (1 thread)",
            n / floor1["seconds"],
            floor1["seconds"],
            floor["seconds"] / floor1["seconds"],
        ),
        (f"tile --jobs {args.jobs}", rate, result["seconds"], floor["seconds"] / result["seconds"]),
    ]
    print(
        f"{n:,} points in {len(files)} file(s), {sum(f.stat().st_size for f in files) / 1e6:.1f} MB"
    )
    print(f"{'stage':<24}{'M points/s':>12}{'seconds':>10}{'x decode':>10}")
    for name, per_s, seconds, ratio in rows:
        print(f"{name:<24}{per_s / 1e6:>12.2f}{seconds:>10.2f}{ratio:>10.2f}")
    rss = tiling["peak_rss_mb"]
    print(
        f"peak RSS main {rss['main']} MB, worker {rss['worker_max']} MB; "
        f"{tiling['bytes']['per_point']} content bytes/point; "
        f"{tiling['tiles']['with_content']} tiles, depth {tiling['tiles']['depth']}"
    )
    print("stages (s):", json.dumps(tiling["timings_s"]))


if __name__ == "__main__":
    main()
