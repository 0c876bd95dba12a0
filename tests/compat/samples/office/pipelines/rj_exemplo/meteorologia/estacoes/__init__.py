# -*- coding: utf-8 -*-
"""
Prefect flows for estacoes project
"""
