"""`pipelines register` pays for what changed alone: with nothing changed it imports neither
Prefect nor a flow; with one flow changed it imports that flow's module alone; the manifest's
renderings are per environment and follow the settings."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e
TUTORIAL = "EMD: escritorio - Users report"
TUTORIAL_FLOWS = "pipelines.rj_escritorio.tutorial.flows"
COMMAND = """
import atexit, json, sys
atexit.register(lambda: json.dump(sorted(sys.modules), open({report!r}, "w")))
from pipelines.framework.cli import app
app(sys.argv[1:], prog_name="pipelines")
"""


def register(env, repo, tmp_path, *args, **settings) -> tuple[dict[str, str], set[str]]:
    """Each flow's action, and the modules the command imported (Prefect, flows modules)."""
    report = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", COMMAND.format(report=str(report)), "register", "--json", *args],
        env={**env, "PYTHONPATH": str(repo), **settings},
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modules = set(json.loads(report.read_text()))
    flows = {m for m in modules if m.startswith("pipelines.") and m.endswith(".flows")}
    heavy = {m for m in modules if m == "prefect"} | (flows - {"pipelines.framework.runtime.flows"})
    return {o["flow"]: o["action"] for o in json.loads(result.stdout)}, heavy


def test_register_imports_only_what_changed(cli_env, repo_copy, tmp_path, empty_server):
    env = {**cli_env, "PIPELINES_HOME": str(tmp_path / "home")}  # a manifest of its own
    first, _ = register(env, repo_copy, tmp_path, "--env", "staging")
    assert set(first.values()) <= {"created", "updated"} and TUTORIAL in first

    again, imported = register(env, repo_copy, tmp_path, "--env", "staging")
    assert set(again.values()) == {"skipped"} and set(again) == set(first)
    assert imported == set()

    schedules = repo_copy / "pipelines/rj_escritorio/tutorial/schedules.py"
    schedules.write_text(schedules.read_text().replace("timedelta(days=1)", "timedelta(days=2)"))
    edited, imported = register(env, repo_copy, tmp_path, "--env", "staging")
    assert edited.pop(TUTORIAL) == "updated"
    assert set(edited.values()) == {"skipped"}
    assert imported == {"prefect", TUTORIAL_FLOWS}

    other_env, _ = register(env, repo_copy, tmp_path, "--env", "prod", "--dry-run")
    assert set(other_env.values()) == {"created"}  # staging's renderings are not prod's

    settings_changed, imported = register(
        env, repo_copy, tmp_path, "--env", "staging", PIPELINES_MAX_SHRINK="0.5"
    )
    assert "prefect" in imported  # the settings are part of every module's key
    assert set(settings_changed.values()) == {"skipped"}  # and this one renders the same
