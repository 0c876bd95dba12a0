"""Prefect 1 Server's GraphQL helpers: importable; `Client.graphql` says what to use instead."""

from typing import Any


class EnumValue(str):
    pass


def with_args(field: str, arguments: Any) -> str:
    return field


def parse_graphql(document: Any) -> str:
    return str(document)


__all__ = ["EnumValue", "parse_graphql", "with_args"]
