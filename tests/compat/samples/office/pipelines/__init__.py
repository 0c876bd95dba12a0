# -*- coding: utf-8 -*-
"""
Pipelines de exemplo, no estilo do monorepo do escritório (Prefect 0.15.9).
"""
from pipelines.rj_exemplo import *
