"""
The platform itself, in packages named for their job (docs/architecture.md draws the house):

    cli -> stack -> deploy -> runtime -> storage, secrets -> config

An arrow points to what a package may import; tests/unit/test_layering.py checks it. Each
package's `__init__.py` is its face: what the others may use, in `__all__`. This module holds the
one thing the faces share: `lazy_names`, so a face stays cheap to import when the modules behind
it import Prefect.
"""

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def lazy_names(face: str) -> Callable[[str], Any]:
    """The module `__getattr__` of the face `face`: the names it imports under
    `if TYPE_CHECKING:` are imported on first use, from the module named there.

    That block is the one list of the lazy names: type checkers and editors read it, and so does
    the code closure of registration (`deploy.code_closure`), which must upload the modules
    behind them.
    """
    module = sys.modules[face]
    origins = _type_checking_imports(Path(module.__file__ or ""))

    def __getattr__(name: str) -> Any:  # noqa: N807  # pylint: disable=invalid-name
        if name not in origins:
            raise AttributeError(f"module {face!r} has no attribute {name!r}")
        origin, original_name = origins[name]
        # not cached on the face: it always gives what the module holds now (a test's patch too)
        return getattr(importlib.import_module(origin), original_name)

    return __getattr__


def _type_checking_imports(path: Path) -> dict[str, tuple[str, str]]:
    """Name -> (module, name there) of every `from module import name` under
    `if TYPE_CHECKING:` in `path`."""
    origins = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    origins.update(
                        (alias.asname or alias.name, (statement.module, alias.name))
                        for alias in statement.names
                    )
    return origins
