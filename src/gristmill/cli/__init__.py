"""The ``gristmill`` command line: a thin typer app over the package API.

Each command group lives in its own module here and registers itself on :data:`app`; commands
import the heavy parts of gristmill only when they run, so ``gristmill --help`` is fast.
"""

from __future__ import annotations

import importlib

import typer

from gristmill._version import __version__
from gristmill.cli._common import GristmillGroup, console

app = typer.Typer(
    name="gristmill",
    cls=GristmillGroup,
    help="Data-centric ML: label programmatically, repair data, train, track, serve, monitor.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command-group modules; each defines ``register(app)``.
_COMMAND_MODULES: tuple[str, ...] = (
    "clean", "impute", "label", "lfs", "models", "monitor", "report", "run", "serve"
)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"gristmill {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """gristmill: data-centric machine learning."""


for _module in _COMMAND_MODULES:
    importlib.import_module(f"gristmill.cli.{_module}").register(app)


def main() -> None:
    """Entry point of the ``gristmill`` console script."""
    app()


__all__ = ["app", "main"]
