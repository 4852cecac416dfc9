"""The container files: what the image must have, read from the Dockerfile and compose file.

The image cannot be built in the test environment (no Docker daemon, no registry); these tests
pin its essentials instead: a multi-stage build from a wheel, a slim Python runtime, a non-root
user, the geoid grid checked inside the wheel and used by a height conversion, CesiumJS from
the locked npm package, a health check on ``/health``, ``citymodel serve`` on ``/data`` and a
volume for it, and a build context that leaves out what the build does not need.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "docker-compose.yml"
DOCKERIGNORE = REPO / ".dockerignore"


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` per Dockerfile instruction (continuations joined)."""
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions split into build stages (``FROM`` starts one)."""
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def stage_named(stages: list[list[tuple[str, str]]], name: str) -> list[tuple[str, str]]:
    """The stage ``FROM ... AS name``; ``runtime``: the last stage (the image)."""
    if name == "runtime":
        return stages[-1]
    for stage in stages:
        if stage[0][1].endswith(f" AS {name}"):
            return stage
    raise AssertionError(f"no stage {name!r} in the Dockerfile")


def args_of(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for k, rest in stage if k == keyword]


def test_stages_wheel_cesium_basisu_runtime(stages: list[list[tuple[str, str]]]) -> None:
    froms = [stage[0][1] for stage in stages]
    assert froms == [
        "${PYTHON_IMAGE} AS wheel",
        "${NODE_IMAGE} AS cesium",
        "${NODE_IMAGE} AS basisu",
        "${PYTHON_IMAGE}",
    ]
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert "ARG NODE_IMAGE=node:20-slim" in text


def test_wheel_stage_builds_a_wheel_and_checks_the_grids(
    stages: list[list[tuple[str, str]]],
) -> None:
    run = " ".join(args_of(stage_named(stages, "wheel"), "RUN"))
    assert "pip wheel --no-deps" in run
    for name in ("de_bkg_gcg2016.tif", "de_adv_BETA2007.tif", "static/viewer.js"):
        assert name in run
    copied = " ".join(args_of(stage_named(stages, "wheel"), "COPY"))
    for path in ("pyproject.toml", "src", "converters", "tiler", "README.md", "LICENSE"):
        assert path in copied
    grids = REPO / "src" / "citymodel" / "grids"
    assert (grids / "de_bkg_gcg2016.tif").is_file()
    assert (grids / "de_adv_BETA2007.tif").is_file()


def test_cesium_comes_from_the_locked_npm_package(stages: list[list[tuple[str, str]]]) -> None:
    copied = " ".join(args_of(stage_named(stages, "cesium"), "COPY"))
    assert "tools/viewer/package-lock.json" in copied
    run = " ".join(args_of(stage_named(stages, "cesium"), "RUN"))
    assert "npm ci --omit=dev" in run
    lock = json.loads((REPO / "tools/viewer/package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/cesium"]["version"]
    runtime = stage_named(stages, "runtime")
    assert any(
        "--from=cesium" in rest and "Build/Cesium /opt/cesium" in rest
        for rest in args_of(runtime, "COPY")
    )
    assert "CITYMODEL_CESIUM_DIR=/opt/cesium" in " ".join(args_of(runtime, "ENV"))


def test_runtime_installs_the_wheel_with_the_service_extras_and_checks_heights(
    stages: list[list[tuple[str, str]]],
) -> None:
    run = " ".join(args_of(stage_named(stages, "runtime"), "RUN"))
    match = re.search(r"pip install \"\$\(ls /tmp/dist/citymodel-\*\.whl\)\[([a-z0-9,]+)\]\"", run)
    assert match, run
    assert {"service", "ifc"} <= set(match.group(1).split(","))
    assert "rm -rf /tmp/dist" in run
    # the GCG2016 golden value of correctness.md GEO-2 (Hamburg), so the grid is really used
    assert "3739137.706, 659068.813, 5107828.750" in run
    assert "EPSG:25832+7837" in run


def test_runtime_runs_as_a_non_root_user(stages: list[list[tuple[str, str]]]) -> None:
    runtime = stage_named(stages, "runtime")
    users = args_of(runtime, "USER")
    assert users, "no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert "useradd" in " ".join(args_of(runtime, "RUN"))
    # USER comes before the command, after every RUN that needs root
    keywords = [k for k, _ in runtime]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")


def test_runtime_serves_data_with_health_check(stages: list[list[tuple[str, str]]]) -> None:
    runtime = stage_named(stages, "runtime")
    assert args_of(runtime, "EXPOSE") == ["8080"]
    assert json.loads(args_of(runtime, "VOLUME")[0]) == ["/data"]
    health = args_of(runtime, "HEALTHCHECK")[0]
    assert "http://127.0.0.1:8080/health" in health
    assert "--interval=" in health and "--timeout=" in health
    entry = json.loads(args_of(runtime, "ENTRYPOINT")[0])
    cmd = json.loads(args_of(runtime, "CMD")[0])
    command = entry + cmd
    assert command[:2] == ["citymodel", "serve"]
    assert command[command.index("--data") + 1] == "/data"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == "8080"
    # the health check's command is valid Python
    check = json.loads(health.split("CMD", 1)[1])
    assert check[:2] == ["python", "-c"]
    compile(check[2], "<healthcheck>", "exec")


def test_inline_python_checks_compile(stages: list[list[tuple[str, str]]]) -> None:
    for stage in stages:
        for rest in args_of(stage, "RUN"):
            for match in re.finditer(r'python -c ("(?:[^"\\]|\\.)*")', rest):
                code = shlex.split(match.group(1))[0]
                compile(code, "<dockerfile>", "exec")


def test_compose_has_a_data_volume_and_the_api_key() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert re.search(r"^\s+- citymodel-data:/data\s*$", text, re.M)
    assert re.search(r"^volumes:\n\s+citymodel-data:", text, re.M)
    assert '"8080:8080"' in text
    assert "CITYMODEL_API_KEY" in text
    assert "build: ." in text


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for heavy in (".git", ".venv", "node_modules", "**/node_modules", "build", "tests"):
        assert heavy in ignored
    for needed in ("src", "converters", "tiler", "tools/viewer", "pyproject.toml", "README.md"):
        assert needed not in ignored


def test_basisu_comes_from_the_locked_npm_package_with_its_licence(
    stages: list[list[tuple[str, str]]],
) -> None:
    basisu = stage_named(stages, "basisu")
    assert "tools/basisu/package-lock.json" in " ".join(args_of(basisu, "COPY"))
    run = " ".join(args_of(basisu, "RUN"))
    assert "npm ci" in run
    assert "LICENSE" in run
    runtime = stage_named(stages, "runtime")
    assert any("--from=basisu" in rest for rest in args_of(runtime, "COPY"))
    assert any("CITYMODEL_BASISU=/opt/basisu" in rest for rest in args_of(runtime, "ENV"))
    assert "select_encoder('basisu')" in " ".join(args_of(runtime, "RUN"))
