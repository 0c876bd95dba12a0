"""Kubernetes jobs per label, rendered offline as the worker renders them, and checked against the
Kubernetes API's own schemas (`kubernetes-validate`): no cluster runs here, so what is verified
is the manifest a worker would submit, not a pod that ran.

Each label of `pipelines/constants.py` is mapped to Kubernetes with settings of its own; every
deployment the repository registers on it is rendered (registration's job variables over the
pool's base job template, then prefect-kubernetes' `prepare_for_flow_run`), validated in strict
mode, and read back: image, resources, identity, placement, Secret and every run setting must
reach the container.
"""

# pylint: disable=redefined-outer-name  # pytest fixtures take each other by name

import asyncio
import json
import uuid

import fsspec
import kubernetes_validate
import pytest
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect_kubernetes.worker import KubernetesWorker, KubernetesWorkerJobConfiguration

from pipelines.framework.config.environments import Environment
from pipelines.framework.config.settings import Settings, WorkerSettings, get_settings
from pipelines.framework.deploy.registration import code_location, plan
from pipelines.framework.deploy.work_pools import (
    MACHINE_SETTINGS,
    RUN_SETTINGS,
    WorkPoolError,
    agent_labels,
    base_job_template,
    pool_type,
    refusals,
    worker_job_variables,
)

KUBERNETES_VERSION = "1.31"
API_URL = "http://prefect-server.prefect:4200/api"
WORKER_ONLY_FIELDS = ("completions", "parallelism")
"""Job fields prefect-kubernetes' template puts in the pod spec and its worker requires there
(it refuses a template without them); the API server drops them (they are Job fields), so the
strict schema check runs without them and the lenient one with them."""
RUN_VALUES = {
    "PIPELINES_STORAGE_URL": "gs://city-bucket/pipelines",
    "PIPELINES_WAREHOUSE": "bigquery",
    "PIPELINES_GCP_PROJECT": "city-project",
    "PIPELINES_GCS_STAGING_URL": "gs://city-bucket/bq-staging",
    "PIPELINES_BIGQUERY_LOCATION": "southamerica-east1",
    "PIPELINES_S3_ENDPOINT_URL": "https://minio.city:9000",
    "PIPELINES_DASK_ADDRESS": "tcp://dask-scheduler:8786",
    "PIPELINES_DASK_ADDRESSES": '{"rj-escritorio": "tcp://dask-escritorio:8786"}',
    "PIPELINES_READ_SLICE_MB": "64.0",
    "PIPELINES_HTTP_TIMEOUT": "45.0",
    "PIPELINES_WAREHOUSE_LOCK_TIMEOUT": "300.0",
    "PIPELINES_TABLE_LEASE_WAIT": "120.0",
    "PIPELINES_MAX_SHRINK": "0.2",
    "VAULT_ADDR": "https://vault.city:8200",
    "PIPELINES_VAULT_MOUNT": "kv",
    "PIPELINES_SECRET_BACKENDS": "vault,env",
    "PIPELINES_ALERT_WEBHOOK_PATH": "alerts/chat",
    "PIPELINES_ALERT_WEBHOOK_PATH_STAGING": "alerts/chat-staging",
    "PIPELINES_ALERT_TIMEOUT": "7.0",
}


def label_settings(index: int) -> dict:
    """Settings of the `index`th label, distinct from every other label's."""
    return {
        "type": "kubernetes",
        "image": f"registry.city/pipelines:0.1.0-{index}",
        "cpu": f"{index + 1}00m",
        "cpu_limit": f"{index + 2}",
        "memory": f"{index + 1}Gi",
        "service_account": f"pipelines-{index}",
        "namespace": f"team-{index}",
        "node_selector": {"pool": f"pool-{index}"},
        "secret_env": f"pipelines-secrets-{index}",
        "image_pull_policy": "Always",
    }


@pytest.fixture
def on_kubernetes(monkeypatch):
    """Every label on Kubernetes with its own settings, and every run setting set."""
    workers = {label: label_settings(i) for i, label in enumerate(agent_labels())}
    monkeypatch.setenv("PIPELINES_WORKERS", json.dumps(workers))
    for name, value in RUN_VALUES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(fsspec.config.conf, "gs", {"token": "anon"})  # never ask for keys
    get_settings.cache_clear()
    try:  # the worker's own API URL is what a pod gets (no request is made to it here)
        with temporary_settings(updates={PREFECT_API_URL: API_URL}):
            yield workers
    finally:
        get_settings.cache_clear()


def job_manifest(label: str, variables: dict) -> dict:
    """The Job a Kubernetes worker would create for a run with these job variables."""
    configuration = asyncio.run(
        KubernetesWorkerJobConfiguration.from_template_and_values(
            base_job_template(label), variables
        )
    )
    run = FlowRun(id=uuid.uuid4(), name="brave-otter", flow_id=uuid.uuid4())
    configuration.prepare_for_flow_run(run)
    return configuration.job_manifest


def deployment_variables(spec) -> dict:
    """The job variables registration sends for a spec (the code's own env included)."""
    rendered = spec.render().as_dict()["job_variables"]
    _, code_env = code_location(spec.env.code_url + "/fingerprint")
    return {**rendered, "env": {**rendered["env"], **code_env}}


def strict_valid(manifest: dict) -> dict:
    """Validate as the API reads it: leniently as sent, strictly without the worker-only fields."""
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=False)
    pod = manifest["spec"]["template"]["spec"]
    assert all(pod[name] == 1 for name in WORKER_ONLY_FIELDS)
    stripped = json.loads(json.dumps(manifest))
    for name in WORKER_ONLY_FIELDS:
        del stripped["spec"]["template"]["spec"][name]
    kubernetes_validate.validate(stripped, KUBERNETES_VERSION, strict=True)
    return manifest


def test_every_label_renders_a_valid_job_and_every_setting_reaches_the_container(on_kubernetes):
    rendered = 0
    for env_name in ("staging", "prod"):
        env = Environment(env_name)
        specs = plan(env)  # discovery imports every flow: once per environment
        assert not [reason for spec in specs for reason in refusals(spec.label, env)]
        for spec in specs:
            manifest = strict_valid(job_manifest(spec.label, deployment_variables(spec)))
            settings = on_kubernetes[spec.label]
            pod = manifest["spec"]["template"]["spec"]
            [container] = pod["containers"]
            env_vars = {item["name"]: item["value"] for item in container["env"]}

            assert container["image"] == settings["image"]
            assert container["imagePullPolicy"] == "Always"
            assert container["resources"] == {
                "requests": {"cpu": settings["cpu"], "memory": settings["memory"]},
                "limits": {"cpu": settings["cpu_limit"], "memory": settings["memory"]},
            }
            assert container["envFrom"] == [{"secretRef": {"name": settings["secret_env"]}}]
            assert container["args"] == ["prefect", "flow-run", "execute"]
            assert pod["serviceAccountName"] == settings["service_account"]
            assert pod["nodeSelector"] == settings["node_selector"]
            assert manifest["metadata"]["namespace"] == settings["namespace"]
            assert manifest["spec"]["ttlSecondsAfterFinished"] == 86_400
            assert env_vars["PIPELINES_ENV"] == env_name
            assert env_vars["PREFECT_API_URL"] == API_URL
            assert env_vars["PREFECT__FLOW_RUN_ID"]
            missing = {k: v for k, v in RUN_VALUES.items() if env_vars.get(k) != v}
            assert not missing, f"{spec.info.name} on {spec.label}: {missing}"
            rendered += 1
    assert rendered == 2 * len(specs) > 0


def test_a_run_created_by_hand_gets_the_labels_settings_from_the_pool_alone(on_kubernetes):
    """A run of a deployment created outside registration (no job variables) still gets the
    label's image, resources and run settings: the pool's template carries them too."""
    for label in agent_labels():
        manifest = strict_valid(job_manifest(label, {}))
        [container] = manifest["spec"]["template"]["spec"]["containers"]
        env_vars = {item["name"]: item["value"] for item in container["env"]}
        assert container["image"] == on_kubernetes[label]["image"]
        assert container["resources"]["requests"]["memory"] == on_kubernetes[label]["memory"]
        assert {k: env_vars.get(k) for k in RUN_VALUES} == RUN_VALUES


def test_the_template_is_prefect_kubernetes_own_plus_the_node_selector(on_kubernetes):
    label = agent_labels()[0]
    ours, theirs = base_job_template(label), KubernetesWorker.get_default_base_job_template()
    assert set(ours["variables"]["properties"]) - set(theirs["variables"]["properties"]) == {
        "node_selector"
    }
    ours_pod = ours["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    theirs_pod = theirs["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    assert {k: v for k, v in ours_pod.items() if k not in ("nodeSelector", "containers")} == {
        k: v for k, v in theirs_pod.items() if k != "containers"
    }
    assert ours["job_configuration"]["env"] == "{{ env }}"


def test_a_prefect1_run_configs_variables_win_and_its_env_is_merged(on_kubernetes):
    label = agent_labels()[0]
    variables = worker_job_variables(
        label, {"image": "old-office/image:1", "env": {"EXTRA": "1"}, "cpu_request": "3"}
    )
    assert variables["image"] == "old-office/image:1"
    assert variables["cpu_request"] == "3"
    assert variables["memory_request"] == on_kubernetes[label]["memory"]
    assert variables["env"]["EXTRA"] == "1"
    assert variables["env"]["PIPELINES_WAREHOUSE"] == "bigquery"


def test_process_labels_get_no_job_variables_and_are_never_refused(monkeypatch):
    monkeypatch.delenv("PIPELINES_WORKERS", raising=False)
    monkeypatch.delenv("PIPELINES_WORK_POOL_TYPES", raising=False)
    get_settings.cache_clear()
    try:
        label = agent_labels()[0]
        assert pool_type(label) == "process"
        assert worker_job_variables(label) == {}
        assert worker_job_variables(label, {"env": {"A": "1"}}) == {"env": {"A": "1"}}
        assert refusals(label, Environment("prod")) == []
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("settings", "reasons"),
    [
        ({}, ["no image", "code storage", "lake", "DuckDB"]),
        ({"PIPELINES_IMAGE": "registry/p:1"}, ["code storage", "lake", "DuckDB"]),
        (
            {"PIPELINES_IMAGE": "registry/p:1", "PIPELINES_STORAGE_URL": "gs://b/p"},
            ["DuckDB"],
        ),
        (
            {
                "PIPELINES_IMAGE": "registry/p:1",
                "PIPELINES_STORAGE_URL": "s3://b/p",
                "PIPELINES_WAREHOUSE": "bigquery",
            },
            [],
        ),
    ],
)
def test_registration_refuses_kubernetes_labels_that_would_use_this_machine(
    monkeypatch, tmp_path, settings, reasons
):
    label = agent_labels()[0]
    for name in ("PIPELINES_WORKERS", "PIPELINES_STORAGE_URL", "PIPELINES_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIPELINES_HOME", str(tmp_path))
    monkeypatch.setenv("PIPELINES_WORK_POOL_TYPES", json.dumps({label: "kubernetes"}))
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        found = refusals(label, Environment("prod"))
        assert len(found) == len(reasons)
        for reason, text in zip(reasons, found, strict=True):
            assert reason in text
    finally:
        get_settings.cache_clear()


def test_workers_setting_wins_over_the_older_pool_types_and_takes_the_default_image():
    settings = Settings(
        work_pool_types={"a": "kubernetes", "b": "kubernetes"},
        workers={"b": WorkerSettings(type="process")},
        image="registry/p:2",
    )
    assert settings.worker("a").type == "kubernetes"
    assert settings.worker("a").image == "registry/p:2"
    assert settings.worker("b").type == "process"
    assert settings.worker("c").type == "process"
    own = Settings(workers={"a": WorkerSettings(type="kubernetes", image="x:1")}, image="y:2")
    assert own.worker("a").image == "x:1"


def test_a_misspelt_worker_setting_is_refused():
    with pytest.raises(ValueError, match="memroy"):
        Settings(workers={"a": {"type": "kubernetes", "memroy": "1Gi"}})


def test_an_unknown_worker_type_is_refused(monkeypatch):
    monkeypatch.setenv("PIPELINES_WORKERS", json.dumps({"x": {"type": "docker"}}))
    get_settings.cache_clear()
    try:
        with pytest.raises(WorkPoolError, match="unknown worker type 'docker'"):
            pool_type("x")
    finally:
        get_settings.cache_clear()


def test_every_setting_is_either_a_runs_or_the_machines():
    """A new setting must say whether a pod needs it (RUN_SETTINGS) or not (MACHINE_SETTINGS)."""
    fields = set(Settings.model_fields)
    assert not set(RUN_SETTINGS) & set(MACHINE_SETTINGS)
    unclassified = fields - set(RUN_SETTINGS) - set(MACHINE_SETTINGS)
    assert not unclassified, (
        f"classify {sorted(unclassified)} in framework/deploy/work_pools.py: RUN_SETTINGS "
        "(a Kubernetes job gets it) or MACHINE_SETTINGS"
    )
    assert set(RUN_SETTINGS) <= fields | {"bigquery_location", "dask_address", "dask_addresses"}
