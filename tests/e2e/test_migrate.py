"""`pipelines migrate` as a new user runs it: the guide's Prefect 1 samples brought into a copy of
the repository, then listed, planned, registered with their 04:00 São Paulo clock and run, and the
tutorial's `python run.py` run on the platform's local server (not a temporary one of Prefect's)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName

from tests.conftest import run_pipelines

pytestmark = pytest.mark.e2e

SAMPLES = Path(__file__).parent.parent / "compat" / "samples"
REDIRECT = Path(__file__).parent.parent / "compat" / "sitecustomize_randomuser"
GEOLOCATOR = "EMD: escritorio - Geolocalizacao de chamados 1746"


@pytest.fixture
def sources(tmp_path) -> list[str]:
    """The guide's tutorial folder (top-level scripts) and its project with code_owners."""
    tutorial = tmp_path / "tutorial"
    shutil.copytree(SAMPLES / "guide_tutorial", tutorial)
    return [str(tutorial), str(SAMPLES / "guide_geolocator")]


def test_check_writes_nothing_and_a_missing_folder_is_a_usage_error(sources, repo_copy, cli_env):
    checked = run_pipelines("migrate", *sources, "--check", env=cli_env, cwd=repo_copy)
    assert checked.returncode == 0, checked.stderr
    assert f"would write {repo_copy}/examples/tutorial/run.py" in checked.stdout
    assert not (repo_copy / "examples").exists()
    assert not (repo_copy / "pipelines/rj_escritorio/geolocator").exists()

    missing = run_pipelines("migrate", "no-such-folder", env=cli_env, cwd=repo_copy)
    assert missing.returncode == 2
    assert "not a folder: no-such-folder" in missing.stderr


def test_check_exits_1_naming_what_is_unsupported(tmp_path, repo_copy, cli_env):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "flows.py").write_text(
        "from prefect import Flow\nfrom prefect.triggers import manual_only\n"
    )
    checked = run_pipelines("migrate", str(tmp_path / "old"), "--check", env=cli_env, cwd=repo_copy)
    assert checked.returncode == 1
    assert "flows.py:2: the manual_only trigger" in checked.stdout
    assert "1 unsupported construct(s)" in checked.stderr


def test_the_guides_samples_list_register_at_four_am_and_run(
    sources, repo_copy, cli_env, prefect_home, randomuser
):
    migrated = run_pipelines("migrate", *sources, env=cli_env, cwd=repo_copy)
    assert migrated.returncode == 0, migrated.stderr
    again = run_pipelines("migrate", *sources, env=cli_env, cwd=repo_copy)
    assert "0 file(s) wrote" in again.stdout

    listed = run_pipelines("flows", "--json", env=cli_env, cwd=repo_copy)
    assert listed.returncode == 0, listed.stderr
    (flow,) = [f for f in json.loads(listed.stdout) if f["name"] == GEOLOCATOR]
    assert flow["code_owners"] == ["paty"]
    assert flow["schedules"][0]["timezone"] == "America/Sao_Paulo"

    planned = run_pipelines(
        "register", "--env", "staging", "--dry-run", "--json", env=cli_env, cwd=repo_copy
    )
    assert planned.returncode == 0, planned.stderr
    assert GEOLOCATOR in {o["flow"] for o in json.loads(planned.stdout)}

    registered = run_pipelines("register", "--env", "staging", "--json", env=cli_env, cwd=repo_copy)
    assert registered.returncode == 0, registered.stderr
    (schedule,) = _deployment_schedules(f"{GEOLOCATOR}/{GEOLOCATOR} (staging)")
    assert schedule.timezone == "America/Sao_Paulo"
    assert schedule.anchor_date.isoformat() == "2021-01-01T04:00:00-03:00"

    ran = run_pipelines("run", "Geolocalizacao", env=cli_env, cwd=repo_copy)
    assert ran.returncode == 0, ran.stderr
    assert "geolocalizando dados_mestres.enderecos_geolocalizados" in ran.stdout + ran.stderr

    _run_tutorial_script(repo_copy, cli_env, prefect_home, randomuser.url)
    assert (repo_copy / "examples/tutorial/report.csv").is_file()


def _deployment_schedules(name: str) -> list:
    with get_client(sync_client=True) as client:
        return [s.schedule for s in client.read_deployment_by_name(name).schedules]


def _tutorial_runs() -> dict:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["Users report"]))
        )
    return {run.id: run for run in runs}


def _run_tutorial_script(repo: Path, cli_env: dict, home: Path, randomuser_url: str) -> None:
    """`python run.py` with no PREFECT_API_URL: the run lands on the server recorded in the
    platform's home (the session's), tagged as a local run, not on a temporary server that
    Prefect starts for the process."""
    env = {k: v for k, v in cli_env.items() if k != "PREFECT_API_URL"}
    env |= {
        "PIPELINES_HOME": str(home),
        "PYTHONPATH": f"{REDIRECT}{os.pathsep}{repo}",
        "COMPAT_RANDOMUSER_URL": randomuser_url,
    }
    before = _tutorial_runs()
    result = subprocess.run(
        [sys.executable, "run.py"],
        cwd=repo / "examples" / "tutorial",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "temporary server" not in result.stdout + result.stderr
    (new,) = [run for run_id, run in _tutorial_runs().items() if run_id not in before]
    assert new.state is not None and new.state.is_completed()
    assert any(tag.startswith("pipelines-run:") for tag in new.tags)


FILTERED_FLOWS = """
from prefect import Flow, Parameter, task
from prefect.run_configs import LocalRun

from pipelines.rj_filtros.agenda.schedules import ended, first_of_month_or_friday, until_2031
from pipelines.rj_filtros.agenda.schedules import weekday_every_15_minutes


@task
def show(mode):
    return mode


flows = []
for name, schedule in (
    ("Dias úteis", weekday_every_15_minutes),
    ("Até 2031", until_2031),
    ("Encerrado", ended),
    ("Primeiro dia ou sexta", first_of_month_or_friday),
):
    with Flow(f"EMD: filtros - {name}") as flow:
        show(Parameter("mode", default="dev"))
    flow.schedule = schedule
    flow.run_config = LocalRun(labels=["rj-filtros"])
    flows.append(flow)
weekdays_flow, until_flow, ended_flow, either_flow = flows
"""


def test_filters_and_end_dates_register_as_cron_rrule_or_inactive_and_then_skip(
    tmp_path, repo_copy, cli_env, empty_server
):
    project = tmp_path / "old" / "pipelines" / "rj_filtros" / "agenda"
    project.mkdir(parents=True)
    for init in (project.parent.parent, project.parent, project):
        (init / "__init__.py").write_text("")
    schedules = (SAMPLES / "filtered_schedules.py").read_text(encoding="utf-8")
    (project / "schedules.py").write_text(schedules.replace('labels=["rj-exemplo"],', ""))
    (project / "flows.py").write_text(FILTERED_FLOWS, encoding="utf-8")
    migrated = run_pipelines(
        "migrate", str(tmp_path / "old"), "--check", env=cli_env, cwd=repo_copy
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr  # nothing unsupported
    assert (
        run_pipelines("migrate", str(tmp_path / "old"), env=cli_env, cwd=repo_copy).returncode == 0
    )

    first = run_pipelines("register", "--env", "local", "--json", env=cli_env, cwd=repo_copy)
    assert first.returncode == 0, first.stderr[-3000:]
    ours = {o["flow"]: o["action"] for o in json.loads(first.stdout) if "filtros" in o["flow"]}
    assert set(ours.values()) == {"created"} and len(ours) == 4, ours
    with get_client(sync_client=True) as client:
        rendered = {
            d.name: [(s.active, s.schedule) for s in d.schedules]
            for d in client.read_deployments()
            if "filtros" in d.name
        }
    ((active, weekdays),) = rendered["EMD: filtros - Dias úteis (local)"]
    assert active and (weekdays.cron, weekdays.timezone) == (
        "5,20,35,50 * * * 1,2,3,4,5",
        "America/Sao_Paulo",
    )
    ((active, until),) = rendered["EMD: filtros - Até 2031 (local)"]
    assert active and until.rrule.endswith(
        "RRULE:FREQ=DAILY;BYHOUR=1,7,13,19;BYMINUTE=0;BYSECOND=0;UNTIL=20310630T120000"
    )
    ((active, _),) = rendered["EMD: filtros - Encerrado (local)"]
    assert active is False  # its end_date (2022) is past: Prefect 1 ran it no more
    ((active, either),) = rendered["EMD: filtros - Primeiro dia ou sexta (local)"]
    assert active and (either.cron, either.day_or) == ("0 6 1 * 5", True)

    second = run_pipelines("register", "--env", "local", "--json", env=cli_env, cwd=repo_copy)
    assert second.returncode == 0, second.stderr[-3000:]
    again = {o["flow"]: o["action"] for o in json.loads(second.stdout) if "filtros" in o["flow"]}
    assert set(again.values()) == {"skipped"}, again
