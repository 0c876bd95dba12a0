"""
Constant values for the tutorial project ("Users report").
"""

from enum import Enum


class constants(Enum):  # pylint: disable=c0103
    """
    Constant values for the tutorial project.
    """

    API_URL = "https://randomuser.me/api/"
    MAX_USERS = 5000
    DEFAULT_USERS = 10
    REPORT_PATH = "report.csv"
