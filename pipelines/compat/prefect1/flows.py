"""
The compat `Flow` (a Prefect 1 flow that is a Prefect 3 flow), where the project layout puts
flows; Prefect 1's own path for it is `pipelines.compat.prefect1.core.flow`. Defines no flow.
"""

from pipelines.compat.prefect1.core.flow import Flow

__all__ = ["Flow"]
