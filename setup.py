"""Builds the optional compiled extensions.

- ``converters/_citygml_fastwalk.pyx``: the compiled CityGML walker. It is compiled against the
  lxml headers of the build; at run time it is used only with an lxml of the same major
  version (converters/_citygml_fast.py).
- ``tiler/points/_kernels.pyx``: the point tiler's per-point loops (tiler/points/kernels.py).
  Compiled with ``-ffp-contract=off`` so that its results equal the numpy code bit for bit.

Everything else is declared in pyproject.toml. Both are optional: without Cython, the lxml
headers or a C compiler the package installs without them and uses its pure-Python/numpy code
(same output, slower). ``CITYMODEL_NO_EXTENSIONS=1`` skips them on purpose.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_WALKER = "converters/_citygml_fastwalk.pyx"
_KERNELS = "tiler/points/_kernels.pyx"


def _note(message: str) -> None:
    sys.stderr.write(f"citymodel: {message}; the pure-Python code will be used instead\n")


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
    try:
        import lxml
        from Cython.Build import cythonize
    except ImportError as err:
        _note(f"Cython or lxml missing at build time ({err})")
        return []
    # Exact IEEE arithmetic in the point kernels: no fused multiply-add (GCC, Clang).
    exact = [] if sys.platform == "win32" else ["-ffp-contract=off"]
    extensions = [
        Extension(
            "citymodel.converters._citygml_fastwalk", [_WALKER], include_dirs=lxml.get_include()
        ),
        Extension("citymodel.tiler.points._kernels", [_KERNELS], extra_compile_args=exact),
    ]
    built = []
    for extension in extensions:
        if not Path(extension.sources[0]).exists():
            continue
        try:
            built.extend(cythonize([extension], build_dir="build/cython", quiet=True))
        except Exception as err:
            _note(f"Cython failed on {extension.sources[0]} ({err})")
    return built


setup(ext_modules=_extensions(), cmdclass={"build_ext": _OptionalBuildExt})
