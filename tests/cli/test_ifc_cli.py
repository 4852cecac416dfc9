"""``citymodel info|convert|tile`` on IFC models: georeferencing reported, --origin validated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("ifcopenshell")

from citymodel.cli.main import cli
from citymodel.synthetic import SyntheticCityOptions, write_city
from tests.converters.ifc_models import Box, MapConversion, write_model
from tests.gltf_reader import read_file

BOXES = (
    Box(origin=(0.0, 0.0, 0.0), size=(4000.0, 300.0, 3000.0), name="wall"),
    Box(origin=(0.0, 0.0, -200.0), size=(4000.0, 4000.0, 200.0), ifc_class="IfcSlab", name="slab"),
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ifc")
    return {
        "georef": write_model(
            folder / "georef.ifc",
            unit="mm",
            boxes=BOXES,
            map_conversion=MapConversion(566000.0, 5935000.0, 10.0, 0.5, 0.8660254, scale=None),
        ),
        "none": write_model(folder / "none.ifc", unit="mm", boxes=BOXES),
    }


def test_info_json_reports_the_georeferencing(models: dict[str, Path]) -> None:
    result = CliRunner().invoke(cli, ["info", "--json", str(models["georef"])])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    georef = summary["georeferencing"]
    assert georef["method"] == "IfcMapConversion"
    assert georef["crs"] == "EPSG:25832+7837"
    assert (georef["eastings"], georef["northings"], georef["orthogonal_height"]) == (
        566000.0,
        5935000.0,
        10.0,
    )
    assert georef["rotation_deg"] == pytest.approx(60.0)
    assert georef["scale"] == pytest.approx(0.001)
    assert georef["scale_source"] == "units"
    assert summary["ifc"]["schema"] == "IFC4"
    assert summary["ifc"]["units"]["length"]["name"] == "MILLIMETRE"
    assert [s["name"] for s in summary["ifc"]["storeys"]] == ["Ground floor"]
    assert summary["ifc"]["elements_by_class"] == {"IfcSlab": 1, "IfcWall": 1}
    assert summary["format"] == "IFC"


def test_info_text_names_the_rule(models: dict[str, Path]) -> None:
    result = CliRunner().invoke(cli, ["info", str(models["georef"])])
    assert result.exit_code == 0, result.output
    assert "georef:      IfcMapConversion, CRS EPSG:25832+7837" in result.stdout
    assert "storeys:     Ground floor (0 m)" in result.stdout
    none = CliRunner().invoke(cli, ["info", str(models["none"])])
    assert none.exit_code == 0
    assert "georef:      none" in none.stdout and "--origin" in none.stdout


def test_convert_without_georeferencing_names_the_options(
    models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "x.glb"
    result = CliRunner().invoke(cli, ["convert", str(models["none"]), "-o", str(out)])
    assert result.exit_code == 1
    assert "--in-crs CRS --origin E,N,H[,ROTATION_DEG]" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--origin", "1,2"], "expected x,y,z or x,y,z,rotation"),
        (["--origin", "1,2,x"], "expected numbers"),
        (["--origin", "1,2,3"], "--origin needs --in-crs"),
    ],
)
def test_bad_origin_is_a_usage_error(
    models: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(
        cli, ["convert", str(models["none"]), "-o", str(tmp_path / "x.glb"), *args]
    )
    assert result.exit_code == 2
    assert message in result.output


def test_convert_with_origin(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "x.glb"
    result = CliRunner().invoke(
        cli,
        [
            "convert",
            str(models["none"]),
            "-o",
            str(out),
            "--in-crs",
            "EPSG:25832+7837",
            "--origin",
            "566000,5935000,10,30",
            "--types",
            "IfcWall",
        ],
    )
    assert result.exit_code == 0, result.output
    table = read_file(out).property_table()
    assert list(map(str, table["object_type"])) == ["IfcWall"]


def test_origin_for_citygml_input_is_an_error(tmp_path: Path) -> None:
    city = tmp_path / "city.gml"
    write_city(city, SyntheticCityOptions(n_buildings=2, seed=1))
    result = CliRunner().invoke(
        cli,
        [
            "convert",
            str(city),
            "-o",
            str(tmp_path / "c.glb"),
            "--in-crs",
            "EPSG:25832+7837",
            "--origin",
            "1,2,3",
        ],
    )
    assert result.exit_code == 2
    assert "--origin applies to IFC input only" in result.output


def test_tile_an_ifc_model(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "tiles"
    result = CliRunner().invoke(cli, ["tile", str(models["georef"]), "-o", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert (out / "tileset.json").is_file()
