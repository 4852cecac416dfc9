"""Atomic file output: write to a temporary file beside the target, then rename over it.

Readers of the target never see a half-written file, and a failed write leaves no debris and
no previous content destroyed. The temporary file is created with the process umask (like
``open(path, "w")``), not with :func:`tempfile.mkstemp`'s private ``0600`` mode.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from citymodel.errors import OutputError

__all__ = ["atomic_output", "write_bytes_atomic"]


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a binary stream whose content replaces ``path`` when the ``with`` block succeeds.

    The parent folder is created when missing. On any exception the temporary file is removed
    and ``path`` is left untouched.

    Raises
    ------
    OutputError
        When the temporary file cannot be created, written or renamed.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as err:
        raise OutputError(
            f"{target}: cannot create the output file: {err.strerror or err}"
        ) from err
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
        tmp.replace(target)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            raise OutputError(
                f"{target}: cannot write the output file: {err.strerror or err}"
            ) from err
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes | Iterable[bytes]) -> None:
    """Write ``data`` (one buffer or a sequence of chunks) to ``path`` atomically.

    Raises
    ------
    OutputError
        When the file cannot be written.
    """
    with atomic_output(path) as stream:
        if isinstance(data, (bytes, bytearray, memoryview)):
            stream.write(data)
        else:
            for chunk in data:
                stream.write(chunk)
