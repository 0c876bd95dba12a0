"""Prefect 1 schedule filters, adjustments and end dates register with Prefect 1's instants.

`samples/filtered_schedules.py` is Prefect 1 code in the office's style;
`samples/filtered_schedules_expected.json` is what Prefect 0.15.9 itself runs them on
(`record_prefect1.py --schedules samples/filtered_schedules.py 2027-01-10T00:00:00+00:00`).
"""

import json
import sys
from datetime import datetime
from pathlib import Path

import pytest
from prefect.client.schemas.actions import DeploymentScheduleCreate

from pipelines.compat.migrate import rewrite_source
from pipelines.compat.prefect1 import Flow
from pipelines.compat.prefect1.tasks.control_flow import ifelse, merge
from pipelines.compat.prefect1.utilities.tasks import task
from pipelines.framework.runtime import ScheduleError

sys.path.insert(0, str(Path(__file__).parent))
import record_prefect1

SAMPLES = Path(__file__).parent / "samples"
AFTER = datetime.fromisoformat("2027-01-10T00:00:00+00:00")


@pytest.fixture
def schedules(tmp_path) -> dict:
    """The sample's module, migrated (its import lines rewritten) and run."""
    code, findings, _ = rewrite_source((SAMPLES / "filtered_schedules.py").read_bytes(), {})
    assert findings == []  # filters and adjustments are no longer refused by migrate
    migrated = tmp_path / "schedules.py"
    migrated.write_bytes(code)
    namespace: dict = {"__file__": str(migrated)}
    exec(compile(code, str(migrated), "exec"), namespace)
    return namespace


def test_filtered_adjusted_and_ending_clocks_run_when_prefect_0_15_9_runs_them(tmp_path):
    code, _, _ = rewrite_source((SAMPLES / "filtered_schedules.py").read_bytes(), {})
    (tmp_path / "schedules.py").write_bytes(code)
    found = record_prefect1.record_schedules(tmp_path / "schedules.py", AFTER)
    expected = json.loads((SAMPLES / "filtered_schedules_expected.json").read_text())
    assert found == expected


def test_they_register_as_cron_strings_and_rrules(schedules):
    def created(name):
        return DeploymentScheduleCreate.from_schedule(schedules[name].clocks[0].to_prefect())

    weekdays = created("weekday_every_15_minutes")
    assert weekdays.schedule.cron == "5,20,35,50 * * * 1,2,3,4,5"
    assert weekdays.schedule.timezone == "America/Sao_Paulo"
    assert weekdays.parameters == {"mode": "prod"}
    assert (
        created("business_hours").schedule.cron
        == "30 7,8,9,10,11,12,13,14,15,16,17,18 * * 1,2,3,4,5"
    )
    either = created("first_of_month_or_friday").schedule
    assert (either.cron, either.day_or) == ("0 6 1 * 5", True)
    assert "UNTIL=20310630T120000" in created("until_2031").schedule.rrule
    assert created("ended").active is False
    # Weekend runs moved to Monday 09:00, where one already was: the weekdays at 09:00.
    assert created("next_weekday").schedule.cron == "0 9 * * 1,2,3,4,5"


@pytest.mark.parametrize(
    ("name", "named"),
    [
        ("not_on_christmas", "between_dates"),
        ("month_end", "is_month_end"),
    ],
)
def test_instants_no_cron_string_holds_are_refused_naming_the_rule(schedules, name, named):
    clock = schedules[name].clocks[0]
    with pytest.raises(ScheduleError, match=named) as raised:
        clock.to_prefect()
    assert "write them as CronClocks" in str(raised.value)
    assert named in clock.describe()  # `pipelines flows` shows the filter too


def test_ifelse_names_its_branches_as_prefect_1_does():
    @task
    def flag() -> bool:
        return True

    @task
    def one() -> int:
        return 1

    @task
    def two() -> int:
        return 2

    with Flow("EMD: exemplo - ifelse") as flow:
        first, second = one(), two()
        ifelse(flag(), first, second)
        merge(first, second)
    names = sorted(t.name for t in flow.tasks)
    assert 'CompareValue: "True"' in names and 'CompareValue: "False"' in names


def test_names_the_office_monorepo_imported_over_its_history():
    from pipelines.compat.prefect1.core.task import NoDefault
    from pipelines.compat.prefect1.environments import KubernetesJobEnvironment
    from pipelines.compat.prefect1.tasks.prefect.flow_run_rename import RenameFlowRun
    from pipelines.compat.prefect1.utilities.collections import DotDict
    from pipelines.compat.prefect1.utilities.exceptions import ClientError

    assert NoDefault.value.value == "no_default"
    assert DotDict({"date_range_end": "2022-01-01"}).date_range_end == "2022-01-01"
    assert issubclass(ClientError, Exception)
    assert KubernetesJobEnvironment(job_spec_file="job.yaml").kwargs == {
        "job_spec_file": "job.yaml"
    }
    with Flow("EMD: exemplo - renomear") as flow:
        RenameFlowRun(flow_run_name="Dump x.y")()
    assert [t.name for t in flow.tasks] == ["RenameFlowRun"]
