from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pipelines.framework.deploy import FlowInfo, next_run
from pipelines.framework.runtime import flow
from pipelines.framework.runtime.schedules import (
    CronClock,
    IntervalClock,
    Schedule,
    ScheduleError,
    generate_dump_schedules,
)

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def test_a_naive_start_date_is_refused_not_read_as_utc():
    with pytest.raises(ScheduleError, match="no timezone"):
        IntervalClock(interval=timedelta(days=1), start_date=datetime(2021, 1, 1, 4))


def test_a_fixed_offset_is_refused_in_favour_of_an_iana_zone():
    fixed = timezone(timedelta(hours=-3))
    with pytest.raises(ScheduleError, match="IANA"):
        IntervalClock(interval=timedelta(days=1), start_date=datetime(2021, 1, 1, 4, tzinfo=fixed))


def test_an_interval_clock_becomes_a_prefect_schedule_in_its_timezone():
    clock = IntervalClock(
        interval=timedelta(days=1),
        start_date=datetime(2021, 1, 1, 4, tzinfo=SAO_PAULO),
        labels=["rj-escritorio-dev"],
        parameter_defaults={"materialize_after_dump": True},
    )
    prefect_schedule = clock.to_prefect()
    assert prefect_schedule.timezone == "America/Sao_Paulo"
    assert prefect_schedule.interval == timedelta(days=1)
    assert prefect_schedule.parameters == {"materialize_after_dump": True}


def test_a_bad_cron_string_is_refused():
    with pytest.raises(ValueError):
        CronClock(cron="not a cron", start_date=datetime(2021, 1, 1, tzinfo=SAO_PAULO))


def test_clocks_of_one_schedule_must_share_labels():
    start = datetime(2021, 1, 1, tzinfo=SAO_PAULO)
    schedule = Schedule(
        clocks=[
            CronClock(cron="0 4 * * *", start_date=start, labels=["a"]),
            CronClock(cron="0 5 * * *", start_date=start, labels=["b"]),
        ]
    )
    with pytest.raises(ScheduleError, match="different labels"):
        _ = schedule.labels


def test_the_generator_staggers_one_clock_per_table():
    schedule = generate_dump_schedules(
        interval=timedelta(days=1),
        start_date=datetime(2021, 1, 1, 4, tzinfo=SAO_PAULO),
        labels=["rj-escritorio"],
        common_parameters={"db_type": "postgres", "dataset_id": "saude"},
        table_parameters={"pacientes": {"dump_mode": "append"}, "medicos": {}},
        runs_interval_minutes=10,
    )
    first, second = schedule.clocks
    assert second.start_date - first.start_date == timedelta(minutes=10)
    assert first.parameter_defaults == {
        "table_id": "pacientes",
        "db_type": "postgres",
        "dataset_id": "saude",
        "dump_mode": "append",
    }
    assert second.parameter_defaults["table_id"] == "medicos"
    assert schedule.labels == ("rj-escritorio",)


def test_every_day_at_four_in_sao_paulo_is_seven_utc_with_the_parameters():
    from pipelines.framework.deploy.backfill import planned_runs
    from pipelines.framework.deploy.discovery import find_flow

    runs = planned_runs(
        find_flow("Users report"),
        datetime(2024, 6, 1, tzinfo=timezone.utc),
        datetime(2024, 6, 4, tzinfo=timezone.utc),
    )
    assert [r.scheduled_time.astimezone(timezone.utc).hour for r in runs] == [7, 7, 7]
    assert all(r.parameters == {"n_users": 10} for r in runs)


def test_daylight_saving_changes_keep_the_local_wall_clock_time():
    from pipelines.framework.deploy.backfill import _dates

    new_york = ZoneInfo("America/New_York")
    clock = IntervalClock(
        interval=timedelta(days=1), start_date=datetime(2024, 1, 1, 4, tzinfo=new_york)
    )
    dates = _dates(
        clock, datetime(2024, 3, 8, tzinfo=new_york), datetime(2024, 3, 12, tzinfo=new_york)
    )
    assert [d.astimezone(new_york).hour for d in dates] == [4, 4, 4, 4]
    assert {d.astimezone(timezone.utc).hour for d in dates} == {8, 9}  # the UTC time moved


def _scheduled_flow(clock: IntervalClock) -> FlowInfo:
    @flow(name="TST: testes - Agendado", code_owners=["paty"], schedule=Schedule(clocks=[clock]))
    def scheduled() -> None:
        """A flow with one clock."""

    return FlowInfo(scheduled, "pipelines.rj_teste.agendado.flows", "scheduled")


def test_the_next_run_is_found_on_29_february():
    """`pipelines up` shows each flow's next run within a year; on 29 February the year after
    has no such day, and the old `now.replace(year=now.year + 1)` raised."""
    daily = IntervalClock(
        interval=timedelta(days=1), start_date=datetime(2021, 1, 1, 4, tzinfo=SAO_PAULO)
    )
    leap_day = datetime(2028, 2, 29, 12, tzinfo=SAO_PAULO)

    assert next_run(_scheduled_flow(daily), leap_day) == datetime(2028, 3, 1, 4, tzinfo=SAO_PAULO)


def test_the_next_run_of_a_clock_every_five_minutes_is_the_next_five_minutes():
    """A year of runs every 5 minutes is past what a backfill may plan; the next one is still
    found."""
    frequent = IntervalClock(
        interval=timedelta(minutes=5), start_date=datetime(2021, 1, 1, tzinfo=SAO_PAULO)
    )
    now = datetime(2024, 6, 1, 10, 2, tzinfo=SAO_PAULO)

    assert next_run(_scheduled_flow(frequent), now) == datetime(2024, 6, 1, 10, 5, tzinfo=SAO_PAULO)


def test_a_flow_without_a_schedule_has_no_next_run():
    @flow(name="TST: testes - Sem agenda", code_owners=["paty"])
    def unscheduled() -> None:
        """A flow run by hand only."""

    info = FlowInfo(unscheduled, "pipelines.rj_teste.sem_agenda.flows", "unscheduled")
    assert next_run(info, datetime(2024, 6, 1, tzinfo=SAO_PAULO)) is None
