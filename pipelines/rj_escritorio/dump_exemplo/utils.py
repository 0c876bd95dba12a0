"""
Helpers of the dump_exemplo project: none yet; table declarations live in schedules.py.
"""
