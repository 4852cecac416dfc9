"""Types of the compiled CityGML walker (``_citygml_fastwalk.pyx``)."""

from collections.abc import Callable
from typing import Any, Final

from lxml import etree

BUILT_WITH_LXML: Final[str]

class PlainWalker:
    def __init__(self, ns: str, parse_dimension: Callable[[str | None, int], int]) -> None: ...
    def collect(
        self, prop: etree._Element, sink: Any, stype: int, dim: int, srs: str | None
    ) -> bool: ...
    def boundary(
        self,
        prop: etree._Element,
        thematic: dict[str, Any],
        fid: str,
        dim: int,
        srs: str | None,
        surface_types: dict[object, int],
        surface_lods: dict[object, str],
        openings: frozenset[object],
        unknown: int,
        sink_type: Callable[[str, str], Any],
        collect: Callable[..., None],
        on_opening: Callable[..., None],
    ) -> bool: ...
    def same_polygons(
        self, solids: list[etree._Element], poly_ids: list[str | None]
    ) -> bool | None: ...
