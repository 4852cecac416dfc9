"""Allocator settings for worker processes: reuse freed large blocks instead of unmapping them.

The workers' per-chunk numpy arrays are large (tens of MB) and short-lived. With glibc's
defaults each of them is ``mmap``-ed, touched page by page (a page fault and a zeroed page
each) and ``munmap``-ed when freed, one chunk after another: measured 0.5-1 CPU-s of system
time per 10 M LiDAR points, and half the time of an allocation-bound loop. Raising the
``mmap`` threshold and the trim threshold keeps freed blocks in the heap, where the next
chunk reuses them. The peak memory is unchanged (the blocks are reused, not added); a worker
keeps up to :data:`TRIM_BYTES` of free heap instead of returning it at once.

Only glibc has ``mallopt``; elsewhere (musl, macOS, Windows) nothing changes.
"""

from __future__ import annotations

import ctypes
import logging
import sys

__all__ = ["MMAP_BYTES", "TOP_PAD_BYTES", "TRIM_BYTES", "reuse_freed_blocks"]

log = logging.getLogger(__name__)

MMAP_BYTES = 256 << 20
"""Blocks from this size on are still ``mmap``-ed (and returned at once when freed)."""
TRIM_BYTES = 512 << 20
"""Free memory at the top of the heap kept for reuse before it is returned to the system."""
TOP_PAD_BYTES = 64 << 20
"""Extra memory asked for whenever the heap grows."""

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


def reuse_freed_blocks() -> bool:
    """Apply the settings above to this process's glibc allocator; False where there is none."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = all(
        mallopt(option, value) == 1
        for option, value in (
            (_M_MMAP_THRESHOLD, MMAP_BYTES),
            (_M_TRIM_THRESHOLD, TRIM_BYTES),
            (_M_TOP_PAD, TOP_PAD_BYTES),
        )
    )
    if not done:
        log.debug("mallopt refused the allocator settings")
    return done
