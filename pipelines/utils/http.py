"""
HTTP helpers for tasks: one timeout policy and a retry rule for transient failures.
"""

from typing import Any

import httpx
from prefect.states import State

from pipelines.framework.settings import get_settings

RETRY_DELAYS_SECONDS = [1, 2, 4]


def is_transient_http_error(exc: BaseException) -> bool:
    """True for errors worth retrying: network failures, timeouts and 5xx answers."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


def retry_on_transient_http_error(_task: Any, _task_run: Any, state: State) -> bool:
    """Prefect `retry_condition_fn`: retry a task only when its failure is transient."""
    exc = state.data if isinstance(state.data, BaseException) else None
    return exc is not None and is_transient_http_error(exc)


def get(url: str, params: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
    """GET `url` with the configured timeout, raising for any non-2xx answer."""
    timeout = get_settings().http_timeout
    response = httpx.get(url, params=params, timeout=timeout, follow_redirects=True, **kwargs)
    response.raise_for_status()
    return response
