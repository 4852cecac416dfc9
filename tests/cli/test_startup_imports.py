"""Start-up of small jobs: a CityGML tile run imports no optional stack it does not use.

Importing is most of a small job's time (performance.md: start-up matters for small jobs), so
the formats, executors and extras a run does not use must stay unimported. Checked on what a
real run leaves in ``sys.modules`` (a fresh interpreter), not on a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from citymodel.synthetic import SyntheticCityOptions, write_city

_RUN = """
import json, sys
from citymodel.cli.main import cli
try:
    cli(sys.argv[1:], prog_name="citymodel", standalone_mode=False)
finally:
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    tracker_pid = None if tracker is None else tracker._resource_tracker._pid
    print(json.dumps({"modules": sorted(sys.modules), "tracker_pid": tracker_pid}))
"""

#: Optional dependencies (IFC, LAS/LAZ, Dask, the web service, compression, images, cloud
#: storage) and the citymodel modules of other formats and executors.
_NOT_FOR_CITYGML = (
    "ifcopenshell",
    "laspy",
    "lazrs",
    "dask",
    "distributed",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "trimesh",
    "meshopt",
    "DracoPy",
    "PIL",
    "fsspec",
    "citymodel.service",
    "citymodel.tiler.points",
    "citymodel.tiler._dask",
    "citymodel.converters.las",
    "citymodel.converters.ifc",
    "citymodel.converters.cityjson",
)


def _run_cli(*args: str) -> dict[str, Any]:
    """``citymodel ARGS`` in a fresh interpreter: its modules and resource tracker at the end."""
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    state: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return state


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


@pytest.fixture(scope="module")
def tile_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("startup")
    gml = folder / "city.gml"
    write_city(gml, SyntheticCityOptions(n_buildings=3, seed=1))
    out = folder / "tiles"
    state = _run_cli("-q", "tile", str(gml), "-o", str(out), "--jobs", "2")
    assert (out / "tileset.json").is_file()
    return state


@pytest.fixture(scope="module")
def tile_modules(tile_run: dict[str, Any]) -> set[str]:
    return set(tile_run["modules"])


def test_small_tile_job_makes_no_process_pool(tile_run: dict[str, Any]) -> None:
    # both passes of a 3-building job run in this process (tiler/_dispatch.py): the pool of
    # --jobs 2 is never made, so no multiprocessing resource tracker process is started either
    assert tile_run["tracker_pid"] is None


def test_citygml_tile_job_ran_the_city_model_path(tile_modules: set[str]) -> None:
    # the check below means something only if the run went through the CityGML tiler
    for name in ("citymodel.tiler.build", "citymodel.converters.citygml", "lxml.etree"):
        assert name in tile_modules


@pytest.mark.parametrize("name", _NOT_FOR_CITYGML)
def test_citygml_tile_job_leaves_other_stacks_unimported(tile_modules: set[str], name: str) -> None:
    assert not _loaded(tile_modules, name), f"{name} is imported by a CityGML tile run"


def test_format_sniffing_imports_only_the_formats_it_needs(tmp_path: Path) -> None:
    """format_for tries plug-ins in registration order and stops at the first match."""
    gml = tmp_path / "city.gml"
    write_city(gml, SyntheticCityOptions(n_buildings=1, seed=2))
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from citymodel.formats import format_for\n"
        f"plugin = format_for(Path({str(gml)!r}))\n"
        "print(json.dumps([plugin.name, sorted(sys.modules)]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    name, modules = json.loads(proc.stdout.strip().splitlines()[-1])
    assert name == "citygml"
    for other in ("citymodel.converters.las", "citymodel.converters.ifc", "lazrs"):
        assert other not in modules
