"""The guide's Prefect 1 tutorial, migrated, runs as written (`python run.py`)."""

import json
import os
import runpy
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from pipelines.compat.migrate import migrate
from tests.conftest import run_pipelines

pytestmark = pytest.mark.component

SAMPLES = Path(__file__).parent / "samples"
REDIRECT = Path(__file__).parent / "sitecustomize_randomuser"


def _run_script(folder: Path, repo: Path, api_url: str, randomuser_url: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": f"{REDIRECT}{os.pathsep}{repo}",
        "PREFECT_API_URL": api_url,
        "COMPAT_RANDOMUSER_URL": randomuser_url,
    }
    result = subprocess.run(
        [sys.executable, "run.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture
def tutorial(tmp_path, repo_copy) -> Path:
    source = tmp_path / "tutorial"
    shutil.copytree(SAMPLES / "guide_tutorial", source)
    report = migrate([source], repo_copy)
    assert report.ok and not report.missing_packages, report.lines()
    return repo_copy / "examples" / "tutorial"


def test_run_py_writes_the_report_then_with_n_users_20(
    tutorial, repo_copy, prefect_api, randomuser
):
    result = _run_script(tutorial, repo_copy, prefect_api, randomuser.url)
    assert len(pd.read_csv(tutorial / "report.csv")) == 10
    assert "Dados salvos em report.csv com sucesso!" in result.stdout + result.stderr
    (tutorial / "run.py").write_text("from flows import flow\n\nflow.run(n_users=20)\n")
    _run_script(tutorial, repo_copy, prefect_api, randomuser.url)
    assert len(pd.read_csv(tutorial / "report.csv")) == 20
    assert randomuser.requests == ["/api/?results=10&format=csv", "/api/?results=20&format=csv"]


def test_schedule_keeps_four_am_in_sao_paulo(tutorial):
    schedule = runpy.run_path(str(tutorial / "schedules.py"))["every_day_at_four_am"]
    (clock,) = schedule.clocks
    assert clock.start_date == datetime(2021, 1, 1, 4, tzinfo=ZoneInfo("America/Sao_Paulo"))
    assert clock.timezone == "America/Sao_Paulo"
    assert clock.interval == timedelta(days=1)
    assert schedule.labels == ("rj-escritorio-dev",)
    assert clock.parameter_defaults == {
        "materialize_after_dump": True,
        "materialization_mode": "dev",
    }
    prefect_schedule = clock.to_prefect()
    assert prefect_schedule.timezone == "America/Sao_Paulo"
    assert prefect_schedule.anchor_date.hour == 4


def test_guide_flow_with_code_owners_lists_and_registers_at_four_am(repo_copy, cli_env):
    report = migrate([SAMPLES / "guide_geolocator"], repo_copy)
    assert report.ok and report.moved == {}, report.lines()
    flows = (repo_copy / "pipelines/rj_escritorio/geolocator/flows.py").read_text()
    assert flows.startswith("from pipelines.compat.prefect1 import Flow\n")
    listed = run_pipelines("flows", "--json", env=cli_env, cwd=repo_copy)
    assert listed.returncode == 0, listed.stderr
    (flow,) = [
        f for f in json.loads(listed.stdout) if f["name"].startswith("EMD: escritorio - Geo")
    ]
    assert flow["name"] == "EMD: escritorio - Geolocalizacao de chamados 1746"
    assert flow["code_owners"] == ["paty"]
    assert flow["labels"] == ["rj-escritorio-dev"]
    assert flow["schedules"][0]["description"] == (
        "every 1 day, 0:00:00 from 2021-01-01T04:00:00-03:00 (America/Sao_Paulo)"
    )
    plan = run_pipelines(
        "register", "--env", "local", "--dry-run", "--json", env=cli_env, cwd=repo_copy
    )
    assert plan.returncode == 0, plan.stderr
    assert "materialization_mode, materialize_after_dump are not parameters" in plan.stderr
