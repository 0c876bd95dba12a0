"""
The discovery manifest: what each flows module declared, kept in the state folder and keyed by
the content of the module's code closure (dbt's partial parsing, for flows).

`discover` walks `pipelines/` and hashes each flows module's closure (the module, every
repository module it imports, its project folder's files, the data folders it needs); a module
whose key is in the manifest is read from it, so a command that finds nothing changed imports
neither Prefect nor any flow. The key also holds everything else that shapes what a module
declares: the platform's own code, the settings, Python's and Prefect's versions. A module that
does not import is never kept: it is imported again next time (a package installed since then
mends it without any file changing).
"""

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.framework.config import PACKAGE_ROOT, REPO_ROOT, get_settings
from pipelines.framework.deploy import code_closure
from pipelines.framework.deploy.flow_names import DeclaredFlow, declared_flows

if TYPE_CHECKING:
    from pipelines.framework.deploy.discovery import FlowInfo

FORMAT = 1
"""Bump when what the manifest holds changes: every manifest written before is then ignored."""
FLOW_MODULE = "flows"
_SKIPPED_FOLDERS = ("framework",)
"""Folders of `pipelines/` that hold no flows modules (the platform itself)."""
_PLATFORM_FILES = (".py", ".tmpl")


@dataclass(frozen=True)
class ImportFailure:
    """A flows module that does not import, and where it broke."""

    module: str
    path: Path
    """The file of the error: the module's own, or the helper it imports that broke."""
    line: int
    error: str
    """One line: the exception's type and message; a missing package is named as such."""
    syntax_error: bool = False

    def __str__(self) -> str:
        return f"{shown_path(self.path)}:{self.line}: {self.module} does not import: {self.error}"


@dataclass(frozen=True)
class FlowRecord:  # pylint: disable=too-many-instance-attributes
    """A flow as the manifest keeps it: what commands show and look up, without its module."""

    name: str
    module: str
    attribute: str
    path: Path
    line: int
    code_owners: tuple[str, ...]
    key: str
    """The key of its module's closure when it was read: registration keys its renderings on it."""
    details: dict[str, Any] = field(compare=False, repr=False)
    """`FlowInfo.summary()`, as JSON keeps it."""
    rendered: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)
    """Environment -> [fingerprint, label] of its deployment, as registration last rendered it
    from this very content (`remember_renderings`): an unchanged flow is compared with the
    server without importing it."""

    def rendering(self, env_name: str) -> tuple[str, str] | None:
        """(fingerprint, label) of the flow's deployment in `env_name`, if rendered before."""
        found = self.rendered.get(env_name)
        return (found[0], found[1]) if found else None

    @property
    def entrypoint(self) -> str:
        return f"{self.module}:{self.attribute}"

    @property
    def orgao(self) -> str:
        return self.details["orgao"]

    @property
    def project(self) -> str:
        return self.details["project"]

    def summary(self) -> dict[str, Any]:
        """What `pipelines flows` shows of the flow."""
        return self.details

    def load(self) -> "FlowInfo":
        """The flow itself, importing its module (and Prefect) alone."""
        # discovery imports Prefect and the module: only the command that runs the flow pays it
        from pipelines.framework.deploy.discovery import FlowNotFoundError, flows_in

        for info in flows_in(self.module):
            if info.attribute == self.attribute:
                return info
        raise FlowNotFoundError(f"{self.module} no longer defines {self.attribute!r}")

    @classmethod
    def from_info(cls, info: "FlowInfo", key: str) -> "FlowRecord":
        details = json.loads(json.dumps(info.summary(), ensure_ascii=False, default=str))
        return cls(
            info.name, info.module, info.attribute, info.path, info.line, info.code_owners, key,
            details,
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "attribute": self.attribute,
            "path": str(shown_path(self.path)),
            "line": self.line,
            "code_owners": list(self.code_owners),
            "details": self.details,
            "rendered": self.rendered,
        }

    @classmethod
    def from_dict(cls, module: str, key: str, data: dict[str, Any]) -> "FlowRecord":
        path = Path(data["path"])
        return cls(
            data["name"], module, data["attribute"], REPO_ROOT / path, data["line"],
            tuple(data["code_owners"]), key, data["details"], data.get("rendered", {}),
        )  # fmt: skip


@dataclass(frozen=True)
class Discovery:
    """What a walk of the repository found: the flows, and the modules that did not import."""

    flows: list[Any]
    """`FlowRecord`s from `discover`; `FlowInfo`s once loaded (`discovery.load_flows`)."""
    failures: list[ImportFailure] = field(default_factory=list)

    @property
    def failed_modules(self) -> frozenset[str]:
        """Modules whose flows are unknown this time: not deleted, only unreadable."""
        return frozenset(failure.module for failure in self.failures)


def flow_modules() -> list[str]:
    """Dotted names of every `flows` module under `pipelines/`, framework excluded.

    Read from the folders, importing nothing: a package is a folder with an `__init__.py`, as
    for Python's import, so a virtualenv or data folder inside the repository is never entered.
    """
    names = []
    for folder, subfolders, files in os.walk(PACKAGE_ROOT):
        here = Path(folder)
        subfolders[:] = sorted(
            name
            for name in subfolders
            if (here / name / "__init__.py").is_file()
            and not (here == PACKAGE_ROOT and name in _SKIPPED_FOLDERS)
        )
        package = ".".join(here.relative_to(PACKAGE_ROOT.parent).parts)
        if f"{FLOW_MODULE}.py" in files or FLOW_MODULE in subfolders:
            names.append(f"{package}.{FLOW_MODULE}")
    return sorted(names)


def discover(looking_for: str | None = None) -> Discovery:
    """Every flow of the repository, sorted by name, and every flows module that did not import;
    modules unchanged since the manifest was written are read from it, not imported.

    `looking_for` a flow (`find_flow`'s query) in a state folder with no manifest yet: only the
    modules that may declare it are imported (`_looked_up`), when their sources say so."""
    if looking_for is not None and not manifest_path().is_file():
        found = _looked_up(looking_for)
        if found is not None:
            return found
    return survey().finish()


def survey() -> "Survey":
    """Discovery's first half, importing nothing: the flows of the modules the manifest holds as
    they are now, and the modules it does not (new, changed or broken before)."""
    code_closure.forget()  # this call's files as they are now, even in a long-lived process
    manifest = _Manifest.load()
    context = _context_digest()
    modules = flow_modules()
    known: list[FlowRecord] = []
    pending: dict[str, str | None] = {}
    for module in modules:
        key = _module_key(module, context)
        kept = manifest.records(module, key)
        if kept is None:
            pending[module] = key
        else:
            known += kept
    return Survey(known, pending, modules, manifest)


@dataclass
class Survey:
    """A discovery in two halves: the flows the manifest knows, at once, and the modules it does
    not, imported one at a time (`load`), so registration deploys the first flows while it
    imports the next ones instead of importing them all before its first write."""

    known: list[FlowRecord]
    pending: dict[str, str | None]
    """Modules still to import, with the key of their content now."""
    modules: list[str]
    manifest: "_Manifest"
    read: list[FlowRecord] = field(default_factory=list)
    failures: list[ImportFailure] = field(default_factory=list)

    def load(self, module: str) -> "tuple[list[FlowInfo], ImportFailure | None]":
        """A module's flows, imported, or why it does not import; a pending one's flows are
        kept in the manifest, or its failure recorded (it is imported again next time)."""
        infos, failure = _imported(module)
        if module not in self.pending:
            return infos, failure
        key = self.pending.pop(module)
        if failure:
            self.failures.append(failure)
            self.manifest.forget(module)
        else:
            records = _records(infos, key)
            self.read += records
            self.manifest.keep(module, key, records)
        return infos, failure

    def finish(self) -> Discovery:
        """Every flow found, the modules still pending imported; the manifest saved."""
        for module in list(self.pending):
            self.load(module)
        self.manifest.retain(self.modules)
        self.manifest.save()
        return Discovery(sorted(self.known + self.read, key=lambda r: r.name), self.failures)


def matching(query: str, flows: list[Any]) -> list[Any]:
    """The flows `query` names: by full name, module or `module:attribute`; else those whose
    name holds it, in any case."""
    candidates = [f for f in flows if query in (f.name, f.module, f.entrypoint)]
    if len(candidates) != 1:
        candidates = candidates or [f for f in flows if query.lower() in f.name.lower()]
    return candidates


def _looked_up(query: str) -> Discovery | None:
    """The flows of the one module whose source declares the flow `query` names, with those of
    the modules whose sources do not say (imported, as discovery would); None when the query
    does not name exactly one flow or the module imported does not declare it after all (the
    whole discovery then decides, and reports)."""
    records: list[FlowRecord] = []
    failures: list[ImportFailure] = []
    declared: list[DeclaredFlow] = []
    for module, flows in declared_flows(flow_modules()).items():
        if flows is None:
            infos, failure = _imported(module)
            records += _records(infos, None)
            failures += [failure] if failure else []
        else:
            declared += flows
    candidates = matching(query, [*records, *declared])
    if len(candidates) != 1:
        return None
    if isinstance(candidates[0], DeclaredFlow):
        infos, failure = _imported(candidates[0].module)
        read = _records(infos, None)
        if failure or candidates[0] not in [_declared(record) for record in read]:
            return None
        records += read
    return Discovery(sorted(records, key=lambda record: record.name), failures)


def _declared(record: FlowRecord) -> DeclaredFlow:
    return DeclaredFlow(record.name, record.module, record.attribute)


def remember_renderings(env_name: str, renderings: dict[FlowRecord, tuple[str, str]]) -> None:
    """Keep each flow's (fingerprint, label) in `env_name`, for the content its record was read
    from: a record whose module changed since is left alone."""
    manifest = _Manifest.load()
    for record, (fingerprint, label) in renderings.items():
        entry = manifest.modules.get(record.module)
        if not record.key or not entry or entry.get("key") != record.key:
            continue
        for flow in entry["flows"]:
            if flow["name"] == record.name:
                flow.setdefault("rendered", {})[env_name] = [fingerprint, label]
                manifest.changed = True
    manifest.save()


def _imported(module: str) -> "tuple[list[FlowInfo], ImportFailure | None]":
    """The flows of a module the manifest does not hold as it is now, imported."""
    # discovery imports Prefect and the flows: paid only for the modules whose content changed
    from pipelines.framework.deploy.discovery import DiscoveryError, flows_in

    try:
        return flows_in(module), None
    except DiscoveryError as exc:
        return [], exc.failure


def _records(infos: "list[FlowInfo]", key: str | None) -> list[FlowRecord]:
    return [FlowRecord.from_info(info, key or "") for info in infos]


def _module_key(module: str, context: str) -> str | None:
    """The content key of a module's closure; None when a file of it cannot be read (the
    import then reports it)."""
    digest = hashlib.sha256(context.encode())
    try:
        for relative in code_closure.closure_files(module):
            digest.update(str(relative).encode())
            digest.update(code_closure.file_digest(REPO_ROOT / relative))
    except (SyntaxError, ValueError, OSError):
        return None
    return digest.hexdigest()


def _context_digest() -> str:
    """What shapes every module's declarations besides its own files: the platform's code (the
    decorators, schedules, rendering), the settings, the Python and Prefect in use."""
    digest = hashlib.sha256(f"{FORMAT}|{sys.version}|{_prefect_version()}".encode())
    framework = PACKAGE_ROOT / "framework"
    for path in sorted(framework.rglob("*")):
        if path.suffix in _PLATFORM_FILES and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(framework)).encode())
            digest.update(code_closure.file_digest(path))
    digest.update(get_settings().model_dump_json().encode())
    return digest.hexdigest()


def _prefect_version() -> str:
    """Prefect's installed version, read from its dist-info folder's name (no import)."""
    for folder in map(Path, sys.path):
        found = sorted(folder.glob("prefect-*.dist-info")) if folder.is_dir() else []
        if found:
            return found[0].name
    return "none"


def manifest_path() -> Path:
    """One manifest per checkout: repository copies sharing a state folder keep their own."""
    checkout = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:12]
    return get_settings().home / "cache" / f"discovery-{checkout}.json"


class _Manifest:
    """The manifest file: modules by key, and the import table of the files read so far."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.modules: dict[str, dict[str, Any]] = data.get("modules", {})
        self.changed = False
        code_closure.remember_imports(data.get("imports", {}))
        self._imports = len(data.get("imports", {}))

    @classmethod
    def load(cls) -> "_Manifest":
        """The manifest of this checkout; an empty one when absent, unreadable or older."""
        try:
            data = json.loads(manifest_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        return cls(data if isinstance(data, dict) and data.get("format") == FORMAT else {})

    def records(self, module: str, key: str | None) -> list[FlowRecord] | None:
        entry = self.modules.get(module)
        if key is None or not entry or entry.get("key") != key:
            return None
        return [FlowRecord.from_dict(module, key, data) for data in entry["flows"]]

    def keep(self, module: str, key: str | None, records: list[FlowRecord]) -> None:
        if key is None:
            return
        self.modules[module] = {"key": key, "flows": [record.as_dict() for record in records]}
        self.changed = True

    def forget(self, module: str) -> None:
        self.changed |= self.modules.pop(module, None) is not None

    def retain(self, modules: list[str]) -> None:
        """Drop the modules whose files are gone."""
        for module in set(self.modules) - set(modules):
            self.forget(module)

    def save(self) -> None:
        imports = code_closure.imports_table()
        if not self.changed and len(imports) == self._imports:
            return
        data = {"format": FORMAT, "modules": self.modules, "imports": imports}
        _write_atomically(manifest_path(), json.dumps(data, ensure_ascii=False))


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the old manifest or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def shown_path(path: Path) -> Path:
    """A path as a user reads it: relative to the repository when inside it."""
    try:
        return path.resolve().relative_to(REPO_ROOT)
    except ValueError:
        return path
