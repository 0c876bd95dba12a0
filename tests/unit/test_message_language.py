"""The message-language rule (docs/architecture.md): framework writes English, except storage,
whose refusals a dump's operator reads in the run's log, in Portuguese as the flows do. Accented
letters are the tell: no English message has them, nearly every Portuguese sentence does."""

import ast
import re

from pipelines.framework.config import PACKAGE_ROOT

FRAMEWORK = PACKAGE_ROOT / "framework"
PORTUGUESE_LETTERS = re.compile("[ãõçáéíóúâêôàÃÕÇÁÉÍÓÚÂÊÔÀ]")
IN_PORTUGUESE = ("storage",)


def test_framework_outside_storage_writes_english():
    found = [
        f"{path.relative_to(PACKAGE_ROOT.parent)}:{node.lineno}: {node.value.strip()[:70]!r}"
        for path in sorted(FRAMEWORK.rglob("*.py"))
        if path.relative_to(FRAMEWORK).parts[0] not in IN_PORTUGUESE
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and PORTUGUESE_LETTERS.search(node.value)
    ]
    assert not found, "\n".join(found)
