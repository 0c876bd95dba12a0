"""Where the state folder is, for a command that must know it before anything heavy loads:
`pipelines run` finds its warm runner there and `pipelines status` the stack's state files, and
building `Settings` (pydantic) took longer than the rest of either."""

import os
from pathlib import Path

import pipelines

REPO_ROOT = Path(pipelines.__file__).resolve().parent.parent
DEFAULT_HOME = REPO_ROOT / ".pipelines"


def plain_home() -> Path | None:
    """`Settings().home` where nothing but the environment can set it: `PIPELINES_HOME` (in any
    case, as pydantic-settings reads it), else the default. None when a `.env` here may set it,
    or the environment has it twice: `get_settings()` decides."""
    if os.path.lexists(".env"):
        return None
    given = [value for name, value in os.environ.items() if name.upper() == "PIPELINES_HOME"]
    if len(given) > 1:
        return None
    return Path(given[0]) if given else DEFAULT_HOME


def state_home() -> Path:
    """`Settings().home`, building the settings (pydantic-settings, 0.1 s) only when
    `plain_home` cannot tell."""
    home = plain_home()
    if home is None:
        from pipelines.framework.config.settings import get_settings  # pylint: disable=import-outside-toplevel

        home = get_settings().home
    return home


def server_state_file(home: Path) -> Path:
    """The local server's state file in the state folder `home`."""
    return home / "server.json"
