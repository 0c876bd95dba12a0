"""
Edge annotations of Prefect 1 (`prefect.utilities.edges`): `unmapped`, `mapped`, `flatten`.
"""

from typing import Any


class EdgeAnnotation:
    """Marks how an argument reaches a task: not mapped, mapped, or flattened first."""

    annotations: dict[str, bool] = {}  # noqa: RUF012

    def __init__(self, value: Any):
        self.value = value


class mapped(EdgeAnnotation):
    """Map over this argument (the default of `.map`)."""

    annotations = {"mapped": True}  # noqa: RUF012


class unmapped(EdgeAnnotation):
    """Pass this argument whole to every mapped child."""

    annotations = {"mapped": False}  # noqa: RUF012


class flatten(EdgeAnnotation):
    """Flatten a list of lists (or the children of a mapped task) before mapping over it."""

    annotations = {"flattened": True}  # noqa: RUF012


__all__ = ["EdgeAnnotation", "flatten", "mapped", "unmapped"]
