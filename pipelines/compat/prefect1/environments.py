"""Prefect 1's deprecated `prefect.environments`: a name to import, nothing more."""


class Environment:
    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


__all__ = ["Environment"]
