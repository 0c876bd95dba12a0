"""
The `pipelines` command: list, run, scaffold and check the repository's flows.
"""

import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from typer.core import TyperGroup

from pipelines.framework import config, deploy, stack
from pipelines.framework.cli.dev import dev_app
from pipelines.framework.cli.output import error, print_table, say, warn
from pipelines.framework.cli.secrets import secrets_app
from pipelines.framework.config import UsageError

if TYPE_CHECKING:
    from uuid import UUID

    from rich.table import Table

    from pipelines.framework.config import Environment
    from pipelines.framework.deploy import ImportFailure, Outcome, PlannedRun, Survey

# The faces above import nothing heavy: each command reaches its machinery as `deploy.x` or
# `stack.x`, so Prefect and the flows load only in the commands that need them, never for
# `--help`, a usage error or `status` (tests/unit/test_cli_imports.py holds this).


class Commands(TyperGroup):
    """The command group, its usage errors in click's plain three lines (usage, hint, error):
    Typer's boxed ones import rich's markdown, traceback and pretty-printing machinery first,
    0.1 s of a usage error's 0.3 s."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        given = kwargs.get("args", args[0] if args else None)
        _skip_pydantic_plugins(sys.argv[1:] if given is None else list(given))
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as exc:  # usage, bad parameter, file
            exc.show()
            raise SystemExit(exc.exit_code) from None
        except click.Abort:
            typer.echo("Aborted!", err=True)
            raise SystemExit(1) from None
        raise SystemExit(code if isinstance(code, int) else 0)


RUNS_NO_FLOW = ("status", "down", "--help")
"""Commands that run no flow code: they skip pydantic's search for plugins (the entry points of
every installed distribution, 13 ms of a 0.3 s `down`); the others keep it for the flows."""


def _skip_pydantic_plugins(argv: Sequence[str]) -> None:
    if not argv or argv[0] in RUNS_NO_FLOW:  # a variable set by the user stays as it is
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


app = typer.Typer(
    cls=Commands,
    help="The city's data pipelines: list, run, scaffold and check flows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

app.add_typer(secrets_app, name="secrets")
app.add_typer(dev_app, name="dev")
EnvOption = Annotated[
    str | None,
    typer.Option("--env", help="local, staging or prod; default: PIPELINES_ENV, else local."),
]


def fail(message: str, code: int) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    error(message)
    return typer.Exit(code)


def _print_failures(failures: "Sequence[ImportFailure]", level: str = "error") -> None:
    """One line per flows module that did not import: where, and why."""
    for failure in failures:
        (error if level == "error" else warn)(str(failure))


@app.command()
def flows(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """List every flow of the repository with its parameters, owners and schedules."""
    discovery = deploy.discover()
    found = [info.summary() for info in discovery.flows]
    _print_failures(discovery.failures)
    if as_json:
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False, default=str))
    else:
        _print_flows_table(found)
    if discovery.failures:
        raise fail(f"{len(discovery.failures)} flows module(s) do not import (above)", 1)


def _print_flows_table(found: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table("flow", "module", "parameters", "owners", "schedule")
    for item in found:
        params = ", ".join(
            p["name"] if p["required"] else f"{p['name']}={p['default']!r}"
            for p in item["parameters"]
        )
        schedule = "\n".join(s["description"] for s in item["schedules"]) or "-"
        table.add_row(
            item["name"], item["module"], params, ", ".join(item["code_owners"]), schedule
        )
    print_table(table)


@app.command()
def run(
    flow: Annotated[str, typer.Argument(help="Flow name, a unique part of it, or its module.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value; repeat for more.")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print tracebacks, not only their last line.")
    ] = False,
):
    """Run a flow here, with parameters converted to their declared types."""
    from pipelines.framework.cli import runner  # the standard library's alone

    # the console script handed it to the warm runner when one could take it (`console.py`):
    # this is the runner's child, or a process no runner serves
    stack.start_in_background()  # boots while this process imports Prefect and the flow
    from pipelines.framework.cli.parameters import parse_parameters  # pydantic: for `run` alone

    try:
        discovery = deploy.discover(looking_for=flow)  # a fresh home: the flow's module alone
        _print_failures(discovery.failures, "warning")
        info = deploy.find_flow(flow, discovery.flows)
        parameters = parse_parameters(info, param or [])
    except UsageError as exc:
        raise fail(str(exc), 2) from None
    from pipelines.framework.cli.run_output import one_line_errors  # Prefect's logging: `run`

    try:
        with one_line_errors(enabled=not verbose):
            outcome = stack.run_flow(info, parameters, runner.CALLER_PID)
    except stack.ServerError as exc:
        if verbose:
            raise
        raise fail(f"{exc} (-v prints the traceback)", 1) from None
    _print_crashed_orphans(outcome.crashed_orphans)
    if not outcome.ok:
        where = f"task {outcome.failed_task!r}" if outcome.failed_task else "the flow"
        log = _run_log(outcome.state.state_details.flow_run_id)
        hint = "" if verbose else "; -v prints the tracebacks here"
        raise fail(f"{info.name!r} failed in {where}: {outcome.reason} ({log}{hint})", 1)
    say(f"{info.name!r} completed", fg="green")


def _run_log(flow_run_id: "UUID | None") -> str:
    """Where a run's whole log is: its page in the UI of the server it ran on."""
    if flow_run_id is None:
        return "its log is on the server"
    ui = stack.ensure_server().removesuffix("/").removesuffix("/api")
    return f"log: {ui}/runs/flow-run/{flow_run_id}"


def _print_crashed_orphans(names: Sequence[str]) -> None:
    """Say which runs of dead `pipelines run` processes this command marked Crashed."""
    for name in names:
        say(
            f"run {name!r} of a `pipelines run` whose process died: marked Crashed",
            fg="yellow",
            err=True,
        )


@app.command()
def new(
    orgao: Annotated[str, typer.Argument(help="Orgao folder, e.g. rj_escritorio.")],
    projeto: Annotated[str, typer.Argument(help="Project folder, e.g. geolocator.")],
    sigla: Annotated[
        str | None, typer.Option(help="Flow-name prefix (the orgao's acronym).")
    ] = None,
    owner: Annotated[str, typer.Option(help="Code owner of the example flow.")] = "pipeliners",
):
    """Create a project in the guide's layout with an example flow, schedule and test."""
    try:
        created = deploy.create_project(orgao, projeto, sigla=sigla, owner=owner)
    except UsageError as exc:
        raise fail(str(exc), 2) from None
    for path in created:
        say(f"created {path}")


@app.command()
def check():
    """Check the repository's conventions; one line per finding (file:line)."""
    findings = deploy.run_checks()
    for finding in findings:
        typer.echo(str(finding))
    broken = [finding for finding in findings if not finding.warning]
    if broken:
        raise fail(f"{len(broken)} finding(s)", 1)
    warned = f" ({len(findings)} warning(s), in migrated folders)" if findings else ""
    say(typer.style("all conventions hold", fg="green") + warned)


def _registration_table(
    outcomes: "list[Outcome]", dry_run: bool, environment: "Environment"
) -> "Table":
    from rich.table import Table

    title = f"{'would register' if dry_run else 'registered'} in {environment.name}"
    table = Table("flow", "action", "detail", title=title)
    for outcome in outcomes:
        table.add_row(outcome.flow, outcome.action, outcome.detail)
    return table


@app.command("register")
def register_command(
    env: EnvOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Upload every flow's code and create or update its deployment; pause deleted flows."""
    try:
        environment = config.resolve_environment(env)
        url = stack.ensure_server()
        found = deploy.survey()  # imports nothing: registration imports what it must as it writes
        outcomes = None
        if not found.pending:  # every flow known: the server may hold them all (no Prefect)
            outcomes = deploy.nothing_to_register(environment, url, found.finish())
        if outcomes is None:
            outcomes = _register(environment, url, dry_run, quiet=as_json, found=found)
    except UsageError as exc:
        raise fail(str(exc), 2) from None
    except stack.ServerError as exc:
        raise fail(str(exc), 1) from None
    if as_json:
        typer.echo(json.dumps([o.__dict__ for o in outcomes], indent=2, ensure_ascii=False))
        _exit_on_failures(outcomes)
        return
    print_table(_registration_table(outcomes, dry_run, environment))
    _print_counts(outcomes)
    _exit_on_failures(outcomes)


def _register(
    environment: "Environment", url: str, dry_run: bool, quiet: bool, found: "Survey"
) -> "list[Outcome]":
    """Registration proper, a progress bar on stderr (of flows known and modules to import:
    most declare one flow)."""
    import asyncio  # 30 ms each, paid by the commands that talk to the server alone

    from rich.console import Console
    from rich.progress import Progress

    total = len(found.known) + len(found.pending)
    with (
        stack.api_settings(url),
        Progress(console=Console(stderr=True), transient=True, disable=quiet) as progress,
    ):
        task = progress.add_task(f"registering in {environment.name}", total=total)
        return asyncio.run(
            deploy.register(
                environment, dry_run, on_outcome=lambda _: progress.advance(task), found=found
            )
        )


def _print_counts(outcomes: "list[Outcome]") -> None:
    actions = ("created", "updated", "skipped", "paused", "failed", "kept")
    counts = {a: sum(o.action == a for o in outcomes) for a in actions}
    shown = [f"{n} {a}" for a, n in counts.items() if n or a in actions[:4]]
    say(", ".join(shown))


def _exit_on_failures(outcomes: "list[Outcome]") -> None:
    """Exit 1 after the rest registered when a flows module did not import or a flow cannot run
    in the environment (each named)."""
    failed = [o for o in outcomes if o.action == "failed"]
    for outcome in failed:
        error(outcome.detail)
    if failed:
        raise fail(f"{len(failed)} failed (above): the others registered", 1)


def _print_deployments(environment: "Environment") -> None:
    """Each deployment with its pool and its next run, as the scheduler will create it."""
    from rich.table import Table

    table = Table("deployment", "pool / queue", "next run", title=f"in {environment.name}")
    now = datetime.now().astimezone()
    for spec in deploy.plan(environment):
        upcoming = deploy.next_run(spec.info, now)
        shown = upcoming.isoformat(timespec="minutes") if upcoming else "-"
        name = deploy.deployment_name(spec.info.name, environment)
        table.add_row(name, f"{spec.label} / {environment.work_queue()}", shown)
    print_table(table)


STOP_POLL_SECONDS = 0.5


def _wait_until_stopped(settings: "config.Settings") -> bool:
    """Wait for Ctrl-C or SIGTERM (True), or for `pipelines down` run elsewhere (False): it
    removes the stack's state file, and a foreground `up` (`make up`) then returns too."""
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    while not stopped.wait(STOP_POLL_SECONDS):
        if not stack.StackState.path(settings.home).exists():
            return False
    return True


def _running_stack(settings: "config.Settings") -> dict[str, Any] | None:
    """The local stack's status when its server is healthy and every worker alive, else None."""
    try:
        current = stack.status(settings.home)
    except stack.ServerError:
        return None
    workers = current["workers"]
    alive = bool(workers) and all(worker["alive"] for worker in workers.values())
    return current if current["healthy"] and alive else None


@app.command()
def up(
    env: EnvOption = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Server port (default 4200).")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Start and return.")] = False,
):
    """Start the server + UI and a worker per label, register every flow, and stay up."""
    import asyncio  # 30 ms, paid by the commands that talk to the server alone

    settings = config.get_settings()
    try:
        environment = config.resolve_environment(env)
        running = _running_stack(settings)
        # the server boots first, and Prefect and the flows load here meanwhile
        with stack.server_starting(
            settings, host or settings.host, port or settings.port
        ) as server:
            state = stack.up(settings, environment, server)
        with stack.api_settings(state.url):
            outcomes = asyncio.run(deploy.register(environment))
    except UsageError as exc:
        raise fail(str(exc), 2) from None
    except stack.ServerError as exc:
        raise fail(str(exc), 1) from None
    print_table(_registration_table(outcomes, False, environment))
    _print_deployments(environment)
    say("UI: " + typer.style(state.url.removesuffix("/api"), bold=True))
    say(f"workers: {', '.join(state.workers)} (queue {environment.work_queue()})")
    if running:
        say("already running (server and workers kept; `pipelines down` stops them)")
    if detach:
        if not running:
            say("running in the background; `pipelines down` stops it")
        return
    say("Ctrl-C (or `pipelines down` in another terminal) stops the server and workers")
    if _wait_until_stopped(settings):
        stack.down(settings)
        say("stopped")
    else:
        say("stopped by `pipelines down`")


@app.command()
def down():
    """Stop the workers and the server started by `up` (or by a local run), and the warm runners
    of `pipelines run`."""
    from pipelines.framework.cli import runner  # the standard library's alone

    settings = config.get_settings()
    stack.down(settings)
    runner.stop_runners(settings.home)
    say("stopped")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False):
    """The local server and workers: address, health, pids."""
    home = config.state_home()
    try:
        current = stack.status(home)
    except stack.ServerError as exc:
        raise fail(str(exc), 1) from None
    crashed: list[str] = []
    url = str(current["server"])
    if current["healthy"] and stack.dead_records(home, url):  # only then is Prefect imported
        with stack.api_settings(url):
            crashed = stack.crash_orphaned_runs(url)
    if as_json:
        typer.echo(json.dumps({**current, "crashed_orphans": crashed}, indent=2))
        return
    _print_crashed_orphans(crashed)
    health = typer.style("healthy", fg="green") if current["healthy"] else _dead("DOWN")
    say(f"server {current['server']} ({health})")
    say(f"UI {current['ui']}")
    for label, worker in current["workers"].items():
        alive = typer.style("running", fg="green") if worker["alive"] else _dead("DEAD")
        say(f"worker {label}: pid {worker['pid']} {alive}")


def _dead(word: str) -> str:
    return typer.style(word, fg="red", bold=True)


@app.command()
def image(
    repository: Annotated[
        str | None,
        typer.Option(help="Image repository (default: PIPELINES_IMAGE_REPOSITORY)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Print the Kubernetes runs' image tag for this commit and the commands that build it."""
    from pipelines.framework.deploy import image_build  # no Prefect: git and the version

    build = image_build(repository)
    if as_json:
        typer.echo(json.dumps(build.as_dict(), indent=2))
        return
    say(f"image: {build.tag}")
    if build.tag.endswith("-dirty"):
        warn("tracked files differ from the commit; commit before building")
    say(f"build: {shlex.join(build.build)}")
    say(f"push:  {shlex.join(build.push)}")
    say(f"then:  PIPELINES_IMAGE={build.tag} pipelines register --env prod")


def _instant(value: str) -> datetime:
    """An ISO 8601 date or time, its UTC offset included (click's DateTime knows no offsets)."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO date or time, e.g. 2024-01-01T00:00-03:00"
        ) from None


@app.command()
def backfill(
    flow: Annotated[str, typer.Argument(help="Flow name, a unique part of it, or its module.")],
    start: Annotated[
        datetime, typer.Option(parser=_instant, metavar="ISO", help="Window start, with offset.")
    ],
    end: Annotated[
        datetime, typer.Option(parser=_instant, metavar="ISO", help="Window end, with offset.")
    ],
    env: EnvOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
):
    """Create the runs the flow's schedule would have created between START and END."""
    import asyncio  # 30 ms, paid by the commands that talk to the server alone

    try:
        info = deploy.find_flow(flow)
        environment = config.resolve_environment(env)
        runs = deploy.planned_runs(info, start, end)
        created = None
        if not dry_run:
            with stack.api_settings(stack.ensure_server()):
                created = asyncio.run(deploy.create_backfill(info, environment, runs))
    except UsageError as exc:
        raise fail(str(exc), 2) from None
    except stack.ServerError as exc:
        raise fail(str(exc), 1) from None
    _print_backfill(info.name, environment.name, runs, created)


def _print_backfill(
    flow: str, env: str, runs: "list[PlannedRun]", created: list[bool] | None
) -> None:
    """The runs of a backfill, each created or already there (None: a dry run), and a summary."""
    from rich.table import Table

    title = f"{'would backfill' if created is None else 'backfilled'} in {env}"
    table = Table("due", "parameters", "run", title=title)
    for i, planned in enumerate(runs):
        shown = "-" if created is None else ("created" if created[i] else "already there")
        table.add_row(planned.scheduled_time.isoformat(), json.dumps(planned.parameters), shown)
    print_table(table)
    where = f"of {flow!r} in {env}"
    if created is None:
        say(f"would create {len(runs)} run(s) {where} (less any already there)")
        return
    already = f"; {len(runs) - sum(created)} already there" if not all(created) else ""
    say(f"created {sum(created)} new run(s) {where}{already}")


@app.command("migrate")
def migrate_command(
    sources: Annotated[list[Path], typer.Argument(help="A Prefect 1 checkout, or folders of one.")],
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if something is unsupported.")
    ] = False,
):
    """Bring Prefect 1 folders into this repository, rewriting their import lines and only those."""
    # The one framework import of compat (docs/architecture.md): libcst and the compat layer
    # load for this command alone.
    from pipelines.compat.migrate import migrate

    missing = [str(source) for source in sources if not source.is_dir()]
    if missing:
        raise fail(f"not a folder: {', '.join(missing)}", 2)
    report = migrate(sources, config.REPO_ROOT, check)
    for line in report.lines():
        typer.echo(line)
    if check and not report.ok:
        raise fail(
            f"{len(report.findings)} unsupported construct(s): docs/migrating-from-prefect-1.md "
            "says what to do instead",
            1,
        )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
