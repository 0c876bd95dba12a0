# -*- coding: utf-8 -*-
"""
Constant values for the relatorios project
"""

from enum import Enum


class constants(Enum):  # pylint: disable=c0103
    """
    Constant values for the relatorios project
    """

    TABLE_ID = "chamados"
