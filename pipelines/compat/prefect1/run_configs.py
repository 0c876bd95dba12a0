"""
Prefect 1 run configs (`prefect.run_configs`): recorded as attributes that registration reads.
`labels` pick the work pool (when no clock names one); image, env and resources are what a
Kubernetes work pool's job variables take (`job_variables()`, in prefect-kubernetes' names:
`image`, `env`, `cpu_request`, `memory_limit`, ...), which registration sends on such pools.
"""

# pylint: disable=too-many-instance-attributes,too-many-arguments  # Prefect 1's signatures, kept as they are

from collections.abc import Iterable
from typing import Any


class RunConfig:
    """Base run config: `labels` and `env`."""

    def __init__(self, env: dict | None = None, labels: Iterable[str] | None = None, **kw: Any):
        self.env = dict(env or {})
        self.labels = set(labels or ())
        self.extra = kw

    def job_variables(self) -> dict[str, Any]:
        """Prefect 3 job variables of the deployment (work pool base job template keys)."""
        env = {name: None if value is None else str(value) for name, value in self.env.items()}
        return {"env": env} if env else {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(labels={sorted(self.labels)!r})"


class UniversalRun(RunConfig):
    pass


class LocalRun(RunConfig):
    """A local process run; `working_dir` is the job's working directory."""

    def __init__(self, working_dir: str | None = None, **kw: Any):
        super().__init__(**kw)
        self.working_dir = working_dir

    def job_variables(self) -> dict[str, Any]:
        variables = super().job_variables()
        if self.working_dir:
            variables["working_dir"] = self.working_dir
        return variables


class KubernetesRun(RunConfig):
    """`KubernetesRun(image=..., labels=[...], cpu_request=..., memory_limit=..., env=...)`."""

    def __init__(
        self,
        job_template_path: str | None = None,
        job_template: Any = None,
        image: str | None = None,
        env: dict | None = None,
        cpu_limit: float | str | None = None,
        cpu_request: float | str | None = None,
        memory_limit: str | None = None,
        memory_request: str | None = None,
        service_account_name: str | None = None,
        image_pull_secrets: Iterable[str] | None = None,
        labels: Iterable[str] | None = None,
        image_pull_policy: str | None = None,
    ):
        super().__init__(env=env, labels=labels)
        self.job_template_path = job_template_path
        self.job_template = job_template
        self.image = image
        self.cpu_limit = cpu_limit
        self.cpu_request = cpu_request
        self.memory_limit = memory_limit
        self.memory_request = memory_request
        self.service_account_name = service_account_name
        self.image_pull_secrets = list(image_pull_secrets or [])
        self.image_pull_policy = image_pull_policy

    def job_variables(self) -> dict[str, Any]:
        variables = super().job_variables()
        for key in ("image", "service_account_name", "image_pull_policy"):
            if getattr(self, key):
                variables[key] = getattr(self, key)
        for key in ("cpu_request", "cpu_limit", "memory_request", "memory_limit"):
            if getattr(self, key) is not None:  # Kubernetes quantities are strings: 0.5 -> "0.5"
                variables[key] = str(getattr(self, key))
        return variables


class DockerRun(RunConfig):
    """A Docker run; `image` is the job's image."""

    def __init__(self, image: str | None = None, **kw: Any):
        super().__init__(**kw)
        self.image = image

    def job_variables(self) -> dict[str, Any]:
        variables = super().job_variables()
        if self.image:
            variables["image"] = self.image
        return variables


class VertexRun(RunConfig):
    pass


class ECSRun(RunConfig):
    pass


__all__ = [
    "DockerRun",
    "ECSRun",
    "KubernetesRun",
    "LocalRun",
    "RunConfig",
    "UniversalRun",
    "VertexRun",
]
