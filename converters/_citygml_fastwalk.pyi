"""Types of the compiled CityGML walker (``_citygml_fastwalk.pyx``)."""

from collections.abc import Callable, Mapping
from typing import Any, Final

from lxml import etree

BUILT_WITH_LXML: Final[str]
PLAIN_SHAPES: Final[tuple[int, int, int, int, int]]
CONVERTERS: Final[tuple[int, int, int, int, int]]

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
    def feature_children(
        self,
        el: etree._Element,
        table: Mapping[Any, tuple[int, Any]],
        plain: dict[object, tuple[int, str | None, int, object, object]],
        attrs: Any,
        attribute_kind: int,
    ) -> list[tuple[etree._Element, str, tuple[int, Any]]] | None: ...
    def same_polygons(
        self, solids: list[etree._Element], poly_ids: list[str | None]
    ) -> bool | None: ...
