"""
Constant values of the materialize flow.
"""

from enum import Enum


class constants(Enum):  # pylint: disable=c0103
    """
    Constants of the materialize flow.
    """

    FLOW_NAME = "EMD: utils - Materializar com dbt"
    CODE_OWNERS = ("pipeliners",)
    DBT_PROJECT_NAME = "pipelines"
    # dbt var with the environment's dataset suffix; set by the flow, never by its callers.
    DATASET_SUFFIX_VAR = "pipelines_dataset_suffix"
    # Environment variable that profiles.yml reads for the DuckDB file of the DuckDB targets.
    WAREHOUSE_PATH_ENV = "PIPELINES_WAREHOUSE_PATH"
    # ... and for the BigQuery project of the prod target (the dumps' `Settings.gcp_project`).
    GCP_PROJECT_ENV = "PIPELINES_GCP_PROJECT"
    # ... and for its location, the one the dumps' datasets are in (`Settings.bigquery_location`).
    BIGQUERY_LOCATION_ENV = "PIPELINES_BIGQUERY_LOCATION"
    # Seconds between attempts while another program holds DuckDB's own lock on the file.
    LOCK_RETRY_DELAYS_SECONDS = (2, 5, 10, 20, 30)
