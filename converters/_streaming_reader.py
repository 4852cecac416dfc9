"""The life cycle shared by the format readers (CityGML, CityJSON, IFC, LAS/LAZ).

A reader is a context manager that opens nothing heavy when it is made: it parses or scans
its input when asked (features, metadata, points). Leaving the ``with`` block calls
:meth:`~StreamingReader.close`, which drops what the reader keeps loaded (a parsed CityJSON
document, an opened IFC model); a closed reader stays usable and loads again when asked, so
closing twice, or using a reader without ``with``, is harmless.
"""

from __future__ import annotations

from typing import Self

__all__ = ["StreamingReader"]


class StreamingReader:
    """Base of the format readers: ``with`` support and :meth:`close`.

    Subclasses that keep something loaded between calls override :meth:`close` to drop it.
    """

    __slots__ = ()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:  # on errors too: a reader has nothing to undo
        self.close()

    def close(self) -> None:
        """Drop what the reader keeps loaded (nothing here); it loads again when used again."""
