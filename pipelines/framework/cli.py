"""
The `pipelines` command: list, run, scaffold and check the repository's flows.
"""

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pipelines.framework import checks, scaffold
from pipelines.framework.discovery import DiscoveryError, FlowInfo, discover_flows, find_flow
from pipelines.framework.local_run import run_flow
from pipelines.framework.parameters import ParameterError, parse_parameters
from pipelines.framework.server import ServerError

app = typer.Typer(
    help="The city's data pipelines: list, run, scaffold and check flows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

USAGE_ERRORS = (LookupError, ParameterError, DiscoveryError, scaffold.ScaffoldError)


def fail(message: str, code: int) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def flow_summary(info: FlowInfo) -> dict[str, Any]:
    """What `flows --json` says of one flow."""
    schedule = info.schedule
    return {
        "name": info.name,
        "module": info.module,
        "function": info.function_name,
        "orgao": info.orgao,
        "project": info.project,
        "code_owners": list(info.code_owners),
        "parameters": [
            {
                "name": p.name,
                "type": p.type_name,
                "required": p.required,
                "default": None if p.required else p.default,
            }
            for p in info.parameters.values()
        ],
        "labels": list(schedule.labels) if schedule else [],
        "schedules": [
            {
                "description": clock.describe(),
                "timezone": clock.timezone,
                "labels": list(clock.labels),
                "parameter_defaults": clock.parameter_defaults,
            }
            for clock in (schedule.clocks if schedule else ())
        ],
    }


@app.command()
def flows(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """List every flow of the repository with its parameters, owners and schedules."""
    try:
        found = [flow_summary(info) for info in discover_flows()]
    except DiscoveryError as exc:
        raise fail(str(exc), 2) from None
    if as_json:
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False, default=str))
        return
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
    console.print(table)


@app.command()
def run(
    flow: Annotated[str, typer.Argument(help="Flow name, a unique part of it, or its module.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value; repeat for more.")
    ] = None,
):
    """Run a flow here, with parameters converted to their declared types."""
    try:
        info = find_flow(flow)
        parameters = parse_parameters(info, param or [])
    except USAGE_ERRORS as exc:
        raise fail(str(exc), 2) from None
    try:
        outcome = run_flow(info, parameters)
    except ServerError as exc:
        raise fail(str(exc), 1) from None
    if not outcome.ok:
        where = f"task {outcome.failed_task!r}" if outcome.failed_task else "the flow"
        raise fail(f"{info.name!r} failed in {where}: {outcome.reason}", 1)
    console.print(f"[green]{info.name!r} completed[/]", highlight=False)


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
        created = scaffold.create_project(orgao, projeto, sigla=sigla, owner=owner)
    except USAGE_ERRORS as exc:
        raise fail(str(exc), 2) from None
    for path in created:
        console.print(f"created {path}", highlight=False)


@app.command()
def check():
    """Check the repository's conventions; one line per finding (file:line)."""
    findings = checks.run_checks()
    for finding in findings:
        typer.echo(str(finding))
    if findings:
        raise fail(f"{len(findings)} finding(s)", 1)
    console.print("[green]all conventions hold[/]")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
