"""The terminal progress line: ETA arithmetic and silence when disabled."""

from __future__ import annotations

import pytest

from citymodel.cli.progress import ProgressLine, eta


def test_eta_extrapolates_the_stage() -> None:
    assert eta(10.0, 1, 4) == ", ETA 0:30"
    assert eta(65.0, 1, 2) == ", ETA 1:05"
    assert eta(3600.0, 1, 3) == ", ETA 2:00:00"
    assert eta(5.0, 0, 4) == ""  # nothing done yet: unknown
    assert eta(5.0, 4, 4) == ""  # finished


def test_stage_line_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with ProgressLine("tile", enabled=True) as progress:
        progress.stage("read", 4, 4)
    assert "tile: read 4/4" in capsys.readouterr().err


def test_silent_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with ProgressLine("tile", enabled=False) as progress:
        progress.stage("read", 1, 4)
        progress("a.gml", 10)
    assert capsys.readouterr().err == ""
