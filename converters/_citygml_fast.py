"""The optional compiled CityGML walker: loading it, checking it, and the switch to turn it off.

``citymodel.converters._citygml_fastwalk`` is a C extension (Cython, built by ``setup.py``
when a compiler is present) that walks plain CityGML geometry over the libxml2 tree; see
docs/reader-speed.md, *Compiled walker*. It is optional: without it, or when it cannot be
used, the reader takes its pure-Python walk, with the same output.

lxml version rule: the extension is compiled against the lxml headers of the build
(``BUILT_WITH_LXML``) and reads lxml's element structure through lxml's public C API. It is
used only when the lxml imported at run time has the same major version; otherwise a warning
is logged and the Python walk is used (rebuild the package to get it back).

Set the environment variable ``CITYMODEL_COMPILED_WALKER=0`` (or :data:`ENABLED` to False
before a reader is made) to force the Python walk.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from lxml import etree

if TYPE_CHECKING:
    from citymodel.converters._citygml_fastwalk import PlainWalker

__all__ = ["ENABLED", "plain_walker", "status"]

log = logging.getLogger(__name__)

ENABLED = os.environ.get("CITYMODEL_COMPILED_WALKER", "1").strip().lower() not in {
    "0",
    "no",
    "false",
    "off",
}
"""Whether readers made from now on use the compiled walker when it is available."""


def _load() -> tuple[type[PlainWalker] | None, str]:
    """The compiled walker class, or None and why not."""
    try:
        from citymodel.converters import _citygml_fastwalk
    except ImportError as err:
        return None, f"not built ({err})"
    built = str(_citygml_fastwalk.BUILT_WITH_LXML)
    running = etree.LXML_VERSION
    if built.split(".", 1)[0] != str(running[0]):
        log.warning(
            "the compiled CityGML walker was built against lxml %s but lxml %s is installed; "
            "using the Python walk (reinstall citymodel to rebuild it)",
            built,
            ".".join(map(str, running)),
        )
        return None, f"built against lxml {built}, running lxml {running[0]}.x"
    return _citygml_fastwalk.PlainWalker, f"yes (built against lxml {built})"


_WALKER, _STATUS = _load()
log.debug("compiled CityGML walker: %s", _STATUS)


def status() -> str:
    """One line for ``--version``/``--debug`` output: whether the compiled walker is used."""
    if _WALKER is None:
        return "no: " + _STATUS
    if not ENABLED:
        return "no: turned off (CITYMODEL_COMPILED_WALKER)"
    return _STATUS


def plain_walker(ns: str, parse_dimension: Callable[[str | None, int], int]) -> PlainWalker | None:
    """A compiled walker for GML namespace ``ns``, or None when the Python walk is to be used."""
    if _WALKER is None or not ENABLED:
        return None
    return _WALKER(ns, parse_dimension)
