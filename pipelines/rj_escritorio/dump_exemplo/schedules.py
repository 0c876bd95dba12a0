"""
Schedules of the dump_exemplo project: one clock per table, each a dict of dump_db parameters.

Adding a table to dump is a new entry in `TABLES`, not new code. The source tables are created
by `examples/exemplo_db.sql`; the login is the secret `db/exemplo` (`username`, `password`).
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pipelines.constants import constants as global_constants
from pipelines.framework.runtime import generate_dump_schedules
from pipelines.rj_escritorio.dump_exemplo.constants import constants

TABLES = {
    "bairros": {
        "table": "exemplo.bairros",
        "dump_mode": "overwrite",
    },
    "chamados": {  # 15 minutes later: its model joins the bairros just loaded
        "execute_query": "SELECT * FROM exemplo.chamados",
        "dump_mode": "append",
        "incremental_column": "id",
        "partition_columns": ["data_abertura"],
        "materialize_after_dump": True,
    },
}

exemplo_daily = generate_dump_schedules(
    interval=timedelta(days=1),
    start_date=datetime(2021, 1, 1, 4, 0, tzinfo=ZoneInfo(global_constants.DEFAULT_TIMEZONE.value)),
    labels=[global_constants.RJ_ESCRITORIO_DEV_AGENT_LABEL.value],
    table_parameters=TABLES,
    common_parameters={
        "db_type": constants.DB_TYPE.value,
        "db_host": constants.DB_HOST.value,
        "db_port": constants.DB_PORT.value,
        "db_database": constants.DB_DATABASE.value,
        "vault_secret_path": constants.VAULT_SECRET_PATH.value,
        "dataset_id": constants.DATASET_ID.value,
        "materialization_mode": "dev",
    },
    runs_interval_minutes=15,
)
