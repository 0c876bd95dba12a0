"""Prefect 1's `prefect.utilities.collections.DotDict`: a dict whose keys read as attributes."""

from typing import Any


class DotDict(dict):
    """`DotDict(a=1).a == 1`; `.get`, `[]` and `to_dict()` as Prefect 1 offers them."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        del self[name]

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, nested DotDicts included."""
        return {k: v.to_dict() if isinstance(v, DotDict) else v for k, v in self.items()}


__all__ = ["DotDict"]
