"""
`pipelines check`: the repository's conventions, reported as `file:line: message`.
"""

import ast
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.constants import constants
from pipelines.framework.config import PACKAGE_ROOT, REPO_ROOT
from pipelines.framework.deploy.discovery import DiscoveryError, FlowInfo, flow_modules, flows_in

PROJECT_FILES = ("__init__.py", "constants.py", "flows.py", "schedules.py", "tasks.py", "utils.py")
NOT_ORGAOS = ("framework", "utils", "compat", "__pycache__")
OTHER_LAYOUTS = ("compat",)
"""Packages laid out as another library is (compat mirrors Prefect 1's modules): no guide files."""
SCANNED_FOR_SECRETS = ("pipelines", "queries", "examples")
SECRET_FILE_SUFFIXES = (".py", ".yml", ".yaml", ".toml", ".json", ".cfg", ".ini", ".env", ".sql")

_SECRET_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api_?key|private_?key|credential|auth)$", re.I
)
_SECRET_VALUE_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abpors]-[A-Za-z0-9-]{10,}"),
    "Vault token": re.compile(r"\bhv[sb]\.[A-Za-z0-9_-]{20,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "chat webhook URL": re.compile(
        r"https://(discord(app)?\.com/api/webhooks|hooks\.slack\.com)/\S+"
    ),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^@\s/'\"{}$<]+@[\w.-]+"),
}


@dataclass(frozen=True)
class Finding:
    """One broken convention at a place in the repository."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        try:
            shown = self.path.resolve().relative_to(REPO_ROOT)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}: {self.message}"


def project_dirs() -> Iterator[Path]:
    """Every `pipelines/<orgao>/<projeto>/` folder."""
    for orgao in sorted(
        p for p in PACKAGE_ROOT.iterdir() if p.is_dir() and p.name not in NOT_ORGAOS
    ):
        yield from sorted(p for p in orgao.iterdir() if p.is_dir() and p.name != "__pycache__")


def check_project_files() -> Iterator[Finding]:
    """Each project holds the guide's files."""
    for project in project_dirs():
        for name in PROJECT_FILES:
            if not (project / name).is_file():
                yield Finding(project / name, 1, f"project {project.name!r} lacks {name}")


def check_flows() -> Iterator[Finding]:
    """Flows import, follow `SIGLA: orgao - description` and declare code owners."""
    pattern = re.compile(constants.FLOW_NAME_PATTERN.value)
    for module in flow_modules():
        try:
            found: list[FlowInfo] = flows_in(module)
        except DiscoveryError as exc:
            yield Finding(Path(*module.split(".")).with_suffix(".py"), 1, str(exc))
            continue
        for info in found:
            if not pattern.match(info.name):
                yield Finding(
                    info.path,
                    info.line,
                    f"flow name {info.name!r} does not follow 'SIGLA: orgao - description'",
                )
            if not info.code_owners:
                yield Finding(info.path, info.line, f"flow {info.name!r} declares no code_owners")


def check_constants() -> Iterator[Finding]:
    """Constants live in `class constants(Enum)`."""
    for path in sorted(PACKAGE_ROOT.rglob("constants.py")):
        if path.relative_to(PACKAGE_ROOT).parts[0] in OTHER_LAYOUTS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "constants"]
        if not classes:
            yield Finding(path, 1, "constants.py must define `class constants(Enum)`")
        for node in classes:
            bases = {getattr(b, "id", None) or getattr(b, "attr", None) for b in node.bases}
            if "Enum" not in bases:
                yield Finding(path, node.lineno, "`constants` must be an Enum")
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                yield Finding(path, node.lineno, "constants belong inside `class constants(Enum)`")


def _literal_secret_assignments(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, name) of string literals assigned to secret-sounding names."""
    for node in ast.walk(tree):
        pairs: list[tuple[str | None, ast.AST]] = []
        if isinstance(node, ast.Assign):
            pairs = [
                (getattr(t, "id", None) or getattr(t, "attr", None), node.value)
                for t in node.targets
            ]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            pairs = [(getattr(node.target, "id", None), node.value)]
        elif isinstance(node, ast.keyword):
            pairs = [(node.arg, node.value)]
        elif isinstance(node, ast.Dict):
            pairs = [
                (k.value, v)
                for k, v in zip(node.keys, node.values, strict=False)
                if isinstance(k, ast.Constant)
            ]
        for name, value in pairs:
            if (
                isinstance(name, str)
                and _SECRET_NAME.search(name)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
                and len(value.value) >= 6
            ):
                yield value.lineno, name


def _secret_findings(path: Path) -> Iterator[Finding]:
    text = path.read_text(encoding="utf-8", errors="replace")
    for lineno, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in _SECRET_VALUE_PATTERNS.items():
            if pattern.search(line):
                yield Finding(
                    path, lineno, f"literal {kind}: keep it in Vault, not in the repository"
                )
    if path.suffix == ".py":
        for lineno, name in _literal_secret_assignments(ast.parse(text, filename=str(path))):
            yield Finding(path, lineno, f"literal value for {name!r}: read it with get_secret()")


def check_secrets(root: Path = REPO_ROOT) -> Iterator[Finding]:
    """No literal credential in code or config."""
    for folder in SCANNED_FOR_SECRETS:
        for path in sorted((root / folder).rglob("*")):
            if (
                path.is_file()
                and path.suffix in SECRET_FILE_SUFFIXES
                and "target" not in path.parts
            ):
                yield from _secret_findings(path)


CREDENTIAL_FILE_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore")
CREDENTIAL_FILE_NAMES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".netrc", ".pgpass")
_ENV_TEMPLATES = (".example", ".sample", ".template", ".dist")


def repository_files(root: Path = REPO_ROOT) -> list[Path]:
    """Files git tracks or would add (ignored ones excluded); every file outside a git checkout."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        skipped = {".git", ".venv", ".pipelines", "__pycache__", "node_modules"}
        return sorted(p for p in root.rglob("*") if p.is_file() and not skipped & set(p.parts))
    return sorted(root / name for name in listed.split("\0") if name)


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


def check_credential_files(root: Path = REPO_ROOT) -> Iterator[Finding]:
    """No `.env`, key or service-account JSON file anywhere in the repository."""
    for path in repository_files(root):
        if path.is_file() and (message := _credential_file_finding(path)):
            yield Finding(path, 1, message)


def run_checks() -> list[Finding]:
    """Every finding of every check."""
    return [
        *check_project_files(),
        *check_flows(),
        *check_constants(),
        *check_secrets(),
        *check_credential_files(),
    ]
