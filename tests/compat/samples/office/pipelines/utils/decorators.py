# -*- coding: utf-8 -*-
"""
Custom decorators for pipelines.
"""

from pipelines.utils.custom import CustomFlow

Flow = CustomFlow
