"""Atomic file writes: a reader sees the old file or the complete new one, never a partial one."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it into place.

    The rename is atomic on POSIX file systems, so an interrupt leaves either the previous file
    or the finished new one. The file gets the permissions of any other new file (``0o666``
    less the process umask), not ``tempfile.mkstemp``'s private ``0o600``: results are meant
    to be shared with the group like the rest of an output folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _create_temporary(path)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def _create_temporary(path: Path) -> Path:
    """Create an empty, new, uniquely named file next to ``path`` with mode 0o666 & ~umask
    (the kernel applies the umask, so nothing reads or changes the process-wide umask)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"could not create a temporary file next to {path}")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""

    def write(p: Path) -> None:
        p.write_text(text, encoding="utf-8")

    return atomic_write(path, write)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, sort_keys: bool = True) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically (NaN/inf are refused).

    ``sort_keys=False`` keeps the mappings' order, for results whose order is meaningful (the
    columns and series of a report).
    """
    text = json.dumps(obj, indent=2, sort_keys=sort_keys, allow_nan=False)
    return atomic_write_text(path, text)
