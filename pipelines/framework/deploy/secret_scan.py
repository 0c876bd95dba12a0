"""
Literal credentials in the repository's files, for `pipelines check`: detect-secrets' detectors
(known key formats, high-entropy strings) plus the platform's conventions (a literal given to a
secret-sounding name, Vault tokens, chat webhooks, passwords in URLs). pre-commit runs the same
detectors through detect-secrets' own hook.

A line ending in `# pragma: allowlist secret` (detect-secrets' marker) is never a finding.
detect-secrets reads every line with every detector (about 10 ms a file), so its answers are kept
in a cache file (`pipelines check` keeps `<home>/cache/detect-secrets.json` for the repository), by
file and content: an unchanged file is not read again.
"""

import ast
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from detect_secrets.__version__ import VERSION as DETECT_SECRETS_VERSION
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.core.scan import scan_file
from detect_secrets.settings import transient_settings

from pipelines.framework.storage import atomic_write

ALLOWLIST_MARKER = "pragma: allowlist secret"
NAME_JUDGED_BY_CONVENTION = ("KeywordDetector",)
"""detect-secrets' keyword detector flags `VAULT_SECRET_PATH = "db/x"`: a secret's *path* is what
flows must carry. Names are judged by `_named_literals`, which knows that."""

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


def detect_secrets_plugins() -> list[str]:
    """The detect-secrets detectors `check` and pre-commit use: all but the keyword one."""
    return sorted(
        plugin.__name__
        for plugin in get_mapping_from_secret_type_to_class().values()
        if plugin.__name__ not in NAME_JUDGED_BY_CONVENTION
    )


def literal_secrets(
    paths: Iterable[Path], cache: Path | None = None
) -> dict[Path, dict[int, list[str]]]:
    """For each file holding literal credentials: line -> what was found there.

    Args:
        paths: The files to read.
        cache: Where detect-secrets' answers are kept between calls (none: no cache).

    Returns:
        Per file with findings, each line's findings in the order found.
    """
    paths = list(paths)
    detected = _detected(paths, cache)
    found: dict[Path, dict[int, list[str]]] = {}
    for path in paths:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        kinds: dict[int, list[str]] = {}
        for line, kind in [*detected.get(path, []), *_conventions(path, lines)]:
            if line <= len(lines) and ALLOWLIST_MARKER in lines[line - 1]:
                continue
            if kind not in kinds.setdefault(line, []):
                kinds[line].append(kind)
        if kinds:
            found[path] = dict(sorted(kinds.items()))
    return found


def _conventions(path: Path, lines: list[str]) -> Iterator[tuple[int, str]]:
    """The platform's own rules: known token formats and literals given to secret names."""
    for lineno, line in enumerate(lines, start=1):
        for kind, pattern in _SECRET_VALUE_PATTERNS.items():
            if pattern.search(line):
                yield lineno, kind
    if path.suffix == ".py":
        yield from _named_literals("\n".join(lines), str(path))


def _named_literals(source: str, filename: str) -> Iterator[tuple[int, str]]:
    """(line, what) of string literals assigned to secret-sounding names; a file that does not
    parse has none here (`pipelines check` reports it as a syntax error)."""
    try:
        tree = ast.parse(source, filename=filename)
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        for name, value in _assigned(node):
            if (
                isinstance(name, str)
                and _SECRET_NAME.search(name)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
                and len(value.value) >= 6
            ):
                yield value.lineno, f"value for {name!r}"


def _assigned(node: ast.AST) -> list[tuple[str | None, ast.AST]]:
    """(name, value) pairs a node binds: assignments, keyword arguments, dict entries."""
    if isinstance(node, ast.Assign):
        return [
            (getattr(t, "id", None) or getattr(t, "attr", None), node.value) for t in node.targets
        ]
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return [(getattr(node.target, "id", None), node.value)]
    if isinstance(node, ast.keyword):
        return [(node.arg, node.value)]
    if isinstance(node, ast.Dict):
        return [
            (k.value, v)
            for k, v in zip(node.keys, node.values, strict=False)
            if isinstance(k, ast.Constant) and isinstance(k.value, str)
        ]
    return []


def _detected(paths: list[Path], cache: Path | None) -> dict[Path, list[tuple[int, str]]]:
    """detect-secrets' findings per file, from the cache where the file has not changed."""
    plugins = detect_secrets_plugins()
    key = f"detect-secrets {DETECT_SECRETS_VERSION}: {','.join(plugins)}"
    cached = _read_cache(cache, key) if cache else {}
    entries: dict[str, dict] = {}
    found: dict[Path, list[tuple[int, str]]] = {}
    with transient_settings({"plugins_used": [{"name": name} for name in plugins]}):
        for path in paths:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            entry = cached.get(str(path))
            if not entry or entry.get("sha256") != digest:
                secrets = [(s.line_number, s.type) for s in scan_file(str(path))]
                entry = {"sha256": digest, "found": sorted(set(secrets))}
            entries[str(path)] = entry
            if entry["found"]:
                found[path] = [(int(line), str(kind)) for line, kind in entry["found"]]
    if cache and entries != cached:
        _write_cache(cache, key, entries)
    return found


def _read_cache(cache: Path, key: str) -> dict[str, dict]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("files", {}) if isinstance(data, dict) and data.get("key") == key else {}


def _write_cache(cache: Path, key: str, entries: dict[str, dict]) -> None:
    """Best effort: a state folder that cannot be written only costs the next check time."""
    try:
        with atomic_write(cache, encoding="utf-8") as handle:
            json.dump({"key": key, "files": entries}, handle)
    except OSError:
        pass
