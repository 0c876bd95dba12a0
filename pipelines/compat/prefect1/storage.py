"""
Prefect 1 storage (`prefect.storage`): recorded, not used. The platform stores every flow's code
itself (`pipelines register` uploads it under `PIPELINES_STORAGE_URL`, e.g. a `gs://` bucket).
"""

from typing import Any


class Storage:
    """Where Prefect 1 kept a flow's code; kept as an attribute registration can read."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.args = args
        self.kwargs = kwargs
        self.flows: dict[str, str] = {}

    def add_flow(self, flow: Any) -> str:
        self.flows[flow.name] = flow.name
        return flow.name

    def build(self) -> "Storage":
        return self

    def __repr__(self) -> str:
        shown = ", ".join([*map(repr, self.args), *(f"{k}={v!r}" for k, v in self.kwargs.items())])
        return f"{type(self).__name__}({shown})"


class GCS(Storage):
    """`GCS(bucket, key=None, project=None, ...)`: maps to `PIPELINES_STORAGE_URL=gs://bucket/...`."""

    def __init__(self, bucket: str, key: str | None = None, project: str | None = None, **kw):
        super().__init__(bucket, key=key, project=project, **kw)
        self.bucket = bucket
        self.key = key
        self.project = project

    @property
    def url(self) -> str:
        return f"gs://{self.bucket}"


class S3(Storage):
    def __init__(self, bucket: str, key: str | None = None, **kw: Any):
        super().__init__(bucket, key=key, **kw)
        self.bucket = bucket
        self.key = key

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}"


class Local(Storage):
    pass


class Module(Storage):
    pass


class Docker(Storage):
    pass


class GitHub(Storage):
    pass


class Git(Storage):
    pass


__all__ = ["GCS", "S3", "Docker", "Git", "GitHub", "Local", "Module", "Storage"]
