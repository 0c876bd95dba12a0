"""
`pipelines dev`: stand-ins for the external APIs the example flows read, so they run offline.

    pipelines dev randomuser --port 8000
    pipelines run "Users report" -p api_url=http://127.0.0.1:8000/api/
"""

import signal
import threading
from typing import Annotated

import typer

from pipelines.framework import stack  # its face: the stand-in loads without Prefect

dev_app = typer.Typer(
    help="Stand-ins for external APIs, to run the example flows offline.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@dev_app.command("randomuser")
def randomuser(
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    mode: Annotated[
        str,
        typer.Option(help="ok, or misbehave as a real API does: 500, html, hang, short."),
    ] = "ok",
):
    """Serve randomuser.me's `GET /api/?results=N&format=csv` here until Ctrl-C."""
    try:
        api = stack.RandomUserAPI(mode=mode, host=host, port=port)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--mode") from None
    except OSError as exc:  # the port is taken, or the address is not this machine's
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    with api:
        typer.echo(f"randomuser stand-in ({mode}) on {api.url}")
        typer.echo(f'try: pipelines run "Users report" -p api_url={api.url}')
        typer.echo("Ctrl-C stops it")
        _wait_for_stop()


def _wait_for_stop() -> None:
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
