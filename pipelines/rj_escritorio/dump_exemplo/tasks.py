"""
Tasks of the dump_exemplo project: none of its own; the generic dump_db flow does the work.
"""
