"""
`pipelines new`: a project in the guide's layout, from the templates beside this module.
"""

import keyword
import re
from pathlib import Path
from string import Template

from pipelines.framework.config import PACKAGE_ROOT, REPO_ROOT, UsageError

TEMPLATES = Path(__file__).parent / "templates"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ScaffoldError(UsageError, ValueError):
    """A name that cannot be a package, or a project that already exists."""


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"{kind} {name!r} must be lowercase letters, digits and _ (e.g. rj_smtr)"
        )


def _render(template_dir: Path, target_dir: Path, values: dict[str, str]) -> list[Path]:
    created = []
    target_dir.mkdir(parents=True, exist_ok=True)
    for template in sorted(template_dir.glob("*.py.tmpl")):
        if template.name == "test.py.tmpl":
            continue
        path = target_dir / template.name.removesuffix(".tmpl")
        path.write_text(Template(template.read_text(encoding="utf-8")).substitute(values), "utf-8")
        created.append(path)
    return created


def create_project(
    orgao: str, projeto: str, sigla: str | None = None, owner: str = "pipeliners"
) -> list[Path]:
    """Write `pipelines/<orgao>/<projeto>/` (and the orgao if new) plus a test; never overwrite."""
    _check_name("orgao", orgao)
    _check_name("projeto", projeto)
    orgao_dir = PACKAGE_ROOT / orgao
    project_dir = orgao_dir / projeto
    test_path = REPO_ROOT / "tests" / "flows" / f"test_{orgao}_{projeto}.py"
    for existing in (project_dir, test_path):
        if existing.exists():
            raise ScaffoldError(
                f"{existing.relative_to(REPO_ROOT)} already exists; not overwriting it"
            )
    orgao_short = orgao.removeprefix("rj_")
    values = {
        "orgao": orgao,
        "orgao_short": orgao_short,
        "projeto": projeto,
        "sigla": (sigla or orgao_short.split("_")[0][:10]).upper(),
        "owner": owner,
    }
    created = [] if orgao_dir.exists() else _render(TEMPLATES / "orgao", orgao_dir, values)
    created += _render(TEMPLATES / "project", project_dir, values)
    test_path.parent.mkdir(parents=True, exist_ok=True)
    test_path.write_text(
        Template((TEMPLATES / "project" / "test.py.tmpl").read_text("utf-8")).substitute(values),
        "utf-8",
    )
    return [*created, test_path]
