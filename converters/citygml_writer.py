"""CityGML 2.0 and 3.0 writer: feature trees -> ``.gml``, streamed with ``lxml.etree.xmlfile``.

What is written
---------------
* One ``core:cityObjectMember`` per top-level feature, children nested through their part
  property (``bldg:consistsOfBuildingPart`` in 2.0, ``bldg:buildingPart`` in 3.0); object types
  and semantic surface classes come from
  :mod:`~citymodel.converters._citygml_write_tables`.
* ``gml:id`` on every object, boundary surface and polygon (polygon ids are derived from the
  object id). Polygons with their holes as ``gml:posList`` (closing point repeated), in the
  source CRS exactly as read (x/y swapped back for lat/lon-ordered geographic CRSs, AX-3).
* Geometry per LoD as the reader expects it (see
  :mod:`~citymodel.converters._citygml_write_geometry`): boundary surfaces with the polygons'
  classes, ``lodNSolid`` referencing them for solids, ``lodNMultiSurface`` otherwise.
  CityGML LoDs are integers: LoD ``2.2`` is written as LoD 2 (noted); two geometries falling
  on one integer LoD keep the higher one and report the other.
  A WaterBody (2.0) gets ``lod0/1MultiSurface``, ``lodNSolid`` and ``wtr:boundedBy``
  water surfaces (WaterSurface, WaterGroundSurface, WaterClosureSurface); 3.0 writes them as
  ``core:boundary`` (its ``ClosureSurface`` stands for WaterClosureSurface).
* Attributes: :mod:`~citymodel.converters._citygml_write_attributes`.
* Appearances of every theme: a local appearance per object and theme (2.0
  ``app:appearance``, 3.0 ``core:appearance``) with X3D materials and parameterised textures
  targeting its polygons and rings, before the generic attributes as the schemas order them
  (:mod:`~citymodel.converters._citygml_write_appearance`).
* ``gml:boundedBy/gml:Envelope`` with ``srsName`` (an OGC URN, compound when the source has a
  vertical CRS) and ``srsDimension="3"``: the body is streamed into a spill file and the
  envelope, known at the end, is inserted when the output is assembled.

Objects of a type the table has no row for are reported (``report.skip``), never dropped
silently. The output appears atomically (temporary file, renamed at :meth:`CityGMLWriter.close`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
from lxml import etree

from citymodel._typing import Float64Array
from citymodel.atomic import atomic_output
from citymodel.converters._citygml_write_appearance import (
    is_closed,
    ring_id,
    write_local_appearance,
)
from citymodel.converters._citygml_write_attributes import (
    AttributePlan,
    address_parts,
    core_date,
    generic_element,
    plan_attributes,
)
from citymodel.converters._citygml_write_geometry import GeometryPlan, plan_geometry
from citymodel.converters._citygml_write_tables import ObjectKind, WriteVocabulary, write_vocabulary
from citymodel.converters._cityjson_write_appearance import AppearanceTables
from citymodel.converters._interchange_names import crs_urn
from citymodel.converters._streaming_writer import StreamingWriter
from citymodel.crs import ResolvedCRS
from citymodel.errors import OutputError
from citymodel.model import Feature, SurfaceGeometry
from citymodel.report import JobReport

__all__ = ["CITYGML_VERSIONS", "CityGMLWriter"]

log = logging.getLogger(__name__)

CITYGML_VERSIONS: Final = ("2.0", "3.0")
_ROOT_SCAN: Final = 1 << 16
_DIMENSION: Final = {"srsDimension": "3"}
_TRAFFIC: Final = frozenset({"TrafficArea", "AuxiliaryTrafficArea"})
"""The classes a CityGML 2.0 transportation object holds (as TrafficArea objects)."""
_NCNAME: Final = re.compile(r"[^\W\d][\w.\-]*")
"""xs:NCName (Python's word characters stand for XML's name characters)."""

XF = Any  # lxml's xmlfile writer has no public type


def _written_polygons(plan: GeometryPlan) -> set[int]:
    """Polygons of ``plan`` that get a ``gml:Polygon`` (texture and material targets)."""
    out = set(plan.plain) | set(plan.referenced)
    for run in plan.boundaries:
        out.update(run.polygons)
        for _, polygons in run.openings:
            out.update(polygons)
    return out


def _coordinates(ring: Float64Array) -> str:
    """``posList`` text of a ring, closed (a ring that repeats its first vertex is kept)."""
    closed = ring if is_closed(ring) else np.concatenate([ring, ring[:1]])
    return " ".join(map(repr, closed.ravel().tolist()))


class CityGMLWriter(StreamingWriter):
    """Streams top-level features into a CityGML 2.0 or 3.0 document.

    Parameters
    ----------
    path
        The ``.gml`` output.
    crs
        Source CRS of the coordinates (``srsName``); None: no srsName (the report warns).
    report
        Receives objects that cannot be written (``skip``) and notes (``warn``).
    version
        ``"2.0"`` (default) or ``"3.0"``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        crs: ResolvedCRS | None,
        report: JobReport,
        version: str = "2.0",
    ) -> None:
        self.path = Path(path)
        self.vocab: WriteVocabulary = write_vocabulary(version)
        self.report = report
        self.crs = crs
        self.srs_name = crs_urn(crs) if crs is not None else None
        self._swap = False
        if crs is not None and self.srs_name is not None:
            from citymodel.crs import axis_order_is_lat_lon, parse_srs_name

            self._swap = axis_order_is_lat_lon(parse_srs_name(self.srs_name))
        self._gml_tags = {
            name: self.vocab.ns("gml", name)
            for name in ("Polygon", "id", "exterior", "interior", "LinearRing", "posList")
        }
        self.written: Counter[str] = Counter()
        """Objects written per type."""
        self._notes: Counter[str] = Counter()
        self._images = AppearanceTables(self.path)
        self._stack = ExitStack()
        self._spill: IO[bytes] = self._stack.enter_context(
            tempfile.TemporaryFile(  # noqa: SIM115 - closed by the exit stack
                dir=self.path.parent if self.path.parent.exists() else None
            )
        )
        self._xf_cm = etree.xmlfile(self._spill, encoding="utf-8")
        self._xf: XF = self._xf_cm.__enter__()
        self._xf.write_declaration()
        root_attrib = {
            "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation": self.vocab.schema_locations
        }
        nsmap: dict[str | None, str] = {"xsi": "http://www.w3.org/2001/XMLSchema-instance"}
        nsmap.update(self.vocab.namespaces.items())
        self._root_cm = self._xf.element(
            self.vocab.ns("core", "CityModel"), root_attrib, nsmap=nsmap
        )
        self._root_cm.__enter__()
        self._lower: Float64Array | None = None
        self._upper: Float64Array | None = None

    # -- public ------------------------------------------------------------------------------

    def write(self, feature: Feature) -> None:
        """Add one top-level feature with its children."""
        self._check_open()
        kind = self.vocab.objects.get(feature.type)
        if kind is None:
            self._skip_unsupported(feature)
            return
        if kind.style == "tin":  # a relief component on its own (CityJSON): wrap it
            self._note(
                "TINRelief objects written as the component of a ReliefFeature '<id>_relief'"
            )
            feature = Feature(
                id=f"{feature.id}_relief",
                type="ReliefFeature",
                children=(feature,),
                source=feature.source,
            )
            kind = self.vocab.objects["ReliefFeature"]
            self.written["ReliefFeature"] -= 1  # made here, not read: not counted
        with self._xf.element(self.vocab.ns("core", "cityObjectMember")):
            self._object(feature, kind)

    def flush(self) -> None:
        """Nothing is held back: :attr:`written` is always complete."""

    def close(self) -> None:
        """Finish the document and move it into place."""
        if self._closed:
            return
        self._closed = True
        try:
            self._root_cm.__exit__(None, None, None)
            self._xf_cm.__exit__(None, None, None)
            with atomic_output(self.path) as out:
                self._assemble(out)
        finally:
            self._stack.close()
        for message in self._images.notes:
            self._note(message)
        for message, count in self._notes.items():
            self.report.warn(f"{self.path}: {message}" + (f" ({count}x)" if count > 1 else ""))

    def _discard(self) -> None:
        """Drop the spill file: the output never appears."""
        self._stack.close()

    # -- objects -----------------------------------------------------------------------------

    def _note(self, message: str) -> None:
        self._notes[message] += 1

    def _skip(self, feature: Feature, reason: str) -> None:
        source = feature.source
        self.report.skip(
            reason,
            id=feature.id,
            file=source.path if source is not None else None,
            line=source.line if source is not None else None,
        )

    def _skip_unsupported(self, feature: Feature) -> None:
        below = sum(1 for _ in feature.walk()) - 1
        self._skip(
            feature,
            f"{feature.type} cannot be written as CityGML {self.vocab.version} (no mapping); "
            "not written" + (f" (with its {below} child object(s))" if below else ""),
        )

    def _object(self, feature: Feature, kind: ObjectKind) -> None:
        v = self.vocab
        xf = self._xf
        self.written[feature.type] += 1
        module = v.namespaces[kind.module]
        if _NCNAME.fullmatch(feature.id) is None:
            self._note(
                "object ids that are no valid gml:id (xs:ID: a letter or '_' first, no spaces "
                "or colons) written as they are, so that they survive; schema validators "
                "reject them"
            )
        attrs = plan_attributes(feature.attributes, feature.type, kind, v, self._note)
        plans = self._geometry_plans(feature, kind)
        with xf.element(f"{{{module}}}{kind.element}", {v.ns("gml", "id"): feature.id}):
            self._leading_attributes(attrs)
            self._appearance(feature, plans)
            self._generic_attributes(attrs)
            if kind.style in ("relief", "tin"):
                self._relief(feature, kind, plans)
            elif v.version == "2.0":
                self._module_attributes(attrs, kind)
                self._geometry_v2(feature, kind, plans)
                self._parts(feature, kind, early=False)
            else:
                self._geometry_v3(feature, kind, plans)
                self._module_attributes(attrs, kind)
                self._parts(feature, kind)
            self._address(attrs, kind)

    def _appearance(self, feature: Feature, plans: list[GeometryPlan]) -> None:
        """The object's local appearances (materials, textures) of every theme."""
        looks = [p for p in plans if p.geometry.appearances]
        if looks:
            write_local_appearance(
                self._xf,
                feature.id,
                [(p.lod, p.geometry, _written_polygons(p)) for p in looks],
                self._images.image_reference,
                version=self.vocab.version,
            )

    def _leading_attributes(self, attrs: AttributePlan) -> None:
        v, xf = self.vocab, self._xf
        for name, text in attrs.gml:
            self._leaf(v.ns("gml", name), text)
        for name, text in attrs.core:
            self._leaf(v.ns("core", name), core_date(v.version, text))
        for ref in attrs.external:
            with xf.element(v.ns("core", "externalReference")):
                if v.version == "2.0":
                    if "informationSystem" in ref:
                        self._leaf(v.ns("core", "informationSystem"), ref["informationSystem"])
                    with xf.element(v.ns("core", "externalObject")):
                        key = "name" if "name" in ref else "uri"
                        self._leaf(v.ns("core", key), ref.get(key, ""))
                else:
                    with xf.element(v.ns("core", "ExternalReference")):
                        target = ref.get("uri", ref.get("name", ""))
                        self._leaf(v.ns("core", "targetResource"), target)
                        if "informationSystem" in ref:
                            self._leaf(v.ns("core", "informationSystem"), ref["informationSystem"])
        for name, text in attrs.core_after:
            self._leaf(v.ns("core", name), text)

    def _generic_attributes(self, attrs: AttributePlan) -> None:
        v, xf = self.vocab, self._xf
        for kind, name, text in attrs.generic:
            element = generic_element(v.version, kind)
            if v.version == "2.0":
                with xf.element(v.ns("gen", element), {"name": name}):
                    self._leaf(v.ns("gen", "value"), text)
            else:
                with xf.element(v.ns("core", "genericAttribute")), xf.element(v.ns("gen", element)):
                    self._leaf(v.ns("gen", "name"), name)
                    self._leaf(v.ns("gen", "value"), text)

    def _module_attributes(self, attrs: AttributePlan, kind: ObjectKind) -> None:
        v = self.vocab
        module = kind.module
        for name, text, extra in attrs.module:
            if name == "measuredHeight" and v.version == "3.0":
                self._height_v3(text, extra.get("uom", "m"))
            else:
                self._leaf(v.ns(module, name), text, extra)

    def _relief(self, feature: Feature, kind: ObjectKind, plans: list[GeometryPlan]) -> None:
        """``dem:lod`` and the relief components, or the triangles of a TINRelief."""
        v, xf = self.vocab, self._xf
        if kind.style == "relief":
            lods = [g.lod.split(".")[0] for c in feature.children for g in c.geometries] or ["0"]
            self._leaf(v.ns("dem", "lod"), max(lods, key=int))
            if plans:
                self._skip(feature, "ReliefFeature geometry (outside its components) not written")
            self._parts(feature, kind)
            return
        if not plans:
            self._skip(feature, "TINRelief without triangles: dem:tin not written")
            self._leaf(v.ns("dem", "lod"), "0")
            return
        plan = plans[-1]
        for other in plans[:-1]:
            self._skip(
                feature, f"TINRelief LoD {other.lod} geometry not written (one TIN per relief)"
            )
        g = plan.geometry
        triangles = bool(
            len(g.ring_offsets) - 1 == g.polygon_count and np.all(np.diff(g.ring_offsets) == 3)
        )
        self._leaf(v.ns("dem", "lod"), plan.lod)
        if not triangles:
            self._skip(
                feature,
                "TINRelief polygons are not all triangles; dem:tin (a TriangulatedSurface) not "
                "written",
            )
            return
        patches = "trianglePatches" if v.version == "2.0" else "patches"
        with (
            xf.element(v.ns("dem", "tin")),
            xf.element(v.ns("gml", "TriangulatedSurface"), self._gid(f"{feature.id}_tin")),
            xf.element(v.ns("gml", patches)),
        ):
            for p in range(g.polygon_count):
                ring = g.vertices[int(g.ring_offsets[p]) : int(g.ring_offsets[p + 1])]
                if self._swap:
                    ring = ring[:, [1, 0, 2]]
                with (
                    xf.element(v.ns("gml", "Triangle")),
                    xf.element(v.ns("gml", "exterior")),
                    xf.element(v.ns("gml", "LinearRing")),
                ):
                    self._leaf(v.ns("gml", "posList"), _coordinates(ring), {"srsDimension": "3"})

    def _height_v3(self, text: str, uom: str) -> None:
        v, xf = self.vocab, self._xf
        with xf.element(v.ns("con", "height")), xf.element(v.ns("con", "Height")):
            self._leaf(v.ns("con", "highReference"), "highestRoofEdge")
            self._leaf(v.ns("con", "lowReference"), "lowestGroundPoint")
            self._leaf(v.ns("con", "status"), "measured")
            self._leaf(v.ns("con", "value"), text, {"uom": uom})

    def _parts(self, feature: Feature, kind: ObjectKind, *, early: bool | None = None) -> None:
        """The children (``early``: only those written before ``boundedBy`` in 2.0, or not)."""
        v, xf = self.vocab, self._xf
        for child in feature.children:
            child_kind = v.objects.get(child.type)
            if (
                early is not None
                and (child_kind.early if child_kind is not None else False) != early
            ):
                continue  # written (or reported) in the other pass
            if (
                child_kind is None
                or child_kind.parent_property is None
                or child_kind.module != kind.module
            ):
                self._skip_unsupported(child)
                continue
            with xf.element(v.ns(kind.module, child_kind.parent_property)):
                self._object(child, child_kind)

    def _address(self, attrs: AttributePlan, kind: ObjectKind) -> None:
        v, xf = self.vocab, self._xf
        for record in attrs.addresses:
            root = "AddressDetails" if v.version == "2.0" else "Address"
            with (
                xf.element(v.ns(kind.module, "address")),
                xf.element(v.ns("core", "Address")),
                xf.element(v.ns("core", "xalAddress")),
                xf.element(v.ns("xAL", root)),
            ):
                self._xal_tree(address_parts(v.version, record))

    def _xal_tree(self, parts: list[tuple[list[str], str, dict[str, Any]]]) -> None:
        groups: dict[str, list[tuple[list[str], str, dict[str, Any]]]] = {}
        for path, text, extra in parts:
            groups.setdefault(path[0], []).append((path[1:], text, extra))
        for head, rest in groups.items():
            tag = self.vocab.ns("xAL", head)
            leaves = [item for item in rest if not item[0]]
            if leaves:
                self._leaf(tag, leaves[0][1], leaves[0][2])
                continue
            with self._xf.element(tag):
                self._xal_tree(rest)

    # -- geometry ----------------------------------------------------------------------------

    def _geometry_plans(self, feature: Feature, kind: ObjectKind) -> list[GeometryPlan]:
        by_lod: dict[str, SurfaceGeometry] = {}
        for g in sorted(feature.geometries, key=lambda g: float(g.lod)):
            lod = g.lod.split(".")[0]
            if lod != g.lod:
                self._note(f"LoD {g.lod} written as CityGML LoD {lod}")
            if lod not in kind.lods:
                self._skip(
                    feature,
                    f"LoD {g.lod} geometry: {kind.element} has no LoD {lod} in CityGML "
                    f"{self.vocab.version}; geometry not written",
                )
                continue
            old = by_lod.get(lod)
            if old is not None:
                self._skip(
                    feature,
                    f"LoD {old.lod} geometry not written: LoD {g.lod} takes CityGML LoD {lod}",
                )
            by_lod[lod] = g
        plans: list[GeometryPlan] = []
        for lod, g in by_lod.items():
            transport = self.vocab.version == "2.0" and kind.module == "tran"
            boundaries = (kind.style in ("construction", "water") or transport) and (
                self.vocab.version == "3.0" or lod >= "2"
            )
            plan = plan_geometry(
                g, lod, self.vocab, boundaries=boundaries, only=_TRAFFIC if transport else None
            )
            for name in sorted(plan.untyped_classes):
                self._note(
                    f"{name} polygons of {kind.element} at LoD {lod} written without their "
                    f"class (CityGML {self.vocab.version} has no place for it)"
                )
            plans.append(plan)
            self._grow(g.vertices[:, [1, 0, 2]] if self._swap else g.vertices)
        return plans

    def _geometry_v2(self, feature: Feature, kind: ObjectKind, plans: list[GeometryPlan]) -> None:
        if kind.style == "water":  # lodNMultiSurface/lodNSolid of every LoD, then boundedBy
            for plan in plans:
                self._plain_v2(feature, kind, plan)
            for plan in plans:
                self._boundaries(feature, kind, plan)
            return
        if kind.module == "tran":  # traffic areas come first, then lodNMultiSurface
            self._parts(feature, kind, early=True)
            for plan in plans:
                self._boundaries(feature, kind, plan)
            for plan in plans:
                self._plain_v2(feature, kind, plan)
            return
        early = [p for p in plans if p.lod in ("0", "1", "2")]
        late = [p for p in plans if p.lod in ("3", "4")]
        for plan in early:
            self._plain_v2(feature, kind, plan)
        self._parts(feature, kind, early=True)
        if kind.style == "construction":
            for plan in plans:
                self._boundaries(feature, kind, plan)
        for plan in late:
            self._plain_v2(feature, kind, plan)

    def _plain_v2(self, feature: Feature, kind: ObjectKind, plan: GeometryPlan) -> None:
        v = self.vocab
        module = kind.module
        g = plan.geometry
        if kind.style == "geometry":
            prop = f"lod{plan.lod}Geometry"
        elif kind.style == "surfaces":
            prop = f"lod{plan.lod}MultiSurface"
        elif kind.style == "water":
            if plan.lod >= "2" and not g.solid:
                if plan.plain:
                    self._skip(
                        feature,
                        f"LoD {plan.lod} {kind.element} polygons without a water boundary class "
                        "that are not a closed shell have no CityGML 2.0 property; "
                        f"{len(plan.plain)} polygon(s) not written",
                    )
                return
            solid_lod = plan.lod >= "2" or (plan.lod == "1" and g.solid)
            prop = f"lod{plan.lod}Solid" if solid_lod else f"lod{plan.lod}MultiSurface"
        elif plan.lod == "0":
            prop = "lod0FootPrint"
        else:
            prop = f"lod{plan.lod}Solid" if g.solid else f"lod{plan.lod}MultiSurface"
        solid = g.solid and (kind.style == "geometry" or prop.endswith("Solid"))
        if g.solid and not solid:
            self._note(f"closed shells of {kind.element} at LoD {plan.lod} written as MultiSurface")
        self._plain(feature, v.ns(module, prop), plan, solid=solid)

    def _geometry_v3(self, feature: Feature, kind: ObjectKind, plans: list[GeometryPlan]) -> None:
        by_lod = {p.lod: p for p in plans}
        core = "core"
        if kind.style == "surfaces":
            for lod in ("0", "1", "2", "3"):
                plan = by_lod.get(lod)
                if plan is not None:
                    if plan.geometry.solid:
                        self._note(f"closed shells of {kind.element} written as MultiSurface")
                    self._plain(
                        feature,
                        self.vocab.ns(core, f"lod{lod}MultiSurface"),
                        plan,
                        solid=False,
                    )
            return

        # AbstractSpace order: lod3MultiSurface, lod0MultiSurface, lod1Solid, lod3Solid,
        # boundary, lod2Solid, lod2MultiSurface
        def plain(lod: str, solid: bool) -> None:
            plan = by_lod.get(lod)
            if plan is None:
                return
            g = plan.geometry
            if lod == "0":
                if solid:
                    return
                if g.solid:
                    self._note(f"LoD 0 closed shells of {kind.element} written as MultiSurface")
                self._plain(feature, self.vocab.ns(core, "lod0MultiSurface"), plan, solid=False)
                return
            if g.solid != solid:
                return
            if lod == "1" and not solid:
                if plan.plain:
                    self._skip(
                        feature,
                        "LoD 1 surfaces that are not a closed shell have no CityGML 3.0 "
                        f"property; {len(plan.plain)} polygon(s) not written",
                    )
                return
            suffix = "Solid" if solid else "MultiSurface"
            self._plain(feature, self.vocab.ns(core, f"lod{lod}{suffix}"), plan, solid=solid)

        plain("3", False)
        plain("0", False)
        plain("1", True)
        plain("1", False)
        plain("3", True)
        for plan in plans:
            self._boundaries(feature, kind, plan)
        plain("2", True)
        plain("2", False)

    def _plain(self, feature: Feature, prop: str, plan: GeometryPlan, *, solid: bool) -> None:
        """The plain geometry property; for a solid every polygon (typed ones by reference)."""
        v, xf = self.vocab, self._xf
        g = plan.geometry
        members = plan.referenced if solid else plan.plain
        if not members:
            return
        inline = set(plan.plain)
        fid = feature.id
        member_tag = v.ns("gml", "surfaceMember")
        with xf.element(prop):
            if solid:
                shell = "CompositeSurface" if v.version == "2.0" else "Shell"
                with (
                    xf.element(v.ns("gml", "Solid"), self._gid(f"{fid}_solid{plan.lod}")),
                    xf.element(v.ns("gml", "exterior")),
                    xf.element(v.ns("gml", shell)),
                ):
                    for p in members:
                        if p in inline:
                            with xf.element(member_tag):
                                self._polygon(g, p, f"{fid}_p{plan.lod}_{p}")
                        else:
                            with xf.element(
                                member_tag, {v.ns("xlink", "href"): f"#{fid}_p{plan.lod}_{p}"}
                            ):
                                pass
            else:
                with xf.element(v.ns("gml", "MultiSurface"), self._gid(f"{fid}_ms{plan.lod}")):
                    for p in members:
                        with xf.element(member_tag):
                            self._polygon(g, p, f"{fid}_p{plan.lod}_{p}")

    def _boundaries(self, feature: Feature, kind: ObjectKind, plan: GeometryPlan) -> None:
        v, xf = self.vocab, self._xf
        g = plan.geometry
        fid = feature.id
        for n, run in enumerate(plan.boundaries):
            s = run.kind
            prop_module = s.property_module or kind.module
            module = s.module or kind.module
            with (
                xf.element(v.ns(prop_module, s.property)),
                xf.element(v.ns(module, s.element), {v.ns("gml", "id"): f"{fid}_s{plan.lod}_{n}"}),
            ):
                self._surface_geometry(g, plan.lod, run.polygons, s.geometry_suffix, fid, module)
                for m, (okind, polygons) in enumerate(run.openings):
                    omodule = okind.module or kind.module
                    with (
                        xf.element(v.ns(okind.property_module or kind.module, v.opening_property)),
                        xf.element(
                            v.ns(omodule, okind.element),
                            {v.ns("gml", "id"): f"{fid}_o{plan.lod}_{n}_{m}"},
                        ),
                    ):
                        self._surface_geometry(g, plan.lod, polygons, "MultiSurface", fid, omodule)

    def _surface_geometry(
        self, g: SurfaceGeometry, lod: str, polygons: list[int], suffix: str, fid: str, module: str
    ) -> None:
        v, xf = self.vocab, self._xf
        geom_ns = "core" if v.version == "3.0" else module
        container = "MultiSurface" if suffix == "MultiSurface" else "CompositeSurface"
        with (
            xf.element(v.ns(geom_ns, f"lod{lod}{suffix}")),
            xf.element(v.ns("gml", container), self._gid(f"{fid}_ms{lod}_{polygons[0]}")),
        ):
            for p in polygons:
                with xf.element(v.ns("gml", "surfaceMember")):
                    self._polygon(g, p, f"{fid}_p{lod}_{p}")

    def _gid(self, value: str) -> dict[str, str]:
        return {self.vocab.ns("gml", "id"): value} if self.vocab.version == "3.0" else {}

    def _polygon(self, g: SurfaceGeometry, p: int, pid: str) -> None:
        xf, t = self._xf, self._gml_tags
        ro = g.ring_offsets
        first, last = int(g.polygon_offsets[p]), int(g.polygon_offsets[p + 1])
        ring_ids = bool(g.appearances)  # texture coordinates name their rings
        with xf.element(t["Polygon"], {t["id"]: pid}):
            for r in range(first, last):
                ring_attrib = {t["id"]: ring_id(pid, r - first)} if ring_ids else {}
                ring = g.vertices[int(ro[r]) : int(ro[r + 1])]
                if self._swap:
                    ring = ring[:, [1, 0, 2]]
                with (
                    xf.element(t["exterior"] if r == first else t["interior"]),
                    xf.element(t["LinearRing"], ring_attrib),
                    xf.element(t["posList"], _DIMENSION),
                ):
                    xf.write(_coordinates(ring))

    def _grow(self, vertices: Float64Array) -> None:
        """Extend the envelope by written coordinates (output axis order)."""
        if not len(vertices):
            return
        lo, hi = vertices.min(axis=0), vertices.max(axis=0)
        self._lower = lo if self._lower is None else np.minimum(self._lower, lo)
        self._upper = hi if self._upper is None else np.maximum(self._upper, hi)

    def _leaf(self, tag: str, text: str, attrib: dict[str, str] | None = None) -> None:
        with self._xf.element(tag, attrib or {}):
            self._xf.write(text)

    # -- output ------------------------------------------------------------------------------

    def _envelope(self) -> bytes:
        gml = "gml"
        attrs = ' srsDimension="3"'
        if self.srs_name is not None:
            attrs = f' srsName="{self.srs_name}"' + attrs
        elif self.crs is None:
            self.report.warn(f"{self.path}: the source CRS is unknown; no srsName written")
        if self._lower is None or self._upper is None:
            return f"<{gml}:boundedBy><{gml}:Null>missing</{gml}:Null></{gml}:boundedBy>".encode()
        lo = " ".join(map(repr, self._lower.tolist()))
        hi = " ".join(map(repr, self._upper.tolist()))
        return (
            f"<{gml}:boundedBy><{gml}:Envelope{attrs}><{gml}:lowerCorner>{lo}</{gml}:lowerCorner>"
            f"<{gml}:upperCorner>{hi}</{gml}:upperCorner></{gml}:Envelope></{gml}:boundedBy>"
        ).encode()

    def _assemble(self, out: IO[bytes]) -> None:
        spill = self._spill
        spill.seek(0)
        head = spill.read(_ROOT_SCAN)
        start = head.find(b"<core:CityModel")
        end = head.find(b">", start)
        if start < 0 or end < 0:
            raise OutputError(f"{self.path}: internal error: CityModel start tag not found")
        if head[end - 1 : end] == b"/":  # an empty document: <core:CityModel .../>
            out.write(head[: end - 1] + b">" + self._envelope() + b"</core:CityModel>\n")
            return
        out.write(head[: end + 1])
        out.write(self._envelope())
        out.write(head[end + 1 :])
        shutil.copyfileobj(spill, out, 1 << 20)
        out.write(b"\n")
