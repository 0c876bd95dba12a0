"""A crash no process is left to report (its worker was killed) is alerted by the server itself:
the automation that marks the run Crashed calls the webhook with the same message fields."""

import asyncio
import json
import time

import pytest
from prefect import flow, get_client
from prefect.automations import Automation
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.states import Crashed, Running

from pipelines.framework.config.settings import get_settings
from pipelines.framework.runtime.alerts import crash_alert_action
from pipelines.framework.secrets import masking
from tests.support.webhook_api import WebhookReceiver

pytestmark = pytest.mark.component
FLOW_NAME = "TST: testes - Worker morto"


async def crashed_run_with_automation(action) -> tuple:
    async with get_client() as client:
        run = await client.create_flow_run(placeholder, name="morto-de-teste")
        automation = await Automation(
            name=f"test crash alert {run.id}",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Crashed"},
                match=ResourceSpecification({"prefect.resource.id": f"prefect.flow-run.{run.id}"}),
                posture=Posture.Reactive,
                threshold=1,
            ),
            actions=[action],
        ).acreate()
        await asyncio.sleep(2)  # the triggers service loads new automations
        await client.set_flow_run_state(run.id, Running(), force=True)
        await client.set_flow_run_state(
            run.id,
            Crashed(message="No heartbeat for 90 s: its worker or machine died."),
            force=True,
        )
    return run, automation


@flow(name=FLOW_NAME)
def placeholder() -> None:
    """Only its name matters: the run is created and crashed through the API."""


def test_the_server_alerts_a_crash_when_no_process_can(prefect_api, monkeypatch):
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("PIPELINES_SECRET_ALERTS_WEBHOOK", json.dumps({"url": receiver.url}))
        get_settings.cache_clear()
        action = asyncio.run(crash_alert_action({FLOW_NAME: ["paty", "someone_new"]}, "local"))
        run, automation = asyncio.run(crashed_run_with_automation(action))
        try:
            deadline = time.monotonic() + 90
            while not receiver.messages and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            asyncio.run(automation.adelete())
            get_settings.cache_clear()
            masking.forget_secrets()
    assert len(receiver.messages) == 1
    text = receiver.messages[0]["content"]
    assert text.startswith(f"[local] **{FLOW_NAME}**: run `morto-de-teste` crashed")
    assert "No heartbeat for 90 s" in text
    assert f"/runs/flow-run/{run.id}" in text
    assert "owners: <@100000000000000001> @someone_new" in text
