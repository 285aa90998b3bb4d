"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import functools
import os
import sys
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from gristmill.exceptions import GristmillError

console = Console()
err_console = Console(stderr=True)

#: Exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED_STATUS = 130
_UNFINISHED = "unfinished outputs were not written (each is written whole or not at all)"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with the line that says what the interrupted work did not write.

    Raise it from the KeyboardInterrupt caught around a command's long work, when the command
    knows what that work leaves unwritten (``"the run directory was not written"``).
    """


class GristmillGroup(TyperGroup):
    """Command group that reports a :class:`GristmillError` as one line and exit status 1.

    Errors gristmill raises on purpose carry a message meant for the user (naming the file, row,
    column or labeling function at fault), so no traceback is shown for them, nor for the
    operating system's refusals of a path (permission denied, a directory where a file is
    expected, a full disk: ``<path>: <reason>``); its warnings
    (such as an ``IdentifiabilityWarning``) are printed the same way, as one ``warning:`` line.
    Ctrl-C ends a command with one ``interrupted:`` line and exit status 130: outputs are
    written to temporary files renamed when complete, so none is left half-written.
    """

    def invoke(self, ctx: Any) -> Any:  # a click Context: typer's own copy since typer 0.20
        try:
            with warnings.catch_warnings():
                warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
                return super().invoke(ctx)
        except GristmillError as exc:
            _show_error(str(exc))
            raise typer.Exit(1) from exc
        except KeyboardInterrupt as exc:
            what = str(exc) if isinstance(exc, Interrupted) else _UNFINISHED
            line = f"[bold red]interrupted:[/] {escape(what)}"
            err_console.print(line, highlight=False, soft_wrap=True)
            raise typer.Exit(INTERRUPTED_STATUS) from exc
        except BrokenPipeError as exc:  # the reader of the output left (``| head``): stop quietly
            _silence_stdout()
            raise typer.Exit(1) from exc  # as click does for its own output (--help)
        except OSError as exc:  # the file system refused: a path, not a bug, is at fault
            _show_error(_os_error_text(exc))
            raise typer.Exit(1) from exc


def _silence_stdout() -> None:
    """Point standard output at the null device, so that flushing it at exit cannot fail again."""
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), sys.stdout.fileno())


class Output(NamedTuple):
    """An output path of a command: ``option`` (e.g. ``--out``) and what it must be."""

    option: str
    path: Path | None
    kind: str = "file"  # "file", "table" (a file in a format read_table reads) or "directory"


def check_paths(inputs: dict[str, Path | None], outputs: list[Output]) -> None:
    """Refuse, before any work, outputs that would replace an input or each other.

    Also refuses a file output that is an existing directory (or the reverse), a table output
    whose extension names no table format, and a path under an existing file, so that a
    command fails before it writes any of its outputs rather than halfway through them.

    Parameters
    ----------
    inputs : dict of option to path
        The command's input files and folders (``None`` when not given).
    outputs : list of Output
        The command's outputs (``path`` ``None`` when not given).

    Raises
    ------
    OutputError
        Naming the option and path at fault.
    """
    from gristmill.exceptions import OutputError
    from gristmill.io import table_format

    sources = {path.resolve(): option for option, path in inputs.items() if path is not None}
    taken: dict[Path, str] = {}
    for output in outputs:
        if output.path is None:
            continue
        path, option = output.path, output.option
        resolved = path.resolve()
        if resolved in sources:
            raise OutputError(
                f"{path}: {option} would overwrite the input given as {sources[resolved]}; "
                "inputs are never modified"
            )
        if resolved in taken:
            raise OutputError(f"{path}: {option} and {taken[resolved]} name the same path")
        taken[resolved] = option
        if output.kind == "directory" and path.is_file():
            raise OutputError(f"{path}: {option} needs a directory; this is a file")
        if output.kind != "directory" and path.is_dir():
            raise OutputError(f"{path}: {option} needs a file path; this is a directory")
        if output.kind == "table":
            table_format(path)
        blocker = next((p for p in resolved.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise OutputError(f"{path}: {option} lies under {blocker}, which is a file")


def _show_error(text: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)


def _os_error_text(exc: OSError) -> str:
    """``<path>: <reason>`` for an error the operating system raised about a path."""
    if exc.filename is None:
        return str(exc)
    reason = exc.strerror or type(exc).__name__
    if exc.filename2 is not None:
        return f"{exc.filename} -> {exc.filename2}: {reason}"
    return f"{exc.filename}: {reason}"


def _show_warning(
    default: Any, message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any
) -> None:
    """Print a warning gristmill defines as one ``warning:`` line; others as Python does."""
    if not category.__module__.startswith("gristmill"):
        default(message, category, *args, **kwargs)
        return
    line = f"[bold yellow]warning:[/] {escape(str(message))}"
    err_console.print(line, highlight=False, soft_wrap=True)
