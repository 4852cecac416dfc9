"""Inputs and outputs at fsspec URLs (``s3://bucket/city/``, ``gs://``, ``memory://`` ...).

Local paths never come here and never import fsspec: :func:`is_url` is a plain pattern check,
and ``file://`` URLs are turned into local paths (:func:`local_path`), so they keep the atomic
renames of local outputs.

Inputs
    :func:`expand_url` lists a folder (prefix) recursively or a glob pattern into
    :class:`RemoteFile` records (URL and size). Readers take local files (seeks in ``.zip``
    members, ``.gml.gz``, line numbers), so a task copies its remote file into a local
    temporary folder just before reading it and deletes it right after
    (:class:`InputStaging`): the disk used is one input file per running task. Messages, the
    job report and errors name the URL, never the temporary copy; the ``source_file``
    attribute is the file name in both cases, so a tileset from a bucket is byte-identical to
    one from a local copy of it.

Outputs
    The output is written locally first (a staging folder in the temporary folder, or
    ``--scratch-dir``) and uploaded when complete by :func:`upload_tileset`: an existing
    ``tileset.json`` at the URL is deleted first, then every content file is uploaded, then
    ``tileset.json`` last, then stale objects of the previous tileset are deleted. A reader
    therefore never sees a ``tileset.json`` pointing at missing (or half-replaced) content; a
    run that fails before the upload leaves the URL as it was, one that fails during the upload
    leaves no ``tileset.json``. A ``.3tz`` output or a single file (``convert``) is one object,
    uploaded with one ``put`` (atomic on S3).

Configuration is fsspec's: credentials and endpoints come from the environment of every
process that reads or writes (the client and, with Dask, every worker): for S3
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``,
``AWS_REGION``, ``AWS_ENDPOINT_URL`` (S3-compatible servers: MinIO, Ceph RGW, ...), or fsspec's
``FSSPEC_S3_<OPTION>`` variables (``FSSPEC_S3_ENDPOINT_URL``, ``FSSPEC_S3_ANON=true``).
Needs the ``cloud`` extra (fsspec, s3fs); other protocols need their fsspec backend (gcsfs,
adlfs ...).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import unquote, urlsplit

from citymodel.errors import CityModelError, InputError, MissingDependencyError, OutputError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from citymodel.report import JobReport

__all__ = [
    "InputStaging",
    "RemoteFile",
    "expand_url",
    "is_url",
    "local_path",
    "prepare_remote_file",
    "prepare_remote_output",
    "remote_error",
    "upload_file",
    "upload_files",
    "upload_tileset",
]

log = logging.getLogger(__name__)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_TILESET_JSON = "tileset.json"
_MAGIC = re.compile(r"[*?\[]")


def is_url(text: str | os.PathLike[str]) -> bool:
    """True for ``scheme://...`` (``file://`` included); local paths are never URLs."""
    return isinstance(text, str) and _URL.match(text) is not None


def local_path(text: str) -> Path | None:
    """The local path of a ``file://`` URL, else None."""
    parts = urlsplit(text)
    if parts.scheme.lower() != "file":
        return None
    if parts.netloc not in ("", "localhost"):
        raise InputError("file:// URLs must name a local path (file:///data/city)", path=text)
    return Path(unquote(parts.path))


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One input file at a URL.

    Attributes
    ----------
    url
        The file's URL with its protocol (``s3://bucket/city/a.gml``).
    size
        Size in bytes as listed (tasks are ordered by it; the copy is checked against it).
    """

    url: str
    size: int

    def __str__(self) -> str:
        return self.url

    @property
    def name(self) -> str:
        """The file name without folders."""
        return PurePosixPath(urlsplit(self.url).path).name


# -- file systems and errors ------------------------------------------------------------------


def filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """fsspec file system and path of ``url``.

    Raises
    ------
    MissingDependencyError
        Without fsspec, or without the protocol's backend (s3fs for ``s3://``).
    InputError
        For an unknown protocol.
    """
    try:
        import fsspec
    except ImportError as err:
        raise MissingDependencyError("fsspec", "cloud") from err
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as err:
        package = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs"}.get(
            url.split(":", 1)[0].lower(), str(err).split()[-1] if str(err) else "fsspec"
        )
        raise MissingDependencyError(package, "cloud") from err
    except ValueError as err:  # unknown protocol
        raise InputError(f"unsupported URL: {_first_line(err)}", path=url) from err
    return fs, str(path)


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def _credentials_problem(err: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(err)}
    return any(
        "Credentials" in n or n in {"InvalidAccessKeyId", "SignatureDoesNotMatch"} for n in names
    ) or any("credentials" in str(e).lower() or "InvalidAccessKeyId" in str(e) for e in _chain(err))


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def remote_error(url: str, err: Exception, *, what: str, output: bool = False) -> CityModelError:
    """A one-line :class:`InputError` (or :class:`OutputError`) naming ``url`` for ``err``."""
    if _credentials_problem(err):
        how = (
            "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE (and AWS_ENDPOINT_URL "
            "for an S3-compatible server)"
            if url.lower().startswith(("s3://", "s3a://"))
            else "configure the storage's credentials"
        )
        reason = (
            f"no valid credentials; {how} in the environment of every process that reads or writes"
        )
    elif isinstance(err, FileNotFoundError):
        reason = "not found (is the bucket or folder name right?)"
    elif isinstance(err, PermissionError):
        reason = f"access denied ({_first_line(err)})"
    else:
        reason = _first_line(err)
    message = f"{what}: {reason}"
    if output:
        return OutputError(f"{url}: {message}")
    return InputError(message, path=url)


# -- inputs ------------------------------------------------------------------------------------


def _join(fs: AbstractFileSystem, path: str) -> str:
    url = fs.unstrip_protocol(path)
    return str(url)


def expand_url(url: str, *, suffixes: Sequence[str]) -> list[RemoteFile]:
    """The files at ``url``: one file, a folder (prefix; recursively, ``suffixes`` only) or a glob.

    Folder contents and glob matches are sorted by URL.

    Raises
    ------
    InputError
        When nothing matches, the URL cannot be listed (missing bucket, no credentials,
        access denied) or its protocol is unknown.
    MissingDependencyError
        Without fsspec or the protocol's backend (extra ``cloud``).
    """
    fs, path = filesystem(url)
    try:
        if _MAGIC.search(path):
            found = fs.glob(path, detail=True)
            files = {_join(fs, p): info for p, info in found.items() if info.get("type") == "file"}
            if not files:
                raise InputError("pattern matches no files", path=url)
        else:
            info = fs.info(path)
            if info.get("type") == "directory":
                # URLs of the files below, spelled as the user spelled the folder's URL
                root, base = path.rstrip("/") + "/", url.rstrip("/") + "/"
                files = {
                    base + p[len(root) :] if p.startswith(root) else _join(fs, p): i
                    for p, i in fs.find(path, detail=True).items()
                    if i.get("type") == "file" and any(p.lower().endswith(s) for s in suffixes)
                }
                if not files:
                    raise InputError("folder holds no city model files", path=url)
            else:
                files = {url: info}
    except CityModelError:
        raise
    except Exception as err:
        raise remote_error(url, err, what="cannot list the input") from err
    return [RemoteFile(u, int(info.get("size") or 0)) for u, info in sorted(files.items())]


def _download(source: RemoteFile, folder: Path) -> Path:
    """Copy ``source`` into ``folder`` under its own name; return the local file."""
    fs, path = filesystem(source.url)
    target = folder / (source.name or "input")
    try:
        fs.get_file(path, str(target))
    except Exception as err:
        raise remote_error(source.url, err, what="cannot read the input") from err
    size = target.stat().st_size
    if source.size and size != source.size:
        raise InputError(
            f"changed while the job ran: {size} bytes now, {source.size} when listed",
            path=source.url,
        )
    return target


_LOG_NAMES: dict[str, str] = {}
"""Local copies being read in this process -> their URLs (for log records)."""
_LOG_LOCK = threading.Lock()
_LOG_FACTORY_INSTALLED = False


def _rename_in_log_records(local: str, url: str | None) -> None:
    """Make log records name ``url`` instead of ``local`` (``url`` None: stop doing so).

    One record factory, installed once per process, rewrites the message and string
    arguments of records created while a copy is being read, so that warnings such as
    skipped features name the URL the user gave, in this process and in worker processes.
    """
    global _LOG_FACTORY_INSTALLED
    with _LOG_LOCK:
        if url is None:
            _LOG_NAMES.pop(local, None)
            return
        _LOG_NAMES[local] = url
        if _LOG_FACTORY_INSTALLED:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _LOG_NAMES:
                names = dict(_LOG_NAMES)

                def renamed(value: object) -> object:
                    if not isinstance(value, str):
                        return value
                    for old, new in names.items():
                        value = value.replace(old, new)
                    return value

                record.msg = renamed(record.msg)
                if isinstance(record.args, tuple):
                    record.args = tuple(renamed(a) for a in record.args)
            return record

        logging.setLogRecordFactory(factory)
        _LOG_FACTORY_INSTALLED = True


class InputStaging:
    """Local copies of remote inputs, one at a time, named as their URLs in everything said.

    Use as a context manager around the reading of a task's inputs::

        with InputStaging(report) as staging:
            for path in staging.files(task.paths):   # Path: as given; RemoteFile: local copy
                ...

    Each remote file is copied into a private temporary folder right before it is yielded and
    deleted when the next one is requested (or at exit). At exit the report's inputs, CRS
    entries, skip records and warnings, and the message of an escaping :class:`CityModelError`,
    name the URL instead of the copy; so do log records made while a copy is read. Local paths
    pass through untouched.
    """

    def __init__(self, report: JobReport | None = None) -> None:
        self._report = report
        self._folder: Path | None = None
        self._names: dict[str, str] = {}

    def __enter__(self) -> Self:
        return self

    def files(self, sources: Iterable[Path | RemoteFile]) -> Iterator[Path]:
        """Yield a local path for each source (see the class docstring)."""
        for source in sources:
            if not isinstance(source, RemoteFile):
                yield source
                continue
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="citymodel-input-"))
            local = _download(source, self._folder)
            self._names[str(local)] = source.url
            _rename_in_log_records(str(local), source.url)
            try:
                yield local
            finally:
                local.unlink(missing_ok=True)
                _rename_in_log_records(str(local), None)

    def url_of(self, text: str) -> str:
        """``text`` with every local copy's path replaced by its URL."""
        for local, url in self._names.items():
            text = text.replace(local, url)
        return text

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._names:
                if self._report is not None:
                    self._rename_report(self._report)
                if isinstance(exc, CityModelError):
                    self._rename_error(exc)
        finally:
            for local in self._names:
                _rename_in_log_records(local, None)
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)

    def _rename_report(self, report: JobReport) -> None:
        report.inputs[:] = [self.url_of(p) for p in report.inputs]
        report.crs = {self.url_of(k): v for k, v in report.crs.items()}
        report.warnings[:] = [self.url_of(w) for w in report.warnings]
        report.skipped[:] = [
            replace(r, file=self.url_of(r.file)) if r.file is not None else r
            for r in report.skipped
        ]

    def _rename_error(self, exc: CityModelError) -> None:
        path = getattr(exc, "path", None)
        if isinstance(path, str):
            exc.path = self.url_of(path)  # type: ignore[attr-defined]
        message = getattr(exc, "message", None)
        if isinstance(message, str):
            exc.message = self.url_of(message)  # type: ignore[attr-defined]
        exc.args = tuple(self.url_of(a) if isinstance(a, str) else a for a in exc.args)


# -- outputs -----------------------------------------------------------------------------------


def _name(url: str) -> str:
    return PurePosixPath(urlsplit(url).path.rstrip("/")).name


def prepare_remote_output(url: str, *, archive: bool) -> str:
    """Check that a tileset can be written to ``url``; return its file or folder name.

    A folder output may be new, empty or hold a tileset (``tileset.json``), which is replaced;
    anything else is refused, as for local outputs. A probe object is written and deleted
    beside the output, so missing buckets, credentials and write permission show up before any
    work is done.

    Raises
    ------
    OutputError
        For any of those problems, naming ``url``.
    MissingDependencyError
        Without fsspec or the protocol's backend (extra ``cloud``).
    """
    name = _name(url)
    if not name:
        raise OutputError(f"{url}: give a folder (or .3tz file) below the bucket, not its root")
    fs, path = _output_filesystem(url)
    path = path.rstrip("/")
    with _checking_output(url):
        if fs.isdir(path):
            if archive:
                raise OutputError(f"{url}: is a folder; a .3tz output must be a file")
            listed = fs.ls(path, detail=False)
            names = {PurePosixPath(str(p).rstrip("/")).name for p in listed}
            if names and _TILESET_JSON not in names:
                raise OutputError(
                    f"{url}: exists, is not empty and holds no {_TILESET_JSON}; "
                    "refusing to replace a folder that is not a tileset"
                )
        elif not archive and fs.isfile(path):
            raise OutputError(f"{url}: exists and is not a folder")
        _probe_write(fs, path, name)
    return name


def _output_filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """The filesystem and path of an output URL; an unusable URL is an :class:`OutputError`."""
    try:
        return filesystem(url)
    except InputError as err:
        raise OutputError(f"{url}: {err.message}") from err


@contextmanager
def _checking_output(url: str) -> Iterator[None]:
    """Report a backend's failure while checking an output as an :class:`OutputError`."""
    try:
        yield
    except CityModelError:
        raise
    except Exception as err:
        raise remote_error(url, err, what="cannot write the output", output=True) from err


def _probe_write(fs: Any, path: str, name: str) -> None:
    """Write and delete an empty object beside ``path``: fails early without write access."""
    parent = path.rsplit("/", 1)[0] if "/" in path else path
    probe = f"{parent}/.{name}.probe-{os.getpid()}"
    fs.pipe_file(probe, b"")
    fs.rm_file(probe)


def upload_file(local: Path, url: str) -> None:
    """Upload one file to ``url`` (one object; replaces an existing one).

    Raises
    ------
    OutputError
        Naming ``url`` when the upload fails.
    """
    fs, path = filesystem(url)
    try:
        fs.put_file(str(local), path)
    except Exception as err:
        raise remote_error(url, err, what="upload failed", output=True) from err


def upload_tileset(staging: Path, url: str) -> int:
    """Upload the finished tileset folder ``staging`` to ``url``; return the bytes uploaded.

    Order (module docstring): the old ``tileset.json`` is deleted, the contents uploaded,
    ``tileset.json`` uploaded last, then objects of the old tileset that the new one does not
    have are deleted.

    Raises
    ------
    OutputError
        Naming ``url`` when a step fails (no ``tileset.json`` is left at ``url`` then).
    """
    fs, root = filesystem(url)
    root = root.rstrip("/")
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    names = [p.relative_to(staging).as_posix() for p in files]
    if _TILESET_JSON not in names:
        raise OutputError(f"{staging}: no {_TILESET_JSON} to upload")
    entry = f"{root}/{_TILESET_JSON}"
    try:
        old = {str(p) for p in fs.find(root)} if fs.isdir(root) else set()
        if entry in old:
            fs.rm_file(entry)
        contents = [
            (str(f), f"{root}/{n}") for f, n in zip(files, names, strict=True) if n != _TILESET_JSON
        ]
        if contents:
            fs.put([c[0] for c in contents], [c[1] for c in contents])
        fs.put_file(str(staging / _TILESET_JSON), entry)
        stale = sorted(old - {f"{root}/{n}" for n in names})
        if stale:
            fs.rm(stale)
    except Exception as err:
        raise remote_error(url, err, what="upload failed", output=True) from err
    log.info("uploaded %d files to %s", len(files), url)
    return sum(f.stat().st_size for f in files)


def prepare_remote_file(url: str) -> str:
    """Check that one file can be written to ``url``; return its file name.

    Raises
    ------
    OutputError
        When ``url`` names a folder or a bucket's root, or a probe object cannot be written
        beside it (missing bucket, no credentials, access denied).
    """
    name = _name(url)
    if not name or url.endswith("/"):
        raise OutputError(f"{url}: give a file name, not a folder")
    fs, path = _output_filesystem(url)
    with _checking_output(url):
        if fs.isdir(path):
            raise OutputError(f"{url}: is a folder")
        _probe_write(fs, path, name)
    return name


def upload_files(folder: Path, url: str, main: str) -> None:
    """Upload ``folder/main`` to ``url`` and the other files of ``folder`` beside it, first.

    A ``.obj`` output's ``.mtl`` goes up before the ``.obj`` that names it.

    Raises
    ------
    OutputError
        Naming ``url`` when an upload fails.
    """
    base = url.rsplit("/", 1)[0]
    for other in sorted(p for p in folder.iterdir() if p.is_file() and p.name != main):
        upload_file(other, f"{base}/{other.name}")
    upload_file(folder / main, url)
