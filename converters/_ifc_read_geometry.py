"""Element meshes from IfcOpenShell's geometry iterator, with failures found and explained (IFC-4).

:func:`element_meshes` runs ``ifcopenshell.geom.iterator`` (the hybrid CGAL/OpenCascade
kernel when available, measured 2-3x faster than OpenCascade alone on the sample models with the
same triangles) with world coordinates (object placements applied, map conversion not), vertices
in metres, welded per element, default materials for unstyled elements and style names.

Parallelism: the iterator's own kernel threads cost 4-6x the CPU time of one thread on the
project machine (measured: 2,000 extruded elements 0.57 s CPU with one thread, 3.1 s with two)
and were slower in wall time too, so every iterator runs single-threaded and the elements are
spread over worker **processes** instead: chunks of consecutive STEP ids (16-4,096 elements,
about four per process) go to ``processes`` workers that each open the file once (their
initializer); results come back in chunk order. Output order is therefore the STEP id order,
whatever the number of processes. Each worker holds its own parsed copy of the model. By
default the split is adaptive: meshing starts in the calling process, and the remaining chunks
move to workers only when the kernel time measured so far projects several seconds for them
(light models are limited by the reader's own per-element work, where workers only add their
start-up, measured).

Per element it yields one :class:`ElementMesh` with triangles, or one :class:`GeometryFailure`
for an element that should have had a body but got none: the kernel's error message for its
representation (from an in-memory log), or ``"no triangles"``. Before giving up on an element,
CSG bodies the kernel cannot build are tessellated here
(:func:`~citymodel.converters._ifc_read_csg.tessellate_csg`).

Which elements: every IfcProduct with a representation in a 3D model context, except
:data:`DEFAULT_EXCLUDED` (openings and other voids, spaces, virtual elements, annotations,
grids, structural analysis items) unless ``include`` names the classes to read (subclasses
included), and only elements with a body: a ``Body`` or ``Facetation`` representation, or one
without identifier whose type is a solid or surface model (IFC2X3 files may leave it out).
Other representations the kernel builds (``Reference``, ``Box``, ...) are not read.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import itertools
import math
import multiprocessing
import os
import re
import time
from collections import deque
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from citymodel._typing import AttributeValue, Float64Array, IndexArray
from citymodel.converters._ifc_read_csg import tessellate_csg
from citymodel.converters._ifc_read_properties import PropertyReader

if TYPE_CHECKING:
    import ifcopenshell

__all__ = [
    "DEFAULT_EXCLUDED",
    "PARALLEL_MIN_SECONDS",
    "ElementMesh",
    "GeometryFailure",
    "Style",
    "body_elements",
    "default_processes",
    "element_meshes",
    "geometry_library",
    "iterator_settings",
]

DEFAULT_EXCLUDED: Final = (
    "IfcFeatureElementSubtraction",
    "IfcSpace",
    "IfcVirtualElement",
    "IfcAnnotation",
    "IfcGrid",
    "IfcSpatialZone",
    "IfcExternalSpatialElement",
    "IfcStructuralItem",
)
"""Classes left out unless asked for: voids, room volumes, non-physical and analysis elements."""

_BODY_IDENTIFIERS = frozenset({"body", "facetation"})
_SOLID_TYPES = frozenset(
    {
        "sweptsolid",
        "advancedsweptsolid",
        "brep",
        "advancedbrep",
        "csg",
        "clipping",
        "solidmodel",
        "surfacemodel",
        "tessellation",
        "mappedrepresentation",
    }
)
"""RepresentationTypes taken as a body when the representation has no identifier (IFC2X3)."""
_GENERATED_STYLE_NAME = re.compile(r"^Ifc\w+-\d+$")
_LISTED_MESSAGES = 2
PARALLEL_MIN_SECONDS: Final = 4.0
"""Adaptive mode: seconds (kernel + properties) projected for the remaining elements that
justify starting workers."""
_MODEL_BYTES_PER_FILE_BYTE = 12
"""Memory of a parsed model per byte of IFC-SPF text (measured 6-10x; margin included)."""
_MIN_CHUNK = 16
_MAX_CHUNK = 4096
_LIBRARY: Final = "hybrid-cgal-simple-opencascade"
_FALLBACK_LIBRARY: Final = "opencascade"
_HYBRID_PARTS: Final = ("cgal-simple", "opencascade")


@dataclass(frozen=True, slots=True)
class Style:
    """A surface style of an element mesh: its name and sRGB colour with alpha (0..1)."""

    name: str | None
    rgba: tuple[float, float, float, float]

    @property
    def hex(self) -> str:
        """``#rrggbb`` (opaque) or ``#rrggbbaa``."""
        return _hex(self.rgba)


@lru_cache(maxsize=4096)
def _hex(rgba: tuple[float, float, float, float]) -> str:
    r, g, b, a = (min(max(round(c * 255), 0), 255) for c in rgba)
    return f"#{r:02x}{g:02x}{b:02x}" + (f"{a:02x}" if a < 255 else "")


@dataclass(frozen=True, slots=True)
class ElementMesh:
    """The triangles of one element in engineering coordinates.

    Attributes
    ----------
    step_id
        The element's instance id (``#123``).
    vertices
        ``(V, 3)`` float64 world coordinates of the model, metres (not georeferenced).
    faces
        ``(T, 3)`` int64 vertex indices, counter-clockwise seen from outside.
    style_ids
        ``(T,)`` int64 index into ``styles`` per triangle (-1: none).
    styles
        The element's surface styles.
    attributes
        The element's attributes and properties
        (:meth:`~citymodel.converters._ifc_read_properties.PropertyReader.attributes`), read in
        the process that meshed it.
    """

    step_id: int
    vertices: Float64Array
    faces: IndexArray
    style_ids: IndexArray
    styles: tuple[Style, ...]
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)

    def dominant_style(self) -> Style | None:
        """The style covering the largest surface area of the element (None without styles)."""
        if not self.styles or self.faces.shape[0] == 0:
            return None
        if len(self.styles) == 1:
            return self.styles[0] if (self.style_ids == 0).any() else None
        v = self.vertices
        f = self.faces
        areas = np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
        ids = self.style_ids
        valid = (ids >= 0) & (ids < len(self.styles))
        if not valid.any():
            return None
        totals = np.bincount(ids[valid], weights=areas[valid], minlength=len(self.styles))
        return self.styles[int(np.argmax(totals))]


@dataclass(frozen=True, slots=True)
class GeometryFailure:
    """An element that should have a body but whose geometry could not be built."""

    step_id: int
    reason: str


def body_elements(
    model: ifcopenshell.file, *, include: Collection[str] | None
) -> list[ifcopenshell.entity_instance]:
    """Products that should yield a mesh: a Body/Facetation representation, class filter applied."""
    classes = _classes(model, include)
    wanted, excluded = classes
    found = []
    for product in model.by_type("IfcProduct"):
        if not any(product.is_a(c) for c in wanted) or any(product.is_a(c) for c in excluded):
            continue
        shape = product.Representation
        if shape is not None and any(_is_body(r) for r in shape.Representations or ()):
            found.append(product)
    return found


def _is_body(representation: ifcopenshell.entity_instance) -> bool:
    identifier = representation.RepresentationIdentifier
    if identifier:
        return identifier.lower() in _BODY_IDENTIFIERS
    return (representation.RepresentationType or "").lower() in _SOLID_TYPES


def _classes(
    model: ifcopenshell.file, include: Collection[str] | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(classes to read, classes to leave out), restricted to the model's schema."""
    import ifcopenshell

    schema = ifcopenshell.ifcopenshell_wrapper.schema_by_name(model.schema_identifier)

    def known(name: str) -> bool:
        try:
            schema.declaration_by_name(name)
        except (RuntimeError, KeyError):
            return False
        return True

    if include:
        return tuple(c for c in include if known(c)), ()
    return ("IfcProduct",), tuple(c for c in DEFAULT_EXCLUDED if known(c))


def iterator_settings(ifcopenshell: Any) -> Any:
    """The geometry iterator settings citymodel reads with (see the module docstring)."""
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    settings.set("weld-vertices", True)
    settings.set("apply-default-materials", True)
    settings.set("use-material-names", True)
    return settings


def geometry_library(ifcopenshell: Any) -> str:
    """The kernel: hybrid CGAL/OpenCascade when this build has it, else OpenCascade."""
    has = getattr(ifcopenshell.geom, "has_geometry_library", None)
    # the hybrid kernel is no library of its own: it needs both of its parts
    if has is not None and all(has(part) for part in _HYBRID_PARTS):
        return _LIBRARY
    return _FALLBACK_LIBRARY


def _logger(ifcopenshell: Any) -> Any:
    wrapper = ifcopenshell.ifcopenshell_wrapper
    if not hasattr(wrapper, "logger"):
        return None
    logger = wrapper.logger()
    logger.output_format(wrapper.logger.FMT_INMEMORY)
    return logger


def _style(material: Any) -> Style:
    diffuse = material.diffuse
    rgb = (float(diffuse.r()), float(diffuse.g()), float(diffuse.b()))
    transparency = float(material.transparency)
    alpha = 1.0 if not math.isfinite(transparency) else min(max(1.0 - transparency, 0.0), 1.0)
    name = material.name or None
    if name is not None and _GENERATED_STYLE_NAME.match(name):
        name = None
    return Style(name=name, rgba=(*rgb, alpha))


def _mesh(shape: Any) -> ElementMesh:
    geometry = shape.geometry
    vertices = np.frombuffer(geometry.verts_buffer, dtype=np.float64).reshape(-1, 3)
    faces = np.frombuffer(geometry.faces_buffer, dtype=np.int32).reshape(-1, 3).astype(np.int64)
    style_ids = np.frombuffer(geometry.material_ids_buffer, dtype=np.int32).astype(np.int64)
    if style_ids.shape[0] != faces.shape[0]:
        style_ids = np.full(faces.shape[0], -1, dtype=np.int64)
    return ElementMesh(
        step_id=int(shape.id),
        vertices=vertices.copy(),
        faces=faces,
        style_ids=style_ids,
        styles=tuple(_style(m) for m in geometry.materials),
    )


def _messages(logger: Any) -> dict[int, list[str]]:
    """Kernel error messages by the instance id they name."""
    out: dict[int, list[str]] = {}
    if logger is None:
        return out
    for message in logger.log_messages():
        entry = message.to_dict()
        if entry.get("severity") not in ("ERROR", "WARNING"):
            continue
        text = " ".join(str(entry.get(k) or "") for k in ("message", "instance")).strip()
        for key in ("instance", "product"):
            match = re.match(r"#(\d+)", str(entry.get(key) or ""))
            if match:
                out.setdefault(int(match.group(1)), []).append(text)
    return out


def _reason(product: ifcopenshell.entity_instance, messages: dict[int, list[str]]) -> str:
    ids = [product.id()]
    for representation in product.Representation.Representations or ():
        ids.append(representation.id())
        ids.extend(item.id() for item in representation.Items or ())
    found = [m for i in ids for m in messages.get(i, ())]
    if not found:
        return "the geometry kernel produced no shape for its body representation"
    shown = "; ".join(m[:160] for m in dict.fromkeys(found[:_LISTED_MESSAGES]))
    return f"geometry kernel failed: {shown}"


def _mesh_chunk(
    model: ifcopenshell.file, ids: Sequence[int], unit_m: float, properties: PropertyReader
) -> list[ElementMesh | GeometryFailure]:
    """Meshes (and failures) of the elements ``ids`` (STEP ids, all expected to have a body).

    One single-threaded iterator over exactly these products; results in the order of ``ids``.
    Openings are still subtracted: the kernel takes them from the elements' relationships.
    """
    import ifcopenshell
    import ifcopenshell.geom

    products = [model.by_id(i) for i in ids]
    options: dict[str, Any] = {"include": products}
    logger = _logger(ifcopenshell)
    if logger is not None:
        options["logger"] = logger
    iterator = ifcopenshell.geom.iterator(
        iterator_settings(ifcopenshell),
        model,
        1,
        geometry_library=geometry_library(ifcopenshell),
        **options,
    )
    found: dict[int, ElementMesh | GeometryFailure] = {}
    if iterator.initialize():
        while True:
            mesh = _mesh(iterator.get())
            if mesh.faces.shape[0]:
                found[mesh.step_id] = mesh
            else:
                found[mesh.step_id] = GeometryFailure(
                    mesh.step_id, "the geometry kernel produced no triangles"
                )
            if not iterator.next():
                break
    messages: dict[int, list[str]] | None = None
    out: list[ElementMesh | GeometryFailure] = []
    for step_id, product in zip(ids, products, strict=True):
        item = found.get(step_id)
        if item is None or isinstance(item, GeometryFailure):
            fallback = tessellate_csg(product, unit_m)
            if fallback is not None:
                vertices, faces = fallback
                item = ElementMesh(
                    step_id=step_id,
                    vertices=vertices,
                    faces=faces,
                    style_ids=np.full(faces.shape[0], -1, dtype=np.int64),
                    styles=(),
                )
        if item is None:
            if messages is None:
                messages = _messages(logger)
            item = GeometryFailure(step_id, _reason(product, messages))
        elif isinstance(item, ElementMesh):
            item = dataclasses.replace(item, attributes=properties.attributes(product))
        out.append(item)
    return out


_WORKER_MODEL: list[Any] = []
"""The OpenedModel of a worker process, opened by its initializer (one entry)."""


def _open_in_worker(path: str) -> None:
    from citymodel.converters._ifc_read_file import open_model

    opened = open_model(Path(path))
    _WORKER_MODEL[:] = [opened, PropertyReader(opened.model)]


def _worker_chunk(ids: tuple[int, ...], unit_m: float) -> list[ElementMesh | GeometryFailure]:
    opened, properties = _WORKER_MODEL
    return _mesh_chunk(opened.model, ids, unit_m, properties)


def default_processes(path: Path) -> int:
    """Kernel worker processes: the CPUs this process may use, as far as memory allows.

    Every worker parses its own copy of the model (about 12 bytes per byte of the file), so the
    count is capped by the available physical memory (Linux ``SC_AVPHYS_PAGES``).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        cpus = os.cpu_count() or 1
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        per_copy = max(1, path.stat().st_size * _MODEL_BYTES_PER_FILE_BYTE)
    except (OSError, ValueError, AttributeError):
        return max(1, cpus)
    return max(1, min(cpus, available // per_copy - 1))


def _chunks(ids: list[int], processes: int) -> list[tuple[int, ...]]:
    """Consecutive runs of ids: 16 first, then about 4 per process of 16 to 4,096 elements.

    The adaptive mode measures on the first chunk. Every chunk gets its own iterator, and
    starting one costs about 0.1 s on a 20,000-element model whatever the chunk size
    (measured), hence the large upper bound.
    """
    size = max(_MIN_CHUNK, min(_MAX_CHUNK, math.ceil(len(ids) / (4 * max(processes, 1)))))
    first = [tuple(ids[:_MIN_CHUNK])] if ids else []
    rest = ids[_MIN_CHUNK:]
    return first + [tuple(rest[i : i + size]) for i in range(0, len(rest), size)]


def element_meshes(
    model: ifcopenshell.file,
    *,
    path: Path,
    processes: int | None = 1,
    include: Collection[str] | None = None,
    unit_m: float = 1.0,
) -> Iterator[ElementMesh | GeometryFailure]:
    """Meshes of the model's elements with a body, or their failures, in STEP id order.

    Parameters
    ----------
    model
        The opened model (``path``, as :func:`~citymodel.converters._ifc_read_file.open_model`
        opened it).
    path
        The file, re-opened by each worker process.
    processes
        Worker processes for the geometry kernel (1: in this process). Elements are sent in
        chunks of consecutive STEP ids; results come back in order, so the output does not
        depend on the number of processes. Each worker holds its own copy of the model.
        None (adaptive): start in this process and move the rest to the CPUs available (as
        far as the memory for the copies allows) once the kernel time measured so far
        projects more than :data:`PARALLEL_MIN_SECONDS` for the remaining elements (starting
        the workers and parsing the model in each costs about a second, and light models are
        limited by this process's own per-element work, measured).
    include
        IFC classes to read (subclasses included); None: every product except
        :data:`DEFAULT_EXCLUDED`.
    unit_m
        Metres per project length unit (for the CSG fallback).
    """
    ids = sorted(p.id() for p in body_elements(model, include=include))
    properties = PropertyReader(model)
    adaptive = processes is None
    workers = default_processes(path) if processes is None else processes
    chunks = _chunks(ids, workers)
    done = 0
    seconds = 0.0
    while adaptive and done < len(chunks):
        remaining = sum(len(c) for c in chunks[done:])
        measured = sum(len(c) for c in chunks[:done])
        if done and workers > 1 and len(chunks) - done >= 2:
            projected = seconds / measured * remaining
            if projected >= PARALLEL_MIN_SECONDS:
                break
        started = time.perf_counter()
        results = _mesh_chunk(model, chunks[done], unit_m, properties)
        seconds += time.perf_counter() - started
        done += 1
        yield from results
    rest = chunks[done:]
    if workers <= 1 or len(rest) < 2:
        for chunk in rest:
            yield from _mesh_chunk(model, chunk, unit_m, properties)
        return
    yield from _in_workers(rest, path=path, processes=workers, unit_m=unit_m)


def _in_workers(
    chunks: Sequence[tuple[int, ...]], *, path: Path, processes: int, unit_m: float
) -> Iterator[ElementMesh | GeometryFailure]:
    """The chunks meshed by a pool of worker processes, results in chunk order."""
    context = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )
    with cf.ProcessPoolExecutor(
        max_workers=min(processes, len(chunks)),
        mp_context=context,
        initializer=_open_in_worker,
        initargs=(str(path),),
    ) as pool:
        pending: deque[cf.Future[list[ElementMesh | GeometryFailure]]] = deque()
        queued = iter(chunks)
        for chunk in itertools.islice(queued, 2 * processes):
            pending.append(pool.submit(_worker_chunk, chunk, unit_m))
        while pending:
            results = pending.popleft().result()
            following = next(queued, None)
            if following is not None:
                pending.append(pool.submit(_worker_chunk, following, unit_m))
            yield from results
