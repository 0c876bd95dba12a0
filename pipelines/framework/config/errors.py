"""
The usage-error type: every mistake in what a user asked for derives from it.
"""


class UsageError(Exception):
    """A mistake in what the user asked for (a name, a value, a window, a setting): the
    `pipelines` command prints its message on one line and exits 2. Any other exception is a bug,
    and the command lets it show its traceback."""
