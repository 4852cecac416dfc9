"""CityJSON / CityJSONSeq reading throughput (objects/s), next to CityGML on the same city.

Inputs:

* the real CityJSON(Seq) files in ../shared/data/cityjson (when present);
* a generated city: the synthetic CityGML city (:mod:`citymodel.synthetic`) written as
  CityGML, then converted to CityJSONSeq with the project's writer (one ``CityJSONFeature``
  line per Building with its BuildingParts, integer vertices with a 1 mm ``transform``,
  semantics from the surface types) -- so CityGML and CityJSONSeq hold the same objects.

Stages (each in this process, best CPU time of ``--repeat`` runs -- CPU rather than wall time
because the machine is shared; objects = all CityObjects, parts included):

floor     ``json.loads`` of every line / the whole document, nothing else
parse     ``CityJSONReader.features()`` (Feature objects with coordinates and attributes)
mesh      parse + ``citymodel.meshing.mesh_features`` in chunks of 512 top-level features
citygml   ``CityGMLReader.features()`` on the generated CityGML (same city), for comparison
write     ``CityJSONWriter`` writing the generated city (features in memory) as CityJSONSeq

Machines are noisy (performance.md: ±30 %): compare ratios within one run.

Examples
--------
    .venv/bin/python bench/bench_cityjson.py -n 2000
    .venv/bin/python bench/bench_cityjson.py -n 5000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

from citymodel.converters.citygml import CityGMLReader
from citymodel.converters.cityjson import CityJSONReader
from citymodel.converters.cityjson_writer import CityJSONWriter
from citymodel.crs import parse_srs_name
from citymodel.meshing import mesh_features
from citymodel.model import Feature
from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city

SHARED_CITYJSON = Path(__file__).resolve().parents[2] / "shared" / "data" / "cityjson"
CHUNK = 512


# ---------------------------------------------------------------------------------------------
# CityGML features -> CityJSONSeq


def _write_seq(features: list[Feature], target: Path) -> int:
    """Write ``features`` with :class:`CityJSONWriter` (source CRS, 1 mm transform); objects."""
    report = JobReport()
    crs = parse_srs_name(SyntheticCityOptions().srs_name)
    with CityJSONWriter(target, crs=crs, report=report) as writer:
        for feature in features:
            writer.write(feature)
    return sum(writer.written.values())


def citygml_to_cityjsonseq(source: Path, target: Path) -> int:
    """Write the CityGML ``source`` as CityJSONSeq (the project's writer); returns objects."""
    return _write_seq(list(CityGMLReader(source).features()), target)


# ---------------------------------------------------------------------------------------------
# stages


def _floor(path: Path) -> int:
    if path.suffix == ".jsonl":
        n = 0
        with path.open("rb") as stream:
            for line in stream:
                if line.strip():
                    n += len(json.loads(line).get("CityObjects", {}))
        return n
    return len(json.loads(path.read_bytes()).get("CityObjects", {}))


def _parse(path: Path) -> int:
    with CityJSONReader(path) as reader:
        return sum(1 for top in reader.features() for _ in top.walk())


def _mesh(path: Path) -> int:
    n = 0
    with CityJSONReader(path) as reader:
        features = reader.features()
        while chunk := list(islice(features, CHUNK)):
            mesh_features(chunk)
            n += sum(1 for top in chunk for _ in top.walk())
    return n


def _citygml(path: Path) -> int:
    return sum(1 for top in CityGMLReader(path).features() for _ in top.walk())


def _timed(stage: Callable[[Path], int], path: Path, repeat: int) -> tuple[int, float]:
    """Objects and the best CPU seconds of ``repeat`` runs (CPU time: robust on a shared machine)."""
    best = float("inf")
    count = 0
    for _ in range(repeat):
        start = time.process_time()
        count = stage(path)
        best = min(best, time.process_time() - start)
    return count, best


def _row(
    name: str, stage: str, count: int, seconds: float, size: int, floor: float | None
) -> dict[str, Any]:
    rate = count / seconds if seconds > 0 else float("nan")
    row = {
        "input": name,
        "stage": stage,
        "objects": count,
        "seconds": round(seconds, 4),
        "objects_per_s": round(rate),
        "mb_per_s": round(size / 1e6 / seconds, 1) if seconds > 0 else None,
        "x_floor": round(floor / seconds, 2) if floor else None,
    }
    print(
        f"{name:<38} {stage:<8} {count:>7} obj {seconds:8.3f} s {rate:>9.0f} obj/s  x floor {row['x_floor']}"
    )
    return row


def _bench(
    name: str, path: Path, repeat: int, stages: dict[str, Callable[[Path], int]]
) -> list[dict[str, Any]]:
    size = path.stat().st_size
    rows = []
    floor_count, floor_s = _timed(_floor, path, repeat)
    rows.append(_row(name, "floor", floor_count, floor_s, size, floor_s))
    for stage, fn in stages.items():
        count, seconds = _timed(fn, path, repeat)
        rows.append(_row(name, stage, count, seconds, size, floor_s))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="buildings in the generated city")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    stages: dict[str, Callable[[Path], int]] = {"parse": _parse, "mesh": _mesh}
    if SHARED_CITYJSON.is_dir():
        for path in sorted(SHARED_CITYJSON.rglob("*.json*")):
            if path.stat().st_size > 20_000:
                rows += _bench(path.name, path, args.repeat, stages)
    with tempfile.TemporaryDirectory() as tmp:
        gml = Path(tmp) / "city.gml"
        write_city(gml, SyntheticCityOptions(n_buildings=args.n))
        seq = Path(tmp) / "city.city.jsonl"
        objects = citygml_to_cityjsonseq(gml, seq)
        print(
            f"generated: {args.n} buildings, {objects} objects; CityGML {gml.stat().st_size / 1e6:.1f} MB, CityJSONSeq {seq.stat().st_size / 1e6:.1f} MB"
        )
        rows += _bench(f"generated {args.n} (CityJSONSeq)", seq, args.repeat, stages)
        features = list(CityGMLReader(gml).features())
        out = Path(tmp) / "written.city.jsonl"
        count, seconds = _timed(lambda _path: _write_seq(features, out), gml, args.repeat)
        rows.append(
            _row(
                f"generated {args.n} (CityJSONSeq)",
                "write",
                count,
                seconds,
                seq.stat().st_size,
                None,
            )
        )
        count, seconds = _timed(_citygml, gml, args.repeat)
        rows.append(
            _row(
                f"generated {args.n} (CityGML 2.0)",
                "citygml",
                count,
                seconds,
                gml.stat().st_size,
                None,
            )
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
