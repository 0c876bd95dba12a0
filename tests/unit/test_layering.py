"""The framework's layering rule (docs/architecture.md), read from the imports themselves:

    cli -> stack -> deploy -> runtime -> storage, secrets -> config

An arrow points to what a package may import: the packages to its right, never one to its left,
and storage and secrets not each other. From another package, only its face (a package's
`__init__.py`) is imported, never a module behind it. Nothing in framework imports the flows
(`pipelines.utils`, an orgao folder, `compat`) but for one dispatch: `cli` runs
`pipelines.compat.migrate` for `pipelines migrate`, from inside that command. Outside framework,
flows reach framework through faces too. Imports inside functions and under `if TYPE_CHECKING:`
count like any other.
"""

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.framework.config import PACKAGE_ROOT

FRAMEWORK = PACKAGE_ROOT / "framework"
LAYERS = {"cli": 5, "stack": 4, "deploy": 3, "runtime": 2, "storage": 1, "secrets": 1, "config": 0}
RULE = "cli -> stack -> deploy -> runtime -> storage, secrets -> config"
ALLOWED_OUTSIDE = ("pipelines", "pipelines.constants")
"""What framework may import of the repository outside itself."""
CLI_DISPATCHES = ("pipelines.compat.migrate",)
"""What `cli` alone may import outside framework, inside the command that runs it: `pipelines
migrate` is compat's migration, which needs the compat layer and libcst (no other command does),
and compat sits above framework (it imports framework's faces), so no lower package may."""
FACES = sorted(
    ".".join(("pipelines", *path.parent.relative_to(PACKAGE_ROOT).parts))
    for path in FRAMEWORK.rglob("__init__.py")
    if path.parent != FRAMEWORK
)


def module_name(path: Path) -> str:
    """The dotted name of a file under `pipelines/`."""
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(module: str) -> bool:
    return (PACKAGE_ROOT.parent.joinpath(*module.split(".")) / "__init__.py").is_file()


def _is_module(module: str) -> bool:
    path = PACKAGE_ROOT.parent.joinpath(*module.split("."))
    return _is_package(module) or path.with_suffix(".py").is_file()


def imports(module: str, source: str) -> Iterator[tuple[int, str]]:
    """(line, module) of every import of `pipelines` in `source`, the code of `module`;
    `from package import name` counts as `package.name` when that is a module itself."""
    package = module if _is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importing module's package up
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [
                f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "pipelines" or target.startswith("pipelines."):
                yield node.lineno, target


def _package_of(module: str) -> str | None:
    """The framework package of a module (`config`, `storage`, ...); None outside them."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["pipelines", "framework"] and len(parts) > 2 else None


def _face_problem(target: str) -> str | None:
    if _is_package(target):
        return None
    face = target.rpartition(".")[0]
    return f"imports {target}, past the face of its package: import from {face}"


def framework_problem(module: str, target: str) -> str | None:
    """What is wrong with `module`, a framework module, importing `target`; None if nothing."""
    source, imported = _package_of(module), _package_of(target)
    if not target.startswith("pipelines.framework"):
        if target in ALLOWED_OUTSIDE or (source == "cli" and target in CLI_DISPATCHES):
            return None
        return (
            f"imports {target}: framework imports no flows (pipelines.utils, orgao folders, compat)"
        )
    if target == "pipelines.framework":
        return None  # the root holds what every face shares
    if imported not in LAYERS:
        return f"imports {target}: framework has no package {imported!r}"
    if source == imported:
        return None
    if source is None:
        return f"imports {target}: the framework root imports no package"
    if LAYERS[imported] >= LAYERS[source]:
        return f"{source} -> {imported} runs against the layering ({RULE})"
    return _face_problem(target)


def flows_problem(target: str) -> str | None:
    """What is wrong with code outside framework importing `target`; None if nothing."""
    if not target.startswith("pipelines.framework.") or _package_of(target) not in LAYERS:
        return None
    return _face_problem(target)


def violations(module: str, source: str) -> list[str]:
    """`file:line: what` for each import of `module` that breaks the rule."""
    path = module.replace(".", "/") + (".py" if not _is_package(module) else "/__init__.py")
    check = framework_problem if _package_of(module) or module == "pipelines.framework" else None
    found = []
    for line, target in imports(module, source):
        problem = check(module, target) if check else flows_problem(target)
        if problem:
            found.append(f"{path}:{line}: {problem}")
    return found


def _sources(root: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(root.rglob("*.py")):
        yield module_name(path), path.read_text(encoding="utf-8")


def test_framework_imports_follow_the_layering_and_the_faces():
    found = [v for module, source in _sources(FRAMEWORK) for v in violations(module, source)]
    assert not found, "\n".join(found)


def test_flows_reach_framework_through_its_faces():
    outside = [
        (module, source)
        for module, source in _sources(PACKAGE_ROOT)
        if not module.startswith("pipelines.framework")
    ]
    found = [v for module, source in outside for v in violations(module, source)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "pipelines.framework.storage.lake",
            "from pipelines.framework.runtime import log\n",
            "pipelines/framework/storage/lake.py:1: storage -> runtime runs against the layering",
        ),
        (
            "pipelines.framework.storage.lake",
            "import os\n\n\ndef f():\n    from pipelines.framework.secrets import mask\n",
            "pipelines/framework/storage/lake.py:5: storage -> secrets runs against the layering",
        ),
        (
            "pipelines.framework.deploy.registration",
            "from pipelines.framework.storage.lake import Lake\n",
            "registration.py:1: imports pipelines.framework.storage.lake, past the face",
        ),
        (
            "pipelines.framework.deploy.registration",
            "from pipelines.framework.storage.warehouse import duckdb\n",
            "imports pipelines.framework.storage.warehouse.duckdb, past the face",
        ),
        (
            "pipelines.framework.stack.local_run",
            "from pipelines.utils.utils import atomic_write\n",
            "imports pipelines.utils.utils: framework imports no flows",
        ),
        (
            "pipelines.framework.runtime.flows",
            "from pipelines.framework.lake import Lake\n",
            "framework has no package 'lake'",
        ),
        (
            "pipelines.utils.loading.tasks",
            "from pipelines.framework.storage.warehouse.duckdb import warehouse_lock\n",
            "loading/tasks.py:1: imports pipelines.framework.storage.warehouse.duckdb, past",
        ),
        (
            "pipelines.framework.stack.services",
            "def f():\n    from pipelines.compat.migrate import migrate\n",
            "services.py:2: imports pipelines.compat.migrate: framework imports no flows",
        ),
        (
            "pipelines.framework.cli.main",
            "from pipelines.compat.prefect1 import Flow\n",
            "main.py:1: imports pipelines.compat.prefect1: framework imports no flows",
        ),
    ],
)
def test_an_import_against_the_rule_is_named_with_its_file_and_line(module, source, expected):
    found = violations(module, source)

    assert len(found) == 1
    assert expected in found[0]


@pytest.mark.parametrize(
    ("module", "source"),
    [
        (
            "pipelines.framework.deploy.registration",
            "from pipelines.framework.config import REPO_ROOT",
        ),
        (
            "pipelines.framework.deploy.registration",
            "from pipelines.framework.storage.warehouse import get_warehouse",
        ),
        ("pipelines.framework.cli.main", "from pipelines.framework import stack"),
        (
            "pipelines.framework.cli.main",
            "def migrate_command():\n    from pipelines.compat.migrate import migrate\n",
        ),
        (
            "pipelines.framework.storage.lake",
            "from . import files\nfrom .files import atomic_write",
        ),
        (
            "pipelines.framework.config.settings",
            "import pipelines\nfrom pipelines.constants import constants",
        ),
    ],
)
def test_imports_down_the_layers_through_faces_pass(module, source):
    assert violations(module, source) == []


def _imported_on_load(source: str) -> Iterator[tuple[int, str]]:
    """(line, module) of the imports a module runs as it loads: not those inside functions."""
    pending: list[ast.AST] = list(ast.parse(source).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.module or ""
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            pending.extend(ast.iter_child_nodes(node))


def test_the_cli_imports_compat_only_inside_the_command_that_runs_it():
    """`pipelines --help` and every other command never load compat (nor libcst)."""
    found = [
        f"{module}:{line}: {target}"
        for module, source in _sources(FRAMEWORK / "cli")
        for line, target in _imported_on_load(source)
        if target == "pipelines.compat" or target.startswith("pipelines.compat.")
    ]
    assert not found, "compat imported as the CLI loads:\n" + "\n".join(found)


def test_every_name_a_face_exports_is_there():
    missing = [
        f"{face}.{name}"
        for face in FACES
        for name in __import__(face, fromlist=["__all__"]).__all__
        if not hasattr(sys.modules[face], name)
    ]
    assert not missing


def test_the_faces_import_without_prefect_or_the_data_libraries():
    """A face is cheap: what imports Prefect, pyarrow or a database driver behind it loads on
    first use (the CLI's `--help` needs none of them)."""
    heavy = ("prefect", "pyarrow", "duckdb", "typer")
    faces = [face for face in FACES if face != "pipelines.framework.cli"]  # the CLI is typer
    code = f"import sys\nfor face in {faces!r}: __import__(face)\n" + (
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
