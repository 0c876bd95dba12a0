"""Prefect 1 `Result` (`prefect.engine.result`): results stay in memory on Prefect 3 here."""

from typing import Any

from pipelines.compat.prefect1.engine.state import NoResult


class Result:
    def __init__(self, value: Any = None, location: str | None = None, **kwargs: Any):
        self.value = value
        self.location = location
        self.kwargs = kwargs

    def from_value(self, value: Any) -> "Result":
        return type(self)(value=value, location=self.location, **self.kwargs)


__all__ = ["NoResult", "Result"]
