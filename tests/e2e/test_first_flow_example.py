"""examples/first_flow as a new user runs it (`python run.py`), and the tutorial page that shows it.

The page `docs/tutorial.pt-BR.md` and the example folder must never drift: every fenced block whose
first line is `# arquivo: NAME` is a version of examples/first_flow/NAME (the first one is the file
itself, as a reader who copies the page has it on the first run; a later one is a change the page
asks for), and every `# trecho de: PATH` block is an excerpt, verbatim, of that repository file.
"""

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.framework.config.settings import REPO_ROOT
from pipelines.framework.stack.dev import HEADER

pytestmark = pytest.mark.e2e

EXAMPLE = REPO_ROOT / "examples" / "first_flow"
PAGE = REPO_ROOT / "docs" / "tutorial.pt-BR.md"
FILE_MARKER = "# arquivo: "
EXCERPT_MARKER = "# trecho de: "
FENCED_BLOCK = re.compile(r"^```[\w-]*\n(.*?)^```$", re.DOTALL | re.MULTILINE)
LOG_MESSAGES = [
    "Dados baixados com sucesso!",
    "Dados convertidos em DataFrame com sucesso!",
    "Dados salvos em report.csv com sucesso!",
]


def page_blocks(marker: str) -> list[tuple[str, str]]:
    """(name, block) for every fenced block of the page whose first line starts with `marker`."""
    blocks = FENCED_BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    return [
        (block.split("\n", 1)[0].removeprefix(marker).strip(), block)
        for block in blocks
        if block.startswith(marker)
    ]


def example_files() -> list[str]:
    return sorted(
        path.name for path in EXAMPLE.iterdir() if path.is_file() and path.suffix != ".csv"
    )


def run_example(tmp_path: Path, api_url: str, prefect_api: str | None) -> tuple[Path, str]:
    """Copy examples/first_flow, run `python run.py` in the copy; the copy and the output."""
    folder = tmp_path / "first_flow"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", "*.csv"))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "PIPELINES_"))
    }
    env.update(
        RANDOMUSER_API_URL=api_url,
        PREFECT_HOME=str(tmp_path / "prefect-home"),  # a new user's empty ~/.prefect
        NO_COLOR="1",
    )
    if prefect_api:
        env["PREFECT_API_URL"] = prefect_api
    result = subprocess.run(
        [sys.executable, "run.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    for message in LOG_MESSAGES:
        assert message in output
    assert "Finished in state Completed()" in output
    return folder, output


def assert_report_has_10_users(folder: Path) -> None:
    """The first run's: `users_report()`, the flow's default of 10, as the page says."""
    with open(folder / "report.csv", newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == HEADER
    assert len(rows) == 10


def test_run_py_with_no_server_configured_uses_a_temporary_server(tmp_path, randomuser):
    folder, output = run_example(tmp_path, randomuser.url, prefect_api=None)
    assert_report_has_10_users(folder)
    assert "Starting temporary server" in output
    assert "Stopping temporary server" in output
    assert randomuser.requests == ["/api/?results=10&format=csv"]


def test_run_py_against_a_running_server(tmp_path, randomuser, prefect_api):
    folder, output = run_example(tmp_path, randomuser.url, prefect_api=prefect_api)
    assert_report_has_10_users(folder)
    assert "Starting temporary server" not in output
    assert f"View at {prefect_api.removesuffix('/api')}" in output


def test_every_example_file_is_on_the_page_as_it_is():
    shown: dict[str, str] = {}
    for name, block in page_blocks(FILE_MARKER):
        shown.setdefault(name, block)  # the first version: the file as the first run has it
    assert sorted(shown) == example_files()
    for name, block in shown.items():
        assert block == (EXAMPLE / name).read_text(encoding="utf-8"), f"{name} differs"


def test_every_python_block_of_the_page_compiles():
    for name, block in page_blocks(FILE_MARKER) + page_blocks(EXCERPT_MARKER):
        if name.endswith(".py"):
            compile(block, name, "exec")


def test_excerpts_on_the_page_are_verbatim_from_the_repository():
    excerpts = page_blocks(EXCERPT_MARKER)
    assert excerpts, "the page shows the platform's version of the flow"
    for path, block in excerpts:
        body = block.split("\n", 1)[1]
        assert body in (REPO_ROOT / path).read_text(encoding="utf-8"), f"{path} changed"


def test_the_page_names_the_commands_it_teaches():
    page = PAGE.read_text(encoding="utf-8")
    for command in (
        "python3 run.py",
        "users_report(n_users=20)",
        '.venv/bin/pipelines run "Users report" -p n_users=20',
        "pipelines new ORGAO PROJETO",
        "PREFECT_API_URL",
        "mkdir first_flow && cd first_flow",  # where the venv and the files go
        "pipelines up --detach",  # the platform's server: no temporary one to time out
        ".venv/bin/pipelines dev randomuser --port 8000",
        "-p api_url=http://127.0.0.1:8000/api/",
        "pipelines migrate",
        "](migrating-from-prefect-1.md)",
    ):
        assert command in page
