# ruff: noqa: F811  (pytest fixtures are imported by name)
"""The example dump project as its schedule runs it: both tables from a real PostgreSQL, with the
schedule's parameters and the login from a secret, then its dbt model built after the dump."""

import json
import subprocess

import pytest

from pipelines.framework.config.settings import REPO_ROOT, get_settings
from pipelines.rj_escritorio.dump_exemplo.flows import dump_exemplo
from pipelines.rj_escritorio.dump_exemplo.schedules import exemplo_daily
from tests.support.databases import postgres_server  # noqa: F401
from tests.support.dumps import place  # noqa: F401

pytestmark = pytest.mark.component


@pytest.fixture
def exemplo_db(postgres_server):
    """The example's source tables (`examples/exemplo_db.sql`) in the test server."""
    script = REPO_ROOT / "examples" / "exemplo_db.sql"
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script)],
        env={
            "PATH": "/usr/bin:/bin",
            "PGHOST": postgres_server.host,
            "PGPORT": str(postgres_server.port),
            "PGUSER": postgres_server.user,
            "PGDATABASE": postgres_server.database,
        },
        check=True,
    )
    yield postgres_server
    with postgres_server.connect(autocommit=True) as conn:
        conn.execute("DROP SCHEMA exemplo CASCADE")


def test_the_example_project_dumps_its_tables_and_builds_its_model(
    prefect_api, exemplo_db, place, monkeypatch
):
    login = {"username": exemplo_db.user, "password": "trust-auth-ignores-it"}
    monkeypatch.setenv("PIPELINES_SECRET_DB_EXEMPLO", json.dumps(login))
    get_settings.cache_clear()
    where = {
        "db_host": exemplo_db.host,
        "db_port": exemplo_db.port,
        "db_database": exemplo_db.database,
    }
    for clock in exemplo_daily.clocks:  # in schedule order: bairros, then chamados
        dump_exemplo(**{**clock.parameter_defaults, **where})
    dump_exemplo(**{**exemplo_daily.clocks[1].parameter_defaults, **where})  # incremental: no-op

    assert place.query("SELECT count(*), max(id) FROM exemplo_local.chamados") == [(5000, 5000)]
    by_neighbourhood = place.query(
        "SELECT bairro, chamados, abertos FROM exemplo_local.chamados_por_bairro ORDER BY bairro"
    )
    assert by_neighbourhood == [
        ("Campo Grande", 1000, 250),
        ("Centro", 1000, 250),
        ("Copacabana", 1000, 250),
        ("Madureira", 1000, 250),
        ("Tijuca", 1000, 250),
    ]
