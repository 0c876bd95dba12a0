"""The tutorial flow against a real Prefect server and the stand-in API."""

import csv

import pytest

from pipelines.framework.stack.dev import HEADER, user_row
from pipelines.rj_escritorio.tutorial.flows import users_report

pytestmark = pytest.mark.component


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_the_report_holds_every_user_exactly_as_the_api_sent_it(prefect_api, randomuser, tmp_path):
    output = tmp_path / "report.csv"
    users_report(n_users=25, api_url=randomuser.url, output_path=str(output))
    header, *rows = read_rows(output)
    assert header == HEADER
    assert rows == [user_row(i) for i in range(25)]
    assert any("\n" in value for row in rows for value in row)  # embedded newlines survived
    assert any("," in value for row in rows for value in row)  # quoted commas survived
    assert randomuser.requests == ["/api/?results=25&format=csv"]


def test_a_short_answer_fails_and_keeps_the_old_report(prefect_api, tmp_path):
    from pipelines.framework.stack.dev import RandomUserAPI

    output = tmp_path / "report.csv"
    output.write_bytes(b"old report\n")
    with RandomUserAPI(mode="short") as api:
        state = users_report(n_users=5, api_url=api.url, output_path=str(output), return_state=True)
    assert state.is_failed()
    assert "4 usuários, esperados 5" in str(state.result(raise_on_failure=False))
    assert output.read_bytes() == b"old report\n"
