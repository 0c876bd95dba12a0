"""
Turns `-p name=value` from the command line into a flow's typed parameters.
"""

import inspect
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from pipelines.framework.config import UsageError

if TYPE_CHECKING:  # discovery imports Prefect
    from pipelines.framework.deploy import FlowInfo


class ParameterError(UsageError, ValueError):
    """A parameter the flow does not have, or a value its type refuses."""


def _split(pair: str) -> tuple[str, str]:
    name, sep, value = pair.partition("=")
    if not sep or not name.strip():
        raise ParameterError(f"expected name=value, got {pair!r}")
    return name.strip(), value


def convert(annotation: Any, raw: str) -> Any:
    """Validate a command-line string against a parameter's annotation (JSON for containers)."""
    if annotation is inspect.Parameter.empty:
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    adapter = TypeAdapter(annotation)
    try:
        return adapter.validate_strings(raw)
    except ValidationError as exc:
        if not raw.lstrip().startswith(("[", "{", '"')):
            raise ParameterError(_first_error(exc)) from None
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        raise ParameterError(_first_error(exc)) from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{error['msg'].lower()} (got {error['input']!r})"


def parse_parameters(info: "FlowInfo", pairs: Iterable[str]) -> dict[str, Any]:
    """Typed parameters for `info` from `name=value` strings; errors name the parameter."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, raw = _split(pair)
        parameter = info.parameters.get(name)
        if parameter is None:
            known = ", ".join(info.parameters) or "none"
            raise ParameterError(f"flow {info.name!r} has no parameter {name!r} (it has: {known})")
        try:
            values[name] = convert(parameter.annotation, raw)
        except ParameterError as exc:
            raise ParameterError(f"parameter {name!r}: {exc}") from None
    return values
