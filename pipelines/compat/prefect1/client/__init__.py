"""Prefect 1's `prefect.client`: `Client` on the Prefect 3 API."""

from pipelines.compat.prefect1.client.client import Client

__all__ = ["Client"]
