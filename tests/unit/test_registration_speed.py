"""What keeps registration fast and still right: the first look that finds nothing to do without
Prefect (`deploy.unchanged`), and writes retried soon while the server is busy."""

import asyncio

import httpx
import pytest
from prefect.exceptions import PrefectHTTPStatusError

from pipelines.framework.deploy import registration
from pipelines.framework.deploy.unchanged import _as_rendered

RENDERED = {"EMD: a - one": ("fp-one", "label"), "EMD: a - two": ("fp-two", "label")}


def _deployment(version: str, paused: bool = False) -> dict:
    return {"version": version, "paused": paused}


@pytest.mark.parametrize(
    ("deployments", "nothing_to_do"),
    [
        ([("EMD: a - one", _deployment("fp-one")), ("EMD: a - two", _deployment("fp-two"))], True),
        ([("EMD: a - one", _deployment("fp-one"))], False),  # two is new
        ([("EMD: a - one", _deployment("fp-one")), ("EMD: a - two", _deployment("old"))], False),
        (
            [
                ("EMD: a - one", _deployment("fp-one")),
                ("EMD: a - two", _deployment("fp-two", True)),
            ],
            False,  # paused: registration resumes it
        ),
        (
            [
                ("EMD: a - one", _deployment("fp-one")),
                ("EMD: a - two", _deployment("fp-two")),
                ("EMD: a - gone", _deployment("x")),
            ],
            False,  # a deleted flow's deployment: registration pauses it
        ),
        (
            [
                ("EMD: a - one", _deployment("fp-one")),
                ("EMD: a - two", _deployment("fp-two")),
                ("EMD: a - gone", _deployment("x", paused=True)),
            ],
            True,  # paused already
        ),
        (
            [
                ("EMD: a - one", _deployment("fp-one")),
                ("EMD: a - one", _deployment("fp-one")),  # an older name left: deleted
                ("EMD: a - two", _deployment("fp-two")),
            ],
            False,
        ),
    ],
)
def test_nothing_to_do_only_when_the_server_holds_exactly_what_would_be_rendered(
    deployments, nothing_to_do
):
    assert _as_rendered(deployments, RENDERED) is nothing_to_do


def _busy(status: int) -> PrefectHTTPStatusError:
    request = httpx.Request("POST", "http://server/api/deployments/")
    response = httpx.Response(status, request=request)
    return PrefectHTTPStatusError(f"{status}", request=request, response=response)


def test_a_busy_server_is_asked_again_soon(monkeypatch):
    monkeypatch.setattr(registration, "BUSY_RETRIES", (0.01, 0.01, 0.01))
    answers = [_busy(503), _busy(503), "created"]

    async def write():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert asyncio.run(registration._retried(write)) == "created"  # pylint: disable=protected-access
    assert answers == []


@pytest.mark.parametrize("status", [400, 409, 422])
def test_a_refused_write_is_not_retried(monkeypatch, status):
    monkeypatch.setattr(registration, "BUSY_RETRIES", (0.01,))
    calls = []

    async def write():
        calls.append(1)
        raise _busy(status)

    with pytest.raises(PrefectHTTPStatusError):
        asyncio.run(registration._retried(write))  # pylint: disable=protected-access
    assert len(calls) == 1


def test_a_server_busy_for_too_long_is_reported(monkeypatch):
    monkeypatch.setattr(registration, "BUSY_RETRIES", (0.01, 0.01))

    async def write():
        raise _busy(503)

    with pytest.raises(PrefectHTTPStatusError):
        asyncio.run(registration._retried(write))  # pylint: disable=protected-access
