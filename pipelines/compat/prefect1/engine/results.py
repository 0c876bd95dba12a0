"""Prefect 1 result classes: accepted and recorded; task results stay in memory here."""

from pipelines.compat.prefect1.engine.result import Result


class LocalResult(Result):
    pass


class GCSResult(Result):
    pass


class S3Result(Result):
    pass


class PrefectResult(Result):
    pass


__all__ = ["GCSResult", "LocalResult", "PrefectResult", "S3Result"]
