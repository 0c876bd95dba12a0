"""
The console script. `pipelines run` goes to the warm runner as typed, before Typer parses it:
the runner's child parses it as this process would have, and here Typer alone (its parameter
coercion imports pydantic) was a third of the caller's part of a warm run.
"""

import sys


def main() -> None:
    """`pipelines ARGS`: a run the warm runner takes ends with its exit code; every other command,
    `run --help`, a run that names no flow and a run no runner can take are the app's, in this
    process."""
    args = sys.argv[1:]
    if args[:1] == ["run"] and "--help" not in args and names_a_flow(args[1:]):
        from pipelines.framework.cli import runner  # pylint: disable=import-outside-toplevel

        code = runner.hand_over(args, starting=_boot_server)
        if code is not None:
            raise SystemExit(code)
    from pipelines.framework.cli import app  # pylint: disable=import-outside-toplevel

    app()


def names_a_flow(args: list[str]) -> bool:
    """Whether `pipelines run ARGS` has its one argument, the flow: without it the command is a
    usage error, which must not start a runner or boot the local server first."""
    tokens = iter(args)
    for token in tokens:
        if token == "--":
            return next(tokens, None) is not None
        if token in ("-p", "--param"):
            next(tokens, None)  # its value
        elif token == "-" or not token.startswith("-"):
            return True
    return False


def _boot_server() -> None:
    """The local server boots while a new runner imports Prefect (a warm runner's child finds
    it, or starts it)."""
    from pipelines.framework import stack  # pylint: disable=import-outside-toplevel

    stack.start_in_background()
