"""Atomic file output: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from gristmill.exceptions import OutputError


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
        Where to write. Removed if the block raises. The file that replaces ``target`` keeps
        the old file's permissions, or gets those of a newly created file (0666 less the
        umask), not the temporary file's 0600.

    Raises
    ------
    OutputError
        When ``target`` is a directory.
    """
    target = Path(target)
    if target.is_dir():
        raise OutputError(f"{target} is a directory; give a file path")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(target, 0o666))
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _mode_for(target: Path, new: int) -> int:
    """The permissions ``target`` has, or ``new`` less the umask when it does not exist."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return new & ~umask


def check_replaceable(
    target: str | os.PathLike[str], markers: str | tuple[str, ...], what: str
) -> None:
    """Raise unless writing the directory ``target`` can only replace gristmill's own output.

    ``target`` may be absent, an empty directory, or a directory holding every file of
    ``markers`` (by which gristmill recognises an earlier output of the same kind). Anything
    else (a file, a folder of the user's data, the project itself) is refused, never deleted.

    Parameters
    ----------
    target : path-like
        The output directory.
    markers : str or tuple of str
        Names of the files every output of this kind holds.
    what : str
        The kind of output, for the message (e.g. ``"run directory"``).

    Raises
    ------
    OutputError
        Naming ``target`` and why it is not replaced.
    """
    target = Path(target)
    names = (markers,) if isinstance(markers, str) else markers
    if not target.exists():
        return
    if not target.is_dir():
        raise OutputError(f"{target} is a file, not a {what}; give a new or empty directory")
    if all((target / name).is_file() for name in names) or not any(target.iterdir()):
        return
    raise OutputError(
        f"{target} holds files that are not a {what} (it lacks {', '.join(names)}); gristmill "
        "replaces only its own output: give a new or empty directory"
    )


def atomic_write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically and return the target path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def replace_directory(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Rename the complete directory ``source`` to ``target``, replacing any old ``target``.

    An old ``target`` is first renamed aside and removed only after the swap, so ``target``
    is always either the old directory or the new one. Both must be on one file system. The
    new directory gets the old one's permissions, or a new directory's (0777 less the umask),
    not those of a temporary directory (0700). Check ``target`` first with
    :func:`check_replaceable`.
    """
    source, target = Path(source), Path(target)
    os.chmod(source, _mode_for(target, 0o777))
    if target.exists():
        trash = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
        os.replace(target, trash)
        os.replace(source, target)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(source, target)
    return target
