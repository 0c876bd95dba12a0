"""Prefect 1's core tasks: functions, constants, collections, operators."""
