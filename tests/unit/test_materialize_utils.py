"""Pure helpers of the materialize flow and the environment's dbt target mapping."""

# pylint: disable=redefined-outer-name

import pytest
from dbt.cli.main import dbtRunnerResult

from pipelines.framework.config.environments import Environment
from pipelines.framework.config.settings import get_settings
from pipelines.utils.materialize.utils import (
    MaterializationError,
    WarehouseLockedError,
    check_result,
    dbt_variables,
    model_selector,
)


@pytest.mark.parametrize(
    ("upstream", "downstream", "expected"),
    [
        (False, False, "fqn:pipelines.tutorial.users_by_city"),
        (True, False, "+fqn:pipelines.tutorial.users_by_city"),
        (
            False,
            True,
            "fqn:pipelines.tutorial.users_by_city+ source:tutorial.users_by_city+",
        ),
        (
            True,
            True,
            "+fqn:pipelines.tutorial.users_by_city+ source:tutorial.users_by_city+",
        ),
    ],
)
def test_selector_adds_graph_operators(upstream, downstream, expected):
    assert model_selector("tutorial", "users_by_city", upstream, downstream) == expected


@pytest.mark.parametrize(
    ("dataset_id", "table_id"),
    [("tutorial", "users by city"), ("tutorial", "x+"), ("", "t"), ("a.b", "t"), ("d", "1t")],
)
def test_selector_refuses_anything_but_identifiers(dataset_id, table_id):
    with pytest.raises(ValueError, match="inválido"):
        model_selector(dataset_id, table_id, False, False)


def test_vars_carry_the_environment_suffix_which_callers_cannot_override():
    assert dbt_variables("_staging", {"n": 1}) == {"n": 1, "pipelines_dataset_suffix": "_staging"}
    assert dbt_variables("", None) == {"pipelines_dataset_suffix": ""}
    with pytest.raises(ValueError, match="definida pelo ambiente"):
        dbt_variables("_staging", {"pipelines_dataset_suffix": ""})


@pytest.fixture
def warehouse_kind(monkeypatch):
    """Switch `Settings.warehouse` for one test."""

    def use(kind: str) -> None:
        monkeypatch.setenv("PIPELINES_WAREHOUSE", kind)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("warehouse", "env", "mode", "target"),
    [
        ("duckdb", "local", "dev", "dev"),
        ("duckdb", "local", "prod", "local"),
        ("duckdb", "staging", "dev", "dev"),
        ("duckdb", "staging", "prod", "staging"),
        ("duckdb", "prod", "dev", "dev"),
        ("duckdb", "prod", "prod", "prod_duckdb"),
        ("bigquery", "staging", "dev", "prod"),
        ("bigquery", "prod", "prod", "prod"),
    ],
)
def test_materialization_mode_picks_the_dbt_target(warehouse_kind, warehouse, env, mode, target):
    warehouse_kind(warehouse)
    assert Environment(env).materialization_target(mode) == target


def test_an_unknown_materialization_mode_is_refused():
    with pytest.raises(ValueError, match="materialization_mode 'test' is not valid"):
        Environment("local").materialization_target("test")


@pytest.mark.parametrize(("env", "suffix"), [("local", "_local"), ("staging", "_staging")])
def test_only_prod_datasets_have_no_suffix(env, suffix):
    assert Environment(env).dataset_suffix == suffix
    assert Environment("prod").dataset_suffix == ""


def test_duckdb_s_lock_error_is_told_apart_for_retries():
    locked = dbtRunnerResult(
        success=False, exception=RuntimeError('IO Error: Could not set lock on file "/x.duckdb"')
    )
    with pytest.raises(WarehouseLockedError, match="o dbt não conseguiu executar"):
        check_result(locked, "fqn:pipelines.a.b")
    other = dbtRunnerResult(success=False, exception=RuntimeError("Parsing Error"))
    with pytest.raises(MaterializationError, match="Parsing Error") as info:
        check_result(other, "fqn:pipelines.a.b")
    assert not isinstance(info.value, WarehouseLockedError)
