"""
Constant values for the dump_exemplo project: which database to read and where the tables land.
"""

from enum import Enum


class constants(Enum):  # pylint: disable=c0103
    """
    Constant values for the dump_exemplo project.
    """

    DB_TYPE = "postgres"
    DB_HOST = "127.0.0.1"
    DB_PORT = 5432
    DB_DATABASE = "test"
    VAULT_SECRET_PATH = "db/exemplo"
    DATASET_ID = "exemplo"
