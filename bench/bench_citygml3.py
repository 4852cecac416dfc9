"""CityGML 3.0 reading throughput next to CityGML 2.0, on the same generated city.

Generates a synthetic AdV-style LoD2 city as CityGML 2.0 (:mod:`citymodel.synthetic`), writes
the same city as CityGML 3.0 with :class:`citymodel.converters.citygml_writer.CityGMLWriter`
(the 3.0 file holds the same buildings, parts, boundary surfaces, solids and attributes), and
reads each file in a fresh Python process: ``CityGMLReader(path).features()`` with every
feature walked (parts included). Also reads the OGC CityGML 3.0 samples in
``../shared/data/citygml3`` when present. Reports objects and MB per CPU second (the machine
is shared: wall time is printed too) and peak RSS, best of ``--repeat`` alternating runs;
machines are noisy (performance.md: ±30 %), so compare the two versions within one run.

Examples
--------
    .venv/bin/python bench/bench_citygml3.py -n 5000
    .venv/bin/python bench/bench_citygml3.py -n 2000 --json citygml3.json
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

REPO = Path(__file__).resolve().parents[1]
OGC3 = REPO.parent / "shared" / "data" / "citygml3"


def _child(paths: list[str]) -> None:
    """Read ``paths`` and print objects, seconds and bytes as JSON (runs in a fresh process)."""
    import resource

    from citymodel.converters.citygml import CityGMLReader
    from citymodel.report import JobReport

    t0, c0 = time.perf_counter(), time.process_time()
    objects = tops = 0
    for path in paths:
        with CityGMLReader(path) as reader:
            for feature in reader.features(report=JobReport()):
                tops += 1
                objects += sum(1 for _ in feature.walk())
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    size = sum(Path(p).stat().st_size for p in paths)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = {"objects": objects, "top_level": tops, "seconds": seconds, "cpu_s": cpu}
    result["bytes"] = size
    print(json.dumps({**result, "peak_rss_mb": rss}))


def _measure(label: str, paths: list[Path]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", *map(str, paths)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{label}: the reading process failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(proc.stdout)
    result["label"] = label
    result["objects_per_s"] = result["objects"] / result["seconds"]
    result["objects_per_cpu_s"] = result["objects"] / result["cpu_s"]
    result["mb_per_cpu_s"] = result["bytes"] / 1e6 / result["cpu_s"]
    return result


def _write_v3(v2: Path, v3: Path) -> None:
    from citymodel.converters.citygml import CityGMLReader
    from citymodel.converters.citygml_writer import CityGMLWriter
    from citymodel.crs import parse_srs_name
    from citymodel.report import JobReport

    report = JobReport()
    with CityGMLReader(v2) as reader:
        srs = reader.srs_name
        crs = parse_srs_name(srs) if srs else None
        with CityGMLWriter(v3, crs=crs, report=report, version="3.0") as writer:
            for feature in reader.features(report=report):
                writer.write(feature)
    if report.skipped:
        raise SystemExit(f"the 3.0 writer left out {len(report.skipped)} objects")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=5000, help="synthetic buildings (default 5,000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per input, best kept (default 3)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child)
        return 0
    from citymodel.synthetic import SyntheticCityOptions, write_city

    with tempfile.TemporaryDirectory(prefix="bench-citygml3-") as tmp:
        v2 = Path(tmp) / f"synthetic_{args.n}_v2.gml"
        v3 = Path(tmp) / f"synthetic_{args.n}_v3.gml"
        write_city(v2, SyntheticCityOptions(n_buildings=args.n))
        _write_v3(v2, v3)
        pairs = (("CityGML 2.0 (generated)", [v2]), ("CityGML 3.0 (same city)", [v3]))
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in pairs}
        for _ in range(max(1, args.repeat)):  # alternate: load changes hit both alike
            for label, paths in pairs:
                runs[label].append(_measure(label, paths))
        results = [min(r, key=lambda x: float(x["cpu_s"])) for r in runs.values()]
    ogc = sorted(OGC3.glob("*/*.gml"))
    if ogc:
        results.append(_measure(f"OGC CityGML 3.0 samples ({len(ogc)} files)", ogc))
    head = ("input", "objects", "MB", "wall s", "CPU s", "objects/CPU s", "MB/CPU s", "RSS MB")
    print("{:<40} {:>8} {:>6} {:>7} {:>6} {:>13} {:>8} {:>7}".format(*head))
    for r in results:
        print(
            f"{r['label']:<40} {r['objects']:>8} {r['bytes'] / 1e6:>6.1f} {r['seconds']:>7.2f} "
            f"{r['cpu_s']:>6.2f} {r['objects_per_cpu_s']:>13,.0f} {r['mb_per_cpu_s']:>8.1f} "
            f"{r['peak_rss_mb']:>7.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
