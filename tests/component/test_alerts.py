"""Failure alerts: a failing flow posts one message to a local chat webhook; a broken webhook
changes nothing else. Real Prefect server, real flow runs."""

import json

import pytest
from prefect import task

from pipelines.framework.config.settings import Settings, get_settings
from pipelines.framework.runtime.alerts import Alert, alert_on_failure, webhook_url
from pipelines.framework.runtime.flows import flow, instantiate
from pipelines.framework.secrets import masking
from tests.support.webhook_api import WebhookReceiver

pytestmark = pytest.mark.component


class _Crash(BaseException):
    """Stands for what a killed process raises (a BaseException, not an Exception)."""


@task
def load_rows() -> None:
    raise ValueError("warehouse refused the load\nsecond line of detail")


@flow("TST: testes - Carga que falha", code_owners=["paty", "someone_new"])
def failing_flow() -> None:
    load_rows()


@flow("TST: testes - Carga que quebra", code_owners=["paty"])
def crashing_flow() -> None:
    raise _Crash("killed")


@pytest.fixture
def webhook(monkeypatch, prefect_api):
    def start(mode="ok", **env):
        receiver = WebhookReceiver(mode=mode, hang_seconds=4).__enter__()
        monkeypatch.setenv("PIPELINES_SECRET_ALERTS_WEBHOOK", json.dumps({"url": receiver.url}))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        started.append(receiver)
        return receiver

    started: list[WebhookReceiver] = []
    yield start
    for receiver in started:
        receiver.__exit__(None, None, None)
    get_settings.cache_clear()
    masking.forget_secrets()


def test_every_declared_flow_carries_the_hook_once():
    copy = instantiate(failing_flow, "TST: testes - Copia", code_owners=["paty"])
    for declared in (failing_flow, copy):
        assert declared.on_failure_hooks.count(alert_on_failure) == 1
        assert declared.on_crashed_hooks.count(alert_on_failure) == 1


def test_a_failing_flow_posts_exactly_one_alert_with_what_owners_need(webhook):
    receiver = webhook()
    state = failing_flow(return_state=True)
    assert state.is_failed()
    assert len(receiver.messages) == 1
    message = receiver.messages[0]
    text = message["content"]
    assert message["text"] == text  # Slack reads `text`, Discord `content`
    flow_run_id = state.state_details.flow_run_id
    assert text.startswith("[local] **TST: testes - Carga que falha**")
    assert "failed" in text
    assert "failing task: `load_rows`" in text
    assert "ValueError: warehouse refused the load\nsecond line of detail" in text
    assert f"/runs/flow-run/{flow_run_id}" in text
    assert text.split("/runs/flow-run/")[0].endswith("http://127.0.0.1:" + _port(text))
    assert "<@100000000000000001>" in text and "@someone_new" in text
    assert "deployment: `(none: a local run)`" in text
    assert "environment: local" in text


def _port(text: str) -> str:
    return text.split("http://127.0.0.1:")[1].split("/")[0]


def test_staging_alerts_are_marked(webhook):
    receiver = webhook(PIPELINES_ENV="staging")
    failing_flow(return_state=True)
    assert [m["content"].split(" ", 1)[0] for m in receiver.messages] == ["[staging]"]


def test_a_crashed_flow_alerts_too(webhook):
    receiver = webhook()
    with pytest.raises(_Crash):
        crashing_flow()
    assert len(receiver.messages) == 1
    assert "crashed" in receiver.messages[0]["content"].lower()
    assert "_Crash: killed" in receiver.messages[0]["content"]


def outcome(state) -> tuple:
    error = state.result(raise_on_failure=False)
    return state.type, state.name, state.message, type(error), str(error)


@pytest.mark.parametrize("mode", ["500", "hang"])
def test_a_broken_webhook_changes_nothing_else(webhook, mode):
    baseline = outcome(failing_flow(return_state=True))
    receiver = webhook(mode=mode, PIPELINES_ALERT_TIMEOUT="1")
    state = failing_flow(return_state=True)
    assert len(receiver.messages) == 1  # tried once, no retry storm
    assert outcome(state) == baseline
    with pytest.raises(ValueError, match="warehouse refused the load"):
        failing_flow()  # the caller still gets the flow's own exception, nothing else


def test_without_a_webhook_nothing_is_sent_and_nothing_breaks(prefect_api, monkeypatch):
    monkeypatch.delenv("PIPELINES_SECRET_ALERTS_WEBHOOK", raising=False)
    state = failing_flow(return_state=True)
    assert state.is_failed()


def test_staging_uses_its_own_webhook_when_configured(monkeypatch):
    monkeypatch.setenv("PIPELINES_SECRET_ALERTS_WEBHOOK", json.dumps({"url": "http://main"}))
    monkeypatch.setenv("PIPELINES_SECRET_ALERTS_STAGING", json.dumps({"url": "http://staging"}))
    settings = Settings(secret_backends="env", alert_webhook_path_staging="alerts/staging")
    assert webhook_url("staging", settings) == "http://staging"
    assert webhook_url("prod", settings) == "http://main"
    masking.forget_secrets()


def test_prod_alerts_carry_no_tag_and_long_errors_are_cut():
    alert = Alert(
        flow_name="EMD: escritorio - Users report",
        deployment_name="users-report-prod",
        environment="prod",
        state_name="Failed",
        flow_run_name="crimson-fox",
        failed_task="download_data",
        error="HTTPStatusError: 500",
        url="http://ui/runs/flow-run/1",
        mentions=("<@1>",),
    )
    assert alert.text().startswith("**EMD: escritorio - Users report**: run `crimson-fox` failed")
    assert "deployment: `users-report-prod`" in alert.text()
