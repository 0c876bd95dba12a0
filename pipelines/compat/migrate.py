"""
`pipelines migrate SRC... [--check]`: bring Prefect 1 project folders into this repository.

Each folder lands at the package path its files use (`pipelines/rj_cor/meteorologia/...` from a
checkout, or the package its own imports name; a folder of top-level scripts, like the guide's
tutorial, lands in `examples/<folder>/`). Missing `__init__.py` files are written. A folder whose
package already exists in the platform (`pipelines/`, `pipelines/utils/`, `pipelines/utils/dump_db/`
...) is the old repository's shared code: its files go to the same path under `pipelines/legacy/`,
which no platform file uses, and imports of them are rewritten there. No platform file is ever
overwritten, and the old root `pipelines/__init__.py` (which imported every orgao) is not copied.

Import statements, and only those, change: Prefect 1 imports read `pipelines.compat.prefect1`
(`import prefect` binds it as `prefect`), moved shared modules their legacy path. Every other byte
stays, so line numbers and tracebacks are the same; a second run writes nothing. The report lists
the constructs the compat layer does not support (file:line) and the third-party packages the
migrated code imports that this environment lacks.
"""

import argparse
import ast
import importlib
import importlib.util
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

import pipelines
from pipelines.compat.prefect1 import office

COMPAT = "pipelines.compat.prefect1"
OFFICE_HELPERS = office.__name__
OLD_UTILS = "pipelines.utils.utils"
REDIRECTED = office.REDIRECTED
FALLBACKS = {"pipelines.utils.decorators": COMPAT}
"""Old shared modules the compat layer stands in for when they are not migrated too (the
office's `Flow` with `code_owners` and `skip_if_running` is `pipelines.compat.prefect1.Flow`)."""
LEGACY = "pipelines.legacy"
MANIFEST = ".pipelines-migrate.json"
_SKIPPED_PARTS = {"__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".venv"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}
UNSUPPORTED_NAMES = {
    "manual_only": "the manual_only trigger: Prefect 3 pauses flow runs, not tasks",
    "PAUSE": "the PAUSE signal: use prefect.flow_runs.pause_flow_run",
    "DatesClock": "DatesClock: create one-off runs with `pipelines backfill`",
    "resource_manager": "resource_manager: open the resource inside a task",
    "apply_map": "apply_map: call .map on each task instead",
    "graphql": "Prefect 1 Server GraphQL: read runs with prefect.get_client()",
    "with_args": "Prefect 1 Server GraphQL: read runs with prefect.get_client()",
}
UNSUPPORTED_CALLS = {
    "graphql": "Client.graphql (Prefect 1 Server's API): use prefect.get_client()",
    "register": "flow.register: flows are registered by `pipelines register`",
    "serialize": "flow.serialize: `pipelines flows --json` describes flows",
    "visualize": "flow.visualize: the Prefect UI draws each run's graph",
}


@dataclass(frozen=True)
class Finding:
    """A construct of the migrated code that the compat layer does not support."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class MigrationReport:
    """What a migration wrote (or, with check, would write) and what needs a person."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    moved: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    missing_packages: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    check: bool = False

    @property
    def ok(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        """The report as a person reads it."""
        verb = "would write" if self.check else "wrote"
        out = [f"{verb} {path}" for path in self.written]
        out += [f"legacy: {old} -> {new}" for old, new in sorted(self.moved.items())]
        out += [f"not copied: {reason}" for reason in self.skipped]
        out += [f"unsupported: {finding}" for finding in self.findings]
        for package, files in sorted(self.missing_packages.items()):
            out.append(f"missing package: {package} (imported by {', '.join(sorted(files))})")
        out.append(
            f"{len(self.written)} file(s) {verb}, {len(self.unchanged)} unchanged, "
            f"{len(self.findings)} unsupported construct(s), "
            f"{len(self.missing_packages)} missing package(s)"
        )
        return out


@dataclass(frozen=True)
class _Planned:
    source: Path
    target: str
    """Destination relative to the project root, as the old layout names it."""


# Where each source file goes -------------------------------------------------------------------


def _files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not _SKIPPED_PARTS & set(p.relative_to(folder).parts)
        and p.suffix not in _SKIPPED_SUFFIXES
    )


def _package_root(folder: Path) -> Path | None:
    """The folder holding the topmost `pipelines/` package that contains `folder`, if any."""
    found = None
    for candidate in (folder, *folder.parents):
        if candidate.name == "pipelines" and (candidate / "__init__.py").is_file():
            found = candidate.parent
    return found


def _imported_modules(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _only_imports(path: Path) -> bool:
    """A module that only re-exports others (imports and a docstring)."""
    try:
        body = ast.parse(path.read_bytes()).body
    except (SyntaxError, ValueError):
        return False
    return all(
        isinstance(node, (ast.Import, ast.ImportFrom))
        or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        for node in body
    )


def _package_from_imports(folder: Path) -> str | None:
    """The package a loose folder's files import themselves by (`a.b.proj.tasks` -> `a.b.proj`)."""
    stems = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    counts: dict[str, int] = {}
    for path in folder.glob("*.py"):
        for module in _imported_modules(path):
            parent, _, last = module.rpartition(".")
            if parent and last in stems and parent.split(".")[-1] == folder.name:
                counts[parent] = counts.get(parent, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else None


def _plan_source(source: Path) -> tuple[list[_Planned], list[str]]:
    """Where each file of one SRC goes (old layout), and what is not copied."""
    source = source.resolve()
    if (source / "pipelines" / "__init__.py").is_file():
        root, folder = source, source / "pipelines"
    else:
        root, folder = _package_root(source), source
    skipped: list[str] = []
    planned: list[_Planned] = []
    if root is not None:
        for path in _files(folder):
            relative = path.relative_to(root).as_posix()
            if relative == "pipelines/__init__.py" or (
                relative == "pipelines/flows.py" and _only_imports(path)
            ):
                skipped.append(f"{path} (the old root package: discovery walks pipelines/)")
                continue
            planned.append(_Planned(path, relative))
        return planned, skipped
    package = _package_from_imports(source)
    base = package.replace(".", "/") if package else f"examples/{source.name}"
    for path in _files(source):
        planned.append(_Planned(path, f"{base}/{path.relative_to(source).as_posix()}"))
    return planned, skipped


def _is_platform_package(project_root: Path, folder: str, ours: set[str]) -> bool:
    init = f"{folder}/__init__.py"
    return (project_root / init).is_file() and init not in ours


def _legacy_target(target: str) -> str:
    return f"pipelines/legacy/{target.removeprefix('pipelines/')}"


def _module_of(target: str) -> str | None:
    if not target.endswith(".py"):
        return None
    module = target.removesuffix(".py").replace("/", ".")
    return module.removesuffix(".__init__")


def _place(
    planned: list[_Planned], project_root: Path, ours: set[str]
) -> tuple[dict[Path, str], dict[str, str], list[str]]:
    """Final destination of each file, the modules moved to the legacy namespace, and the
    package `__init__.py` files of platform packages that only re-export (not copied: their
    legacy package gets an empty one, so importing a legacy module imports nothing else)."""
    placed: dict[Path, str] = {}
    moved: dict[str, str] = {}
    skipped: list[str] = []
    for item in planned:
        folder = item.target.rpartition("/")[0]
        target = item.target
        if (
            folder.startswith("pipelines") and _is_platform_package(project_root, folder, ours)
        ) or ((project_root / target).exists() and target not in ours):
            if item.target.endswith("/__init__.py") and _only_imports(item.source):
                skipped.append(f"{item.source} (re-exports only; {folder} is a platform package)")
                continue
            target = _legacy_target(item.target)
            old, new = _module_of(item.target), _module_of(target)
            if old and new:
                moved[old] = new
        placed[item.source] = target
    return placed, moved, skipped


# Rewriting imports -----------------------------------------------------------------------------


def _dotted(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    raise TypeError(f"not a dotted name: {node!r}")


def _name_node(dotted: str) -> cst.Attribute | cst.Name:
    node = cst.parse_expression(dotted)
    assert isinstance(node, (cst.Attribute, cst.Name))
    return node


def _compat_module(module: str) -> str | None:
    """`prefect.x.y` -> `pipelines.compat.prefect1.x.y`; None for anything else."""
    if module == "prefect" or module.startswith("prefect."):
        return COMPAT + module.removeprefix("prefect")
    return None


class _ImportRewriter(cst.CSTTransformer):
    """Rewrites Prefect 1 and moved-module imports; records findings with their lines."""

    METADATA_DEPENDENCIES = (cst.metadata.PositionProvider,)

    def __init__(self, moved: dict[str, str]):
        super().__init__()
        self.moved = moved
        self.findings: list[tuple[int, str]] = []
        self.modules: set[str] = set()

    def _line(self, node: cst.CSTNode) -> int:
        return self.get_metadata(cst.metadata.PositionProvider, node).start.line

    def _target(self, module: str) -> str | None:
        return _compat_module(module) or self.moved.get(module)

    def leave_Import(  # noqa: N802 (libcst's names)
        self, original_node: cst.Import, updated_node: cst.Import
    ) -> cst.Import:
        original, updated = original_node, updated_node
        names = []
        for alias in updated.names:
            module = _dotted(alias.name)
            self.modules.add(module)
            target = self._target(module)
            if target is None:
                names.append(alias)
                continue
            self._check_module(original, module, target)
            if alias.asname is not None or "." not in module:
                bound = alias.asname or _as(module.split(".")[0])
                names.append(alias.with_changes(name=_name_node(target), asname=bound))
            elif _compat_module(module):  # `import prefect.engine.signals` binds `prefect`
                names.append(alias.with_changes(name=_name_node(target), asname=None))
                names.append(
                    cst.ImportAlias(name=_name_node(COMPAT), asname=_as("prefect"), comma=_comma())
                )
                names[-2] = names[-2].with_changes(comma=_comma())
                names[-1] = names[-1].with_changes(comma=alias.comma)
            else:
                self.findings.append(
                    (
                        self._line(original),
                        f"`import {module}` of a moved module: write `import {target} as ...`",
                    )
                )
                names.append(alias)
        return updated.with_changes(names=names)

    def leave_ImportFrom(  # noqa: N802 (libcst's names)
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom | cst.FlattenSentinel:
        original, updated = original_node, updated_node
        if updated.relative or updated.module is None:
            return updated
        module = _dotted(updated.module)
        self.modules.add(module)
        imported = (
            []
            if isinstance(updated.names, cst.ImportStar)
            else [_dotted(a.name) for a in updated.names]
        )
        rewritten = self._rewritten_from(original, updated, module, imported)
        redirected = [n for n in imported if n in REDIRECTED] if module == OLD_UTILS else []
        if not redirected:
            return rewritten
        # The later import rebinds the names on the same line: line numbers do not move.
        names = ", ".join(redirected)
        helpers = cst.parse_statement(f"from {OFFICE_HELPERS} import {names}").body[0]
        return cst.FlattenSentinel([rewritten, helpers])

    def _rewritten_from(
        self, original: cst.ImportFrom, updated: cst.ImportFrom, module: str, imported: list
    ) -> cst.ImportFrom:
        target = self._target(module)
        if target is None:
            submodules = {self.moved.get(f"{module}.{n}") for n in imported}
            if imported and None not in submodules:
                parents = {s.rpartition(".")[0] for s in submodules if s}
                if len(parents) == 1:
                    return updated.with_changes(module=_name_node(parents.pop()))
            return updated
        self._check_module(original, module, target, imported)
        return updated.with_changes(module=_name_node(target))

    def _check_module(
        self, node: cst.CSTNode, module: str, target: str, names: Sequence[str] = ()
    ) -> None:
        if not target.startswith(COMPAT):
            return
        line = self._line(node)
        try:
            loaded = importlib.import_module(target)
        except ImportError:
            self.findings.append((line, f"`{module}` has no compat equivalent"))
            return
        for name in (module.rsplit(".", 1)[-1], *names):
            if name in UNSUPPORTED_NAMES:
                self.findings.append((line, UNSUPPORTED_NAMES[name]))
        for name in names:
            if not hasattr(loaded, name) and importlib.util.find_spec(f"{target}.{name}") is None:
                self.findings.append((line, f"`{module}.{name}` has no compat equivalent"))


class _CallFinder(cst.CSTVisitor):
    """Calls the compat layer refuses at run time (`client.graphql(...)`, `flow.register()`)."""

    METADATA_DEPENDENCIES = (cst.metadata.PositionProvider,)

    def __init__(self) -> None:
        super().__init__()
        self.findings: list[tuple[int, str]] = []

    def visit_Call(self, node: cst.Call) -> None:  # noqa: N802 (libcst's names)
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in UNSUPPORTED_CALLS:
            line = self.get_metadata(cst.metadata.PositionProvider, node).start.line
            self.findings.append((line, UNSUPPORTED_CALLS[func.attr.value]))


def _as(name: str) -> cst.AsName:
    return cst.AsName(
        name=cst.Name(name),
        whitespace_before_as=cst.SimpleWhitespace(" "),
        whitespace_after_as=cst.SimpleWhitespace(" "),
    )


def _comma() -> cst.Comma:
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def rewrite_source(code: bytes, moved: dict[str, str]) -> tuple[bytes, list[tuple[int, str]], set]:
    """The file with its imports rewritten, the findings (line, message), the imported modules."""
    module = cst.parse_module(code)
    wrapper = cst.metadata.MetadataWrapper(module, unsafe_skip_copy=True)
    rewriter = _ImportRewriter(moved)
    new_module = wrapper.visit(rewriter)
    calls = _CallFinder()
    wrapper.visit(calls)
    new_code = new_module.bytes if new_module.code != module.code else code
    findings = sorted(set(rewriter.findings + calls.findings))
    return new_code, findings, rewriter.modules


# Third-party packages ------------------------------------------------------------------------


def _missing_packages(imports: dict[str, set[str]], local: set[str]) -> dict[str, list[str]]:
    missing: dict[str, list[str]] = {}
    for file, modules in imports.items():
        for module in modules:
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in local or top in ("pipelines", "prefect"):
                continue
            if importlib.util.find_spec(top) is None:
                missing.setdefault(top, []).append(file)
    return {k: sorted(set(v)) for k, v in missing.items()}


# The migration ---------------------------------------------------------------------------------


def _load_manifest(project_root: Path) -> dict:
    path = project_root / MANIFEST
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"files": [], "moved": {}}


def _init_files(target: str, project_root: Path, placed: set[str]) -> list[str]:
    """`__init__.py` files missing between `pipelines/` (or `examples/x/`) and `target`."""
    parts = target.split("/")[:-1]
    if not parts or parts[0] != "pipelines":
        return []
    missing = []
    for depth in range(1, len(parts) + 1):
        init = "/".join([*parts[:depth], "__init__.py"])
        if init not in placed and not (project_root / init).exists():
            missing.append(init)
    return missing


def migrate(
    sources: Iterable[Path | str], project_root: Path | str, check: bool = False
) -> MigrationReport:
    """Migrate Prefect 1 folders into `project_root`; with `check`, only report.

    Args:
        sources: A Prefect 1 checkout (a folder holding `pipelines/`) or folders of one.
        project_root: This repository's root (holding `pipelines/`).
        check: Write nothing; report what would be written and what is unsupported.

    Returns:
        A MigrationReport.
    """
    project_root = Path(project_root).resolve()
    manifest = _load_manifest(project_root)
    ours = set(manifest["files"])
    report = MigrationReport(check=check)
    planned = _plan(sources, report)
    placed, moved, not_copied = _place(planned, project_root, ours)
    report.skipped += not_copied
    planned = [p for p in planned if p.source in placed]
    moved = {**manifest.get("moved", {}), **moved}
    report.moved = {k: v for k, v in moved.items() if k in {_module_of(p.target) for p in planned}}
    rewrites = {**moved, **_fallbacks(project_root, moved, placed)}
    outputs = _rewrite_all(planned, placed, rewrites, report)
    for target in list(outputs):
        for init in _init_files(target, project_root, set(outputs)):
            outputs[init] = b""
    _write(outputs, project_root, ours, report)
    if not check:
        _save_manifest(project_root, sorted(ours | set(outputs)), moved)
    return report


def _plan(sources: Iterable[Path | str], report: MigrationReport) -> list[_Planned]:
    planned: list[_Planned] = []
    for source in sources:
        items, skipped = _plan_source(Path(source))
        planned += items
        report.skipped += skipped
    return planned


def _fallbacks(project_root: Path, moved: dict[str, str], placed: dict[Path, str]) -> dict:
    """FALLBACKS for old modules that neither this run nor the project provides."""
    provided = {_module_of(target) for target in placed.values()}
    found = {}
    for module, target in FALLBACKS.items():
        path = project_root.joinpath(*module.split("."))
        exists = path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()
        if module not in moved and module not in provided and not exists:
            found[module] = target
    return found


def _rewrite_all(
    planned: list[_Planned],
    placed: dict[Path, str],
    rewrites: dict[str, str],
    report: MigrationReport,
) -> dict[str, bytes]:
    """Each destination's new bytes; findings and missing packages go to the report."""
    outputs: dict[str, bytes] = {}
    imports: dict[str, set[str]] = {}
    for item in planned:
        data = item.source.read_bytes()
        if item.source.suffix == ".py":
            try:
                data, findings, modules = rewrite_source(data, rewrites)
            except cst.ParserSyntaxError as exc:
                report.findings.append(Finding(item.source, exc.raw_line, f"syntax error: {exc}"))
                continue
            report.findings += [Finding(item.source, line, msg) for line, msg in findings]
            imports[str(item.source)] = modules
        outputs[placed[item.source]] = data
    local = {Path(p.target).stem for p in planned} | {p.target.split("/")[0] for p in planned}
    report.missing_packages = _missing_packages(imports, local)
    return outputs


def _write(
    outputs: dict[str, bytes], project_root: Path, ours: set[str], report: MigrationReport
) -> None:
    """Write what changed (not with `report.check`); never a platform file."""
    for target, data in sorted(outputs.items()):
        path = project_root / target
        if path.is_file() and path.read_bytes() == data:
            report.unchanged.append(path)
            continue
        if path.exists() and target not in ours:
            report.skipped.append(f"{path} (a platform file: never overwritten)")
            continue
        report.written.append(path)
        if not report.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def _save_manifest(project_root: Path, files: list[str], moved: dict[str, str]) -> None:
    """Record what migrations wrote, so a later run knows those files are its own."""
    text = json.dumps({"files": files, "moved": dict(sorted(moved.items()))}, indent=2) + "\n"
    path = project_root / MANIFEST
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pipelines.compat.migrate SRC... [--check] [--project-root DIR]`."""
    parser = argparse.ArgumentParser(
        prog="pipelines migrate",
        description="Bring Prefect 1 project folders into this repository.",
    )
    parser.add_argument("sources", nargs="+", type=Path, help="a Prefect 1 checkout or folders")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if unsupported")
    parser.add_argument(
        "--project-root",
        type=Path,
        default=Path(pipelines.__file__).resolve().parent.parent,
        help="this repository's root (default: the installed one)",
    )
    args = parser.parse_args(argv)
    missing = [str(s) for s in args.sources if not s.is_dir()]
    if missing:
        print(f"error: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    report = migrate(args.sources, args.project_root, check=args.check)
    for line in report.lines():
        print(line)
    return 1 if args.check and not report.ok else 0


if __name__ == "__main__":
    sys.exit(main())
