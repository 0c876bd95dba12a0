"""`plain_home` (what `pipelines run` uses to find its warm runner before anything heavy loads)
gives the state folder `Settings` would, or says it cannot."""

import os

import pytest

from pipelines.framework.config import Settings, get_settings, plain_home, state_home
from pipelines.framework.config.home import DEFAULT_HOME


@pytest.fixture
def clean(monkeypatch, tmp_path):
    """A folder with no `.env`, and no `PIPELINES_HOME` in any case."""
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.upper() == "PIPELINES_HOME"]:
        monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize("name", ["PIPELINES_HOME", "pipelines_home", "Pipelines_Home"])
def test_the_variable_in_any_case_names_the_home_settings_reads(clean, tmp_path, name):
    clean.setenv(name, str(tmp_path / "state"))

    assert plain_home() == Settings().home == tmp_path / "state"


def test_without_the_variable_the_default(clean):
    assert plain_home() == Settings().home == DEFAULT_HOME


def test_a_dotenv_here_is_left_to_settings(clean, tmp_path):
    (tmp_path / ".env").write_text(f"PIPELINES_HOME={tmp_path / 'from-dotenv'}\n")

    get_settings.cache_clear()
    try:
        assert plain_home() is None
        assert Settings().home == state_home() == tmp_path / "from-dotenv"
    finally:
        get_settings.cache_clear()
