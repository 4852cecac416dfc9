"""3TZ archives: ZIP layout and the @3dtilesIndex1@ index, re-read independently."""

from __future__ import annotations

import hashlib
import struct
import zipfile
from pathlib import Path

import pytest

from citymodel.errors import OutputError
from citymodel.tiler.archive import INDEX_NAME, index_problems, read_3tz_index, write_3tz


def _folder(root: Path) -> Path:
    src = root / "tiles"
    (src / "content" / "1" / "0").mkdir(parents=True)
    (src / "tileset.json").write_text('{"asset":{"version":"1.1"}}', encoding="utf-8")
    for i in range(40):
        (src / "content" / "1" / "0" / f"{i}.glb").write_bytes(bytes([i]) * (100 + i))
    (src / "tilesets").mkdir()
    (src / "tilesets" / "1_0_0.json").write_text('{"a": "' + "x" * 500 + '"}', encoding="utf-8")
    (src / ".tileset.json.123.tmp").write_bytes(b"leftover of an interrupted writer")
    return src


def test_index_is_last_sorted_and_points_at_local_headers(tmp_path: Path) -> None:
    src = _folder(tmp_path)
    dest = write_3tz(src, tmp_path / "city.3tz")
    data = dest.read_bytes()
    with zipfile.ZipFile(dest) as archive:
        infos = archive.infolist()
        assert archive.testzip() is None
        assert infos[-1].filename == INDEX_NAME
        assert infos[-1].compress_type == zipfile.ZIP_STORED
        names = [i.filename for i in infos[:-1]]
        assert "tileset.json" in names and len(names) == 42
        assert not any(n.startswith(".") or "/." in n for n in names)
        for info in infos[:-1]:
            expected = (
                zipfile.ZIP_DEFLATED if info.filename.endswith(".json") else zipfile.ZIP_STORED
            )
            assert info.compress_type == expected
            assert archive.read(info) == (src / info.filename).read_bytes()
        index = archive.read(INDEX_NAME)
    assert len(index) == 24 * len(names)
    records = [struct.unpack_from("<16sQ", index, 24 * i) for i in range(len(names))]
    keys = [struct.unpack("<QQ", md5) for md5, _ in records]
    assert keys == sorted(keys), "sorted by the MD5 read as two little-endian uint64"
    seen = set()
    for md5, offset in records:
        signature, flags, name_length = struct.unpack_from("<4s2xH18xH", data, offset)
        assert signature == b"PK\x03\x04"
        assert not flags & 0x08, "sizes and CRC in the local header, no data descriptor"
        name = data[offset + 30 : offset + 30 + name_length].decode("utf-8")
        assert hashlib.md5(name.encode("utf-8")).digest() == md5
        crc, _compressed, size = struct.unpack_from("<III", data, offset + 14)
        assert size == (src / name).stat().st_size and crc != 0
        seen.add(name)
    assert seen == set(names)
    assert [(e.md5, e.offset) for e in read_3tz_index(dest)] == records
    assert index_problems(dest) == []


def _rewrite(dest: Path, target: Path, index: bytes) -> None:
    """Copy ``dest`` entry by entry (same order, compression, offsets) with another index."""
    with zipfile.ZipFile(dest) as src, zipfile.ZipFile(target, "w") as out:
        for info in src.infolist()[:-1]:
            out.writestr(info, src.read(info))
        out.writestr(src.infolist()[-1], index)


def test_index_problems_catches_a_broken_index(tmp_path: Path) -> None:
    dest = write_3tz(_folder(tmp_path), tmp_path / "city.3tz")
    with zipfile.ZipFile(dest) as archive:
        index = archive.read(INDEX_NAME)
    same = tmp_path / "same.3tz"
    _rewrite(dest, same, index)
    assert index_problems(same) == []
    unsorted = tmp_path / "unsorted.3tz"
    _rewrite(dest, unsorted, index[24:48] + index[:24] + index[48:])
    assert any("not sorted" in p for p in index_problems(unsorted))
    (md5_a, off_a), (md5_b, off_b) = (
        struct.unpack_from("<16sQ", index, 0),
        struct.unpack_from("<16sQ", index, 24),
    )
    crossed = tmp_path / "crossed.3tz"
    _rewrite(dest, crossed, struct.pack("<16sQ16sQ", md5_a, off_b, md5_b, off_a) + index[48:])
    assert sum("wrong MD5" in p for p in index_problems(crossed)) == 2
    short = tmp_path / "short.3tz"
    _rewrite(dest, short, index[:-24])
    assert any("records for" in p for p in index_problems(short))
    missing = tmp_path / "noindex.3tz"
    with zipfile.ZipFile(missing, "w") as archive:
        archive.writestr("tileset.json", b"{}")
    assert any(INDEX_NAME in p for p in index_problems(missing))


def test_refuses_folders_without_tileset_and_leaves_no_debris(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(OutputError, match=r"tileset\.json"):
        write_3tz(tmp_path / "empty", tmp_path / "x.3tz")
    src = _folder(tmp_path)
    (src / "nested.3tz").write_bytes(b"PK")
    with pytest.raises(OutputError, match=r"\.3tz"):
        write_3tz(src, tmp_path / "y.3tz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "tiles"]


def test_zip64_end_records_for_many_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More than 65,535 entries need ZIP64 end records: lower zipfile's entry-count threshold
    so a small archive takes the same code path, then re-read it with the normal limit."""
    src = _folder(tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 8)
        dest = write_3tz(src, tmp_path / "many.3tz")
    data = dest.read_bytes()
    assert b"PK\x06\x06" in data, "ZIP64 end of central directory record"
    assert b"PK\x06\x07" in data, "ZIP64 end of central directory locator"
    with zipfile.ZipFile(dest) as archive:
        assert archive.testzip() is None
        assert archive.infolist()[-1].filename == INDEX_NAME
    assert index_problems(dest) == []


def test_entries_that_would_need_zip64_sizes_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3TZ readers take sizes from the local header: an entry needing ZIP64 sizes is an error."""
    src = _folder(tmp_path)
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 64)
    with pytest.raises(OutputError, match="below 4 GiB"):
        write_3tz(src, tmp_path / "huge.3tz")
    assert not (tmp_path / "huge.3tz").exists()
    # an archive written that way anyway is reported
    bad = tmp_path / "bad.3tz"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("tileset.json", b"{" + b" " * 100 + b"}")
        record = struct.pack("<16sQ", hashlib.md5(b"tileset.json").digest(), 0)
        archive.writestr(INDEX_NAME, record)
    monkeypatch.undo()
    assert any("ZIP64 sizes" in p for p in index_problems(bad))
