"""
`pipelines secrets set|get|list`: secrets for local development, kept as Prefect Secret blocks on
the local server (started if needed), encrypted with the key in `<home>/encryption.key`.

    pipelines secrets set db/sme username=sme_reader password=...   # lands in shell history
    echo '{"username": "sme_reader", "password": "..."}' | pipelines secrets set db/sme --stdin
    pipelines secrets get db/sme            # keys, values masked
    pipelines secrets get db/sme --reveal   # the values
    pipelines secrets list                  # every secret; `list db/` those under db/
"""

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from pipelines.framework import secrets, stack  # faces: Prefect loads on first use, not at --help

secrets_app = typer.Typer(
    help="Secrets for local development (Prefect Secret blocks on the local server).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _local_server() -> Iterator[None]:
    """Talk to the local server (or `PREFECT_API_URL`); a server error is a one-line exit."""
    try:
        url = stack.ensure_server()
        with stack.api_settings(url):
            yield
    except stack.ServerError as exc:  # not started, or not answering
        raise _fail(str(exc), 1) from None


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """`key=value` arguments into a dict; a pair without `=` is a usage error naming the key."""
    secret = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {key!r} without '='")
        secret[key] = value
    return secret


def _read_stdin() -> dict[str, str]:
    try:
        value = json.loads(sys.stdin.read())
    except ValueError:
        raise _fail("stdin is not valid JSON (expected an object of key/value pairs)", 2) from None
    if not isinstance(value, dict) or not value:
        raise _fail("stdin must hold a non-empty JSON object of key/value pairs", 2)
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


@secrets_app.command("set")
def set_secret(
    path: Annotated[str, typer.Argument(help="Secret path, e.g. db/sme.")],
    pairs: Annotated[list[str] | None, typer.Argument(help="key=value pairs.")] = None,
    stdin: Annotated[
        bool,
        typer.Option("--stdin", help="Read a JSON object from stdin: no values in argv."),
    ] = False,
):
    """Store a secret (replacing it) as a Prefect Secret block on the local server."""
    if bool(pairs) == stdin:
        raise _fail("give key=value pairs or --stdin (one of them)", 2)
    value = _read_stdin() if stdin else parse_pairs(pairs or [])
    secrets.register_secret(value)
    with _local_server():
        try:
            name = secrets.write_block_secret(path, value)
        except secrets.SecretError as exc:
            raise _fail(str(exc), 2) from None
    typer.echo(f"stored {path!r} in Secret block {name!r} (keys: {', '.join(sorted(value))})")


@secrets_app.command("get")
def get_secret_command(
    path: Annotated[str, typer.Argument(help="Secret path, e.g. db/sme.")],
    reveal: Annotated[bool, typer.Option("--reveal", help="Print the values.")] = False,
):
    """Show a secret's keys, values masked unless `--reveal`."""
    with _local_server():
        try:
            value = secrets.PrefectBlockBackend().read(path)
        except secrets.SecretError as exc:
            raise _fail(str(exc), 1) from None
    if value is None:
        block = secrets.block_name(path)
        raise _fail(f"no secret {path!r} (Secret block {block!r}) on the server", 1)
    shown = value if reveal else dict.fromkeys(value, secrets.MASK)
    typer.echo(json.dumps(shown, indent=2, ensure_ascii=False))


@secrets_app.command("list")
def list_secrets(
    prefix: Annotated[
        str, typer.Argument(help="Only the paths that start with this, e.g. db/.")
    ] = "",
):
    """Every Secret block on the local server (the names secret paths map to), or those under
    a path prefix."""
    with _local_server():
        try:
            names = secrets.list_block_secrets(prefix)
        except secrets.SecretError as exc:
            raise _fail(str(exc), 2) from None
    for name in names:
        typer.echo(name)
