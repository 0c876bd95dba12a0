"""Prefect 1's deprecated `prefect.environments`: a name to import, nothing more."""


class Environment:
    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


class KubernetesJobEnvironment(Environment):
    """Prefect 1's deprecated Kubernetes environment: a KubernetesRun on the flow says the same."""


class LocalEnvironment(Environment):
    """Prefect 1's deprecated local environment."""


__all__ = ["Environment", "KubernetesJobEnvironment", "LocalEnvironment"]
