# -*- coding: utf-8 -*-
"""
Prefect flows for rj_exemplo project
"""
###############################################################################
#
# Aqui é onde devem ser rodados os imports de todos os flows do órgão.
#
###############################################################################

from pipelines.rj_exemplo.meteorologia.estacoes.flows import *
from pipelines.rj_exemplo.relatorios.flows import *
