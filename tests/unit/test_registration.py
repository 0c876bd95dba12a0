"""What registration makes of a migrated Prefect 1 flow's settings: the labels of its run config
pick the work pool when no clock names one, and on a Kubernetes pool its image, env and resources
become the deployment's job variables (offline: rendered, never sent); `pipelines up` serves those
labels too; the code snapshot follows imports as Python does (a package before a module)."""

import json
from datetime import timedelta
from pathlib import Path

import pytest

from pipelines.compat.prefect1 import Flow, task
from pipelines.compat.prefect1.run_configs import KubernetesRun, LocalRun
from pipelines.compat.prefect1.schedules import IntervalClock, Schedule
from pipelines.constants import constants
from pipelines.framework.config import Environment, get_settings
from pipelines.framework.deploy import registration
from pipelines.framework.deploy.code_closure import closure_files, module_closure, module_path
from pipelines.framework.deploy.discovery import FlowInfo
from pipelines.framework.deploy.registration import DeploymentSpec
from pipelines.framework.runtime import ScheduleError
from pipelines.framework.stack import services

IMAGE = "ghcr.io/exemplo/pipelines:latest"


@task
def _say_hello():
    return "hello"


def _spec(run_config=None, schedule=None, env: str = "prod") -> DeploymentSpec:
    with Flow("TST: testes - Migrado", code_owners=["paty"]) as migrated:
        _say_hello()
    migrated.run_config = run_config
    migrated.schedule = schedule
    info = FlowInfo(migrated, "pipelines.rj_escritorio.tutorial.flows", "migrated")
    return DeploymentSpec(info, Environment(env))


def _pool_types(monkeypatch, types: dict[str, str]):
    monkeypatch.delenv("PIPELINES_WORKERS", raising=False)
    monkeypatch.setenv("PIPELINES_WORK_POOL_TYPES", json.dumps(types))
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()


@pytest.fixture
def kubernetes_pools(monkeypatch):
    """`rj-exemplo` is a Kubernetes pool (its other settings are the defaults)."""
    yield from _pool_types(monkeypatch, {"rj-exemplo": "kubernetes"})


@pytest.fixture
def process_pools(monkeypatch):
    yield from _pool_types(monkeypatch, {})


@pytest.mark.parametrize(
    ("run_config", "label"),
    [
        (KubernetesRun(image=IMAGE, labels=["rj-exemplo"]), "rj-exemplo"),
        (LocalRun(labels=["rj-exemplo-dev"]), "rj-exemplo-dev"),
        (KubernetesRun(image=IMAGE), constants.DEFAULT_AGENT_LABEL.value),
        (None, constants.DEFAULT_AGENT_LABEL.value),
    ],
)
def test_without_a_schedule_the_run_config_labels_pick_the_pool(run_config, label):
    assert _spec(run_config).label == label
    assert _spec(run_config).render().work_pool == label


def test_flows_lists_the_labels_registration_uses():
    unscheduled = _spec(KubernetesRun(image=IMAGE, labels=["rj-exemplo"])).info
    assert unscheduled.summary()["labels"] == ["rj-exemplo"]  # as Prefect 1 reports it
    labelled = Schedule(clocks=[IntervalClock(timedelta(days=1), labels=["rj-cor"])])
    assert _spec(KubernetesRun(labels=["rj-exemplo"]), labelled).info.summary()["labels"] == [
        "rj-cor"
    ]


def test_a_clock_label_wins_over_the_run_config_and_a_clock_without_one_takes_it():
    labelled = Schedule(clocks=[IntervalClock(timedelta(days=1), labels=["rj-cor"])])
    bare = Schedule(clocks=[IntervalClock(timedelta(days=1))])
    run_config = KubernetesRun(labels=["rj-exemplo"])

    assert _spec(run_config, labelled).label == "rj-cor"
    assert _spec(run_config, bare).label == "rj-exemplo"


def test_a_run_config_with_two_labels_is_refused_by_name():
    with pytest.raises(ScheduleError, match="a run config names one label"):
        _ = _spec(LocalRun(labels=["rj-exemplo", "gpu"])).label


def test_on_a_kubernetes_pool_the_run_config_becomes_job_variables(kubernetes_pools):
    run_config = KubernetesRun(
        image=IMAGE,
        labels=["rj-exemplo"],
        env={"BATCH": 500, "PIPELINES_ENV": "local"},
        cpu_request=0.5,
        memory_limit="2Gi",
    )

    job_variables = _spec(run_config).render().as_dict()["job_variables"]

    assert job_variables["image"] == IMAGE
    assert job_variables["cpu_request"] == "0.5"  # Kubernetes quantities: strings in the template
    assert job_variables["memory_limit"] == "2Gi"
    assert job_variables["env"]["BATCH"] == "500"
    assert job_variables["env"]["PIPELINES_ENV"] == "prod"  # the platform's environment wins


def test_on_a_kubernetes_pool_a_new_image_is_a_new_version(kubernetes_pools):
    old = _spec(KubernetesRun(image=f"{IMAGE}-1", labels=["rj-exemplo"])).fingerprint()
    new = _spec(KubernetesRun(image=f"{IMAGE}-2", labels=["rj-exemplo"])).fingerprint()
    assert old != new


def test_on_a_process_pool_a_deployment_carries_no_job_variables(process_pools):
    """Its worker names the run's environment and a pull step enters its code: the server has
    nothing to validate against the pool's template (most of a first registration's time)."""
    run_config = KubernetesRun(image=IMAGE, labels=["rj-exemplo"], env={"BATCH": "500"})
    rendered = _spec(run_config).render()
    assert rendered.as_dict()["job_variables"] == {}
    pull_steps, code_env = registration.code_location("/srv/code/prod/0123abcd")
    assert rendered.sent_job_variables(code_env) == {}
    assert pull_steps == [
        {
            "prefect.deployments.steps.set_working_directory": {
                "directory": "/srv/code/prod/0123abcd"
            }
        }
    ]


def test_up_serves_every_label_a_flow_registers_on(monkeypatch):
    flows = [_spec(LocalRun(labels=["rj-exemplo"])).info, _spec().info]
    monkeypatch.setattr(services, "plan", lambda env: registration.plan(env, flows))

    assert services.served_labels(Environment("local")) == sorted(
        {*services.agent_labels(), "rj-exemplo"}
    )


def test_the_code_snapshot_takes_a_package_over_a_module_of_its_name(tmp_path):
    """As Python's import does: `x/__init__.py` shadows `x.py` (compat's `schedules/` and
    `tasks/` packages mirror Prefect 1's; nothing stands in for them)."""
    package = tmp_path / "pipelines" / "x"
    package.mkdir(parents=True)
    (tmp_path / "pipelines" / "__init__.py").write_text("")
    (tmp_path / "pipelines" / "x.py").write_text("")
    (package / "__init__.py").write_text("from pipelines.x import y\n")
    (package / "y.py").write_text("")

    assert module_path("pipelines.x", tmp_path) == package / "__init__.py"
    assert module_closure("pipelines.x", tmp_path) == {"pipelines", "pipelines.x", "pipelines.x.y"}


def test_a_migrated_flows_snapshot_holds_the_compat_layer_it_imports():
    files = closure_files("pipelines.rj_escritorio.tutorial.flows")
    assert not [f for f in files if f.parts[:2] == ("pipelines", "compat")]  # a native flow

    files = closure_files("pipelines.compat.prefect1")
    assert Path("pipelines/compat/prefect1/schedules/clocks.py") in files
    assert Path("pipelines/compat/prefect1/tasks/control_flow/case.py") in files


def test_a_code_snapshot_keeps_its_files_when_the_checkout_changes(tmp_path, monkeypatch):
    """Snapshots of one content share its stored copy; a file edited since is stored anew, and
    the snapshot taken before still holds the old bytes."""
    checkout, code = tmp_path / "checkout", tmp_path / "code" / "staging"
    helper = Path("pipelines/utils/helper.py")
    (checkout / helper).parent.mkdir(parents=True)
    (checkout / helper).write_text("OLD = 1\n")
    monkeypatch.setattr(registration, "REPO_ROOT", checkout)
    registration._stored.cache_clear()  # pylint: disable=protected-access

    registration._copy_locally((helper,), code / "first")  # pylint: disable=protected-access
    registration._copy_locally((helper,), code / "second")  # pylint: disable=protected-access
    (checkout / helper).write_text("NEW = 2\n")
    registration._stored.cache_clear()  # pylint: disable=protected-access  # a new command
    registration._copy_locally((helper,), code / "third")  # pylint: disable=protected-access

    assert (code / "first" / helper).read_text() == "OLD = 1\n"
    assert (code / "third" / helper).read_text() == "NEW = 2\n"
    assert (code / "first" / helper).stat().st_ino == (code / "second" / helper).stat().st_ino
    assert (code / "first" / ".complete").exists() and (code / "third" / ".complete").exists()
    stored = (code / registration.FILE_STORE).iterdir()
    assert sorted(path.read_text() for path in stored) == ["NEW = 2\n", "OLD = 1\n"]
