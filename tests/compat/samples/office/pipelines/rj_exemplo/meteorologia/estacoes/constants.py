# -*- coding: utf-8 -*-
"""
Constant values for the estacoes project
"""

from enum import Enum


class constants(Enum):  # pylint: disable=c0103
    """
    Constant values for the estacoes project
    """

    DATASET_ID = "clima_estacoes"
    TABLE_ID = "leituras"
    STATIONS = ["A601", "A602", "A621"]
