"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import functools
import warnings
from typing import Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from gristmill.exceptions import GristmillError

console = Console()
err_console = Console(stderr=True)


class GristmillGroup(TyperGroup):
    """Command group that reports a :class:`GristmillError` as one line and exit status 1.

    Errors gristmill raises on purpose carry a message meant for the user (naming the file, row,
    column or labeling function at fault), so no traceback is shown for them; its warnings
    (such as an ``IdentifiabilityWarning``) are printed the same way, as one ``warning:`` line.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
                return super().invoke(ctx)
        except GristmillError as exc:
            message = f"[bold red]error:[/] {escape(str(exc))}"
            err_console.print(message, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from exc


def _show_warning(
    default: Any, message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any
) -> None:
    """Print a warning gristmill defines as one ``warning:`` line; others as Python does."""
    if not category.__module__.startswith("gristmill"):
        default(message, category, *args, **kwargs)
        return
    line = f"[bold yellow]warning:[/] {escape(str(message))}"
    err_console.print(line, highlight=False, soft_wrap=True)
