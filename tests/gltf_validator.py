"""Run the Khronos glTF validator (``tools/gltf-validator``) on files written by the tests.

Tests using it are marked ``node``; they skip with the reason when ``node`` or the validator's
``node_modules`` are missing (install with ``npm ci --prefix tools/gltf-validator``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
VALIDATOR_DIR = REPO / "tools" / "gltf-validator"
SCRIPT = VALIDATOR_DIR / "validate.mjs"

# Infos the validator emits for every file this project writes: it does not implement the
# EXT_mesh_features / EXT_structural_metadata extensions, so it cannot see that the property
# table buffer views are used.
EXPECTED_INFOS = frozenset({"UNSUPPORTED_EXTENSION", "UNUSED_OBJECT"})


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Khronos glTF validator needs Node.js >= 18")
    if not (VALIDATOR_DIR / "node_modules" / "gltf-validator").is_dir():
        pytest.skip(
            f"glTF validator not installed in {VALIDATOR_DIR}: run `npm ci --prefix tools/gltf-validator`"
        )
    return node


def validate_gltf_files(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Validate several files in one Node process; one report dict per file, in order.

    Each report has ``numErrors``, ``numWarnings``, ``numInfos``, ``numHints`` and ``messages``
    (``code``, ``severity`` 0-3, ``message``, ``pointer``).
    """
    node = _node()
    proc = subprocess.run(
        [node, str(SCRIPT), *(str(p) for p in paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"glTF validator failed (exit {proc.returncode}): {proc.stderr.strip()}")
    reports = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if len(reports) != len(paths):
        raise RuntimeError(f"glTF validator returned {len(reports)} reports for {len(paths)} files")
    return reports


def validate_gltf(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate one ``.glb``/``.gltf`` file; see :func:`validate_gltf_files`."""
    return validate_gltf_files([path])[0]


def unexpected_issues(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Errors, warnings, hints and infos other than :data:`EXPECTED_INFOS`."""
    return [m for m in report["messages"] if m["severity"] != 2 or m["code"] not in EXPECTED_INFOS]
