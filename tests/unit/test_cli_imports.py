"""The `pipelines` command imports only what the command needs: `--help`, a usage error and
`status` answer without Prefect (1.6 s to import) or the flows, so they are instant."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = """
import atexit, json, sys
atexit.register(lambda: json.dump(sorted(sys.modules), open({report!r}, "w")))
{before}
from pipelines.framework.cli import app
app(sys.argv[1:], prog_name="pipelines")
"""
HEAVY = ("prefect", "pyarrow", "duckdb", "pandas", "dbt")
FRAMEWORK_MAY_IMPORT = ("pipelines", "pipelines.constants")


def loaded_modules(
    tmp_path: Path,
    *args: str,
    before: str = "",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[int, list[str]]:
    """Exit code and every module a `pipelines ARGS` process had imported when it ended."""
    report = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", COMMAND.format(report=str(report), before=before), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env or {"PIPELINES_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        cwd=cwd,
    )
    return result.returncode, json.loads(report.read_text())


def too_heavy(modules: list[str]) -> list[str]:
    """Prefect, the data libraries and the flows (any `pipelines` module outside framework)."""
    return [
        name
        for name in modules
        if name.split(".")[0] in HEAVY
        or (
            name.startswith("pipelines.")
            and not name.startswith("pipelines.framework")
            and name not in FRAMEWORK_MAY_IMPORT
        )
    ]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--help"], 0),
        ([], 2),  # no command: the help, as a usage error
        (["run", "--help"], 0),
        (["secrets", "--help"], 0),
        (["no-such-command"], 2),
        (["run"], 2),  # a missing argument
        (["flows", "--no-such-option"], 2),
        (["status"], 1),  # nothing runs in this empty home: one line, exit 1
        (["status", "--json"], 1),
    ],
)
def test_help_usage_errors_and_status_import_neither_prefect_nor_the_flows(tmp_path, args, code):
    returncode, modules = loaded_modules(tmp_path, *args)

    assert returncode == code
    assert too_heavy(modules) == []


@pytest.mark.parametrize(
    "args",
    [["--help"], ["no-such-command"], ["run"], ["flows", "--no-such-option"], ["run", "--help"]],
)
def test_help_and_usage_errors_parse_without_pydantic(tmp_path, args):
    """Typer 0.26 and later coerce every parameter through pydantic (0.15 s of a usage error's
    0.3 s budget, before anything is parsed): the pin keeps the parser on click alone."""
    _, modules = loaded_modules(tmp_path, *args)

    assert [name for name in modules if name.split(".")[0] in ("pydantic", "pydantic_core")] == []


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (
            ["no-such-command"],
            ["Try 'pipelines --help' for help.", "Error: No such command 'no-such-command'."],
        ),
        (["run"], ["Try 'pipelines run --help' for help.", "Error: Missing argument 'FLOW'."]),
        (["status"], ["error: the local stack is not running; start it with `pipelines up`"]),
        (
            ["backfill", "x", "--start", "yesterday", "--end", "2024-01-31T00:00-03:00"],
            [
                "Error: Invalid value for '--start': 'yesterday' is not an ISO date or time,"
                " e.g. 2024-01-01T00:00-03:00"
            ],
        ),
        (["--help"], ["Usage: pipelines [OPTIONS] COMMAND [ARGS]...", "Commands:"]),
        (["secrets", "--help"], ["Usage: pipelines secrets [OPTIONS] COMMAND [ARGS]..."]),
        (["dev", "--help"], ["Usage: pipelines dev [OPTIONS] COMMAND [ARGS]..."]),
    ],
)
def test_usage_errors_status_and_help_print_without_rich(tmp_path, args, lines):
    """Typer's boxed usage errors and help import rich's markdown, traceback and pretty-printing
    first (90 ms of `--help`), and rich's console alone costs 40 ms: these print plain lines, the
    help as click prints it, and still say what to do."""
    report = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", COMMAND.format(report=str(report), before=""), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PIPELINES_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )

    printed = (result.stdout + result.stderr).splitlines()
    assert all(line in printed for line in lines), result.stdout + result.stderr
    assert [name for name in json.loads(report.read_text()) if name.startswith("rich")] == []


def test_the_check_sees_a_top_level_prefect_import(tmp_path):
    """What a top-level `from pipelines.framework.deploy import discover_flows` in the CLI would
    do: the test above would then fail."""
    before = "from pipelines.framework.deploy import discover_flows"

    _, modules = loaded_modules(tmp_path, "--help", before=before)

    assert "prefect" in too_heavy(modules)


def test_flows_and_check_read_the_manifest_when_nothing_changed(tmp_path):
    """The first `pipelines flows` imports every flows module and keeps what they declare; the
    next commands read that (tests/unit/test_discovery_manifest.py: what invalidates it)."""
    env = {**os.environ, "PIPELINES_HOME": str(tmp_path / "home")}
    first, _ = loaded_modules(tmp_path, "flows", "--json", env=env)
    assert first == 0

    for command in (["flows", "--json"], ["flows"], ["check"]):
        returncode, modules = loaded_modules(tmp_path, *command, env=env)
        assert returncode in (0, 1)  # check may find something in a tree being edited
        assert too_heavy(modules) == [], command


def test_status_of_a_running_server_imports_no_client_library(tmp_path, prefect_api, prefect_home):
    """With the server up, `status` also reads the run records of `pipelines run` processes:
    that is a JSON file, not a reason to load fsspec (40 ms), httpx or Prefect; nor cryptography
    (11 ms), which only a new encryption key needs."""
    env = {"PIPELINES_HOME": str(prefect_home), "PATH": "/usr/bin:/bin"}
    returncode, modules = loaded_modules(tmp_path, "status", env=env, cwd=tmp_path)

    roots = {name.split(".")[0] for name in modules}
    assert returncode == 0
    assert too_heavy(modules) == []
    assert roots.isdisjoint({"cryptography", "fsspec", "httpx", "psycopg", "rich"})
    assert roots.isdisjoint({"pydantic", "pydantic_settings"})


@pytest.mark.parametrize("args", [["status"], ["status", "--json"]])
def test_status_reads_the_state_folder_without_the_settings(tmp_path, args):
    """`status` needs the state folder alone, which `PIPELINES_HOME` (or the default) names:
    building the settings (pydantic and pydantic-settings) cost 0.1 s of its 0.3 s. A `.env`
    where it runs may name another folder: then the settings decide."""
    _, modules = loaded_modules(tmp_path, *args, cwd=tmp_path)
    assert {name.split(".")[0] for name in modules}.isdisjoint({"pydantic", "pydantic_settings"})

    (tmp_path / ".env").write_text(f"PIPELINES_HOME={tmp_path / 'other'}\n")
    _, modules = loaded_modules(tmp_path, *args, cwd=tmp_path)
    assert "pydantic_settings" in modules


def _pydantic_plugin(folder: Path) -> Path:
    """An installed pydantic plugin (a distribution with a `pydantic` entry point) on `folder`."""
    (folder / "marker_plugin.py").write_text(
        "class Plugin:\n"
        "    def new_schema_validator(self, *args):\n"
        "        return None, None, None\n"
        "plugin = Plugin()\n"
    )
    info = folder / "marker_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: marker-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pydantic]\nmarker = marker_plugin:plugin\n")
    return folder


@pytest.mark.parametrize(
    ("args", "variable", "loaded"),
    [
        (["down"], None, False),  # runs no flow: not worth 13 ms of looking for plugins
        (["down"], "", True),  # the user's own setting wins
        (["flows"], None, True),  # discovery imports the flows, whose models may use plugins
    ],
)
def test_pydantic_plugins_are_sought_only_by_commands_that_run_flow_code(
    tmp_path, args, variable, loaded
):
    env = {
        "PIPELINES_HOME": str(tmp_path / "home"),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(_pydantic_plugin(tmp_path)),
    }
    if variable is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = variable
    _, modules = loaded_modules(tmp_path, *args, env=env)

    assert ("marker_plugin" in modules) is loaded
