"""Reading memory stays flat for any file size (performance.md: never build a whole DOM).

Two generated files of different sizes are read while the peak memory is sampled: live
Python objects with ``sys.getallocatedblocks()`` (like ``tracemalloc``'s peak, without its
tracing cost) and the process RSS with ``psutil`` (lxml/libxml2 and numpy buffers allocate
outside Python's object allocator, so a tree that is never cleared shows up only in the RSS).
The peaks must not grow with the number of buildings.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import psutil
import pytest

from citymodel.converters.citygml import CityGMLReader
from tests.citygml_docs import write_large_city


def _peaks(path: Path) -> tuple[int, float, int]:
    """(growth of live Python blocks, RSS growth MB, features) while streaming ``path``."""
    process = psutil.Process()
    gc.collect()
    blocks_start = sys.getallocatedblocks()
    rss_start = process.memory_info().rss
    blocks_peak, rss_peak = blocks_start, rss_start
    count = 0
    for count, feature in enumerate(CityGMLReader(path).features(), 1):
        del feature
        if count % 250 == 0:
            blocks_peak = max(blocks_peak, sys.getallocatedblocks())
            rss_peak = max(rss_peak, process.memory_info().rss)
    return blocks_peak - blocks_start, (rss_peak - rss_start) / 2**20, count


def _check_flat(tmp_path: Path, small: int, large: int, style: str) -> None:
    small_file = write_large_city(tmp_path / "small.gml", small, style=style)
    large_file = write_large_city(tmp_path / "large.gml", large, style=style)
    assert large_file.stat().st_size > 5 * small_file.stat().st_size
    _peaks(small_file)  # warm-up: imports, caches, allocator pools
    py_small, rss_small, n_small = _peaks(small_file)
    py_large, rss_large, n_large = _peaks(large_file)
    assert (n_small, n_large) == (small, large)
    # Python objects: bounded by one batch of buildings (512), not by the file
    assert py_large < 1.25 * py_small + 5000, (py_small, py_large)
    # native memory: a DOM of the large file would take hundreds of MB
    assert rss_large < rss_small + 25, (rss_small, rss_large)


def test_memory_is_flat(tmp_path: Path) -> None:
    _check_flat(tmp_path, 1200, 7200, "lod1")


@pytest.mark.slow
def test_memory_is_flat_30k_buildings(tmp_path: Path) -> None:
    _check_flat(tmp_path, 5000, 30000, "lod1")
