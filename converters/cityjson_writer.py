"""CityJSON 2.0 and CityJSONSeq writer: feature trees -> ``.city.json`` / ``.city.jsonl``.

Coordinates are written in the source CRS, unchanged apart from the quantisation of the
``transform``: its scale is the coarsest decimal step (1 mm or finer) at which the first
features' coordinates are exact (:func:`~citymodel.converters._cityjson_encode.choose_scale`),
so coordinates read from decimal text keep every digit; a later feature with finer digits is
rounded to that step (at most half a step) and the report says how many were.
``metadata.referenceSystem`` is the source CRS as an OGC URL (compound CRSs as
``crs-compound``).

* **CityJSONSeq** (``.jsonl``): the first line is the ``CityJSON`` header (``transform``,
  ``metadata``, empty ``CityObjects``/``vertices``), then one ``CityJSONFeature`` line per
  top-level object with its own vertices. Memory: the first ``sample`` features, then one
  feature at a time.
* **CityJSON** (``.json``): one document, written in one pass: CityObjects are streamed into
  the output, vertices into a spill file appended at the end, so memory is bounded as for the
  sequence; ``metadata.geographicalExtent`` is the extent of the written vertices.

Appearances (:mod:`citymodel.converters._cityjson_write_appearance`): a document gets one
``appearance`` member (materials, textures, ``vertices-texture`` spilled like the vertices);
every CityJSONSeq line carries the ``appearance`` of its own objects. Images are referenced by
paths relative to the output's folder, not copied.

Both are written to a temporary file and renamed when :meth:`CityJSONWriter.close` succeeds.

Examples
--------
>>> with CityJSONWriter("out.city.jsonl", crs=resolved) as writer:  # doctest: +SKIP
...     for feature in reader.features():
...         writer.write(feature)
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections import Counter
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import IO, Any, BinaryIO, Final

import numpy as np

from citymodel._typing import Float64Array
from citymodel.atomic import atomic_output
from citymodel.converters._cityjson_encode import (
    EncodedFeature,
    FeatureEncoder,
    Quantizer,
    choose_scale,
)
from citymodel.converters._cityjson_write_appearance import AppearanceTables
from citymodel.converters._interchange_names import crs_url
from citymodel.converters._streaming_writer import StreamingWriter
from citymodel.crs import ResolvedCRS
from citymodel.errors import OutputError
from citymodel.model import Feature
from citymodel.report import JobReport

__all__ = ["CITYJSON_VERSION", "CityJSONWriter"]

log = logging.getLogger(__name__)

CITYJSON_VERSION: Final = "2.0"
_SAMPLE_FEATURES: Final = 512
_SAMPLE_VERTICES: Final = 200_000
_SEPARATORS: Final = (",", ":")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=_SEPARATORS, allow_nan=False)


class CityJSONWriter(StreamingWriter):
    """Streams top-level features into a CityJSON document or a CityJSONSeq file.

    Parameters
    ----------
    path
        ``.city.json`` (a document) or ``.city.jsonl``/``.jsonl`` (a sequence).
    crs
        The source CRS of the coordinates (``metadata.referenceSystem``); None: not stated
        (the report warns).
    report
        Receives objects CityJSON cannot hold (``skip``), notes (``warn``) and written counts.
    scale
        Fixed ``transform`` scale in CRS units; None: chosen from the data (1 mm or finer).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        crs: ResolvedCRS | None,
        report: JobReport,
        scale: float | None = None,
    ) -> None:
        if scale is not None and not (scale > 0 and np.isfinite(scale)):
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        self.path = Path(path)
        self.sequence = self.path.name.lower().endswith(".jsonl")
        self.report = report
        self.crs = crs
        self._scale = scale
        self._pending: list[Feature] = []
        self._pending_vertices = 0
        self._encoder: FeatureEncoder | None = None
        self._stack = ExitStack()
        self._out: BinaryIO | None = None
        self._spill: IO[bytes] | None = None
        self._uv_spill: IO[bytes] | None = None
        self._uv_count = 0
        self._vertex_count = 0
        self._object_count = 0
        self._lower: Float64Array | None = None
        self._upper: Float64Array | None = None
        self._rounded = 0
        self._max_rounding = 0.0
        self._exact_scale = True
        self.written: Counter[str] = Counter()
        """CityObjects written per type."""

    # -- writing -----------------------------------------------------------------------------

    def write(self, feature: Feature) -> None:
        """Add one top-level feature (its children are written with it)."""
        self._check_open()
        if self._encoder is None:
            self._pending.append(feature)
            self._pending_vertices += sum(
                g.vertex_count for f, _ in feature.walk() for g in f.geometries
            )
            if len(self._pending) >= _SAMPLE_FEATURES or self._pending_vertices >= _SAMPLE_VERTICES:
                self._start()
            return
        self._emit(feature)

    def flush(self) -> None:
        """Write the features held back to choose the ``transform``.

        :attr:`written` is complete afterwards.
        """
        if self._encoder is None and not self._closed:
            self._start()

    def close(self) -> None:
        """Finish the file and move it into place."""
        if self._closed:
            return
        try:
            if self._encoder is None:
                self._start()
            if not self.sequence:
                self._finish_document()
            self._stack.close()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._final_notes()

    def _discard(self) -> None:
        """Remove the partial output and the spill files."""
        with suppress(OutputError):
            self._stack.__exit__(OutputError, OutputError("aborted"), None)

    # -- internals ---------------------------------------------------------------------------

    def _skip(self, reason: str, feature: Feature) -> None:
        source = feature.source
        self.report.skip(
            reason,
            id=feature.id,
            file=source.path if source is not None else None,
            line=source.line if source is not None else None,
        )

    def _start(self) -> None:
        sample_list = [
            g.vertices for top in self._pending for f, _ in top.walk() for g in f.geometries
        ]
        sample = np.concatenate(sample_list) if sample_list else np.zeros((0, 3))
        if self._scale is None:
            self._exact_scale = choose_scale(sample)[1]
        quantizer = Quantizer.for_sample(sample, scale=self._scale)
        self._encoder = FeatureEncoder(
            quantizer,
            skip=self._skip,
            warn=self.report.warn,
            appearance=AppearanceTables(self.path),
            per_feature_appearance=self.sequence,
        )
        self._out = self._stack.enter_context(atomic_output(self.path))
        header: dict[str, Any] = {"type": "CityJSON", "version": CITYJSON_VERSION}
        header["transform"] = quantizer.to_json()
        metadata = self._metadata()
        if self.sequence:
            header["CityObjects"] = {}
            header["vertices"] = []
            if metadata:
                header["metadata"] = metadata
            self._out.write(_dumps(header).encode() + b"\n")
        else:
            self._spill = self._stack.enter_context(
                tempfile.TemporaryFile(  # noqa: SIM115 - closed by the exit stack
                    dir=self.path.parent, prefix=f".{self.path.name}."
                )
            )
            self._uv_spill = self._stack.enter_context(
                tempfile.TemporaryFile(  # noqa: SIM115 - closed by the exit stack
                    dir=self.path.parent, prefix=f".{self.path.name}.uv."
                )
            )
            text = _dumps(header)
            self._out.write(text[:-1].encode() + b',"CityObjects":{')
        pending, self._pending = self._pending, []
        for feature in pending:
            self._emit(feature)

    def _metadata(self) -> dict[str, Any]:
        if self.crs is None:
            self.report.warn(
                f"{self.path}: the source CRS is unknown; metadata.referenceSystem is not "
                "written (give it with --in-crs)"
            )
            return {}
        url = crs_url(self.crs)
        if url is None:
            self.report.warn(
                f"{self.path}: the source CRS {self.crs.to_string()[:80]!r} has no EPSG code; "
                "metadata.referenceSystem is not written"
            )
            return {}
        return {"referenceSystem": url}

    def _emit(self, top: Feature) -> None:
        assert self._encoder is not None
        for feature in self._encoder.prepare(top):
            self._emit_one(feature)

    def _emit_one(self, feature: Feature) -> None:
        assert self._encoder is not None and self._out is not None
        encoded = self._encoder.encode(feature, offset=0 if self.sequence else self._vertex_count)
        if encoded is None:
            return
        first = self._object_count == 0
        self._track(encoded)
        if self.sequence:
            line = {
                "type": "CityJSONFeature",
                "id": feature.id,
                "CityObjects": encoded.objects,
                "vertices": encoded.vertices.tolist(),
            }
            if encoded.appearance is not None:
                line["appearance"] = encoded.appearance
            self._out.write(_dumps(line).encode() + b"\n")
        else:
            self._emit_document_objects(encoded, first=first)

    def _emit_document_objects(self, encoded: EncodedFeature, *, first: bool) -> None:
        assert self._out is not None and self._spill is not None
        parts = [_dumps(oid) + ":" + _dumps(obj) for oid, obj in encoded.objects.items()]
        prefix = "" if first else ","
        self._out.write((prefix + ",".join(parts)).encode())
        if len(encoded.vertices):
            rows = _dumps(encoded.vertices.tolist())[1:-1]
            self._spill.write((("," if self._vertex_count else "") + rows).encode())
        self._vertex_count += len(encoded.vertices)
        if len(encoded.uv):
            assert self._uv_spill is not None
            rows = _dumps(encoded.uv.tolist())[1:-1]
            self._uv_spill.write((("," if self._uv_count else "") + rows).encode())
            self._uv_count += len(encoded.uv)

    def _track(self, encoded: EncodedFeature) -> None:
        self._object_count += len(encoded.objects)
        for obj in encoded.objects.values():
            self.written[str(obj["type"])] += 1
        if encoded.rounding > 1e-3 * self._encoder_scale():
            self._rounded += 1
        self._max_rounding = max(self._max_rounding, encoded.rounding)
        if len(encoded.vertices):
            lo = encoded.vertices.min(axis=0)
            hi = encoded.vertices.max(axis=0)
            self._lower = lo if self._lower is None else np.minimum(self._lower, lo)
            self._upper = hi if self._upper is None else np.maximum(self._upper, hi)

    def _encoder_scale(self) -> float:
        assert self._encoder is not None
        return self._encoder.quantizer.scale

    def _finish_document(self) -> None:
        assert self._out is not None and self._spill is not None
        out = self._out
        out.write(b'},"vertices":[')
        self._spill.seek(0)
        while chunk := self._spill.read(1 << 20):
            out.write(chunk)
        out.write(b"]")
        self._finish_appearance(out)
        metadata = self._metadata_quiet()
        extent = self._extent()
        if extent is not None:
            metadata["geographicalExtent"] = extent
        if metadata:
            out.write(b',"metadata":' + _dumps(metadata).encode())
        out.write(b"}\n")

    def _finish_appearance(self, out: BinaryIO) -> None:
        """The document's ``appearance`` member (tables, then the spilled texture vertices)."""
        assert self._encoder is not None and self._uv_spill is not None
        tables = self._encoder.appearance
        look = tables.tables_json() if tables is not None else {}
        if not look and not self._uv_count:
            return
        text = _dumps(look)
        out.write(b',"appearance":' + text[:-1].encode())
        out.write(b',"vertices-texture":[' if len(text) > 2 else b'"vertices-texture":[')
        self._uv_spill.seek(0)
        while chunk := self._uv_spill.read(1 << 20):
            out.write(chunk)
        out.write(b"]}")

    def _metadata_quiet(self) -> dict[str, Any]:
        url = crs_url(self.crs) if self.crs is not None else None
        return {"referenceSystem": url} if url is not None else {}

    def _extent(self) -> list[float] | None:
        if self._lower is None or self._upper is None or self._encoder is None:
            return None
        q = self._encoder.quantizer
        t = np.asarray(q.translate)
        lo = (self._lower * q.scale + t).tolist()
        hi = (self._upper * q.scale + t).tolist()
        return [*lo, *hi]

    def _final_notes(self) -> None:
        for source, target in sorted(self._encoder.renamed.items() if self._encoder else ()):
            self.report.warn(f"{self.path}: CityGML {source} objects written as CityJSON {target}")
        encoder = self._encoder
        for kind, count in sorted(encoder.unwrapped.items() if encoder else ()):
            self.report.warn(
                f"{self.path}: {count} {kind} object(s) have no CityJSON type: their components "
                "are written as top-level objects"
            )
        for kind, count in sorted(encoder.merged.items() if encoder else ()):
            self.report.warn(
                f"{self.path}: {count} {kind} object(s) written as {kind} semantic surfaces of "
                "their parent (CityJSON has no such objects; their ids and attributes are not "
                "kept)"
            )
        tables = encoder.appearance if encoder is not None else None
        for note, count in Counter(tables.notes if tables is not None else ()).items():
            self.report.warn(f"{self.path}: {note}" + (f" ({count} times)" if count > 1 else ""))
        if self._encoder is not None and self._encoder.reopened_rings:
            self.report.warn(
                f"{self.path}: {self._encoder.reopened_rings} ring(s) repeated their first vertex "
                "at the end; the repeat is dropped (CityJSON rings are open)"
            )
        if not self._exact_scale:
            self.report.warn(
                f"{self.path}: coordinates have more than {_decimals(self._encoder_scale())} "
                f"decimals; rounded to {self._encoder_scale()} (transform scale)"
            )
        elif self._rounded:
            self.report.warn(
                f"{self.path}: {self._rounded} object(s) have coordinates finer than the "
                f"transform scale {self._encoder_scale()} chosen from the first objects; rounded "
                f"by at most {self._max_rounding:.2g}"
            )


def _decimals(step: float) -> int:
    return max(0, round(-math.log10(step)))
