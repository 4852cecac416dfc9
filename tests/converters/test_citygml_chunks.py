"""Reading one CityGML document in chunks gives exactly what the sequential reader gives."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from citymodel.converters import _citygml_chunks as chunks_module
from citymodel.converters._citygml_chunks import (
    ChunkNotes,
    document_notes,
    misplaced_chunks,
    objects_before,
    plan_chunks,
    read_chunk,
)
from citymodel.converters.citygml import CityGMLReader
from citymodel.errors import ParseError
from citymodel.model import Feature
from citymodel.report import JobReport
from citymodel.synthetic import SyntheticCityOptions, write_city
from tests.citygml_docs import (
    building,
    city_model,
    href_member,
    lod1_box,
    part,
    solid_of,
    thematic_box,
    write,
)
from tests.conftest import CITYGML_DIR, SHARED

BROKEN_DIR = SHARED / "data" / "broken" / "citygml"


def _key(feature: Feature) -> tuple[Any, ...]:
    return (
        feature.id,
        feature.type,
        repr(feature.attributes),
        [
            (
                g.lod,
                g.vertices.tobytes(),
                g.ring_offsets.tobytes(),
                g.polygon_offsets.tobytes(),
                g.surface_types.tobytes(),
                g.solid,
            )
            for g in feature.geometries
        ],
        [_key(c) for c in feature.children],
        feature.source,
    )


def _sequential(path: Path) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    report = JobReport()
    features = [_key(f) for f in CityGMLReader(path).features(report=report)]
    return features, _report_dict(report)


def _chunked(path: Path, chunk_bytes: int) -> tuple[list[tuple[Any, ...]], dict[str, Any], int]:
    chunks = plan_chunks(path, chunk_bytes=chunk_bytes)
    report = JobReport()
    features: list[tuple[Any, ...]] = []
    notes: list[ChunkNotes] = []
    for chunk in chunks:
        got, note = read_chunk(chunk, report=report)
        features += [_key(f) for f in got]
        notes.append(note)
    assert not misplaced_chunks(chunks, notes)
    document_notes(path, notes, report)
    return features, _report_dict(report), len(chunks)


def _report_dict(report: JobReport) -> dict[str, Any]:
    data = report.to_dict()
    return {"skipped": data["skipped"], "warnings": data["warnings"]}


def _assert_same(path: Path, chunk_bytes: int, *, min_chunks: int = 2) -> int:
    seq_features, seq_report = _sequential(path)
    features, report, count = _chunked(path, chunk_bytes)
    assert count >= min_chunks
    assert features == seq_features
    assert report == seq_report
    return count


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 buildings with BuildingParts and courtyards (holes), xlinked solids."""
    path = tmp_path_factory.mktemp("chunks") / "city.gml"
    write_city(path, SyntheticCityOptions(n_buildings=300, part_ratio=0.4, courtyard_ratio=0.3))
    return path


@pytest.mark.parametrize("chunk_bytes", [60_000, 250_000, 1_000_000])
def test_generated_city_equals_sequential(generated: Path, chunk_bytes: int) -> None:
    _assert_same(generated, chunk_bytes, min_chunks=3)


def test_chunk_lines_are_the_original_lines(generated: Path) -> None:
    chunks = plan_chunks(generated, chunk_bytes=100_000)
    lines = generated.read_bytes().split(b"\n")
    for chunk in chunks[1:]:
        assert lines[chunk.line - 1][chunk.column :].startswith(b"<core:cityObjectMember")
        features, _ = read_chunk(chunk)
        first = features[0].source.line
        assert first is not None
        assert b"<bldg:Building" in lines[first - 1]


def test_small_files_are_not_split(generated: Path) -> None:
    assert plan_chunks(generated) == ()
    assert plan_chunks(generated, chunk_bytes=0) == ()


def _city(members: list[str], **kwargs: Any) -> str:
    return city_model(
        "\n".join(f"<core:cityObjectMember>{m}</core:cityObjectMember>" for m in members), **kwargs
    )


def _members(n: int, *, ids: bool = True) -> list[str]:
    out = []
    for i in range(n):
        inner = thematic_box(f"P{i}", x=i * 20.0) + solid_of(f"P{i}")
        if i % 3 == 0:
            inner += part(lod1_box(x=i * 20.0, y=30.0), gml_id=f"B{i}_p" if ids else None)
        out.append(building(inner, gml_id=f"B{i}" if ids else None))
    return out


def test_cross_member_xlinks_are_reported_the_same(tmp_path: Path) -> None:
    members = _members(40)
    # a solid pointing into another member: unresolvable in both modes, same line
    members[25] = building(
        "<bldg:lod2Solid><gml:Solid><gml:exterior><gml:CompositeSurface>"
        + href_member("P3_roof")
        + "</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod2Solid>"
        + '<bldg:consistsOfBuildingPart xlink:href="#B0_p"/>',
        gml_id="X25",
    )
    path = write(tmp_path / "x.gml", _city(members))
    _assert_same(path, 3000, min_chunks=5)
    _, report = _sequential(path)
    assert any("cannot be resolved" in s["reason"] for s in report["skipped"])


def test_generated_ids_count_from_the_document_start(tmp_path: Path) -> None:
    path = write(tmp_path / "noids.gml", _city(_members(40, ids=False)))
    assert _assert_same(path, 3000, min_chunks=5) >= 5
    features, _ = _sequential(path)
    assert features[-1][0] == "noids.gml#40"


def test_members_with_other_object_counts_are_renumbered(tmp_path: Path) -> None:
    members = _members(30, ids=False)
    members[2] = members[2] + members[3]  # two objects in one member
    members[5] = ""  # none in another
    path = write(tmp_path / "odd.gml", _city(members))
    chunks = plan_chunks(path, chunk_bytes=3000)
    notes = [read_chunk(c)[1] for c in chunks]
    wrong = misplaced_chunks(chunks, notes)
    assert wrong  # the plan's count is off for the later chunks ...
    seq, _ = _sequential(path)
    features = []
    for chunk in chunks:
        offset = objects_before(notes, chunk.index) if chunk.index in wrong else None
        features += [_key(f) for f in read_chunk(chunk, position_offset=offset)[0]]
    assert features == seq  # ... and reading them again with the real count fixes the ids


@pytest.mark.parametrize(
    "hazard",
    ["<!-- <core:cityObjectMember> -->", "<![CDATA[ x ]]>", "<?pi x?>"],
)
def test_markup_the_scan_cannot_see_through_is_not_split(tmp_path: Path, hazard: str) -> None:
    members = _members(40)
    members[20] = members[20].replace("<bldg:boundedBy>", hazard + "<bldg:boundedBy>", 1)
    path = write(tmp_path / "h.gml", _city(members))
    assert plan_chunks(path, chunk_bytes=3000) == ()


def test_document_appearances_are_not_split(tmp_path: Path) -> None:
    members = _members(40)
    text = _city(members).replace("</core:CityModel>", "<app:appearanceMember/>\n</core:CityModel>")
    path = write(tmp_path / "a.gml", text)
    assert plan_chunks(path, chunk_bytes=3000) == ()


def test_compressed_inputs_are_not_split(tmp_path: Path, generated: Path) -> None:
    gz = tmp_path / "city.gml.gz"
    with generated.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    archive = tmp_path / "city.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(generated, "city.gml")
    assert plan_chunks(gz, chunk_bytes=1000) == ()
    assert plan_chunks(archive, chunk_bytes=1000) == ()


def test_crlf_and_cr_line_ends(tmp_path: Path) -> None:
    text = _city(_members(30))
    crlf = write(tmp_path / "crlf.gml", "")
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    _assert_same(crlf, 3000, min_chunks=4)
    cr = tmp_path / "cr.gml"
    cr.write_bytes(text.replace("\n", "\r").encode())
    # libxml2 counts no line for a lone CR: one long line, too far right to split
    assert plan_chunks(cr, chunk_bytes=3000) == ()


@pytest.mark.parametrize("where", [0.3, 0.6, 0.95])
def test_syntax_error_names_the_same_file_and_line(tmp_path: Path, where: float) -> None:
    text = _city(_members(40))
    cut = int(len(text) * where)
    cut = text.index("<gml:Polygon", cut)
    broken = text[:cut] + "<gml:Polygon <<" + text[cut + 12 :]
    path = write(tmp_path / "broken.gml", broken)
    with pytest.raises(ParseError) as seq:
        list(CityGMLReader(path).features())
    chunks = plan_chunks(path, chunk_bytes=3000)
    assert len(chunks) >= 5
    errors = []
    for chunk in chunks:
        try:
            read_chunk(chunk)
        except ParseError as err:
            errors.append(err)
    assert errors
    for err in errors:
        assert str(err) == str(seq.value)
        assert (err.path, err.line) == (seq.value.path, seq.value.line)


def test_truncated_file_same_error(tmp_path: Path) -> None:
    text = _city(_members(40))
    path = write(tmp_path / "cut.gml", text[: int(len(text) * 0.8)])
    with pytest.raises(ParseError) as seq:
        list(CityGMLReader(path).features())
    chunks = plan_chunks(path, chunk_bytes=3000)
    with pytest.raises(ParseError) as par:
        for chunk in chunks:
            read_chunk(chunk)
    assert (str(par.value), par.value.line) == (str(seq.value), seq.value.line)


@pytest.mark.realdata
@pytest.mark.parametrize(
    "path",
    sorted(p for p in CITYGML_DIR.rglob("*") if p.suffix.lower() in (".gml", ".xml")),
    ids=lambda p: str(p.relative_to(CITYGML_DIR)),
)
def test_real_files_equal_sequential(path: Path, shared_data: Path) -> None:
    chunks = plan_chunks(path, chunk_bytes=max(4096, path.stat().st_size // 7))
    if not chunks:
        pytest.skip("not split (one member, comments after the prolog, document appearances)")
    _assert_same(path, max(4096, path.stat().st_size // 7))


@pytest.mark.realdata
@pytest.mark.parametrize(
    "path",
    sorted(BROKEN_DIR.glob("*.gml")) if BROKEN_DIR.is_dir() else [],
    ids=lambda p: p.name,
)
def test_broken_real_files_same_result(path: Path, shared_data: Path) -> None:
    chunk_bytes = 1024
    if not plan_chunks(path, chunk_bytes=chunk_bytes):
        pytest.skip("one member, a comment after the prolog or no CityModel: read sequentially")
    try:
        seq = _sequential(path)
    except ParseError as err:
        with pytest.raises(ParseError) as par:
            _chunked(path, chunk_bytes)
        assert (str(par.value), par.value.line) == (str(err), err.line)
        return
    features, report, _ = _chunked(path, chunk_bytes)
    assert (features, report) == seq


@pytest.mark.parametrize("block", [40, 97, 1000, 4099])
def test_block_boundaries_do_not_change_the_plan(
    generated: Path, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = plan_chunks(generated, chunk_bytes=50_000)
    monkeypatch.setattr(chunks_module, "_BLOCK", block)
    assert plan_chunks(generated, chunk_bytes=50_000) == expected


def test_block_boundaries_with_crlf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "crlf.gml"
    path.write_bytes(_city(_members(30)).replace("\n", "\r\n").encode())
    expected = plan_chunks(path, chunk_bytes=3000)
    monkeypatch.setattr(chunks_module, "_BLOCK", 33)
    assert plan_chunks(path, chunk_bytes=3000) == expected
    _assert_same(path, 3000, min_chunks=4)
