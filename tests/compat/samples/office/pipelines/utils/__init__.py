# -*- coding: utf-8 -*-
"""
Helper flows that could fit any pipeline.
"""
from pipelines.utils.dump_db.flows import *
