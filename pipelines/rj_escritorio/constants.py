"""
Constant values for the rj_escritorio orgao.
"""

from enum import Enum


class constants(Enum):  # pylint: disable=c0103
    """
    Constants shared by the projects of the Escritorio de Dados.
    """

    FLOW_PREFIX = "EMD: escritorio"
    CODE_OWNERS = ("paty",)
