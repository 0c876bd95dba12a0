"""
The `pipelines` command (a Typer app; `pyproject.toml` points the console script at
`console.main`): list, run, scaffold, check, register and backfill flows, the local stack, local
secrets.
"""

from typing import TYPE_CHECKING

from pipelines.framework import lazy_names

if TYPE_CHECKING:
    from pipelines.framework.cli.main import app

__all__ = ["app"]
__getattr__ = lazy_names(__name__)
