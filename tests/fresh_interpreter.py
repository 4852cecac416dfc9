"""Run a probe script in a fresh Python interpreter (for what one process can do only once).

A process's fork server keeps the preload of its first pool, so tests of worker start-up run
their pool in a new interpreter and read back what it printed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def last_line(folder: Path, name: str, source: str, *, timeout: float = 120.0) -> str:
    """Write ``source`` to ``folder/name``, run it with this interpreter, return its last line."""
    script = folder / name
    script.write_text(source)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=timeout
    )
    return done.stdout.strip().splitlines()[-1]
