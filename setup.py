"""Builds the optional compiled CityGML walker (``converters/_citygml_fastwalk.pyx``).

Everything else is declared in pyproject.toml. The extension is optional: without Cython, the
lxml headers or a C compiler the package installs without it, and the reader uses its
pure-Python walk (same output, slower). ``CITYMODEL_NO_EXTENSIONS=1`` skips it on purpose.
The extension is compiled against the lxml headers of the build; at run time it is used only
with an lxml of the same major version (converters/_citygml_fast.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_SOURCE = "converters/_citygml_fastwalk.pyx"


def _note(message: str) -> None:
    sys.stderr.write(f"citymodel: {message}; the CityGML reader will use its Python walk\n")


class _OptionalBuildExt(build_ext):
    """``build_ext`` that leaves an extension out instead of failing the install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as err:  # no compiler, missing headers: install without it
            _note(f"compiled extensions not built ({err})")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as err:
            _note(f"{ext.name} not built ({err})")


def _extensions() -> list[Extension]:
    if os.environ.get("CITYMODEL_NO_EXTENSIONS", "").strip() not in {"", "0"}:
        return []
    if not Path(_SOURCE).exists():
        return []
    try:
        import lxml
        from Cython.Build import cythonize
    except ImportError as err:
        _note(f"Cython or lxml missing at build time ({err})")
        return []
    extension = Extension(
        "citymodel.converters._citygml_fastwalk",
        [_SOURCE],
        include_dirs=lxml.get_include(),
    )
    try:
        return list(cythonize([extension], build_dir="build/cython", quiet=True))
    except Exception as err:
        _note(f"Cython failed ({err})")
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": _OptionalBuildExt})
