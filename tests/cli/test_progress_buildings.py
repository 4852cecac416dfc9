"""``tile``'s progress line shows the running count of buildings read next to the stage."""

from __future__ import annotations

import pytest

from citymodel.cli.progress import ProgressLine


def test_building_count_is_shown_with_the_current_stage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = ProgressLine("tile", enabled=True)
    line.stage("buildings", 1234, 0)
    assert capsys.readouterr().err == ""  # a count alone draws nothing
    line.stage("read", 3, 3)
    shown = capsys.readouterr().err
    assert "tile: read 3/3, 1,234 buildings" in shown
    assert "buildings 1234/0" not in shown


def test_without_buildings_the_line_is_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    line = ProgressLine("tile", enabled=True)
    line.stage("write", 2, 2)
    assert capsys.readouterr().err == "\rtile: write 2/2\x1b[K"
