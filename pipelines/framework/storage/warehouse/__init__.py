"""
Warehouse adapters behind one small interface, chosen in one place by `Settings.warehouse`:
DuckDB (embedded default, one file per environment) or BigQuery (prod).

Every load is atomic: the new table, or the appended rows, become visible in one step together
with the run's bookkeeping (run id, watermark), so a failure leaves the previous table as it was
and a retry of the same run never duplicates rows.
"""

from pipelines.framework.config import Environment, current_environment, get_settings
from pipelines.framework.storage.warehouse.base import (
    LOAD_MODES,
    LOADS_TABLE,
    SCHEMA_CHANGES,
    STATE_TABLE,
    LoadRequest,
    LoadResult,
    LoadVerificationError,
    SchemaDriftError,
    ShrinkError,
    StateMovedError,
    TableBusyError,
    UnknownWarehouseError,
    Warehouse,
    WarehouseBusyError,
    check_drift,
    is_compatible,
    schema_changes,
)

__all__ = [
    "LOADS_TABLE",
    "LOAD_MODES",
    "SCHEMA_CHANGES",
    "STATE_TABLE",
    "LoadRequest",
    "LoadResult",
    "LoadVerificationError",
    "SchemaDriftError",
    "ShrinkError",
    "StateMovedError",
    "TableBusyError",
    "UnknownWarehouseError",
    "Warehouse",
    "WarehouseBusyError",
    "check_drift",
    "get_warehouse",
    "is_compatible",
    "schema_changes",
]


def get_warehouse(environment: Environment | None = None) -> Warehouse:
    """The configured warehouse of an environment (the current one by default)."""
    environment = environment or current_environment()
    kind = get_settings().warehouse
    # An adapter is imported when chosen: the face stays light, and each adapter's driver (duckdb,
    # the Google libraries of the optional `gcp` extra) loads only where it is used.
    if kind == "duckdb":
        from pipelines.framework.storage.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(environment.warehouse_path)
    if kind == "bigquery":
        from pipelines.framework.storage.warehouse.bigquery import BigQueryWarehouse

        return BigQueryWarehouse(project=get_settings().gcp_project)
    raise UnknownWarehouseError(f"warehouse {kind!r} desconhecido; use 'duckdb' ou 'bigquery'")
