"""
What every benchmark prints, so that BENCHMARKS.md takes it as it is: a heading with when and where
it was measured, then one Markdown row per figure beside its named alternative, the ratio, the goal
and whether it is met. A benchmark that cannot run here (no PostgreSQL, say) says so with `skip`.

    from report import Row, heading, markdown   # benchmarks/ is a script's first sys.path entry
    load = os.getloadavg()[0]
    ...  # measure
    print(heading("CLI commands", "medians of 5 runs", load))
    print(markdown([Row("pipelines --help", 0.18, "ruff --help", 0.003, below=0.3)]))
"""

import os
import platform
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version


@dataclass(frozen=True)
class Row:
    """One figure against its alternative. The goal is a bound on the figure (`below`) or on the
    ratio figure / alternative (`ratio_below`); `above`/`ratio_above` where more is better."""

    case: str
    figure: float
    alternative: str = "-"
    alternative_figure: float | None = None
    unit: str = "s"
    below: float | None = None
    ratio_below: float | None = None
    ratio_above: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.alternative_figure:
            return None
        return self.figure / self.alternative_figure

    @property
    def goal(self) -> str:
        if self.below is not None:
            return f"< {self.below:g} {self.unit}"
        if self.ratio_below is not None:
            return f"<= {self.ratio_below:g}x"
        if self.ratio_above is not None:
            return f">= {self.ratio_above:g}x"
        return "-"

    @property
    def met(self) -> bool | None:
        """None when there is no goal, or its ratio could not be measured."""
        if self.below is not None:
            return self.figure < self.below
        if self.ratio is None:
            return None
        if self.ratio_below is not None:
            return self.ratio <= self.ratio_below
        if self.ratio_above is not None:
            return self.ratio >= self.ratio_above
        return None


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 0.1 else 3
    return f"{value:,.{digits}f} {unit}"


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table: case | figure | alternative | figure | ratio | goal | met?"""
    lines = [
        "| case | figure | alternative | figure | ratio | goal | met? |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for row in rows:
        ratio = "-" if row.ratio is None else _number(row.ratio, "x").replace(" ", "")
        met = {None: "-", True: "yes", False: "no"}[row.met]
        case = f"{row.case} ({row.note})" if row.note else row.case
        lines.append(
            f"| {case} | {_number(row.figure, row.unit)} | {row.alternative} | "
            f"{_number(row.alternative_figure, row.unit)} | {ratio} | {row.goal} | {met} |"
        )
    return "\n".join(lines)


def heading(title: str, how: str, load_at_start: float) -> str:
    """When, where and how a table was measured, and the machine's load (shared machines vary):
    the line BENCHMARKS.md quotes above the table."""
    now = datetime.now(timezone.utc)
    return (
        f"## {title}\n\n{now:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, Prefect {version('prefect')}, load average "
        f"{load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; {how}\n"
    )


def skip(title: str, why: str) -> None:
    """End a benchmark that cannot run on this machine, plainly and without failing `make bench`."""
    print(f"## {title}\n\nSKIPPED: {why}\n")
    sys.exit(0)
