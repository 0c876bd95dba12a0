"""The `pipelines` command's exits: a user's mistake is one line and exit 2; a bug keeps its
traceback and exits 1."""

import subprocess
import sys

import pytest

RUN = """
import sys
from pipelines.framework.cli import main
{patch}
main.app(sys.argv[1:])
"""
KEY_ERROR_BUG = """
def find_flow(query, flows=None):
    return {}["a key the code forgot"]
main.deploy.find_flow = find_flow  # the CLI reaches discovery through its face
"""


@pytest.fixture(autouse=True)
def _no_server(tmp_path, monkeypatch):
    """A state folder of the test's own, and a server named by PREFECT_API_URL (nothing listens
    there): `pipelines run` would otherwise start one in the background, in the user's state
    folder, and leave it running after the test."""
    monkeypatch.setenv("PIPELINES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")


def pipelines(*args: str, patch: str = "") -> subprocess.CompletedProcess:
    """The command in a process of its own, with `patch` applied to the CLI module first."""
    return subprocess.run(
        [sys.executable, "-c", RUN.format(patch=patch), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_key_error_bug_shows_its_traceback_and_exits_1():
    """A KeyError is a LookupError, once caught as a usage error: a bug then read as one line."""
    result = pipelines("run", "Users report", patch=KEY_ERROR_BUG)

    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "KeyError: 'a key the code forgot'" in result.stderr


def test_an_unknown_flow_is_one_line_and_exit_2():
    result = pipelines("run", "no flow has this name")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: no flow matches 'no flow has this name'; `pipelines flows` lists them"
    ]
