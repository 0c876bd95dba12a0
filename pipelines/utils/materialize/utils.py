"""
Helpers of the materialize flow: the dbt command line, dbt's Python runner with its log events
streamed to the run log, and dbt's errors as exceptions.
"""

import json
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.utils.materialize.constants import constants

if TYPE_CHECKING:  # dbt takes 2 s to import: only a run of the flow pays it, not its discovery
    from dbt.cli.main import dbtRunnerResult
    from dbt_common.events.base_types import EventMsg

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})
_LEVELS = {"info": "info", "warn": "warning", "error": "error"}
_DONE = object()
_QUIET_EVENTS = frozenset({"MainStackTrace"})
_DBT_LOCK = threading.Lock()
"""dbt keeps global state (flags, adapters, event manager): one invocation per process at a time."""


class MaterializationError(RuntimeError):
    """dbt could not run, or a model or test of the selection failed."""


class WarehouseLockedError(MaterializationError):
    """Another program held DuckDB's own lock on the warehouse file; worth retrying."""


def model_selector(dataset_id: str, table_id: str, upstream: bool, downstream: bool) -> str:
    """dbt selector of `models/<dataset_id>/<table_id>.sql`, with `+` for upstream/downstream.

    Downstream also takes every model built on the raw table `dataset_id.table_id` (a dbt
    source): what a dump's `materialize_after_dump` needs, whether or not a model has its name.
    """
    for name, value in (("dataset_id", dataset_id), ("table_id", table_id)):
        if not _IDENTIFIER.match(value or ""):
            raise ValueError(f"{name} {value!r} inválido: use letras, números e _")
    selector = f"{'+' if upstream else ''}fqn:{constants.DBT_PROJECT_NAME.value}.{dataset_id}"
    if not downstream:
        return f"{selector}.{table_id}"
    return f"{selector}.{table_id}+ source:{dataset_id}.{table_id}+"


def dbt_variables(dataset_suffix: str, dbt_vars: Mapping[str, Any] | None) -> dict[str, Any]:
    """The caller's vars plus the environment's dataset suffix, which callers may not set."""
    reserved = constants.DATASET_SUFFIX_VAR.value
    if dbt_vars and reserved in dbt_vars:
        raise ValueError(f"a var {reserved!r} é definida pelo ambiente, não pelo flow")
    return {**(dbt_vars or {}), reserved: dataset_suffix}


def build_args(
    selector: str, target: str, variables: Mapping[str, Any], project_dir: Path, run_dir: Path
) -> list[str]:
    """`dbt build` of `selector`; target/ and logs/ go to `run_dir`, outside the source tree."""
    return [
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
        "--quiet",
        "build",
        "--select",
        selector,
        "--target",
        target,
        "--vars",
        json.dumps(dict(variables)),
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(run_dir / "target"),
        "--log-path",
        str(run_dir / "logs"),
    ]


def log_line(event: "EventMsg") -> tuple[str, str] | None:
    """(line, level) of a dbt event worth showing in the run log; None for debug chatter."""
    message = event.info.msg.rstrip()
    level = event.info.level
    if level == "debug" or not message.strip():
        return None
    if event.info.name in _QUIET_EVENTS:
        return message, "debug"
    return message, _LEVELS.get(level, "error")


def run_dbt(
    args: list[str], env: Mapping[str, str], emit: Callable[[str, str], None]
) -> "dbtRunnerResult":
    """Invoke dbt in this process, calling `emit(line, level)` for each log line as it happens.

    dbt runs in a helper thread and its callback only queues the lines; `emit` runs here, in
    the caller's thread, so it can use the Prefect run context (`log()`), which dbt's own
    threads lack. `env` is set for profiles.yml's `env_var()` during the invocation.
    """
    lines: queue.SimpleQueue = queue.SimpleQueue()
    outcome: list[dbtRunnerResult] = []

    def invoke() -> None:
        from dbt.cli.main import dbtRunner  # pylint: disable=import-outside-toplevel

        try:
            with _DBT_LOCK, _environ(env):
                runner = dbtRunner(callbacks=[lambda event: lines.put(log_line(event))])
                outcome.append(runner.invoke(args))
        finally:
            lines.put(_DONE)

    thread = threading.Thread(target=invoke, name="dbt", daemon=True)
    thread.start()
    while (line := lines.get()) is not _DONE:
        if line is not None:
            emit(*line)
    thread.join()
    return outcome[0]


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def node_statuses(result: "dbtRunnerResult") -> dict[str, str]:
    """Status of every node dbt ran (`model.pipelines.x` -> success, pass, error, fail...)."""
    results = getattr(result.result, "results", None) or []
    return {item.node.unique_id: _status(item) for item in results}


def check_result(result: "dbtRunnerResult", selector: str) -> dict[str, str]:
    """The node statuses of a successful build; raise with dbt's own message otherwise."""
    if result.exception is not None:
        message = str(result.exception)
        error = WarehouseLockedError if _is_lock_error(message) else MaterializationError
        raise error(f"o dbt não conseguiu executar: {message}")
    failures = _failures(result)
    if failures:
        locked = _is_lock_error("\n".join(failures))
        error = WarehouseLockedError if locked else MaterializationError
        raise error(f"dbt build falhou em {len(failures)} nó(s):\n" + "\n".join(failures))
    if not result.success:
        raise MaterializationError("dbt build falhou; veja as linhas do dbt no log da execução")
    statuses = node_statuses(result)
    if not statuses:
        raise MaterializationError(f"nenhum modelo do projeto dbt corresponde a {selector!r}")
    return statuses


def _failures(result: "dbtRunnerResult") -> list[str]:
    failures = []
    for item in getattr(result.result, "results", None) or []:
        status = _status(item)
        if status in _FAILED_STATUSES:
            node = item.node
            where = getattr(node, "original_file_path", "") or ""
            failures.append(f"- {node.unique_id} ({where}) [{status}]: {item.message}")
    return failures


def _status(item: Any) -> str:
    return str(getattr(item.status, "value", item.status))


def _is_lock_error(message: str) -> bool:
    return "could not set lock on file" in message.lower()


def dbt_run_dir(home: Path, run_id: str) -> Path:
    """Folder of one dbt invocation (target/, logs/) under the state folder."""
    return home / "dbt" / "runs" / run_id
