"""
What the CLI prints: plain lines through Typer's echo (styled on a terminal, plain in a pipe or a
file), and rich only for tables, imported when one is printed: rich's console costs 40 ms to
import, and `status`, errors and usage errors print without it.
"""

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.table import Table

PIPED_WIDTH = 10_000
"""Output that is not a terminal is not wrapped at 80 columns: one table row, one line."""


def say(message: str, **style: Any) -> None:
    """One line on stdout (`err=True`: stderr), in Typer's `style` (fg, bold) on a terminal."""
    err = style.pop("err", False)
    typer.echo(typer.style(message, **style) if style else message, err=err)


def error(message: str) -> None:
    """`error: message` on stderr."""
    typer.echo(f"{typer.style('error:', fg='red', bold=True)} {message}", err=True)


def warn(message: str) -> None:
    """`warning: message` on stderr."""
    typer.echo(f"{typer.style('warning:', fg='yellow')} {message}", err=True)


def print_table(table: "Table") -> None:
    """A table on stdout: in a terminal, long cells wrap (never cut to `…`); in a pipe or a
    file, each row is one line however wide, as grep and a log need it."""
    from rich.console import Console

    for column in table.columns:
        column.overflow = "fold"
    console = Console()
    (console if console.is_terminal else Console(width=PIPED_WIDTH)).print(table)
