"""`pipelines new`, then `check`, then `run`, on a copy of the repository."""

import csv
import subprocess

import pytest

from tests.conftest import VENV_BIN, run_pipelines

pytestmark = pytest.mark.e2e


def test_a_new_project_passes_check_and_runs(cli_env, repo_copy):
    created = run_pipelines(
        "new", "rj_smtr", "onibus", "--owner", "joao", env=cli_env, cwd=repo_copy
    )
    assert created.returncode == 0, created.stderr
    project = repo_copy / "pipelines" / "rj_smtr" / "onibus"
    assert sorted(p.name for p in project.iterdir()) == [
        "__init__.py",
        "constants.py",
        "flows.py",
        "schedules.py",
        "tasks.py",
        "utils.py",
    ]
    assert (repo_copy / "tests" / "flows" / "test_rj_smtr_onibus.py").is_file()

    checked = run_pipelines("check", env=cli_env, cwd=repo_copy)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    ran = run_pipelines(
        "run",
        "SMTR: smtr - onibus example",
        "-p",
        "n_rows=2",
        "-p",
        "output_path=out.csv",
        env=cli_env,
        cwd=repo_copy,
    )
    assert ran.returncode == 0, ran.stderr
    with open(repo_copy / "out.csv", encoding="utf-8") as handle:
        assert [row["message"] for row in csv.DictReader(handle)] == ["Olá #1", "Olá #2"]

    again = run_pipelines("new", "rj_smtr", "onibus", env=cli_env, cwd=repo_copy)
    assert again.returncode == 2
    assert "already exists" in again.stderr

    generated_test = subprocess.run(
        [
            str(VENV_BIN / "pytest"),
            "-q",
            "tests/flows/test_rj_smtr_onibus.py",
            "-p",
            "no:cacheprovider",
        ],
        env={**cli_env, "PYTHONPATH": str(repo_copy)},
        cwd=repo_copy,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert generated_test.returncode == 0, generated_test.stdout[-2000:]


def test_check_reports_each_broken_convention_with_file_and_line(cli_env, repo_copy):
    project = repo_copy / "pipelines" / "rj_escritorio" / "tutorial"
    (repo_copy / "pipelines" / "rj_escritorio" / "vazio").mkdir()
    (repo_copy / "pipelines" / "rj_escritorio" / "vazio" / "__init__.py").write_text("")
    flows = project / "flows.py"
    flows.write_text(
        flows.read_text()
        .replace('f"{escritorio_constants.FLOW_PREFIX.value} - Users report"', '"Users report"')
        .replace("code_owners=escritorio_constants.CODE_OWNERS.value", "code_owners=[]")
        + '\nDB_PASSWORD = "s3cr3t-value"\n'
    )
    result = run_pipelines("check", env=cli_env, cwd=repo_copy)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert "pipelines/rj_escritorio/vazio/flows.py:1: project 'vazio' lacks flows.py" in lines
    assert any("does not follow 'SIGLA: orgao - description'" in line for line in lines)
    assert any("declares no code_owners" in line for line in lines)
    assert any(
        line.startswith("pipelines/rj_escritorio/tutorial/flows.py:") and "DB_PASSWORD" in line
        for line in lines
    )
