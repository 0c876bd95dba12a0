"""One rule for the environment of every command: `--env`, else `PIPELINES_ENV`, else local; the
git branch (CI's `GITHUB_REF_NAME` included) decides nothing."""

import pytest

from pipelines.framework.config import (
    UnknownEnvironmentError,
    current_environment,
    get_settings,
    resolve_environment,
)


@pytest.fixture
def environ(monkeypatch):
    """Set variables for one test, with the settings read again."""
    monkeypatch.delenv("PIPELINES_ENV", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("given", "variables", "expected"),
    [
        (None, {}, "local"),
        (None, {"GITHUB_REF_NAME": "main"}, "local"),  # a fresh clone of main, or CI's tests
        (None, {"GITHUB_REF_NAME": "staging/x"}, "local"),
        (None, {"PIPELINES_ENV": "prod"}, "prod"),  # what register.yml sets on main
        ("staging", {"PIPELINES_ENV": "prod"}, "staging"),
        ("prod", {}, "prod"),
    ],
)
def test_the_environment_is_the_given_one_else_pipelines_env_else_local(
    environ, given, variables, expected
):
    for name, value in variables.items():
        environ.setenv(name, value)
    assert resolve_environment(given).name == expected
    if given is None:
        assert current_environment().name == expected  # a run's and a command's agree


def test_an_unknown_environment_is_a_usage_error(environ):
    environ.setenv("PIPELINES_ENV", "producao")
    with pytest.raises(UnknownEnvironmentError, match="producao"):
        resolve_environment()


def test_the_register_workflow_names_its_environment():
    from pipelines.framework.config import REPO_ROOT

    workflow = (REPO_ROOT / ".github" / "workflows" / "register.yml").read_text()
    assert (
        "PIPELINES_ENV: ${{ startsWith(github.ref_name, 'staging/') && 'staging' || 'prod' }}"
        in (workflow)
    )
    assert 'branches: [main, master, "staging/**"]' in workflow


def test_a_flow_run_without_pipelines_env_is_in_the_environment_its_tag_names(environ, prefect_api):
    """A plain `prefect worker start` on a process pool sets no `PIPELINES_ENV` on its runs (our
    workers and Kubernetes jobs do): the run's `env:` tag, which registration gives every
    deployment, then names its environment; the variable, where set, wins."""
    from prefect import flow, tags  # pylint: disable=import-outside-toplevel

    @flow
    def environment_of_the_run() -> str:
        return current_environment().name

    with tags("env:staging"):
        assert environment_of_the_run() == "staging"
    assert environment_of_the_run() == "local"

    environ.setenv("PIPELINES_ENV", "prod")
    get_settings.cache_clear()
    with tags("env:staging"):
        assert environment_of_the_run() == "prod"
