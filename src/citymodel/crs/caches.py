"""Per-process caches of PROJ objects, emptied together when PROJ's grid search path changes.

A transformer built before a grid folder was registered may have been built without a grid
that is now available (GEO-1), so :func:`~citymodel.crs.grids.register_grids` calls
:func:`clear_caches` whenever it adds a folder.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["clear_caches", "cleared_with_grids"]

K = TypeVar("K")
V = TypeVar("V")

_CACHES: list[dict[Any, Any]] = []


def cleared_with_grids(cache: dict[K, V]) -> dict[K, V]:
    """Register ``cache`` to be emptied by :func:`clear_caches`; return it."""
    _CACHES.append(cache)
    return cache


def clear_caches() -> None:
    """Empty every registered cache (transformers are rebuilt on next use)."""
    for cache in _CACHES:
        cache.clear()
