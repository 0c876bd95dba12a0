"""
`pipelines check`: the repository's conventions, reported as `file:line: message`.

It reads the files git tracks or would add (what `.gitignore` leaves out, such as a virtualenv
created inside the repository, is never read; outside a git checkout `.gitignore` is applied
with pathspec). Folders brought in by `pipelines migrate` (listed in `.pipelines-migrate.json`)
keep their Prefect 1 names and layout: their conventions are warnings, which do not fail the check.
Literal credentials are errors everywhere.
"""

import ast
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import pathspec

from pipelines.constants import constants
from pipelines.framework.config import REPO_ROOT, get_settings
from pipelines.framework.deploy.manifest import FlowRecord, discover
from pipelines.framework.deploy.secret_scan import literal_secrets

if TYPE_CHECKING:  # discovery imports Prefect and the flows: the check reads the manifest
    from pipelines.framework.deploy.discovery import FlowInfo

PROJECT_FILES = ("__init__.py", "constants.py", "flows.py", "schedules.py", "tasks.py", "utils.py")
NOT_ORGAOS = ("framework", "utils", "compat", "legacy", "__pycache__")
OTHER_LAYOUTS = ("compat", "legacy")
"""Packages laid out as another code base is (compat mirrors Prefect 1's modules, legacy holds the
old repository's shared code that `pipelines migrate` moved there): no guide files."""
SCANNED_FOR_SECRETS = ("pipelines", "queries", "examples")
SECRET_FILE_SUFFIXES = (".py", ".yml", ".yaml", ".toml", ".json", ".cfg", ".ini", ".env", ".sql")
PARSED_FOLDERS = ("pipelines", "examples", "queries")
MIGRATION_MANIFEST = ".pipelines-migrate.json"
"""Written by `pipelines migrate` (pipelines/compat/migrate.py): the files it brought in."""
_ALWAYS_SKIPPED = {".git"}


@dataclass(frozen=True)
class Finding:
    """One broken convention at a place in the repository; a warning does not fail the check."""

    path: Path
    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        try:
            shown = self.path.resolve().relative_to(REPO_ROOT)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}: {'warning: ' if self.warning else ''}{self.message}"


@dataclass(frozen=True)
class Repository:
    """The files a check reads, and which of them `pipelines migrate` brought in."""

    root: Path

    @cached_property
    def files(self) -> tuple[Path, ...]:
        return tuple(repository_files(self.root))

    @cached_property
    def _file_set(self) -> frozenset[Path]:
        return frozenset(self.files)

    @cached_property
    def migrated(self) -> frozenset[str]:
        """Paths (relative, posix) that the migration manifest lists."""
        try:
            manifest = json.loads((self.root / MIGRATION_MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return frozenset()
        files = manifest.get("files", []) if isinstance(manifest, dict) else []
        return frozenset(str(name) for name in files)

    @property
    def secret_scan_cache(self) -> Path | None:
        """detect-secrets' answers are kept for this repository only (the state folder is its)."""
        if self.root.resolve() != REPO_ROOT:
            return None
        return get_settings().home / "cache" / "detect-secrets.json"

    def has(self, path: Path) -> bool:
        return path in self._file_set

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def is_migrated(self, path: Path) -> bool:
        """True for a migrated file, or a folder holding one."""
        relative = self.relative(path)
        return relative in self.migrated or any(m.startswith(f"{relative}/") for m in self.migrated)

    def under(self, *folders: str) -> list[Path]:
        """The files below the root's `folders`."""
        return [p for p in self.files if p.relative_to(self.root).parts[0] in folders]


def repository_files(root: Path = REPO_ROOT) -> list[Path]:
    """Files git tracks or would add (ignored ones excluded); outside a git checkout, the files
    `.gitignore` does not exclude."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        return _files_gitignore_keeps(root)
    return sorted(root / name for name in listed.split("\0") if name and (root / name).is_file())


def _files_gitignore_keeps(root: Path) -> list[Path]:
    """Every file not excluded by the root's `.gitignore` (and never `.git/`)."""
    try:
        lines = (root / ".gitignore").read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    ignored = pathspec.PathSpec.from_lines("gitwildmatch", lines)
    kept = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if _ALWAYS_SKIPPED & set(relative.parts) or not path.is_file():
            continue
        if not ignored.match_file(PurePosixPath(relative).as_posix()):
            kept.append(path)
    return sorted(kept)


# The guide's layout -----------------------------------------------------------------------------


def project_dirs(repo: Repository | None = None) -> Iterator[Path]:
    """Every project folder: `pipelines/<orgao>/<projeto>/`, or deeper
    (`pipelines/<orgao>/<area>/<projeto>/`) where a folder without flows groups projects."""
    repo = repo or Repository(REPO_ROOT)
    package = repo.root / "pipelines"
    folders = {
        parent
        for path in repo.under("pipelines")
        for parent in path.parents
        if package in parent.parents and parent.parent != package
    }
    with_flows = {p.parent for p in repo.under("pipelines") if p.name == "flows.py"}
    orgaos = sorted({f.relative_to(package).parts[0] for f in folders} - set(NOT_ORGAOS))
    for orgao in orgaos:
        yield from _projects_in(package / orgao, folders, with_flows, top=True)


def _projects_in(folder: Path, folders: set[Path], with_flows: set[Path], top: bool = False):
    """Projects below `folder`: a child holding flows.py is one; a child without one whose
    descendants hold flows is an area of projects; another child of an orgao is an unfinished
    project (reported for its missing files), of an area a helper package."""
    for child in sorted(f for f in folders if f.parent == folder and f.name != "__pycache__"):
        holds_flows = any(child == f or child in f.parents for f in with_flows)
        if child in with_flows or (top and not holds_flows):
            yield child
        elif holds_flows:
            yield from _projects_in(child, folders, with_flows)


def check_project_files(repo: Repository | None = None) -> Iterator[Finding]:
    """Each project holds the guide's files."""
    repo = repo or Repository(REPO_ROOT)
    for project in project_dirs(repo):
        for name in PROJECT_FILES:
            if not repo.has(project / name):
                message = f"project {project.name!r} lacks {name}"
                yield Finding(project / name, 1, message, warning=repo.is_migrated(project))


def check_flows(repo: Repository | None = None) -> Iterator[Finding]:
    """Flows import, follow `SIGLA: orgao - description` and declare code owners."""
    repo = repo or Repository(REPO_ROOT)
    found = discover()  # unchanged modules from the manifest: nothing imported
    for failure in found.failures:
        if not failure.syntax_error:  # check_syntax names the line
            message = f"{failure.module} does not import: {failure.error}"
            yield Finding(failure.path, failure.line, message)  # where it broke
    yield from flow_findings(found.flows, repo)


def flow_findings(
    flows: "list[FlowInfo] | list[FlowRecord]", repo: Repository
) -> Iterator[Finding]:
    """The name and code-owner conventions of these flows (warnings for migrated ones)."""
    pattern = re.compile(constants.FLOW_NAME_PATTERN.value)
    for info in flows:
        migrated = f"{info.module.replace('.', '/')}.py" in repo.migrated
        if not pattern.match(info.name):
            yield Finding(
                info.path,
                info.line,
                f"flow name {info.name!r} does not follow 'SIGLA: orgao - description'",
                warning=migrated,
            )
        if not info.code_owners:
            message = f"flow {info.name!r} declares no code_owners"
            yield Finding(info.path, info.line, message, warning=migrated)
    yield from _shared_names(flows)


def _shared_names(flows: "list[FlowInfo] | list[FlowRecord]") -> Iterator[Finding]:
    """Two flows of one name would register as one deployment, each overwriting the other."""
    by_name: dict[str, list] = {}
    for info in flows:
        by_name.setdefault(info.name, []).append(info)
    for name, infos in by_name.items():
        for info in infos[1:] if len(infos) > 1 else ():
            first = infos[0]
            message = (
                f"flow name {name!r} is also the name of the flow at {first.path}:{first.line}:"
                " their deployments would overwrite each other"
            )
            yield Finding(info.path, info.line, message)


def check_syntax(repo: Repository | None = None) -> Iterator[Finding]:
    """Every Python file the other checks read parses."""
    repo = repo or Repository(REPO_ROOT)
    for path in repo.under(*PARSED_FOLDERS):
        if path.suffix == ".py" and (error := _syntax_error(path)):
            yield error


def _syntax_error(path: Path) -> Finding | None:
    try:
        ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        return Finding(path, exc.lineno or 1, f"cannot parse: {exc.msg}")
    except ValueError as exc:  # null bytes
        return Finding(path, 1, f"cannot parse: {exc}")
    return None


def check_constants(repo: Repository | None = None) -> Iterator[Finding]:
    """Constants live in `class constants(Enum)`."""
    repo = repo or Repository(REPO_ROOT)
    package = repo.root / "pipelines"
    for path in repo.under("pipelines"):
        if path.name != "constants.py" or path.relative_to(package).parts[0] in OTHER_LAYOUTS:
            continue
        if _syntax_error(path):
            continue
        warning = repo.is_migrated(path)
        tree = ast.parse(path.read_bytes(), filename=str(path))
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "constants"]
        if not classes:
            yield Finding(path, 1, "constants.py must define `class constants(Enum)`", warning)
        for node in classes:
            bases = {getattr(b, "id", None) or getattr(b, "attr", None) for b in node.bases}
            if "Enum" not in bases:
                yield Finding(path, node.lineno, "`constants` must be an Enum", warning)
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                message = "constants belong inside `class constants(Enum)`"
                yield Finding(path, node.lineno, message, warning)


# Credentials ------------------------------------------------------------------------------------


def check_secrets(root: Path | Repository = REPO_ROOT) -> Iterator[Finding]:
    """No literal credential in code or config (detect-secrets and the platform's rules)."""
    repo = root if isinstance(root, Repository) else Repository(root)
    scanned = [
        path
        for path in repo.under(*SCANNED_FOR_SECRETS)
        if path.suffix in SECRET_FILE_SUFFIXES and "target" not in path.parts
    ]
    for path, lines in literal_secrets(scanned, repo.secret_scan_cache).items():
        for line, kinds in lines.items():
            message = f"literal {', '.join(kinds)}: keep it in Vault and read it with get_secret()"
            yield Finding(path, line, message)


CREDENTIAL_FILE_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore")
CREDENTIAL_FILE_NAMES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".netrc", ".pgpass")
_ENV_TEMPLATES = (".example", ".sample", ".template", ".dist")


def _credential_file_finding(path: Path) -> str | None:
    name = path.name
    if name == ".env" or (name.startswith(".env.") and not name.endswith(_ENV_TEMPLATES)):
        return "a .env file in the repository: keep it out of git (.gitignore), secrets in Vault"
    if name in CREDENTIAL_FILE_NAMES or path.suffix in CREDENTIAL_FILE_SUFFIXES:
        return "a key or credentials file in the repository: keep it in Vault"
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError):
            return None
        if isinstance(data, dict) and (
            "private_key" in data or data.get("type") == "service_account"
        ):
            return "a service-account key file (private_key): keep it in Vault, not the repository"
    return None


def check_credential_files(root: Path | Repository = REPO_ROOT) -> Iterator[Finding]:
    """No `.env`, key or service-account JSON file anywhere in the repository."""
    repo = root if isinstance(root, Repository) else Repository(root)
    for path in repo.files:
        if message := _credential_file_finding(path):
            yield Finding(path, 1, message)


def run_checks(root: Path = REPO_ROOT) -> list[Finding]:
    """Every finding of every check, each once; warnings included (`Finding.warning`)."""
    repo = Repository(root)
    findings = [
        *check_syntax(repo),
        *check_project_files(repo),
        *check_flows(repo),
        *check_constants(repo),
        *check_secrets(repo),
        *check_credential_files(repo),
    ]
    return list(dict.fromkeys(findings))
