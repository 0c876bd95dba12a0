"""Prefect 1's engine: states and signals (the runners are Prefect 3's here)."""

from pipelines.compat.prefect1.engine import signals, state

__all__ = ["signals", "state"]
