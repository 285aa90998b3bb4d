"""Atomic file output: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path that replaces ``target`` only if the block succeeds.

    The temporary file lives in the target's directory so the final ``os.replace`` is atomic on
    POSIX file systems: readers see either the old file or the complete new one, never a half.

    Parameters
    ----------
    target : path-like
        Final destination. Its parent directory is created when missing.

    Yields
    ------
    pathlib.Path
        Where to write. Removed if the block raises.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically and return the target path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def replace_directory(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Rename the complete directory ``source`` to ``target``, replacing any old ``target``.

    An old ``target`` is first renamed aside and removed only after the swap, so ``target``
    is always either the old directory or the new one. Both must be on one file system.
    """
    source, target = Path(source), Path(target)
    if target.exists():
        trash = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
        os.replace(target, trash)
        os.replace(source, target)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(source, target)
    return target
