"""Pass-1 index rows are collected as shards finish, in any order, into one index copy."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city
from citymodel.tiler.build import TileOptions, build_tileset
from citymodel.tiler.index import FeatureIndex, ShardIndexCollector


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _tile(city: Path, out: Path, **options: object) -> JobReport:
    return build_tileset([city], out, options=TileOptions(**options))  # type: ignore[arg-type]


def test_chunks_read_again_replace_their_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Objects without gml:id in a file whose members do not hold one object each: the chunks
    # after the odd members number their ids wrongly, are read a second time, and their
    # shards' rows (collected already) must be replaced, not added.
    path = tmp_path / "odd.gml"
    write_city(path, SyntheticCityOptions(n_buildings=80))
    text = re.sub(r'(<bldg:Building) gml:id="[^"]*"', r"\1", path.read_text())
    joint = "    </bldg:Building>\n  </core:cityObjectMember>\n  <core:cityObjectMember>\n"
    first = text.index(joint)
    text = text[:first] + "    </bldg:Building>\n" + text[first + len(joint) :]  # 2 in 1
    path.write_text(text)
    whole = _tile(path, tmp_path / "whole", jobs=1, split_bytes=0)
    collected: Counter[int] = Counter()
    add = ShardIndexCollector.add

    def counting_add(self: ShardIndexCollector, shard: int, rows: FeatureIndex) -> None:
        collected[shard] += 1
        add(self, shard, rows)

    monkeypatch.setattr(ShardIndexCollector, "add", counting_add)
    split = _tile(path, tmp_path / "split", jobs=2, split_bytes=40_000)
    assert len(collected) > 2 and max(collected.values()) == 2  # some shards were read again
    assert split.extra["tiling"]["buildings"] == whole.extra["tiling"]["buildings"]
    assert _files(tmp_path / "split") == _files(tmp_path / "whole")
