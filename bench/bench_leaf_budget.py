"""How leaf budgets change what CesiumJS loads: the measurement behind the tiler's defaults.

One generated LoD2 city is tiled with several leaf triangle budgets (the unit and byte budgets
lifted so the triangle budget decides), and each tileset is opened twice in CesiumJS (headless
Chromium, through ``../shared/tools/check-tileset --render``, which flies to the whole tileset
and waits until every tile the view needs is loaded):

* **overview**: the whole city (what a user sees first: the root's blocks);
* **close-up**: the same tileset with the camera at 0.15 x the bounding sphere's radius from
  the centre (check-tileset's ``render.mjs --range-factor``), close enough for CesiumJS to
  refine to the leaves around the centre: what a user looking down a district loads.

Per budget the table gives what the tileset is (leaves, mean and largest leaf content size)
and what the client did in each view: requests, MB, time until the view was complete, and ms
per frame once loaded.

Rendering is software (SwiftShader) on the CPU: absolute times are slower than on a GPU and
the machine's load shows through, so compare budgets within one run.

Examples
--------
    .venv/bin/python bench/bench_leaf_budget.py -n 20000
    .venv/bin/python bench/bench_leaf_budget.py -n 5000 --budgets 20000,80000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from citymodel.synthetic import SyntheticCityOptions, write_city_tiles
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.partition import PartitionOptions

CLOSE_UP_RANGE = 0.15
CHECK_TILESET = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "check-tileset"


def render(tileset: Path, png: Path, timeout_s: int, range_factor: float | None) -> dict[str, Any]:
    """Open ``tileset`` in CesiumJS; return the render result JSON.

    Without ``range_factor`` through check-tileset (camera framing the whole tileset); with
    it, check-tileset's ``render.mjs`` is run directly from its cache folder, since
    check-tileset does not pass camera options on.
    """
    result_json = png.with_suffix(".json")
    if range_factor is None:
        command = [
            "bash",
            str(CHECK_TILESET),
            str(tileset),
            "-q",
            "--skip",
            "validator,glb,loaders",
        ]
        command += ["--render", str(png), "--timeout", str(timeout_s)]
    else:
        command = ["node", str(_render_script()), str(tileset), "--quiet", "--out", str(png.parent)]
        command += ["--screenshot", str(png), "--json", str(result_json)]
        command += ["--timeout", str(timeout_s), "--range-factor", str(range_factor)]
    subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout_s + 120)
    result: dict[str, Any] = json.loads(result_json.read_text())
    return result


def _render_script() -> Path:
    """check-tileset's installed ``render.mjs`` (installed on first use)."""
    subprocess.run(
        ["bash", str(CHECK_TILESET), "--install-only", "--render", "/dev/null"],
        check=True,
        capture_output=True,
    )
    cache = Path(os.environ.get("CHECK_TILESET_CACHE", Path.home() / ".cache" / "citymodel-check"))
    scripts = sorted(
        cache.glob("base-*/render-*/app-*/render.mjs"), key=lambda p: p.stat().st_mtime
    )
    if not scripts:
        raise SystemExit(f"render.mjs not found under {cache}")
    return scripts[-1]


def leaf_contents(tileset: Path) -> list[Path]:
    """Content files of the leaves (tiles without children), following external tilesets."""
    found: list[Path] = []
    stack = [(json.loads(tileset.read_text())["root"], tileset.parent)]
    while stack:
        tile, base = stack.pop()
        uri = (tile.get("content") or {}).get("uri")
        if uri and uri.endswith(".json"):
            stack.append((json.loads((base / uri).read_text())["root"], (base / uri).parent))
            continue
        if not tile.get("children") and uri:
            found.append(base / uri)
        stack.extend((child, base) for child in tile.get("children", []))
    return found


def _client(result: dict[str, Any]) -> dict[str, Any]:
    timings = result.get("timings", {})
    return {
        "requests": result.get("serverRequests"),
        "mb": round((result.get("serverBytes") or 0) / 1e6, 1),
        "complete_ms": timings.get("fullyLoadedMs"),
        "ms_per_frame": (result.get("render") or {}).get("msPerFrame"),
        "pass": result.get("pass"),
    }


def measure(paths: list[Path], work: Path, budget: int, timeout_s: int) -> dict[str, Any]:
    out = work / f"leaves-{budget}"
    partition = PartitionOptions(max_triangles=budget, max_bytes=1 << 40, max_units=None)
    start = time.perf_counter()
    build_tileset(paths, out, options=TileOptions(partition=partition))
    tile_s = time.perf_counter() - start
    leaves = [p.stat().st_size for p in leaf_contents(out / "tileset.json")]
    tileset = out / "tileset.json"
    overview = _client(render(tileset, work / f"overview-{budget}.png", timeout_s, None))
    closeup = _client(render(tileset, work / f"closeup-{budget}.png", timeout_s, CLOSE_UP_RANGE))
    return {
        "budget": budget,
        "tile_s": round(tile_s, 1),
        "leaves": len(leaves),
        "mean_mb": round(sum(leaves) / max(1, len(leaves)) / 1e6, 2),
        "max_mb": round(max(leaves, default=0) / 1e6, 2),
        **{f"overview_{key}": value for key, value in overview.items()},
        **{f"closeup_{key}": value for key, value in closeup.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--buildings", type=int, default=20_000)
    parser.add_argument("--budgets", default="25000,75000,150000,300000,600000")
    parser.add_argument("--timeout", type=int, default=300, help="render timeout per tileset, s")
    parser.add_argument("--work", type=Path, default=None, help="keep outputs here")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    if shutil.which("chromium") is None or not CHECK_TILESET.is_file():
        print("needs chromium and ../shared/tools/check-tileset", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="leaf-budget-"))
    options = SyntheticCityOptions(n_buildings=args.buildings, seed=11, tile_size_m=1000)
    paths = write_city_tiles(work / "city", options)
    rows = [measure(paths, work, int(b), args.timeout) for b in args.budgets.split(",")]
    keys = list(rows[0])
    print(f"{args.buildings} generated LoD2 buildings, CesiumJS {'/'.join(keys)}")
    print("| " + " | ".join(keys) + " |")
    print("|" + "---:|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
