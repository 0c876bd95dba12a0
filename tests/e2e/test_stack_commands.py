"""The local stack's commands as a newcomer meets them, in a fresh home: `up --detach` twice,
a foreground `up` (what `make up` runs) stopped by `pipelines down` from another terminal,
`secrets list PATH`, and tables read whole when piped (no COLUMNS: rich's 80 columns)."""

import os
import subprocess
import time

import pytest

from pipelines.framework.stack import free_port
from tests.conftest import pipelines_command, run_pipelines

pytestmark = pytest.mark.e2e
NAMES = ("EMD: escritorio - Users report (local)", "EMD: utils - Materializar com dbt (local)")


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory):
    """`pipelines up --detach` in a fresh home; `pipelines down` at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "PIPELINES_"))}
    env.pop("COLUMNS", None)
    env.update(
        PIPELINES_HOME=str(tmp_path_factory.mktemp("stack-commands-home")),
        PIPELINES_PORT=str(free_port()),
        PIPELINES_SERVER_START_TIMEOUT="540",
        NO_COLOR="1",
    )
    started = run_pipelines("up", "--detach", env=env)
    assert started.returncode == 0, started.stderr + started.stdout
    assert "already running" not in started.stdout
    yield env
    run_pipelines("down", env=env)


def test_up_again_says_it_is_already_running_and_names_its_environment(stack_env):
    again = run_pipelines("up", "--detach", env=stack_env)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert "registered in local" in again.stdout
    for name in NAMES:  # whole, on one line of the deployments table, though piped
        assert any(name in line for line in again.stdout.splitlines()), again.stdout


def test_flows_are_not_cut_at_80_columns_when_piped(stack_env):
    listed = run_pipelines("flows", env=stack_env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert "…" not in listed.stdout
    for module in ("pipelines.rj_escritorio.tutorial.flows", "pipelines.utils.materialize.flows"):
        assert any(module in line for line in lines), listed.stdout


def test_secrets_list_takes_a_path_prefix(stack_env):
    for path in ("db/sme", "db/exemplo", "dbx/other", "api/clima"):
        stored = run_pipelines("secrets", "set", path, "password=x", env=stack_env)
        assert stored.returncode == 0, stored.stderr
    under_db = run_pipelines("secrets", "list", "db/", env=stack_env)
    assert under_db.returncode == 0, under_db.stderr
    assert under_db.stdout.split() == ["db-exemplo", "db-sme"]
    everything = run_pipelines("secrets", "list", env=stack_env).stdout.split()
    assert {"db-exemplo", "db-sme", "dbx-other", "api-clima"} <= set(everything)


def test_a_foreground_up_returns_when_pipelines_down_runs_elsewhere(stack_env):
    """Last in the module: it stops the stack."""
    with subprocess.Popen(
        [*pipelines_command(), "up"],
        env=stack_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as foreground:
        output = []
        for line in foreground.stdout:
            output.append(line)
            if line.startswith("Ctrl-C"):
                break
        assert output and output[-1].startswith("Ctrl-C"), "".join(output)
        assert run_pipelines("down", env=stack_env).returncode == 0
        started = time.monotonic()
        rest, _ = foreground.communicate(timeout=60)
    assert foreground.returncode == 0
    assert time.monotonic() - started < 10
    assert "stopped by `pipelines down`" in rest
