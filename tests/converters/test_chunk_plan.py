"""Chunks are handed out while the scan runs; a late finding withdraws the split cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from citymodel.converters import _citygml_chunks as chunks_module
from citymodel.converters._citygml_chunks import (
    ChunkPlan,
    SplitWithdrawn,
    plan_chunks,
    read_chunk,
)
from citymodel.converters.citygml import CityGMLReader
from citymodel.converters.convert import ConvertOptions, convert
from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city

SPLIT = 60_000
BLOCK = 4096
HAZARDS = [
    "<!-- <core:cityObjectMember> -->",
    "<![CDATA[ x ]]>",
    "<?pi x?>",
]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chunk_plan") / "city.gml"
    write_city(path, SyntheticCityOptions(n_buildings=120, part_ratio=0.3))
    return path


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scan in small blocks, so that a test file spans many of them."""
    monkeypatch.setattr(chunks_module, "_BLOCK", BLOCK)


def _late(city: Path, folder: Path, markup: str) -> Path:
    """``city`` with ``markup`` inside its last building (far after the first cuts)."""
    text = city.read_text()
    at = text.rindex("<bldg:boundedBy>")
    path = folder / "late.gml"
    path.write_text(text[:at] + markup + text[at:])
    return path


def test_chunks_are_handed_out_before_the_scan_ends(city: Path, small_blocks: None) -> None:
    plan = ChunkPlan(city, chunk_bytes=SPLIT)
    assert plan.candidate and plan.scanned == 0
    it = iter(plan)
    first = next(it)
    assert first.index == 0 and not first.last
    assert plan.scanned < city.stat().st_size // 2  # the scan is still early in the file
    rest = list(it)
    assert plan.scanned == city.stat().st_size
    assert (first, *rest) == plan_chunks(city, chunk_bytes=SPLIT)
    assert [c.index for c in (first, *rest)] == list(range(len(rest) + 1))
    assert [c.last for c in (first, *rest)] == [False] * len(rest) + [True]


def test_complete_keeps_the_chunks_not_handed_out(city: Path) -> None:
    plan = ChunkPlan(city, chunk_bytes=SPLIT)
    it = iter(plan)
    first = next(it)
    assert plan.complete()
    assert (first, *it) == plan_chunks(city, chunk_bytes=SPLIT)


@pytest.mark.parametrize("markup", [*HAZARDS, "<app:appearanceMember/>"])
def test_a_late_hazard_withdraws_the_split(
    city: Path, tmp_path: Path, markup: str, small_blocks: None
) -> None:
    path = _late(city, tmp_path, markup)
    plan = ChunkPlan(path, chunk_bytes=SPLIT)
    handed = []
    with pytest.raises(SplitWithdrawn):
        handed.extend(plan)
    assert len(handed) >= 2  # chunks were handed out before the scan found it
    assert not plan.complete()
    assert plan_chunks(path, chunk_bytes=SPLIT) == ()


def test_an_early_hazard_hands_out_nothing(city: Path, tmp_path: Path) -> None:
    text = city.read_text()
    at = text.index("<bldg:boundedBy>")
    path = tmp_path / "early.gml"
    path.write_text(text[:at] + HAZARDS[0] + text[at:])
    plan = ChunkPlan(path, chunk_bytes=SPLIT)
    assert list(plan) == []  # found in the first block: nothing handed out, no exception
    assert not plan.complete()


def test_a_late_long_line_withdraws_the_split(
    city: Path, tmp_path: Path, small_blocks: None
) -> None:
    # the second half minified: a cut there would be too far right on its line
    text = city.read_text()
    half = text.index("<core:cityObjectMember", len(text) // 2)
    path = tmp_path / "minified.gml"
    path.write_text(text[:half] + text[half:].replace("\n", " "))
    with pytest.raises(SplitWithdrawn):
        list(ChunkPlan(path, chunk_bytes=SPLIT))
    assert plan_chunks(path, chunk_bytes=SPLIT) == ()


@pytest.mark.parametrize("text", ["a ! b", "!" * 200, "? ?<"])
def test_exclamation_and_question_marks_in_text_are_not_hazards(
    city: Path, tmp_path: Path, text: str, small_blocks: None
) -> None:
    source = city.read_text()
    at = source.rindex("</gml:name>") if "</gml:name>" in source else -1
    if at < 0:  # no names: put the text into a generic attribute value instead
        at = source.rindex("</bldg:function>")
    path = tmp_path / "marks.gml"
    path.write_text(source[:at] + text.replace("<", "&lt;") + source[at:])
    chunks = plan_chunks(path, chunk_bytes=SPLIT)
    assert len(chunks) >= 2
    features = [f.id for c in chunks for f in read_chunk(c)[0]]
    assert features == [f.id for f in CityGMLReader(path).features()]


def test_hazard_search_matches_a_plain_search() -> None:
    cases = [b"<a>!</a>", b"<!-- x -->", b"a?b<?pi?>", b"!" * 100 + b"<!", b"?" * 100 + b"x"]
    for buf in cases:
        expected = any(h in buf for h in (b"<!", b"<?", b"appearanceMember"))
        assert chunks_module._hazard_in(bytearray(buf)) == expected, buf


def test_meshed_pieces_withdrawn_before_anything_is_merged(
    city: Path, tmp_path: Path, small_blocks: None
) -> None:
    from citymodel._pool import TaskRunner
    from citymodel.converters._convert_chunks import ChunkJob, meshed_pieces

    path = _late(city, tmp_path, HAZARDS[0])
    report = JobReport()
    template = ChunkJob(
        resolved=None,
        georeference=False,
        vertical_mode="auto",
        lod=None,
        types=None,
        chunk_size=50,
    )
    with TaskRunner(1) as runner, pytest.raises(SplitWithdrawn):
        list(
            meshed_pieces(
                runner,
                ChunkPlan(path, chunk_bytes=SPLIT),
                template,
                report=report,
                found_ids=set(),
            )
        )
    merged = report.to_dict()
    assert (merged["skipped"], merged["warnings"]) == ([], [])
    assert merged["counts"] == JobReport().to_dict()["counts"]


@pytest.mark.parametrize("markup", [HAZARDS[0], "<app:appearanceMember/>"])
def test_convert_with_a_late_hazard_equals_one_job(
    city: Path, tmp_path: Path, markup: str, small_blocks: None
) -> None:
    path = _late(city, tmp_path, markup)
    outputs, reports = [], []
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}" / "city.glb"
        out.parent.mkdir()
        reports.append(convert([path], out, options=ConvertOptions(jobs=jobs, split_bytes=SPLIT)))
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    one, two = reports[0].to_dict(), reports[1].to_dict()
    for key in ("inputs", "crs", "counts", "warnings", "skipped"):
        assert one[key] == two[key], key
    assert one["counts"]


def test_convert_streams_chunks_equal_to_one_job(
    city: Path, tmp_path: Path, small_blocks: None
) -> None:
    outputs = []
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}" / "city.glb"
        out.parent.mkdir()
        convert([city], out, options=ConvertOptions(jobs=jobs, split_bytes=SPLIT))
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_a_closed_plan_is_not_split(city: Path, small_blocks: None) -> None:
    plan = ChunkPlan(city, chunk_bytes=SPLIT)
    next(iter(plan))
    plan.close()
    assert not plan.complete() and plan.chunks() == ()
