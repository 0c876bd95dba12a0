from typing import Annotated

import pytest
from pydantic import Field

from pipelines.framework.cli.parameters import ParameterError, convert, parse_parameters
from pipelines.framework.deploy.discovery import find_flow


@pytest.mark.parametrize(
    ("annotation", "raw", "expected"),
    [
        (int, "20", 20),
        (float, "2.5", 2.5),
        (bool, "true", True),
        (bool, "0", False),
        (str, "São Paulo", "São Paulo"),
        (list[int], "[1, 2]", [1, 2]),
        (dict[str, int], '{"a": 1}', {"a": 1}),
        (str | None, "x", "x"),
    ],
)
def test_values_are_converted_to_the_declared_type(annotation, raw, expected):
    assert convert(annotation, raw) == expected


@pytest.mark.parametrize("raw", ["abc", "1.5", ""])
def test_a_value_of_the_wrong_type_is_refused(raw):
    with pytest.raises(ParameterError, match="valid integer"):
        convert(int, raw)


def test_constraints_of_the_annotation_apply():
    with pytest.raises(ParameterError, match="less than or equal to 5000"):
        convert(Annotated[int, Field(ge=1, le=5000)], "5001")


def test_users_report_parameters_are_typed():
    info = find_flow("Users report")
    assert parse_parameters(info, ["n_users=20", "api_url=http://x/api/"]) == {
        "n_users": 20,
        "api_url": "http://x/api/",
    }


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["n_users=0"], "parameter 'n_users': input should be greater than or equal to 1"),
        (["n_users=-3"], "greater than or equal to 1"),
        (["n_users=5001"], "less than or equal to 5000"),
        (["colour=blue"], "has no parameter 'colour'"),
        (["n_users"], "expected name=value"),
    ],
)
def test_bad_parameters_name_the_problem(pairs, message):
    with pytest.raises(ParameterError, match=message):
        parse_parameters(find_flow("Users report"), pairs)
