"""`pipelines secrets set|get|list` against the real test server (the sub-app, in-process)."""

import json
import uuid

import pytest
from typer.testing import CliRunner

from pipelines.framework.cli.secrets import secrets_app
from pipelines.framework.secrets import masking
from pipelines.framework.secrets.store import read_secret

pytestmark = pytest.mark.component
runner = CliRunner()


@pytest.fixture(autouse=True)
def _forget():
    yield
    masking.forget_secrets()


def invoke(*args, stdin=None):
    return runner.invoke(secrets_app, list(args), input=stdin)


def test_set_get_list_round_trip(prefect_api):
    path = f"dev/ftp-{uuid.uuid4().hex[:6]}"
    password = "ftp-" + uuid.uuid4().hex
    stored = invoke("set", path, "user=smtr", f"password={password}")
    assert stored.exit_code == 0, stored.output
    assert password not in stored.output and "password, user" in stored.output

    masked = invoke("get", path)
    assert masked.exit_code == 0, masked.output
    assert json.loads(masked.output) == {"user": "****", "password": "****"}

    revealed = invoke("get", path, "--reveal")
    assert json.loads(revealed.output) == {"user": "smtr", "password": password}

    listed = invoke("list")
    assert path.replace("/", "-") in listed.output.split()
    assert read_secret(path) == {"user": "smtr", "password": password}  # what flows read


def test_set_from_stdin_keeps_values_out_of_argv(prefect_api):
    path = f"dev/api-{uuid.uuid4().hex[:6]}"
    stored = invoke("set", path, "--stdin", stdin=json.dumps({"token": "tok-123456"}))
    assert stored.exit_code == 0, stored.output
    assert read_secret(path) == {"token": "tok-123456"}


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (["set", "x"], None, 2, "one of them"),
        (["set", "x", "a=b", "--stdin"], "{}", 2, "one of them"),
        (["set", "x", "--stdin"], "not json", 2, "not valid JSON"),
        (["get", "no/such/secret"], None, 1, "no secret 'no/such/secret'"),
    ],
)
def test_usage_errors(prefect_api, args, stdin, code, message):
    result = invoke(*args, stdin=stdin)
    assert result.exit_code == code
    assert message in result.output
