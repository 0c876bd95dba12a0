"""
`pipelines register`: one deployment per flow and environment, with its code uploaded to storage.

A deployment's `version` is the fingerprint of its code and settings, so an unchanged flow is
skipped by comparing with the server, and a changed one always runs the new code: the code is
stored under its fingerprint and never overwritten. Deployments of flows that no longer exist are
paused and their future runs deleted, so deleted flows leave no ghost runs.
"""

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    FlowFilter,
    FlowFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import (
    ConcurrencyLimitConfig,
    ConcurrencyOptions,
    StateType,
)
from prefect.client.schemas.responses import DeploymentResponse

from pipelines.constants import constants
from pipelines.framework.config import REPO_ROOT, Environment
from pipelines.framework.deploy.code_closure import closure_files, file_digest
from pipelines.framework.deploy.discovery import FlowInfo, discover, discover_flows, load_flows
from pipelines.framework.deploy.work_pools import (
    check_labels,
    ensure_work_pools,
    pool_type,
    worker_job_variables,
)
from pipelines.framework.runtime import ScheduleError
from pipelines.framework.storage import is_local_filesystem, storage_options, url_to_fs

REGISTRY_TAG = "pipelines"
PAGE = 200  # the server's largest page


def deployment_name(flow_name: str, env: Environment) -> str:
    """A deployment's name: its flow's and its environment's, e.g. `EMD: escritorio - Users report
    (local)`. The UI lists deployments by name in bold (the flow below it): the environment's name
    alone made every row read the same."""
    return f"{flow_name} ({env.name})"


@dataclass(frozen=True)
class RenderedDeployment:  # pylint: disable=too-many-instance-attributes
    """One flow's deployment in one environment, as registration creates it, but the code."""

    flow: str
    deployment: str
    """The deployment's name (`deployment_name`): its flow's and its environment's."""
    entrypoint: str
    work_pool: str
    work_queue: str
    tags: list[str]
    concurrency: ConcurrencyLimitConfig | None
    env: dict[str, str]
    """Environment variables of the flow's runs (the code location's are added at upload)."""
    schedules: list[DeploymentScheduleCreate]
    job_variables: dict[str, Any] = field(default_factory=dict)
    """Job variables besides `env` (a Kubernetes label's image, resources and placement)."""

    def as_dict(self) -> dict[str, Any]:
        """As plain data: the reviewed snapshot and half of the fingerprint."""
        return {
            "flow": self.flow,
            "deployment": self.deployment,
            "entrypoint": self.entrypoint,
            "work_pool": self.work_pool,
            "work_queue": self.work_queue,
            "tags": self.tags,
            "concurrency": (
                self.concurrency.model_dump(mode="json", exclude_none=True)
                if self.concurrency
                else None
            ),
            "job_variables": {**self.job_variables, "env": self.env},
            "schedules": [
                {
                    "schedule": s.schedule.model_dump(mode="json", exclude_none=True),
                    "parameters": s.parameters,
                }
                for s in self.schedules
            ],
        }


@dataclass(frozen=True)
class DeploymentSpec:
    """What registration creates for one flow in one environment."""

    info: FlowInfo
    env: Environment

    @property
    def label(self) -> str:
        """The agent label (work pool) of the flow: its schedule's; without one, its Prefect 1
        run config's (`flow.run_config.labels`), else the default one."""
        schedule = self.info.schedule
        if schedule:
            labels, source = schedule.labels, "a schedule"
        else:
            labels, source = _run_config_labels(self.info), "a run config"
            labels = labels or (constants.DEFAULT_AGENT_LABEL.value,)
        if len(labels) != 1:
            raise ScheduleError(f"{self.info.name!r}: {source} names one label, got {labels}")
        return labels[0]

    @property
    def tags(self) -> list[str]:
        owners = [f"owner:{owner}" for owner in self.info.code_owners]
        scope = [f"orgao:{self.info.orgao}", f"project:{self.info.project or '-'}"]
        return [REGISTRY_TAG, f"env:{self.env.name}", *scope, *owners]

    def schedules(self) -> list[DeploymentScheduleCreate]:
        clocks = self.info.schedule.clocks if self.info.schedule else ()
        return [DeploymentScheduleCreate.from_schedule(clock.to_prefect()) for clock in clocks]

    def render(self) -> RenderedDeployment:
        """Everything registration sends but the code."""
        variables = worker_job_variables(self.label, self._kubernetes_job_variables())
        extra = {k: v for k, v in variables.items() if k != "env"}
        return RenderedDeployment(
            flow=self.info.name,
            deployment=deployment_name(self.info.name, self.env),
            entrypoint=self.info.entrypoint,
            work_pool=self.label,
            work_queue=self.env.work_queue(),
            tags=self.tags,
            concurrency=self.info.deployment_concurrency,
            env={**variables.get("env", {}), "PIPELINES_ENV": self.env.name},
            schedules=self.schedules(),
            job_variables=extra,
        )

    def _kubernetes_job_variables(self) -> dict[str, Any]:
        """A Prefect 1 run config's image, env and resources, on a Kubernetes pool only (a
        process pool runs here, with this machine's Python and environment)."""
        if pool_type(self.label) != "kubernetes":
            return {}
        job_variables = getattr(getattr(self.info.flow, "run_config", None), "job_variables", None)
        return dict(job_variables()) if callable(job_variables) else {}

    def fingerprint(self) -> str:
        """The deployment's version: its rendering and its code files, hashed."""
        rendered = self.render().as_dict()
        digest = hashlib.sha256(json.dumps(rendered, sort_keys=True, default=str).encode())
        for path in closure_files(self.info.module):
            digest.update(str(path).encode())
            digest.update(file_digest(REPO_ROOT / path))
        return digest.hexdigest()[:16]


def _run_config_labels(info: FlowInfo) -> tuple[str, ...]:
    """A Prefect 1 flow's `run_config.labels` (pipelines.compat), sorted; () for other flows."""
    return tuple(sorted(getattr(getattr(info.flow, "run_config", None), "labels", None) or ()))


@dataclass(frozen=True)
class Outcome:
    """What registration did (or would do) for one flow."""

    flow: str
    action: str  # created, updated, skipped, paused; failed (a module), kept (its deployments)
    detail: str = ""


def upload_code(spec: DeploymentSpec, fingerprint: str) -> str:
    """Copy the flow's files to `<code_url>/<fingerprint>/` once; returns that location."""
    target = f"{spec.env.code_url}/{fingerprint}"
    fs, path = url_to_fs(target)
    if fs.exists(f"{path}/.complete"):
        return target
    files = closure_files(spec.info.module)
    if is_local_filesystem(fs):
        _copy_locally(files, Path(path))
    else:
        for relative in files:
            fs.put_file(str(REPO_ROOT / relative), f"{path}/{relative}")
        fs.pipe_file(f"{path}/.complete", b"")
    return target


def _copy_locally(files: tuple[Path, ...], target: Path) -> None:
    """Build the snapshot beside its place and rename it in, so no reader sees half of it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    for relative in files:
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, staging / relative)
    (staging / ".complete").touch()
    try:
        staging.rename(target)
    except OSError:  # another registration stored the same fingerprint first
        shutil.rmtree(staging, ignore_errors=True)


def code_location(code: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Pull steps and environment that make a worker import the uploaded code."""
    fs, path = url_to_fs(code)
    if is_local_filesystem(fs):
        return [], {"PYTHONPATH": path}
    pull = {"url": code, **storage_options(code)}  # the step runs before the flow's settings
    return [{"prefect.deployments.steps.pull_from_remote_storage": pull}], {}


async def _existing(
    client: PrefectClient, env: Environment
) -> list[tuple[str, DeploymentResponse]]:
    """This environment's registered deployments with their flow's name (every page of them)."""
    only_ours = DeploymentFilter(tags=DeploymentFilterTags(all_=[REGISTRY_TAG, f"env:{env.name}"]))
    deployments: list[DeploymentResponse] = []
    while page := await client.read_deployments(
        deployment_filter=only_ours, limit=PAGE, offset=len(deployments)
    ):
        deployments.extend(page)
    names: dict[UUID, str] = {}
    for start in range(0, len(deployments), PAGE):
        ids = [d.flow_id for d in deployments[start : start + PAGE]]
        flows = await client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=ids)))
        names.update((f.id, f.name) for f in flows)
    return [(names[d.flow_id], d) for d in deployments if d.flow_id in names]


def _by_flow(
    ours: list[tuple[str, DeploymentResponse]], env: Environment
) -> dict[str, DeploymentResponse]:
    """Each flow's deployment: the one named as registration names it, else an older one."""
    current = sorted(ours, key=lambda pair: pair[1].name == deployment_name(pair[0], env))
    return dict(current)


def _written(spec: DeploymentSpec, current: DeploymentResponse | None, fingerprint: str) -> Outcome:
    """What registration did for a flow it (re)deployed: created it, or updated it (renamed too,
    when its deployment had an older name)."""
    if current is None:
        return Outcome(spec.info.name, "created", fingerprint)
    if current.name == deployment_name(spec.info.name, spec.env):
        return Outcome(spec.info.name, "updated", fingerprint)
    return Outcome(spec.info.name, "updated", f"{fingerprint}; renamed from {current.name!r}")


def _renamed(
    ours: list[tuple[str, DeploymentResponse]], env: Environment, wanted: set[str]
) -> list[DeploymentResponse]:
    """Deployments of existing flows under an older name (the environment's alone): replaced by
    one under the current name, they are deleted with their scheduled runs (not their history)."""
    return [d for flow, d in ours if flow in wanted and d.name != deployment_name(flow, env)]


async def _deploy(client: PrefectClient, spec: DeploymentSpec, fingerprint: str) -> None:
    rendered = spec.render()
    concurrency = rendered.concurrency
    pull_steps, code_env = code_location(upload_code(spec, fingerprint))
    flow_id = await client.create_flow_from_name(rendered.flow)
    await client.create_deployment(
        flow_id=flow_id,
        name=rendered.deployment,
        version=fingerprint,
        schedules=rendered.schedules,
        concurrency_limit=concurrency.limit if concurrency else None,  # None lifts an old limit
        concurrency_options=(
            ConcurrencyOptions(collision_strategy=concurrency.collision_strategy)
            if concurrency
            else None
        ),
        work_pool_name=rendered.work_pool,
        work_queue_name=rendered.work_queue,
        entrypoint=rendered.entrypoint,
        tags=rendered.tags,
        parameter_openapi_schema=spec.info.flow.parameters.model_dump(),
        description=(spec.info.flow.description or "").strip() or None,
        pull_steps=pull_steps,
        job_variables={**rendered.job_variables, "env": {**rendered.env, **code_env}},
        paused=False,
    )


async def pause_deployment(client: PrefectClient, deployment: DeploymentResponse) -> int:
    """Pause a deployment and delete its scheduled runs; returns how many were deleted."""
    await client.pause_deployment(deployment.id)
    runs = await client.read_flow_runs(
        deployment_filter=DeploymentFilter(id={"any_": [deployment.id]}),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
        ),
    )
    for run in runs:
        await client.delete_flow_run(run.id)
    return len(runs)


def plan(env: Environment, flows: list[FlowInfo] | None = None) -> list[DeploymentSpec]:
    """The deployments the repository defines for `env` (offline: no server needed)."""
    return [DeploymentSpec(info, env) for info in (discover_flows() if flows is None else flows)]


async def register(
    env: Environment,
    dry_run: bool = False,
    on_outcome: Callable[[Outcome], None] = lambda _: None,
) -> list[Outcome]:
    """Create or update every flow's deployment in `env`; pause those of deleted flows.

    A flows module that does not import is reported ("failed") and its deployments are kept as
    they are ("kept"): its flows are unreadable this time, not deleted."""
    found = load_flows(discover())
    specs = plan(env, found.flows)
    check_labels(sorted({spec.label for spec in specs}), env)
    outcomes: list[Outcome] = []

    def report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        on_outcome(outcome)

    for failure in found.failures:
        report(Outcome(failure.module, "failed", str(failure)))
    async with get_client() as client:
        if not dry_run:
            await ensure_work_pools(client, sorted({spec.label for spec in specs}))
        ours = await _existing(client, env)
        existing = _by_flow(ours, env)
        for spec in specs:
            fingerprint = spec.fingerprint()
            current = existing.get(spec.info.name)
            if current and current.version == fingerprint and not current.paused:
                report(Outcome(spec.info.name, "skipped", "unchanged"))
                continue
            if not dry_run:
                await _deploy(client, spec, fingerprint)
            report(_written(spec, current, fingerprint))
        wanted = {spec.info.name for spec in specs}
        for deployment in [] if dry_run else _renamed(ours, env, wanted):
            await client.delete_deployment(deployment.id)
        for name, deployment in sorted(existing.items()):
            if name in wanted or deployment.paused:
                continue
            if (deployment.entrypoint or "").partition(":")[0] in found.failed_modules:
                report(Outcome(name, "kept", "its module does not import: left as registered"))
                continue
            deleted = 0 if dry_run else await pause_deployment(client, deployment)
            report(
                Outcome(name, "paused", f"flow no longer exists; {deleted} scheduled runs deleted")
            )
    return outcomes
