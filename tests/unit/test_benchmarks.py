"""`make bench` runs every benchmark, each printing its figure beside its alternative with the
goal and whether it is met, and one that lacks PostgreSQL says so instead of failing."""

import importlib.util
import socket
import subprocess
import sys

import pytest

from pipelines.framework.config import REPO_ROOT

BENCHMARKS = REPO_ROOT / "benchmarks"
NOT_BENCHMARKS = {
    "report.py": "the table every benchmark prints",
    "plain_users_report.py": "local_run.py's plain-Python contender",
    "bigquery_smoke.py": "a manual check against a real BigQuery project, with credentials",
}


def _report():
    spec = importlib.util.spec_from_file_location("benchmarks_report", BENCHMARKS / "report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _make_bench(*variables: str) -> str:
    return subprocess.run(
        ["make", "-n", "bench", *variables], cwd=REPO_ROOT, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip


def test_make_bench_runs_every_benchmark_and_fails_when_one_fails():
    commands = _make_bench()
    scripts = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name not in NOT_BENCHMARKS)
    assert scripts
    for script in scripts:
        assert f".venv/bin/python benchmarks/{script}" in commands, script
        assert f'failed="$failed {script.removesuffix(".py")}"' in commands, script
    assert "exit 1" in commands


def test_make_bench_quick_gives_every_benchmark_small_inputs():
    commands = _make_bench("QUICK=1")
    for script in BENCHMARKS.glob("*.py"):
        if script.name not in NOT_BENCHMARKS:
            assert f"== benchmarks/{script.name} --" in commands, script.name


@pytest.mark.parametrize(
    ("row", "ratio", "goal", "met"),
    [
        (dict(figure=0.18, alternative_figure=0.003, below=0.3), "60.0x", "< 0.3 s", "yes"),
        (dict(figure=0.32, alternative_figure=0.03, below=0.3), "10.7x", "< 0.3 s", "no"),
        (dict(figure=6.6, alternative_figure=5.5, ratio_below=1.2), "1.20x", "<= 1.2x", "yes"),
        (dict(figure=6.6, alternative_figure=4.3, ratio_below=1.2), "1.53x", "<= 1.2x", "no"),
        (dict(figure=15.0, alternative_figure=9.0, ratio_above=2), "1.67x", ">= 2x", "no"),
        (dict(figure=10.2, alternative_figure=12.8), "0.80x", "-", "-"),
        (dict(figure=12.8), "-", "-", "-"),
    ],
)
def test_report_row(row, ratio, goal, met):
    report = _report()
    line = report.markdown([report.Row("case", alternative="alt", **row)]).splitlines()[-1]
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[4:] == [ratio, goal, met]


def test_dump_tables_without_postgresql_says_it_skipped():
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "dump_tables.py")], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PGPORT": str(port)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"SKIPPED: no PostgreSQL at 127.0.0.1:{port}" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
def test_compat_waits_for_its_temporary_server_however_slow_the_machine(tmp_path):
    """Prefect's 30 s default made `make bench` fail at load 8; a 1 s limit stands in for that."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "1",
    }
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "compat.py"), "--tasks", "2", "--runs", "1"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| per task, compat | " in result.stdout


def test_dumps_without_psql_says_it_skipped(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "dumps.py"), "--rows", "10"], cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=120, env={"PATH": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "SKIPPED: no `psql` on PATH" in result.stdout
    assert "Traceback" not in result.stderr
