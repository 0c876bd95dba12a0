"""
Failure alerts to a flow's code owners, in the team chat.

Every flow made with `pipelines.framework.runtime.flow` (or `instantiate`) carries
`alert_on_failure` as its `on_failure` and `on_crashed` hook. When a run fails or crashes, one
message goes to a Discord- or Slack-compatible webhook: flow and deployment, environment, the
failing task, the error's first lines (masked), a link to the run in the UI, and the owners'
mentions (`constants.CODE_OWNERS_MENTIONS`). The webhook URL is itself a secret (`{"url": ...}` at
the path in `PIPELINES_ALERT_WEBHOOK_PATH`, default `alerts/webhook`); staging uses
`PIPELINES_ALERT_WEBHOOK_PATH_STAGING` when set, and is always marked `[staging]`.

An alert never changes the run's result: no webhook configured, a webhook that answers 500 or
does not answer within `PIPELINES_ALERT_TIMEOUT` seconds is logged and ignored.
"""

import json
import logging
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from prefect import Flow
from prefect.blocks.webhook import Webhook
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.events.actions import CallWebhook
from prefect.logging.loggers import flow_run_logger
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL
from prefect.states import State
from prefect.task_engine import BaseTaskRunEngine

from pipelines.constants import constants
from pipelines.framework.config import Settings, current_environment, get_settings
from pipelines.framework.secrets import (
    SecretError,
    SecretNotFoundError,
    mask,
    mask_exception,
    read_secret,
)

ERROR_LINES = 6
WEBHOOK_BLOCK = "pipelines-alerts-webhook"
MAX_ERROR_CHARS = 1200
_fallback_logger = logging.getLogger("pipelines.alerts")


@dataclass(frozen=True)
class Alert:  # pylint: disable=too-many-instance-attributes
    """What the owners read about a failed run."""

    flow_name: str
    deployment_name: str | None
    environment: str
    state_name: str
    flow_run_name: str
    failed_task: str | None
    error: str
    url: str
    mentions: tuple[str, ...]

    def text(self) -> str:
        """The chat message (Markdown that Discord and Slack both render)."""
        tag = "" if self.environment == constants.ENV_PROD.value else f"[{self.environment}] "
        lines = [
            f"{tag}**{self.flow_name}**: run `{self.flow_run_name}` {self.state_name.lower()}",
            f"deployment: `{self.deployment_name or '(none: a local run)'}`"
            f" · environment: {self.environment}"
            f" · failing task: `{self.failed_task or 'unknown'}`",
            f"```\n{self.error}\n```",
            f"run: {self.url}",
            f"owners: {' '.join(self.mentions) or '(none declared)'}",
        ]
        return mask("\n".join(lines))

    def payload(self) -> dict[str, str]:
        """JSON body accepted by both Discord (`content`) and Slack (`text`) webhooks."""
        text = self.text()
        return {"content": text, "text": text}


def mentions(owners: Sequence[str]) -> tuple[str, ...]:
    """Chat mentions for code owners; an owner without a mapping is shown as `@owner`."""
    mapping: dict[str, str] = constants.CODE_OWNERS_MENTIONS.value
    return tuple(mapping.get(owner, f"@{owner}") for owner in owners)


def run_url(flow_run_id: UUID | str) -> str:
    """The run's page in the Prefect UI this process talks to."""
    ui_url = PREFECT_UI_URL.value() or (PREFECT_API_URL.value() or "").removesuffix("/api")
    return f"{ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"


def error_lines(state: State) -> str:
    """The error's first lines: the exception when it is at hand, else the state's message."""
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None:
        try:
            result = state.result(raise_on_failure=False)
        except Exception:  # pylint: disable=broad-exception-caught  # unreadable result: still alert
            result = None
        error = result if isinstance(result, BaseException) else None
    if error is not None:
        mask_exception(error)
        text = "".join(traceback.format_exception_only(type(error), error))
    else:
        text = state.message or state.name or "unknown error"
    lines = text.strip().splitlines()[:ERROR_LINES]
    return mask("\n".join(lines))[:MAX_ERROR_CHARS]


def failed_task_name(state: State, flow_run_id: UUID) -> str | None:
    """The task that raised: found in the exception's traceback, else asked of the server."""
    error = state.data if isinstance(state.data, BaseException) else None
    if error is not None:
        for frame, _ in traceback.walk_tb(error.__traceback__):
            engine = frame.f_locals.get("self")
            if isinstance(engine, BaseTaskRunEngine):
                return engine.task.name
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    failed = [run for run in task_runs if run.state and (run.state.is_failed())]
    return failed[-1].task_key.rsplit("-", 1)[0] if failed else None


def deployment_name(flow_run: FlowRun) -> str | None:
    """The run's deployment, when it came from one."""
    if flow_run.deployment_id is None:
        return None
    with get_client(sync_client=True) as client:
        return client.read_deployment(flow_run.deployment_id).name


def build_alert(flow: Flow, flow_run: FlowRun, state: State) -> Alert:
    """Everything the message says, gathered from the run."""
    return Alert(
        flow_name=flow.name,
        deployment_name=deployment_name(flow_run),
        environment=current_environment().name,
        state_name=state.name or state.type.value,
        flow_run_name=flow_run.name or str(flow_run.id),
        failed_task=failed_task_name(state, flow_run.id),
        error=error_lines(state),
        url=run_url(flow_run.id),
        mentions=mentions(getattr(flow, "code_owners", ()) or ()),
    )


def webhook_url(environment: str, settings: Settings | None = None) -> str | None:
    """The webhook for this environment's alerts, or None when none is configured."""
    settings = settings or get_settings()
    paths = [settings.alert_webhook_path]
    if environment == constants.ENV_STAGING.value and settings.alert_webhook_path_staging:
        paths.insert(0, settings.alert_webhook_path_staging)
    for path in paths:
        try:
            return read_secret(path)["url"]
        except (SecretNotFoundError, KeyError):
            continue
    return None


def send_alert(alert: Alert, url: str, timeout: float) -> None:
    """Post the alert once (no retry: a timeout may hide a delivered message)."""
    response = httpx.post(url, json=alert.payload(), timeout=timeout)
    response.raise_for_status()


def alert_on_failure(flow: Flow, flow_run: FlowRun, state: State) -> None:
    """Prefect `on_failure`/`on_crashed` hook: tell the owners; never raise."""
    logger: Any = _run_logger(flow, flow_run)
    try:
        url = webhook_url(current_environment().name)
        if url is None:
            logger.info("no failure alert sent: no webhook secret configured")
            return
        alert = build_alert(flow, flow_run, state)
        send_alert(alert, url, get_settings().alert_timeout)
        logger.info("failure alert sent to the owners: %s", ", ".join(alert.mentions))
    except (httpx.HTTPError, SecretError, OSError, ValueError) as exc:
        logger.warning("failure alert not sent: %s", mask(f"{type(exc).__name__}: {exc}"))
    except Exception as exc:  # pylint: disable=broad-exception-caught  # never worsen the run
        logger.warning("failure alert not sent (unexpected): %s", mask(repr(exc)))


def _run_logger(flow: Flow, flow_run: FlowRun) -> Any:
    try:
        return flow_run_logger(flow_run, flow)
    except Exception:  # pylint: disable=broad-exception-caught  # no run context: log locally
        return _fallback_logger


def attach(prefect_flow: Flow) -> Flow:
    """Add the alert hook to a flow's `on_failure` and `on_crashed` hooks (once)."""
    for hooks in (prefect_flow.on_failure_hooks, prefect_flow.on_crashed_hooks):
        if alert_on_failure not in hooks:
            hooks.append(alert_on_failure)
    return prefect_flow


CRASH_REASON = "no process was left to report it: its worker or machine died"


def crash_alert_payload(
    owners_by_flow: Mapping[str, Sequence[str]], environment: str, reason: str = CRASH_REASON
) -> str:
    """The message, as a template the server renders itself when it marks a run Crashed.

    The error shown is the run's Crashed message when the server already holds it, else `reason`:
    the automation may call the webhook before its own state change is rendered (the run then
    still reads Running, with no message).
    """
    tag = "" if environment == constants.ENV_PROD.value else f"[{environment}] "
    owners = {name: " ".join(mentions(list(found))) for name, found in owners_by_flow.items()}
    return (
        "{% set owners = "
        + json.dumps(owners)
        + " %}{% set reason = "
        + json.dumps(reason)
        + " %}{% set text %}"
        + tag
        + "**{{ flow.name }}**: run `{{ flow_run.name }}` crashed\n"
        "deployment: `{{ deployment.name if deployment else '(none: a local run)' }}`"
        f" · environment: {environment} · failing task: `unknown`\n"
        "```\n{{ flow_run.state.message if flow_run.state.name == 'Crashed'"
        " and flow_run.state.message else reason }}\n```\n"
        "run: " + run_url("{{ flow_run.id }}") + "\n"
        "owners: {{ owners.get(flow.name, '(none declared)') }}{% endset %}"
        '{"content": {{ text|tojson }}, "text": {{ text|tojson }}}'
    )


async def crash_alert_action(
    owners_by_flow: Mapping[str, Sequence[str]], environment: str, reason: str = CRASH_REASON
) -> CallWebhook | None:
    """A server-side action that alerts a crash no process is left to report (a killed worker).

    Add it to the automation that marks such runs Crashed. It saves the webhook (read from the
    alert secret) as a Webhook block; None when no webhook is configured.
    """
    url = webhook_url(environment)
    if url is None:
        return None
    block_id = await Webhook(
        method="POST", url=url, headers={"Content-Type": "application/json"}
    ).asave(WEBHOOK_BLOCK, overwrite=True)
    return CallWebhook(
        block_document_id=block_id,
        payload=crash_alert_payload(owners_by_flow, environment, reason),
    )
