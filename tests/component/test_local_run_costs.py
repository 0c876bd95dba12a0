"""What a local run no longer pays for: Prefect's heartbeat thread (up to 1 s at each run's end)."""

import threading

from prefect import flow

from pipelines.framework.config.settings import Settings
from pipelines.framework.deploy.discovery import FlowInfo
from pipelines.framework.stack import local_run


def _prefect_heartbeat_threads() -> list[threading.Thread]:
    """Threads running Prefect's `heartbeat_loop` (the flow engine's, joined at a run's end)."""
    found = []
    for thread in threading.enumerate():
        arguments = getattr(thread, "_args", ())  # what the thread's target was called with
        if any(getattr(arg, "__name__", "") == "heartbeat_loop" for arg in arguments):
            found.append(thread)
    return found


def test_a_local_run_starts_no_prefect_heartbeat_thread(prefect_api, tmp_path, monkeypatch):
    monkeypatch.setattr(local_run, "get_settings", lambda: Settings(home=tmp_path))
    seen: list[int] = []

    @flow(name="pipelines test: counts heartbeat threads")
    def counts() -> None:
        seen.append(len(_prefect_heartbeat_threads()))

    outcome = local_run.run_flow(FlowInfo(counts, __name__, "counts"), {})
    assert outcome.ok, outcome.reason
    assert seen == [0]
