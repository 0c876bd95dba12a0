"""
The repository files a flow runs: its module and every `pipelines` module it imports, directly or
not. Registration uploads exactly these and fingerprints them, so editing a shared helper
re-registers the flows that import it, and only those.
"""

import ast
import hashlib
from functools import cache
from pathlib import Path

from pipelines.framework.config import REPO_ROOT

ROOT_PACKAGE = "pipelines"
DATA_DIRS: dict[str, tuple[str, ...]] = {"pipelines.utils.materialize": ("queries",)}
"""Folders outside `pipelines/` that a module needs at run time (the dbt project)."""


@cache
def module_path(module: str, root: Path = REPO_ROOT) -> Path | None:
    """File of a dotted module name inside the repository, or None; a package before a module
    of the same name, as Python's import does (`x/__init__.py` shadows `x.py`)."""
    base = root.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


_IMPORTS_BY_CONTENT: dict[str, frozenset[str]] = {}
"""A file's `pipelines` imports by the SHA-256 of its bytes: the discovery manifest saves this
table and preloads it, so a warm command parses no file it has parsed before."""


def imports_table() -> dict[str, list[str]]:
    """The import table as plain data, to save."""
    return {digest: sorted(names) for digest, names in _IMPORTS_BY_CONTENT.items()}


def remember_imports(table: dict[str, list[str]]) -> None:
    """Preload the import table saved by an earlier process."""
    for digest, names in table.items():
        _IMPORTS_BY_CONTENT.setdefault(digest, frozenset(names))


@cache
def _imported_modules(path: Path) -> frozenset[str]:
    digest = file_digest(path).hex()
    if digest not in _IMPORTS_BY_CONTENT:
        _IMPORTS_BY_CONTENT[digest] = _parsed_imports(path)
    return _IMPORTS_BY_CONTENT[digest]


def _parsed_imports(path: Path) -> frozenset[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(n for n in names if n == ROOT_PACKAGE or n.startswith(f"{ROOT_PACKAGE}."))


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@cache
def _next_modules(name: str, root: Path) -> tuple[str, ...] | None:
    """The repository modules importing `name` executes next (its imports and their packages);
    None when `name` is no repository module. Once per module however many flows import it: a
    walk over 200 flows' closures otherwise re-expanded the shared helpers' imports each time."""
    path = module_path(name, root)
    if path is None:
        return None
    return tuple(
        {parent for imported in _imported_modules(path) for parent in _with_parents(imported)}
    )


@cache
def module_closure(module: str, root: Path = REPO_ROOT) -> frozenset[str]:
    """Every repository module that importing `module` executes (packages included)."""
    seen: set[str] = set()
    pending = _with_parents(module)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        following = _next_modules(name, root)
        if following is None:
            continue
        seen.add(name)
        pending.extend(following)
    return frozenset(seen)


@cache
def _relative_file(name: str, root: Path) -> Path:
    return module_path(name, root).relative_to(root)  # type: ignore[union-attr]


@cache
def file_digest(path: Path) -> bytes:
    """SHA-256 of a file's bytes, read once per process however many flows share it."""
    return hashlib.sha256(path.read_bytes()).digest()


@cache
def closure_files(module: str, root: Path = REPO_ROOT) -> tuple[Path, ...]:
    """Files, relative to `root`, that a flow in `module` needs to run."""
    modules = module_closure(module, root)
    files = {_relative_file(name, root) for name in modules}
    project_dir = module_path(module, root).parent  # type: ignore[union-attr]
    files.update(
        p.relative_to(root) for p in project_dir.iterdir() if p.is_file() and p.suffix != ".pyc"
    )
    for prefix, folders in DATA_DIRS.items():
        if any(name == prefix or name.startswith(f"{prefix}.") for name in modules):
            for folder in folders:
                files.update(
                    p.relative_to(root)
                    for p in (root / folder).rglob("*")
                    if p.is_file() and not {"target", "logs", "__pycache__"} & set(p.parts)
                )
    return tuple(sorted(files))


def forget() -> None:
    """Read every file afresh: the caches above hold a process's first reading (a long-lived
    process, `pipelines up` or a test, calls this before it looks again)."""
    for cached in (
        module_path,
        _imported_modules,
        _next_modules,
        module_closure,
        _relative_file,
        file_digest,
        closure_files,
    ):
        cached.cache_clear()
