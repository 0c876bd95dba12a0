"""
`pipelines register`: one deployment per flow and environment, with its code uploaded to storage.

A deployment's `version` is the fingerprint of its code and settings, so an unchanged flow is
skipped by comparing with the server, and a changed one always runs the new code: the code is
stored under its fingerprint and never overwritten. Deployments of flows that no longer exist are
paused and their future runs deleted, so deleted flows leave no ghost runs.
"""

import asyncio
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import httpx
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
from prefect.exceptions import PrefectHTTPStatusError
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from pipelines.constants import constants
from pipelines.framework.config import ENV_TAG, REPO_ROOT, Environment
from pipelines.framework.deploy.code_closure import closure_files, file_digest
from pipelines.framework.deploy.discovery import FlowInfo, discover_flows
from pipelines.framework.deploy.manifest import (
    Discovery,
    FlowRecord,
    ImportFailure,
    Survey,
    remember_renderings,
    survey,
)
from pipelines.framework.deploy.unchanged import PAGE, REGISTRY_TAG, Outcome
from pipelines.framework.deploy.work_pools import (
    ensure_work_pools,
    pool_type,
    refusals,
    worker_job_variables,
)
from pipelines.framework.runtime import ScheduleError
from pipelines.framework.storage import is_local_filesystem, storage_options, url_to_fs

T = TypeVar("T")

CONCURRENT_DEPLOYS = 4
"""Flows whose code is uploaded and whose requests are prepared at once, so the next write is
ready when the server answers the last one."""
CONCURRENT_WRITES = 1
"""Writes in flight at once. On SQLite a deployment's creation reads (its pool, queue and
existing row) before it writes, so another write committed meanwhile makes it fail as busy (503)
and the server's work on it is lost: with 4 at once, 60 new flows on a loaded machine ran out of
retries and registration failed; one at a time met 3 busy answers, all from the server's own
services. Two at once were no faster for 200 new flows: the server is the limit, not the client."""
BUSY_RETRIES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)
"""Seconds before each new attempt of a write the server refused as busy (503: SQLite held by
another writer, often the server's own services). Prefect's client waits 2, 4, 8 and 16 s:
a few of 200 new deployments then took 30 s each, longer than all the others together."""
RETRIED_STATUSES = (429, 502, 503)
FILE_STORE = ".files"
"""Beside an environment's local code folders: each file once, by content; a snapshot's files are
hard links to it (copying the ~30 files of each of 200 flows took 7 s of CPU, linking 0.9 s)."""


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
    """Environment variables a Kubernetes job of the flow gets (the code location's are added at
    upload); none on a process pool, whose worker names each run's environment (stack/worker.py)."""
    schedules: list[DeploymentScheduleCreate]
    job_variables: dict[str, Any] = field(default_factory=dict)
    """Job variables besides `env` (a Kubernetes label's image, resources and placement)."""

    def sent_job_variables(self, code_env: dict[str, str] | None = None) -> dict[str, Any]:
        """The deployment's job variables, with the code location's environment. None at all
        on a process pool: the server then validates nothing against the pool's template (JSON
        schema checks per variable, on the server's one writer, for every deployment)."""
        env = {**self.env, **(code_env or {})}
        return {**self.job_variables, "env": env} if env else dict(self.job_variables)

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
            "job_variables": self.sent_job_variables(),
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
        labels, source = self.info.labels, "a schedule" if self.info.schedule else "a run config"
        if not self.info.schedule:
            labels = labels or (constants.DEFAULT_AGENT_LABEL.value,)
        if len(labels) != 1:
            raise ScheduleError(f"{self.info.name!r}: {source} names one label, got {labels}")
        return labels[0]

    @property
    def tags(self) -> list[str]:
        owners = [f"owner:{owner}" for owner in self.info.code_owners]
        scope = [f"orgao:{self.info.orgao}", f"project:{self.info.project or '-'}"]
        return [REGISTRY_TAG, f"{ENV_TAG}{self.env.name}", *scope, *owners]

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
            env=self._job_environment(variables.get("env", {})),
            schedules=self.schedules(),
            job_variables=extra,
        )

    def _job_environment(self, variables: dict[str, str]) -> dict[str, str]:
        """A Kubernetes job's variables and its environment's name (Prefect's worker starts the
        pod); nothing on a process pool, whose worker names the environment of each run from
        its `env:` tag."""
        if pool_type(self.label) != "kubernetes":
            return dict(variables)
        return {**variables, "PIPELINES_ENV": self.env.name}

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
    """Build the snapshot beside its place and rename it in, so no reader sees half of it. Its
    files are hard links into the environment's file store (`FILE_STORE`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    for relative in files:
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        _place(REPO_ROOT / relative, staging / relative, target.parent / FILE_STORE)
    (staging / ".complete").touch()
    try:
        staging.rename(target)
    except OSError:  # another registration stored the same fingerprint first
        shutil.rmtree(staging, ignore_errors=True)


def _place(source: Path, destination: Path, store: Path) -> None:
    """A hard link to the stored copy of `source`; a copy where links cannot be made."""
    try:
        os.link(_stored(source, store), destination)
    except OSError:
        shutil.copy2(source, destination)


@cache
def _stored(source: Path, store: Path) -> Path:
    """`source` copied once into `store`, named by the SHA-256 of the bytes copied and never
    overwritten: an edited file is another file there, so no snapshot changes."""
    data = source.read_bytes()
    stored = store / hashlib.sha256(data).hexdigest()
    if not stored.exists():
        store.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=".", dir=store)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        shutil.copystat(source, partial)
        os.replace(partial, stored)
    return stored


def code_location(code: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Pull steps and environment that make a worker import the uploaded code: a run enters its
    folder (or a copy of it), and Prefect imports the entrypoint with that folder first on
    `sys.path` (a pull step, not PYTHONPATH: no job variables for the server to validate)."""
    fs, path = url_to_fs(code)
    if is_local_filesystem(fs):
        return [{"prefect.deployments.steps.set_working_directory": {"directory": path}}], {}
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


async def _deploy(
    client: PrefectClient, spec: DeploymentSpec, fingerprint: str, writes: asyncio.Semaphore
) -> None:
    rendered = spec.render()
    concurrency = rendered.concurrency
    # copying files blocks: in a thread, so the other deployments' requests go on meanwhile
    pull_steps, code_env = code_location(await asyncio.to_thread(upload_code, spec, fingerprint))
    flow_id = await _written_alone(writes, lambda: client.create_flow_from_name(rendered.flow))
    await _written_alone(writes, lambda: client.create_deployment(
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
        job_variables=rendered.sent_job_variables(code_env),
        paused=False,
    ))  # fmt: skip


async def _written_alone(writes: asyncio.Semaphore, write: Callable[[], Awaitable[T]]) -> T:
    """A write sent while no other of ours is in flight (`CONCURRENT_WRITES`), retried in its
    turn: a retry beside another write would meet the same conflict."""
    async with writes:
        return await _retried(write)


async def _retried(write: Callable[[], Awaitable[T]]) -> T:
    """An idempotent write (upserts, a pool made ready), tried again soon while the server is
    busy (`register` turns the client's own slow retries off)."""
    for wait in (*BUSY_RETRIES, None):
        try:
            return await write()
        except (PrefectHTTPStatusError, httpx.TransportError) as exc:
            response = getattr(exc, "response", None)
            busy = response is None or response.status_code in RETRIED_STATUSES
            if wait is None or not busy:
                raise
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # the last attempt returned or raised


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
    found: Survey | None = None,
) -> list[Outcome]:
    """Create or update every flow's deployment in `env`; pause those of deleted flows.

    A flow whose deployment on the server is the one the manifest says it renders is skipped
    without importing it. The others are imported module after module, and each module's flows
    are deployed while the next one is imported: the server's writes, one at a time, are the
    limit, and the imports go on beside them. A flows module that does not import is reported
    ("failed") and its deployments are kept as they are ("kept"): its flows are unreadable this
    time, not deleted; so is a flow whose label cannot run in `env`, and the others register.
    `found`: the repository's survey, when the caller has just made it."""
    found = survey() if found is None else found
    async with get_client() as client:
        ours = await _existing(client, env)
        registration = _Registration(client, env, _by_flow(ours, env), dry_run, on_outcome)
        with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):  # `_retried`'s, not its
            outcomes = await registration.deploy_all(found)
        discovery = found.finish()
        remember_renderings(env.name, registration.renderings(discovery))
        wanted = {record.name for record in discovery.flows}
        for deployment in [] if dry_run else _renamed(ours, env, wanted):
            await client.delete_deployment(deployment.id)
        gone = await _pause_deleted(
            client, registration.existing, wanted, registration.failed_modules, dry_run
        )
    return _in_order(discovery, outcomes) + _told(on_outcome, gone)


class _Registration:  # pylint: disable=too-many-instance-attributes
    """One registration's deployments: each flow's, prepared several at once (`CONCURRENT_DEPLOYS`),
    written one after another (`CONCURRENT_WRITES`), its label's pool made ready first, once."""

    def __init__(
        self,
        client: PrefectClient,
        env: Environment,
        existing: dict[str, DeploymentResponse],
        dry_run: bool,
        on_outcome: Callable[[Outcome], None],
    ) -> None:
        self.client, self.env, self.existing = client, env, existing
        self.dry_run, self.on_outcome = dry_run, on_outcome
        self.slots = asyncio.Semaphore(CONCURRENT_DEPLOYS)
        self.writes = asyncio.Semaphore(CONCURRENT_WRITES)
        self.pools: dict[str, asyncio.Task[None]] = {}
        self.fingerprints: dict[str, tuple[str, str]] = {}
        """Flow name -> (fingerprint, label) of every flow imported and rendered."""
        self.failed_modules: set[str] = set()
        """Modules that do not import: their flows' deployments are kept, not paused."""

    async def deploy_all(self, found: Survey) -> list[Outcome]:
        """Every flow's outcome: the unchanged ones skipped at once, the others as deployed."""
        stale = {r.module for r in found.known if not self._is_current(r)}
        unchanged = [r for r in found.known if r.module not in stale]
        outcomes = [self._told(Outcome(r.name, "skipped", "unchanged")) for r in unchanged]
        known = filter(None, (r.rendering(self.env.name) for r in unchanged))
        for label in [] if self.dry_run else sorted({label for _, label in known}):
            self._pool(label)  # a pool deleted since is made again
        deploys: list[asyncio.Task[Outcome]] = []
        try:
            loop = asyncio.get_running_loop()
            with _import_thread() as imports:  # the loop goes on sending and answering writes
                for module in [*sorted(stale), *found.pending]:
                    failure, prepared = await loop.run_in_executor(
                        imports, self._prepared, found, module
                    )
                    if failure:
                        self.failed_modules.add(module)
                        outcomes.append(self._told(Outcome(module, "failed", str(failure))))
                    for spec, fingerprint in prepared:
                        deploys.append(asyncio.create_task(self._deployed(spec, fingerprint)))
            outcomes += await asyncio.gather(*deploys)
        finally:
            for task in deploys:
                task.cancel()
            await asyncio.gather(*deploys, *self.pools.values(), return_exceptions=True)
        return outcomes

    def _prepared(
        self, found: Survey, module: str
    ) -> tuple[ImportFailure | None, list[tuple[DeploymentSpec, str | Outcome]]]:
        """A module's flows imported, each rendered and hashed, or why it cannot be deployed:
        the CPU of registration, kept out of the loop."""
        infos, failure = found.load(module)
        specs = [DeploymentSpec(info, self.env) for info in infos]
        return failure, [(spec, self._fingerprint(spec)) for spec in specs]

    def _fingerprint(self, spec: DeploymentSpec) -> str | Outcome:
        """The deployment's fingerprint, or its failure: a label that cannot run in `env`."""
        try:
            refused = refusals(spec.label, self.env)
            fingerprint = spec.fingerprint()
        except ScheduleError as exc:
            return Outcome(spec.info.name, "failed", str(exc))
        if refused:
            reasons = "; ".join(refused)
            detail = f"label {spec.label!r} in {self.env.name}: {reasons}"
            return Outcome(spec.info.name, "failed", detail)
        return fingerprint

    def _is_current(self, record: FlowRecord) -> bool:
        """The server holds the deployment the flow renders now (known without importing it)."""
        rendering, current = record.rendering(self.env.name), self.existing.get(record.name)
        return bool(
            rendering and current and not current.paused and current.version == rendering[0]
        )

    async def _deployed(self, spec: DeploymentSpec, fingerprint: str | Outcome) -> Outcome:
        if isinstance(fingerprint, Outcome):
            return self._told(fingerprint)
        name = spec.info.name
        self.fingerprints[name] = (fingerprint, spec.label)
        current = self.existing.get(name)
        if current and current.version == fingerprint and not current.paused:
            return self._told(Outcome(name, "skipped", "unchanged"))
        if not self.dry_run:
            await self._pool(spec.label)
            async with self.slots:
                await _deploy(self.client, spec, fingerprint, self.writes)
        return self._told(_written(spec, current, fingerprint))

    def _pool(self, label: str) -> "asyncio.Task[None]":
        """The label's pool and queues made ready, once per registration."""
        if label not in self.pools:
            ensured = _written_alone(self.writes, lambda: ensure_work_pools(self.client, [label]))
            self.pools[label] = asyncio.create_task(ensured)
        return self.pools[label]

    def _told(self, outcome: Outcome) -> Outcome:
        self.on_outcome(outcome)
        return outcome

    def renderings(self, discovery: Discovery) -> dict[FlowRecord, tuple[str, str]]:
        """What each imported flow rendered, for the record it was found as: the next
        registration needs not import it."""
        return {
            r: self.fingerprints[r.name] for r in discovery.flows if r.name in self.fingerprints
        }


@contextmanager
def _import_thread() -> Iterator[ThreadPoolExecutor]:
    """One thread that imports the flows modules, with an event loop set and not running, as
    the main thread has one before `asyncio.run`: a module that asks for the current loop at
    import (`asyncio.get_event_loop()`, `nest_asyncio.apply()`) imports as in `pipelines flows`."""
    loops: list[asyncio.AbstractEventLoop] = []

    def with_a_loop() -> None:
        loops.append(asyncio.new_event_loop())
        asyncio.set_event_loop(loops[-1])

    try:
        with ThreadPoolExecutor(1, "flows-imports", initializer=with_a_loop) as executor:
            yield executor
    finally:
        for loop in loops:
            loop.close()


def _in_order(discovery: Discovery, outcomes: list[Outcome]) -> list[Outcome]:
    """The failures first, then one outcome per flow in the order of their names."""
    by_flow = {o.flow: o for o in outcomes if o.action != "failed"}
    flows = [by_flow[r.name] for r in discovery.flows if r.name in by_flow]
    return [o for o in outcomes if o.action == "failed"] + flows


def _told(on_outcome: Callable[[Outcome], None], outcomes: list[Outcome]) -> list[Outcome]:
    for outcome in outcomes:
        on_outcome(outcome)
    return outcomes


async def _pause_deleted(
    client: PrefectClient,
    existing: dict[str, DeploymentResponse],
    wanted: set[str],
    failed_modules: set[str],
    dry_run: bool,
) -> list[Outcome]:
    """Pause the deployments of flows that are gone; keep those whose module did not import."""
    outcomes = []
    for name, deployment in sorted(existing.items()):
        if name in wanted or deployment.paused:
            continue
        if (deployment.entrypoint or "").partition(":")[0] in failed_modules:
            outcomes.append(Outcome(name, "kept", "its module does not import: left as registered"))
            continue
        deleted = 0 if dry_run else await pause_deployment(client, deployment)
        detail = f"flow no longer exists; {deleted} scheduled runs deleted"
        outcomes.append(Outcome(name, "paused", detail))
    return outcomes
