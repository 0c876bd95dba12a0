"""
The `pipelines` command (a Typer app; `pyproject.toml` points the console script here): list, run,
scaffold, check, register and backfill flows, the local stack, local secrets.
"""

from pipelines.framework.cli.main import app

__all__ = ["app"]
