"""Job option validation, job request parsing and upload file names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from citymodel.errors import MissingDependencyError
from citymodel.service import options as options_module
from citymodel.service.jobs import JobError, accepted_suffixes, parse_options, parse_paths_request
from citymodel.service.options import TileJobOptions
from citymodel.service.uploads import UploadError, check_file_name


def test_defaults_match_the_tile_command() -> None:
    tile = TileJobOptions().tile_options(jobs=3)
    assert tile.jobs == 3
    assert (tile.implicit, tile.tiles_version, tile.compress) == (False, "1.1", "none")
    assert (tile.lod, tile.types, tile.in_crs, tile.vertical_mode) == (None, None, None, "auto")


def test_options_carry_over_to_tile_options() -> None:
    opts = TileJobOptions.model_validate(
        {
            "implicit": True,
            "lod": 2,
            "types": ["Building", "Building"],
            "in_crs": "EPSG:25832+7837",
            "vertical_mode": "ellipsoidal-as-is",
            "strict": True,
            "output": "3tz",
        }
    )
    assert opts.lod == "2", "a numeric LoD means the same as its text"
    assert opts.types == ["Building"]
    tile = opts.tile_options(jobs=1)
    assert tile.implicit and tile.strict and tile.types == ("Building",)
    assert tile.in_crs == "EPSG:25832+7837"
    # the stored JSON form validates to the same options (job.json is read back by the job)
    assert TileJobOptions.model_validate(opts.model_dump(mode="json")) == opts


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"implicit": 1}, "implicit"),
        ({"implicit": "true"}, "implicit"),
        ({"strict": "false"}, "strict"),
        ({"tiles_version": 1.1}, "tiles_version"),
        ({"lod": "2.x"}, "lod"),
        ({"lod": True}, "lod"),
        ({"types": []}, "types"),
        ({"types": ["Tree"]}, "types"),
        ({"in_crs": "urn:nonsense"}, "in_crs"),
        ({"in_crs": ""}, "in_crs"),
        ({"vertical_mode": "magic"}, "vertical_mode"),
        ({"output": "s3"}, "output"),
        ({"jobs": 8}, "jobs"),
        ({"grids": ["/"]}, "grids"),
    ],
)
def test_invalid_options_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TileJobOptions.model_validate(data)
    assert (field,) in [e["loc"] for e in caught.value.errors()]


def test_implicit_needs_3d_tiles_1_1() -> None:
    with pytest.raises(ValidationError, match=r"implicit tiling needs tiles_version '1\.1'"):
        TileJobOptions.model_validate({"implicit": True, "tiles_version": "1.0"})


def test_a_compression_whose_package_is_missing_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing() -> None:
        raise MissingDependencyError("meshopt", "compress")

    monkeypatch.setitem(options_module._CODECS, "meshopt", missing)
    with pytest.raises(ValidationError, match="not available on this server"):
        TileJobOptions.model_validate({"compress": "meshopt"})


def test_form_field_parsing() -> None:
    assert parse_options(None) == TileJobOptions()
    assert parse_options("  ") == TileJobOptions()
    assert parse_options('{"implicit": true}').implicit
    for text, status in (("{", 400), ("[]", 400), ('{"implicit": 3}', 422)):
        with pytest.raises(JobError) as caught:
            parse_options(text)
        assert caught.value.status == status


def test_json_bodies_plain_and_ogc() -> None:
    plain = parse_paths_request({"paths": ["a.gml"], "options": {"implicit": True}})
    ogc = parse_paths_request({"inputs": {"paths": ["a.gml"], "implicit": True}})
    assert plain == ogc
    with pytest.raises(JobError) as caught:
        parse_paths_request({"inputs": {"implicit": True}})
    assert caught.value.status == 422
    with pytest.raises(JobError) as caught:
        parse_paths_request(["a.gml"])
    assert caught.value.status == 400


def test_accepted_suffixes_come_from_the_format_readers() -> None:
    suffixes = accepted_suffixes()
    assert {".gml", ".xml", ".gml.gz", ".zip"} <= set(suffixes)
    assert all(s == s.lower() and s.startswith(".") for s in suffixes)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("LoD2_32_356_5645_1_NW.gml", "LoD2_32_356_5645_1_NW.gml"),
        ("C:\\Users\\me\\city.GML", "city.GML"),
        ("../../etc/city.gml", "city.gml"),
        ("Köln Mülheim.xml", "Köln Mülheim.xml"),
        ("city.gml.gz", "city.gml.gz"),
    ],
)
def test_file_names_keep_only_the_last_component(raw: str, stored: str) -> None:
    assert check_file_name(raw, accepted_suffixes()) == stored


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("", 400),
        ("..", 400),
        ("dir/", 400),
        (".hidden.gml", 400),
        ("a\x00b.gml", 400),
        ("a\nb.gml", 400),
        ("x" * 300 + ".gml", 400),
        ("city.txt", 415),
        ("city.gml.sh", 415),
    ],
)
def test_unusable_file_names(raw: str, status: int) -> None:
    with pytest.raises(UploadError) as caught:
        check_file_name(raw, accepted_suffixes())
    assert caught.value.status == status
