"""Helpers shared by the CLI command modules."""

from __future__ import annotations

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
    column or labeling function at fault), so no traceback is shown for them.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GristmillError as exc:
            message = f"[bold red]error:[/] {escape(str(exc))}"
            err_console.print(message, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from exc
