"""
Helpers for the tutorial project.
"""

import csv
import io


class NotCsvError(ValueError):
    """The API answered with something that is not the CSV it promises."""


def check_is_csv(text: str, content_type: str) -> None:
    """Refuse an HTML error page or an empty body before it reaches the report."""
    head = text.lstrip()[:200].lower()
    if "html" in content_type.lower() or head.startswith(("<!doctype", "<html", "<")):
        raise NotCsvError(f"a API respondeu HTML em vez de CSV ({content_type or 'sem tipo'})")
    if not head:
        raise NotCsvError("a API respondeu um corpo vazio em vez de CSV")


def count_csv_rows(text: str) -> int:
    """Number of data rows in a CSV text (quoted newlines count as part of their row)."""
    return max(sum(1 for _ in csv.reader(io.StringIO(text))) - 1, 0)
