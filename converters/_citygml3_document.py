"""Reading the city objects of one CityGML 3.0 document (the space/boundary model).

The document loop, batching, problem reporting and the choice of geometry per LoD are those of
the 1.0/2.0 :class:`~citymodel.converters._citygml_document.DocumentReader`; this subclass reads
a 3.0 object instead of a 2.0 Building:

* every city object class of every module becomes a :class:`~citymodel.model.Feature` (type
  names: :data:`~citymodel.converters._citygml3_vocabulary.CITYGML3_TYPES`); objects held by
  a property of another object (``bldg:buildingPart``, ``bldg:buildingInstallation``,
  ``bldg:buildingRoom``, ``tran:section``, ``tran:trafficSpace``, ``dem:reliefComponent``
  ...) are nested as its children, in document order; a property that only references an
  object (``xlink:href``, e.g. a Storey's rooms) keeps the id as an attribute;
* per LoD the polygons of the thematic surfaces below ``core:boundary`` (with openings below
  ``con:fillingSurface``), each with its semantic surface type, together with the object's own
  ``core:lodNMultiSurface`` (a polygon reached twice by gml:id counted once); else
  ``core:lodNSolid``, else ``core:lodNMultiSurface`` (CGML-2/CGML-3: a solid that references
  the boundary polygons through ``xlink:href`` does not render them twice); ``dem:tin`` at the relief's ``dem:lod``;
  implicit geometry (``core:lodNImplicitRepresentation``) placed by the 2.0 reader's template
  machinery;
* appearances (``core:appearance``, ``core:appearanceMember``) are read by the appearance
  reader attached by :class:`~citymodel.converters.citygml.CityGMLReader`
  (:mod:`citymodel.converters._citygml_appearance`, 3.0 vocabulary) as in 2.0;
* curves (``lodNMultiCurve``, terrain intersection curves), points, Dynamizers, Versioning
  members and unknown properties are counted and reported once per document;
  ``pcl:PointCloud`` references to LAS/LAZ files are kept as ``pointFile`` attributes (the
  points are tiled with ``citymodel tile <file>``); an object of a class this reader does not
  know (an ADE) is reported and left out.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from lxml import etree

from citymodel.converters._citygml3_attributes import AttributeReader3
from citymodel.converters._citygml3_vocabulary import (
    APPEARANCE_NOTE,
    BOUNDARY3,
    CURVE3,
    ENVELOPE3,
    GEOMETRY3,
    IMPLICIT3,
    POINT_CLOUD3,
    POINTS3,
    TIN3,
    Vocabulary3,
)
from citymodel.converters._citygml_attributes import AttributeCollector, _text
from citymodel.converters._citygml_document import DocumentReader, _Draft
from citymodel.converters._citygml_vocabulary import ObjectClass
from citymodel.converters._gml import SurfaceSink, children, line_of, local_name, parse_dimension

__all__ = ["DocumentReader3"]

log = logging.getLogger(__name__)

Element = etree._Element


class DocumentReader3(DocumentReader):
    """Reads the city objects of one CityGML 3.0 document (a file or a zip member).

    Parameters are those of :class:`DocumentReader`; the header's vocabulary must be the
    :class:`~citymodel.converters._citygml3_vocabulary.Vocabulary3`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        vocab = self.vocab
        if not isinstance(vocab, Vocabulary3):
            raise TypeError("DocumentReader3 reads CityGML 3.0 documents only")
        self.v3 = vocab
        self.attributes3 = AttributeReader3(vocab.gml.ns)
        self.not_meshed: Counter[str] = Counter()
        """Points, Dynamizers, versions, unknown properties ... (by name): one note per document."""
        self.point_files: list[str] = []
        self.versions = 0

    # -- the document ------------------------------------------------------------------------

    def _unknown_object(self, obj: Element, tag: str, report: bool) -> None:
        """Versions, Dynamizers, appearances: noted once per document; other classes as in 2.0.

        Document-level appearances are read by :attr:`appearances` when one is attached.
        """
        name = local_name(tag)
        parent = obj.getparent()
        where = None if parent is None else parent.tag
        if where == self.v3.appearance_member:
            if self.appearances is not None:
                super()._unknown_object(obj, tag, report)  # counted as in 2.0, never skipped
                return
            note = APPEARANCE_NOTE
        elif name == "Dynamizer" or where in self.v3.version_members:
            note = name
        else:
            super()._unknown_object(obj, tag, report)
            return
        if self.stats is not None:
            self.stats.counts[name] += 1
        if report:
            self.not_meshed[note] += 1
            if where in self.v3.version_members:
                self.versions += 1

    def _final_notes(self) -> None:
        super()._final_notes()
        if self.not_meshed:
            listed = ", ".join(f"{name} x{n}" for name, n in sorted(self.not_meshed.items()))
            self.warn(f"{self.source.display}: not converted (no surfaces to mesh): {listed}")
        if self.versions:
            self.warn(
                f"{self.source.display}: the file holds versions of city objects (Versioning "
                "module); every object version is converted, so versions of one object may "
                "overlap (choose the objects of one version with `citymodel convert --ids`)"
            )
        if self.point_files:
            files = ", ".join(dict.fromkeys(self.point_files))
            self.warn(
                f"{self.source.display}: point clouds referenced by city objects ({files}) are "
                "kept as 'pointFile' attributes; tile the points with `citymodel tile <file>`"
            )

    # -- one object --------------------------------------------------------------------------

    def _read_feature(
        self, el: Element, cls: ObjectClass, position: str, dim: int, srs: str | None
    ) -> _Draft:
        """Read a 3.0 city object and the objects nested in it; ``position`` names it if needed.

        ``position``: 1-based position of the top-level object, ``.<k>`` per nesting level
        (an object without gml:id gets ``<file name>#<position>``).
        """
        v3 = self.v3
        fid = el.get(v3.gml.id) or self._generated_id(position)
        attrs = AttributeCollector()
        thematic: dict[str, SurfaceSink] = {}
        plain: list[tuple[str, Element, bool]] = []
        implicit: list[tuple[str, Element]] = []
        nested: list[_Draft] = []
        geometry_ok = True
        table = cls.children
        classes = v3.classes
        for child in children(el):
            tag = child.tag
            entry = table.get(tag)
            if entry is None:
                if tag == v3.appearance_property and self.appearances is not None:
                    continue  # read with the whole object (DocumentAppearances.read_object)
                if self.attributes3.read(child, tag, attrs):
                    continue
                held = [h for h in children(child) if h.tag in classes]
                for obj in held:
                    k = f"{position}.{len(nested) + 1}"
                    nested.append(self._read_feature(obj, classes[obj.tag], k, dim, srs))
                if not held:
                    self.not_meshed[v3.not_geometry.get(tag, local_name(tag))] += 1
                continue
            kind, lod = entry
            if kind == BOUNDARY3:
                if geometry_ok:
                    self._boundary(child, thematic, attrs, fid, dim, srs)
            elif kind == GEOMETRY3:
                plain.append((lod, child, tag in v3.solid3))
            elif kind == TIN3:
                if self._tin_triangles(child, fid):
                    lod_el = el.find(v3.relief_lod)
                    text = "" if lod_el is None else (_text(lod_el) or "")
                    plain.append((text if text.isdigit() else "1", child, False))
            elif kind == IMPLICIT3:
                implicit.append((lod, child))
            elif kind == CURVE3:
                self._curve(tag, fid, child)
            elif kind == POINTS3:
                self.not_meshed[local_name(tag)] += 1
            elif kind == POINT_CLOUD3:
                self._point_cloud(child, attrs, fid)
            elif kind == ENVELOPE3:
                dim, srs, ok = self._envelope(child, dim, srs, fid)
                geometry_ok = geometry_ok and ok
        draft = _Draft(id=fid, type=cls.type, line=line_of(el), attributes=attrs.result())
        draft.children = nested
        if geometry_ok:
            if thematic and plain:
                plain = self._merge_surfaces(thematic, plain, cls.default_surface, dim, srs)
            self._choose_geometry(draft, thematic, plain, cls.default_surface, dim, srs)
            if implicit:
                draft.instances = self._implicit_instances(
                    implicit, fid, cls.default_surface, dim, srs
                )
        if not (draft.sinks or draft.instances or nested):
            self.not_meshed[f"{cls.type} without geometry"] += 1
        return draft

    def _curve(self, tag: str, fid: str, prop: Element) -> None:
        """Count a curve property (lines are not meshed; reported once per document)."""
        self.curves[local_name(tag)] += 1
        if self.first_curve is None:
            self.first_curve = (fid, line_of(prop))

    def _generated_id(self, position: str) -> str:
        """The id of an object without gml:id: ``<file name>#<position>`` (reported once)."""
        self.generated_ids += 1
        return f"{self.source_name}#{position}"

    def _merge_surfaces(
        self,
        thematic: dict[str, SurfaceSink],
        plain: list[tuple[str, Element, bool]],
        surface: int,
        dim: int,
        srs: str | None,
    ) -> list[tuple[str, Element, bool]]:
        """Add an object's own ``lodNMultiSurface`` to the thematic surfaces of that LoD.

        In 3.0 a space's multi-surface and its boundaries may hold different polygons (LoD0:
        the footprint on the space, the roof edge on the RoofSurface). A polygon reached
        again (same gml:id, e.g. through ``xlink:href``) is added once (CGML-3). Solids and
        the properties of other LoDs are returned for :meth:`_choose_geometry`.
        """
        rest: list[tuple[str, Element, bool]] = []
        for lod, prop, solid in plain:
            sink = thematic.get(lod)
            if sink is None or solid or not sink.polygon_count:
                rest.append((lod, prop, solid))
            else:
                self.walker.collect(prop, sink, surface, dim, srs)
        return rest

    def _boundary(
        self,
        prop: Element,
        sinks: dict[str, SurfaceSink],
        attrs: AttributeCollector,
        fid: str,
        dim: int,
        srs: str | None,
    ) -> None:
        """A ``core:boundary``: the thematic surface's polygons per LoD, openings included.

        The surface's own attributes are not kept (as in 2.0), except CityObjectRelations,
        which go to the owner's ``relatedTo`` attributes with the surface as their source.
        """
        v3 = self.v3
        surface_lods = v3.surface_lods3
        collect = self.walker.collect
        for surface in self._held(prop, fid):
            stype = v3.surface_type(surface.tag)
            for child in children(surface):
                tag = child.tag
                lod = surface_lods.get(tag)
                if lod is not None:
                    sink = sinks.get(lod) or sinks.setdefault(lod, SurfaceSink(fid, lod))
                    collect(child, sink, stype, dim, srs)
                elif tag == v3.filling_surface:
                    self._boundary(child, sinks, attrs, fid, dim, srs)
                elif tag in v3.curve_lods3:
                    self._curve(tag, fid, child)
                elif tag == v3.related_to:
                    self.attributes3.relations(child, attrs, surface.get(v3.gml.id) or fid)
                elif tag in v3.not_geometry:
                    self.not_meshed[v3.not_geometry[tag]] += 1

    def _envelope(
        self, prop: Element, dim: int, srs: str | None, fid: str
    ) -> tuple[int, str | None, bool]:
        """An object's ``gml:boundedBy``: its srsDimension/srsName apply to its geometry.

        Returns the dimension and srsName in effect and whether the geometry may be used (an
        srsName that cannot be mixed with the dataset's leaves it out, reported).
        """
        for env in children(prop):
            if env.tag != self.v3.gml.envelope:
                continue
            dim = parse_dimension(env.get("srsDimension"), dim) or dim
            env_srs = env.get("srsName")
            if not env_srs or env_srs == srs:
                continue
            if not self._srs_ok(env_srs):
                reason = (
                    f"srsName {env_srs!r} of the object differs from the dataset CRS {srs!r}; "
                    "its geometry is left out"
                )
                self.skip(reason, fid, line_of(env))
                return dim, srs, False
            srs = env_srs
        return dim, srs, True

    def _point_cloud(self, prop: Element, attrs: AttributeCollector, fid: str) -> None:
        """``core:pointCloud/pcl:PointCloud``: keep the external file, count inline points."""
        v3 = self.v3
        for cloud in self._held(prop, fid):
            for part in children(cloud):
                tag = part.tag
                value = _text(part)
                if tag == v3.point_file and value:
                    attrs.add("pointFile", value)
                    self.point_files.append(value)
                elif tag == v3.point_file_srs and value:
                    attrs.add("pointFileSrsName", value)
                elif tag == v3.mime_type and value:
                    attrs.add("pointFileMimeType", value)
                elif tag == v3.inline_points:
                    self.not_meshed["pcl:points (inline MultiPoint)"] += 1
