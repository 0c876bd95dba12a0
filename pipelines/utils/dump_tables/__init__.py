"""
The generic "dump many tables" flow: the per-table dicts of a project's `schedules.py` loaded in
one flow run, a bounded number at a time, each table as its own dump_db or dump_url run.
"""
