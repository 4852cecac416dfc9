"""The package list in pyproject.toml must cover every package folder (setuptools cannot discover remapped ones)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _declared() -> tuple[set[str], dict[str, str]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    return set(config["packages"]), config["package-dir"]


def test_every_package_folder_is_declared() -> None:
    packages, package_dir = _declared()
    roots = {"citymodel": REPO / "src" / "citymodel"}
    roots.update({name: REPO / folder for name, folder in package_dir.items() if name})
    found = set()
    for name, root in roots.items():
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            found.add(".".join([name, *rel.parts]))
    missing = found - packages
    assert not missing, (
        f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    )


def test_declared_packages_exist() -> None:
    packages, _ = _declared()
    import importlib

    for name in packages:
        importlib.import_module(name)


def test_grids_ship_as_package_data() -> None:
    from importlib.resources import files

    grids = files("citymodel.grids")
    assert grids.joinpath("de_bkg_gcg2016.tif").is_file()
    assert grids.joinpath("de_adv_BETA2007.tif").is_file()
    assert "CC BY 4.0" in grids.joinpath("NOTICE.md").read_text(encoding="utf-8")
