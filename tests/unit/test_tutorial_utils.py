import pytest

from pipelines.framework.stack.dev import users_csv
from pipelines.rj_escritorio.tutorial.utils import NotCsvError, check_is_csv, count_csv_rows


def test_rows_with_quoted_newlines_count_once():
    assert count_csv_rows(users_csv(7)) == 7
    assert count_csv_rows("a,b\n") == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<!DOCTYPE html><html></html>", "text/html"),
        ("<html><body>503</body></html>", "text/plain"),
        ("gender,name\nmale,x\n", "text/html; charset=utf-8"),
        ("   ", "text/csv"),
    ],
)
def test_html_or_empty_answers_are_refused(body, content_type):
    with pytest.raises(NotCsvError):
        check_is_csv(body, content_type)


def test_csv_is_accepted():
    check_is_csv(users_csv(2), "text/csv; charset=utf-8")
