"""The discovery manifest (dbt's partial parsing, for flows): a command that finds nothing changed
imports neither Prefect nor a flow; each change that alters what a module declares is seen.

Each test runs discovery in fresh processes on a small repository of its own (the platform and
two projects), as commands run: read the manifest, change one thing, read again."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.framework.config import PACKAGE_ROOT

DISCOVER = """
import json, sys
from pipelines.framework.deploy.manifest import discover
found = discover()
print(json.dumps({
    "flows": {f.name: f.summary() for f in found.flows},
    "failures": [str(failure) for failure in found.failures],
    "imported": sorted(m for m in sys.modules if m.startswith("pipelines.rj_")),
    "prefect": "prefect" in sys.modules,
}))
"""
PROJECT = "EMD: cache - projeto"
OTHER = "EMD: cache - outro"
FILES = {
    "rj_cache/__init__.py": "",
    "rj_cache/comum.py": 'OWNERS = ["ana"]\n',
    "rj_cache/projeto/__init__.py": "",
    "rj_cache/projeto/schedules.py": (
        "from datetime import datetime, timedelta, timezone\n\n"
        "from pipelines.framework.runtime import IntervalClock, Schedule\n\n"
        "every = Schedule(clocks=[IntervalClock(interval=timedelta(hours=1), "
        "start_date=datetime(2021, 1, 1, tzinfo=timezone.utc))])\n"
    ),
    "rj_cache/projeto/flows.py": (
        "from pipelines.framework.config import get_settings\n"
        "from pipelines.framework.runtime import flow\n"
        "from pipelines.rj_cache.comum import OWNERS\n"
        "from pipelines.rj_cache.projeto.schedules import every\n\n\n"
        f"@flow(name={PROJECT!r}, code_owners=OWNERS, schedule=every)\n"
        "def projeto(ambiente: str = get_settings().env) -> None:\n"
        '    """Um fluxo de teste."""\n'
    ),
    "rj_cache/outro/__init__.py": "",
    "rj_cache/outro/flows.py": (
        "from pipelines.framework.runtime import flow\n\n\n"
        f"@flow(name={OTHER!r}, code_owners=['bia'])\n"
        "def outro() -> None:\n"
        '    """Outro fluxo."""\n'
    ),
}


@pytest.fixture
def repo(tmp_path) -> Path:
    """The platform (framework/, constants) and two projects of one orgao, nothing else."""
    root = tmp_path / "repo"
    package = root / "pipelines"
    package.mkdir(parents=True)
    for name in ("__init__.py", "constants.py"):
        shutil.copy2(PACKAGE_ROOT / name, package / name)
    shutil.copytree(
        PACKAGE_ROOT / "framework",
        package / "framework",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for relative, source in FILES.items():
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text(source)
    return root


def discover(root: Path, **env: str) -> dict:
    """Discovery as a fresh `pipelines` process in `root` sees it (its manifest in root/.home)."""
    result = subprocess.run(
        [sys.executable, "-c", DISCOVER],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("PIPELINES_")},
            "PYTHONPATH": os.pathsep.join([str(root), str(root / "site")]),
            "PIPELINES_HOME": str(root / ".home"),
            **env,
        },
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / "pipelines" / relative
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_second_command_reads_the_manifest_importing_neither_prefect_nor_a_flow(repo):
    first = discover(repo)
    second = discover(repo)

    assert first["prefect"] and set(first["flows"]) == {PROJECT, OTHER}
    assert second == {**first, "imported": [], "prefect": False}


def test_a_changed_helper_outside_the_project_is_seen(repo):
    discover(repo)
    edit(repo, "rj_cache/comum.py", '["ana"]', '["carla"]')

    found = discover(repo)

    assert found["flows"][PROJECT]["code_owners"] == ["carla"]
    assert "pipelines.rj_cache.outro.flows" not in found["imported"]  # it imports no comum


def test_a_changed_schedule_is_seen(repo):
    before = discover(repo)["flows"][PROJECT]["schedules"]
    edit(repo, "rj_cache/projeto/schedules.py", "hours=1", "hours=6")

    after = discover(repo)["flows"][PROJECT]["schedules"]

    assert after != before
    assert "6:00:00" in after[0]["description"]


def test_a_new_flows_module_is_found(repo):
    discover(repo)
    shutil.copytree(repo / "pipelines/rj_cache/outro", repo / "pipelines/rj_cache/novo")
    edit(repo, "rj_cache/novo/flows.py", OTHER, "EMD: cache - novo")

    found = discover(repo)

    assert set(found["flows"]) == {PROJECT, OTHER, "EMD: cache - novo"}
    assert found["imported"] == ["pipelines.rj_cache", "pipelines.rj_cache.novo", _flows("novo")]


def test_a_deleted_flows_module_is_gone(repo):
    discover(repo)
    shutil.rmtree(repo / "pipelines/rj_cache/outro")

    found = discover(repo)

    assert set(found["flows"]) == {PROJECT}
    assert not found["prefect"]  # what is left is unchanged


def test_changed_settings_are_seen(repo):
    """A module may read the settings as it imports (here a default from the environment)."""
    local = discover(repo)["flows"][PROJECT]["parameters"][0]

    staging = discover(repo, PIPELINES_ENV="staging")["flows"][PROJECT]["parameters"][0]

    assert (local["default"], staging["default"]) == ("local", "staging")


def test_a_changed_platform_file_is_seen(repo):
    """The flow decorator, schedules and rendering are the platform's: a change there may
    change what every module declares."""
    discover(repo)
    edit(repo, "framework/runtime/flows.py", '"""', '"""A changed docstring. ')

    assert discover(repo)["prefect"]


def test_a_module_that_does_not_import_is_tried_again_though_no_file_changed(repo):
    """A missing package installed since then mends it: failures are never kept."""
    edit(
        repo, "rj_cache/outro/flows.py", "from pipelines", "import pacote_do_cache\nfrom pipelines"
    )
    assert "No module named 'pacote_do_cache'" in discover(repo)["failures"][0]
    (repo / "site").mkdir()
    (repo / "site" / "pacote_do_cache.py").write_text("")

    found = discover(repo)

    assert found["failures"] == [] and OTHER in found["flows"]


def _flows(project: str) -> str:
    return f"pipelines.rj_cache.{project}.flows"
