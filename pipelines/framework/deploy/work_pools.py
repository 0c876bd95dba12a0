"""
Agents of the guide as Prefect work pools: one pool per label in `pipelines/constants.py`, one
queue per environment in each pool.

How a label's runs start is `Settings.worker(label)` (`PIPELINES_WORKERS`, or the older
`PIPELINES_WORK_POOL_TYPES`): a local process, or a Kubernetes job. For a Kubernetes label this
module renders the label's image, resources, service account, namespace, node selector and the
platform settings a run needs (`RUN_SETTINGS`) into the pool's base job template (prefect-
kubernetes' own, with a node selector and the label's Secret added) and into each deployment's
job variables, and refuses a label whose runs would write to this machine (`refusals`). A pool
is updated when its template changes and replaced when its type does, its deployments moved over.
"""

import contextlib
import copy
import json
from typing import Any

from fsspec.utils import get_protocol
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentUpdate, WorkPoolCreate, WorkPoolUpdate
from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName
from prefect.client.schemas.objects import WorkPool
from prefect.client.schemas.responses import DeploymentResponse
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.workers.process import ProcessWorker

from pipelines.constants import constants
from pipelines.framework.config import (
    ENVIRONMENTS,
    Environment,
    Settings,
    UsageError,
    WorkerSettings,
    get_settings,
)
from pipelines.framework.storage import LOCAL_PROTOCOLS

LABEL_SUFFIX = "_AGENT_LABEL"
WORKER_TYPES = ("process", "kubernetes")
PAGE = 200  # the server's largest page

RUN_SETTINGS = (
    "storage_url",
    "warehouse",
    "gcp_project",
    "gcs_staging_url",
    "bigquery_location",
    "s3_endpoint_url",
    "dask_address",
    "dask_addresses",
    "read_slice_mb",
    "http_timeout",
    "warehouse_lock_timeout",
    "table_lease_wait",
    "max_shrink",
    "vault_addr",
    "vault_mount",
    "secret_backends",
    "alert_webhook_path",
    "alert_webhook_path_staging",
    "alert_timeout",
)
"""Settings a flow run reads, given to a Kubernetes job as its `PIPELINES_*` (or `VAULT_*`)
variables. Secrets (Vault token and secret id, the API credential) are not among them: they reach
a pod from the label's Kubernetes Secret (`secret_env`), never through Prefect."""
MACHINE_SETTINGS = (
    "home",
    "env",
    "git_branch",
    "host",
    "port",
    "server_start_timeout",
    "cache_dir",
    "worker_poll_seconds",
    "work_pool_types",
    "workers",
    "image",
    "image_repository",
    "database_url",
    "redis_url",
    "dbt_project_dir",
    "auth_string",
    "run_retention_days",
    "vault_token",
    "vault_role_id",
    "vault_secret_id",
)
"""Settings of the machine that registers or serves, never a pod's (`env` is per deployment;
the image's own `PIPELINES_HOME` and dbt project stand for `home` and `dbt_project_dir`)."""
_NOT_NEEDED_WHEN_DEFAULT = frozenset(RUN_SETTINGS) - {"storage_url", "warehouse"}


class WorkPoolError(UsageError, RuntimeError):
    """A label whose worker cannot be set up: an unknown type, a missing package, or a
    Kubernetes label whose runs would read or write this machine's files."""


def agent_labels() -> list[str]:
    """Every agent label declared in the global constants."""
    return sorted({m.value for m in constants if m.name.endswith(LABEL_SUFFIX)})


def pool_type(label: str) -> str:
    """Worker type of a label's pool: `process` unless `PIPELINES_WORKERS` (or the older
    `PIPELINES_WORK_POOL_TYPES`) says otherwise."""
    worker_type = get_settings().worker(label).type
    if worker_type not in WORKER_TYPES:
        raise WorkPoolError(
            f"label {label!r}: unknown worker type {worker_type!r} (use one of {WORKER_TYPES})"
        )
    return worker_type


def _variable_name(settings: Settings, name: str) -> str:
    alias = type(settings).model_fields[name].validation_alias
    if isinstance(alias, str):
        return alias
    if alias is not None and getattr(alias, "choices", None):
        return str(alias.choices[0])
    return f"PIPELINES_{name.upper()}"


def _as_variable(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


def run_environment(settings: Settings | None = None) -> dict[str, str]:
    """The `RUN_SETTINGS` of this process as a job's environment variables: the storage URL and
    warehouse always, the others when set here."""
    settings = settings or get_settings()
    fields = type(settings).model_fields
    env = {}
    for name in RUN_SETTINGS:
        if name not in fields:  # a setting another version of the platform does not have
            continue
        value = getattr(settings, name)
        if value is None or value in ({}, ""):
            continue
        if name in _NOT_NEEDED_WHEN_DEFAULT and name not in settings.model_fields_set:
            continue  # the pod computes the same default
        env[_variable_name(settings, name)] = _as_variable(value)
    return env


def worker_job_variables(label: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deployment's job variables on `label`'s pool: on Kubernetes the label's image,
    resources, identity and placement and the run's environment, with `overrides` (a Prefect 1
    run config's) on top, their `env` merged; on a process pool only `overrides`."""
    overrides = dict(overrides or {})
    if pool_type(label) != "kubernetes":
        return overrides
    base = _kubernetes_variables(get_settings().worker(label))
    env = {**base.pop("env"), **overrides.pop("env", {})}
    return {**base, **overrides, "env": env}


def _kubernetes_variables(worker: WorkerSettings) -> dict[str, Any]:
    """The label's settings as prefect-kubernetes' variables (and our `node_selector`)."""
    variables = {
        "image": worker.image,
        "image_pull_policy": worker.image_pull_policy,
        "namespace": worker.namespace,
        "service_account_name": worker.service_account,
        "cpu_request": worker.cpu,
        "cpu_limit": worker.cpu_limit,
        "memory_request": worker.memory,
        "memory_limit": worker.memory_limit or worker.memory,
        "node_selector": dict(worker.node_selector),
        "finished_job_ttl": worker.finished_job_ttl,
    }
    return {k: v for k, v in variables.items() if v is not None} | {"env": run_environment()}


def base_job_template(label: str) -> dict[str, Any]:
    """The pool's base job template: the worker package's default, and for Kubernetes the
    label's settings as the variables' defaults, a node selector and the label's Secret."""
    worker_type = pool_type(label)
    if worker_type == "process":
        return ProcessWorker.get_default_base_job_template()
    try:  # prefect-kubernetes: the `kubernetes` extra, on machines that register such a label
        from prefect_kubernetes.worker import KubernetesWorker
    except ImportError as exc:
        raise WorkPoolError(
            f"label {label!r} is a kubernetes pool: pip install -e '.[kubernetes]'"
        ) from exc
    template = copy.deepcopy(KubernetesWorker.get_default_base_job_template())
    worker = get_settings().worker(label)
    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    pod["nodeSelector"] = "{{ node_selector }}"
    if worker.secret_env:
        pod["containers"][0]["envFrom"] = [{"secretRef": {"name": worker.secret_env}}]
    properties = template["variables"]["properties"]
    properties["node_selector"] = {
        "title": "Node Selector",
        "description": "Labels a node must have to run the job's pod.",
        "type": "object",
        "additionalProperties": {"type": "string"},
    }
    for name, value in _kubernetes_variables(worker).items():
        properties[name]["default"] = value
    return template


def refusals(label: str, env: Environment) -> list[str]:
    """Why runs of a Kubernetes `label` in `env` would not work: each reason, or none."""
    if pool_type(label) != "kubernetes":
        return []
    settings, found = get_settings(), []
    if not settings.worker(label).image:
        found.append(
            "no image: set PIPELINES_IMAGE or its `image` in PIPELINES_WORKERS "
            "(`pipelines image` prints how to build one)"
        )
    for what, url in (("code storage", env.code_url), ("lake", env.lake_url)):
        if get_protocol(url) in LOCAL_PROTOCOLS:  # by name: opening gs:// would look for keys
            found.append(
                f"its {what} is this machine's folder {url}, which a pod cannot reach: "
                "set PIPELINES_STORAGE_URL to gs://... or s3://..."
            )
    if settings.warehouse == "duckdb":
        found.append(
            "its warehouse is the embedded DuckDB file, which would live and die inside the "
            "pod: set PIPELINES_WAREHOUSE=bigquery"
        )
    return found


def _same(left: dict[str, Any], right: dict[str, Any]) -> bool:
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


async def ensure_work_pools(client: PrefectClient, labels: list[str] | None = None) -> None:
    """Create each label's pool and its per-environment queues when missing; update a pool whose
    template changed and replace one whose type changed."""
    for label in labels or agent_labels():
        await _ensure_pool(client, label, pool_type(label), base_job_template(label))
        await _ensure_queues(client, label)


async def _ensure_pool(
    client: PrefectClient, label: str, worker_type: str, template: dict[str, Any]
) -> None:
    try:
        pool = await client.read_work_pool(label)
    except ObjectNotFound:
        pool = None
    if pool is None:
        with contextlib.suppress(ObjectAlreadyExists):
            await client.create_work_pool(
                WorkPoolCreate(name=label, type=worker_type, base_job_template=template)
            )
    elif pool.type != worker_type:
        await _replace_pool(client, pool, worker_type, template)
    elif not _same(pool.base_job_template, template):
        await client.update_work_pool(label, WorkPoolUpdate(base_job_template=template))


async def _ensure_queues(client: PrefectClient, label: str) -> None:
    existing = {q.name for q in await client.read_work_queues(work_pool_name=label)}
    for queue in ENVIRONMENTS:
        if queue not in existing:
            with contextlib.suppress(ObjectAlreadyExists):
                await client.create_work_queue(name=queue, work_pool_name=label)


async def _replace_pool(
    client: PrefectClient, pool: WorkPool, worker_type: str, template: dict[str, Any]
) -> None:
    """Prefect cannot change a pool's type: delete it, create it anew with its queues, and move
    every deployment that was on it (any environment's) back onto it, each to its queue."""
    deployments = await _deployments_on(client, pool.name)
    await client.delete_work_pool(pool.name)
    await client.create_work_pool(
        WorkPoolCreate(
            name=pool.name,
            type=worker_type,
            base_job_template=template,
            description=pool.description,
            concurrency_limit=pool.concurrency_limit,
        )
    )
    await _ensure_queues(client, pool.name)
    for deployment in deployments:
        await client.update_deployment(
            deployment.id,
            DeploymentUpdate(work_pool_name=pool.name, work_queue_name=deployment.work_queue_name),
        )


async def _deployments_on(client: PrefectClient, pool: str) -> list[DeploymentResponse]:
    on_pool = WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))
    found: list[DeploymentResponse] = []
    while page := await client.read_deployments(
        work_pool_filter=on_pool, limit=PAGE, offset=len(found)
    ):
        found.extend(page)
    return found
