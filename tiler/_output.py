"""Atomic tileset output: a staging folder beside the output, renamed (or packed) when complete.

A tileset is written into ``.<name>.partial-<pid>`` beside the output folder (``tileset.json``
last). :meth:`OutputTarget.publish` then renames it into place; an existing tileset folder is
first moved aside (``.<name>.old-<pid>``) and deleted only after the new one is in place, so a
reader sees the old or the new tileset, never a mixture and never a ``tileset.json`` pointing at
missing content. A ``.3tz`` output is packed from the staging folder
(:func:`~citymodel.tiler.archive.write_3tz`, itself atomic). :meth:`OutputTarget.discard`
removes the staging folder of a failed run.

A run killed outright (SIGKILL, power loss) cannot clean up. The next run on the same output
does it (:func:`recover_leftovers`): every ``.<name>.partial-<pid>``, ``.<name>.old-<pid>`` and
``.<name>.scratch-<pid>-*`` folder whose process no longer runs on this machine is removed, except
that an ``.old`` folder is first renamed back into place when the output itself is missing (the
run died between its two renames, so the previous tileset is restored). Folders of a process that
is still alive are left alone, so two runs on one output do not delete each other's work. (With
outputs on storage shared between machines, a pid says nothing about another host's processes:
run one job per output there.)

An output at an fsspec URL (``s3://bucket/tiles/city``; :mod:`citymodel.remote`) is staged the
same way in a local folder (the temporary folder, or ``local_base``) and uploaded by
:meth:`OutputTarget.publish`: contents first, ``tileset.json`` last (a ``.3tz`` as one object).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from citymodel.errors import OutputError
from citymodel.remote import is_url, local_path, prepare_remote_output, upload_file, upload_tileset
from citymodel.tiler.archive import write_3tz

__all__ = ["TILESET_JSON", "OutputTarget", "recover_leftovers", "scratch_folder"]

TILESET_JSON = "tileset.json"

log = logging.getLogger(__name__)


def _os_error(path: Path, what: str, err: OSError) -> OutputError:
    return OutputError(f"{path}: {what}: {err.strerror or err}")


def _process_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this machine (it may belong to another user)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_leftovers(output: Path, folder: Path | None = None) -> list[Path]:
    """Clean up after runs on ``output`` that were killed; return the folders removed.

    See the module docstring. ``folder`` is where to look (default: beside ``output``; the
    scratch folder may live elsewhere). An ``.old`` folder is renamed back to ``output`` when
    ``output`` is missing; other leftovers of dead processes are deleted.
    """
    pattern = re.compile(rf"^\.{re.escape(output.name)}\.(partial|old|scratch)-(\d+)(?:-.*)?$")
    removed: list[Path] = []
    try:
        siblings = sorted((folder or output.parent).iterdir())
    except OSError:
        return removed
    for path in siblings:
        match = pattern.match(path.name)
        if match is None or not path.is_dir() or _process_alive(int(match.group(2))):
            continue
        if match.group(1) == "old" and not output.exists():
            try:
                path.rename(output)
            except OSError as err:
                raise _os_error(output, "cannot restore the previous tileset", err) from err
            log.warning("%s: restored the previous tileset left by a killed run", output)
            continue
        shutil.rmtree(path, ignore_errors=True)
        log.info("removed %s, left by a killed run", path)
        removed.append(path)
    return removed


@dataclass(frozen=True, slots=True)
class OutputTarget:
    """Where a tileset goes: the output folder or ``.3tz`` file and its staging folder.

    Attributes
    ----------
    output
        Absolute output path; for a URL output the local path the tileset is built under
        (in the temporary folder) before it is uploaded.
    archive
        True for a ``.3tz`` output.
    staging
        The folder the tileset is written into, beside ``output``.
    remote
        The fsspec URL of the output, or None for a local output.
    """

    output: Path
    archive: bool
    staging: Path
    remote: str | None = None

    @property
    def location(self) -> str:
        """The output as the user named it: the URL, or the absolute path."""
        return self.remote if self.remote is not None else str(self.output)

    @classmethod
    def prepare(
        cls, output: str | os.PathLike[str], *, local_base: Path | None = None
    ) -> OutputTarget:
        """Check ``output`` and create an empty staging folder beside it.

        A folder output may be new, empty or an existing tileset (a folder holding
        ``tileset.json``), which is replaced at the end; any other folder is refused. The
        same holds for an output at an fsspec URL, whose staging folder is made below
        ``local_base`` (default: the temporary folder); ``file://`` URLs are local paths.

        Raises
        ------
        OutputError
            For a ``.json`` path, a ``.3tz`` path that is a folder, a folder output that is a
            file or a non-empty folder without ``tileset.json``, or an unwritable location
            (for URLs also: missing bucket, no credentials, access denied).
        """
        if is_url(output):
            text = os.fspath(output)
            local = local_path(text)
            if local is None:
                return cls._prepare_remote(text, local_base)
            output = local
        out = Path(output).absolute()
        if out.parent.is_dir():
            recover_leftovers(out)
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

    @classmethod
    def _prepare_remote(cls, url: str, local_base: Path | None) -> OutputTarget:
        if url.lower().endswith(".json"):
            raise OutputError(f"{url}: give the output folder (or a .3tz file), not a JSON file")
        archive = url.lower().endswith(".3tz")
        name = prepare_remote_output(url, archive=archive)
        base = (local_base or Path(tempfile.gettempdir())).absolute()
        shadow = base / name
        staging = base / f".{name}.partial-{os.getpid()}"
        try:
            base.mkdir(parents=True, exist_ok=True)
            recover_leftovers(shadow)
            staging.mkdir()
        except OSError as err:
            raise _os_error(staging, "cannot create the staging folder", err) from err
        return cls(shadow, archive, staging, remote=url)

    def publish(self) -> int:
        """Move the finished staging folder into place (or pack it); return the output's bytes.

        A URL output is uploaded (module docstring) and its local files removed.

        Raises
        ------
        OutputError
            When the tileset cannot be moved, packed or uploaded.
        """
        if self.remote is not None:
            return self._upload(self.remote)
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

    def _upload(self, url: str) -> int:
        try:
            if self.archive:
                write_3tz(self.staging, self.output)
                size = self.output.stat().st_size
                upload_file(self.output, url)
                return size
            return upload_tileset(self.staging, url)
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the staging folder (after a failure; for URL outputs also a packed .3tz)."""
        shutil.rmtree(self.staging, ignore_errors=True)
        if self.remote is not None and self.archive:
            self.output.unlink(missing_ok=True)


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
        if base is not None:
            recover_leftovers(output, base)
        prefix = f".{output.name}.scratch-{os.getpid()}-"
        return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    except OSError as err:
        raise _os_error(parent, "cannot create the scratch folder", err) from err


def folder_bytes(folder: Path) -> int:
    """Total size of the files below ``folder``, bytes."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
