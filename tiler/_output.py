"""Atomic tileset output: a staging folder beside the output, renamed (or packed) when complete.

A tileset is written into ``.<name>.partial-<pid>`` beside the output folder (``tileset.json``
last). :meth:`OutputTarget.publish` then renames it into place; an existing tileset folder is
first moved aside (``.<name>.old-<pid>``) and deleted only after the new one is in place, so a
reader sees the old or the new tileset, never a mixture and never a ``tileset.json`` pointing at
missing content. A ``.3tz`` output is packed from the staging folder
(:func:`~citymodel.tiler.archive.write_3tz`, itself atomic). :meth:`OutputTarget.discard`
removes the staging folder of a failed run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from citymodel.errors import OutputError
from citymodel.tiler.archive import write_3tz

__all__ = ["TILESET_JSON", "OutputTarget", "scratch_folder"]

TILESET_JSON = "tileset.json"


def _os_error(path: Path, what: str, err: OSError) -> OutputError:
    return OutputError(f"{path}: {what}: {err.strerror or err}")


@dataclass(frozen=True, slots=True)
class OutputTarget:
    """Where a tileset goes: the output folder or ``.3tz`` file and its staging folder.

    Attributes
    ----------
    output
        Absolute output path.
    archive
        True for a ``.3tz`` output.
    staging
        The folder the tileset is written into, beside ``output``.
    """

    output: Path
    archive: bool
    staging: Path

    @classmethod
    def prepare(cls, output: str | os.PathLike[str]) -> OutputTarget:
        """Check ``output`` and create an empty staging folder beside it.

        A folder output may be new, empty or an existing tileset (a folder holding
        ``tileset.json``), which is replaced at the end; any other folder is refused.

        Raises
        ------
        OutputError
            For a ``.json`` path, a ``.3tz`` path that is a folder, a folder output that is a
            file or a non-empty folder without ``tileset.json``, or an unwritable location.
        """
        out = Path(output).absolute()
        suffix = out.suffix.lower()
        archive = suffix == ".3tz"
        if suffix == ".json":
            raise OutputError(f"{out}: give the output folder (or a .3tz file), not a JSON file")
        if archive and out.is_dir():
            raise OutputError(f"{out}: is a folder; a .3tz output must be a file")
        if not archive and out.exists():
            if not out.is_dir():
                raise OutputError(f"{out}: exists and is not a folder")
            if any(out.iterdir()) and not (out / TILESET_JSON).is_file():
                raise OutputError(
                    f"{out}: exists, is not empty and holds no {TILESET_JSON}; "
                    "refusing to replace a folder that is not a tileset"
                )
        staging = out.parent / f".{out.name}.partial-{os.getpid()}"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
        except OSError as err:
            raise _os_error(staging, "cannot create the staging folder", err) from err
        return cls(out, archive, staging)

    def publish(self) -> int:
        """Move the finished staging folder into place (or pack it); return the output's bytes.

        Raises
        ------
        OutputError
            When the tileset cannot be moved or packed.
        """
        if self.archive:
            write_3tz(self.staging, self.output)
            shutil.rmtree(self.staging, ignore_errors=True)
            return self.output.stat().st_size
        size = folder_bytes(self.staging)
        out = self.output
        try:
            if out.exists():
                old = out.parent / f".{out.name}.old-{os.getpid()}"
                out.rename(old)
                try:
                    self.staging.rename(out)
                except OSError:
                    old.rename(out)
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                self.staging.rename(out)
        except OSError as err:
            raise _os_error(out, "cannot move the finished tileset into place", err) from err
        return size

    def discard(self) -> None:
        """Remove the staging folder (after a failure)."""
        shutil.rmtree(self.staging, ignore_errors=True)


def scratch_folder(base: Path | None, output: Path) -> Path:
    """A new, empty scratch folder below ``base`` (default: beside ``output``).

    Raises
    ------
    OutputError
        When it cannot be created.
    """
    parent = base if base is not None else output.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{output.name}.scratch-", dir=parent))
    except OSError as err:
        raise _os_error(parent, "cannot create the scratch folder", err) from err


def folder_bytes(folder: Path) -> int:
    """Total size of the files below ``folder``, bytes."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
