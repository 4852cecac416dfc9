"""CesiumJS draws textured tilesets textured: a render against the same tileset untextured.

The untextured twin is the same input read with a theme that does not exist, so geometry,
camera and lighting are identical and only the appearance differs. Photo textures make the
changed pixels many-coloured; the palette materials of the twin give a handful of colours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citymodel.report import JobReport
from citymodel.tiler.build import TileOptions, build_tileset
from tests.tileset_render import render_rgb

pytestmark = [pytest.mark.realdata, pytest.mark.node, pytest.mark.slow]


@pytest.mark.parametrize(
    ("relative", "in_crs"),
    [
        ("citygml/geores_textured/geoRES_testdata.xml", None),
        ("cityjson/rotterdam_textured/rotterdam_one_v11.city.json", None),
    ],
)
def test_render_shows_textures(
    shared_data: Path, shared_grids: Path, tmp_path: Path, relative: str, in_crs: str | None
) -> None:
    source = shared_data / relative
    pictures = []
    for name, theme in (("textured", None), ("plain", "no-such-theme")):
        out = tmp_path / name
        options = TileOptions(
            jobs=1,
            in_crs=in_crs,
            grids=(shared_grids,),
            reader_options=() if theme is None else (("theme", theme),),
        )
        build_tileset([source], out, options=options, report=JobReport())
        pictures.append(render_rgb(out / "tileset.json", tmp_path / f"{name}.png"))
    textured, plain = pictures
    changed = np.abs(textured - plain).max(axis=2) > 20
    assert changed.sum() > 2000  # textures drew something else than the palette
    ys, xs = np.nonzero(changed)
    colours_textured = len(np.unique(textured[ys, xs], axis=0))
    colours_plain = len(np.unique(plain[ys, xs], axis=0))
    assert colours_textured > 4 * max(colours_plain, 1)
