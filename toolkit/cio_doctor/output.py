"""Print a report: JSON for machines, rich tables for people, a spinner for slow steps."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from cio_doctor.findings import Check, Finding, Report, Severity

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
_STATUS_STYLE = {"healthy": "green", "findings": "yellow", "not_checked": "red"}
_PROGRESS_DELAY_S = 1.0
_active: list[tuple[threading.Timer, Any]] = []


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=False)


def emit(report: Report, as_json: bool) -> int:
    """Print the report and return the exit code it adds up to."""
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    else:
        render(report)
    return report.exit_code


def render(report: Report) -> None:

    console = _console()
    status = report.to_dict()["status"]
    title = f"cio-doctor {report.command}" + (f" {report.target}" if report.target else "")
    console.rule(f"[bold]{title}[/] [{_STATUS_STYLE[status]}]{status}[/]")
    for check in report.checks:
        _render_check(console, check)
    findings = report.findings()
    steps = report.extra.get("runbook_next_steps") or []
    unchecked = [c.name for c in report.checks if c.error]
    if not findings:
        console.print(no_findings_line(unchecked, markup=True))
    else:
        console.print(_findings_table(findings))
    if steps:
        console.print("\n[bold]Runbook next steps[/]")
        for number, step in enumerate(steps, start=1):
            console.print(f"  {number}. {step}")


def no_findings_line(unchecked: list[str], markup: bool = False) -> str:
    """Say "No findings." only when every check ran; otherwise that the result is incomplete."""
    if not unchecked:
        return "[green]No findings.[/]" if markup else "No findings."
    text = (
        f"No findings in the checks that ran, but {len(unchecked)} could not run "
        f"({', '.join(unchecked)}): the result is incomplete, not healthy."
    )
    if not markup:
        return text
    from rich.markup import escape

    return f"[red]{escape(text)}[/]"


def _findings_table(findings: list[Finding]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Findings, most severe first", show_lines=True, expand=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("finding")
    table.add_column("what to do next")
    for f in findings:
        table.add_row(_severity(f), _describe(f), escape(f.next_step) if f.next_step else "-")
    return table


def _severity(f: Finding) -> str:
    return f"[{_STYLE[f.severity]}]{f.severity.label}[/]"


def _describe(f: Finding) -> str:
    from rich.markup import escape

    text = f"[bold]{escape(f.title)}[/] [dim]({f.code})[/]"
    return f"{text}\n{escape(f.detail)}" if f.detail else text


def _render_check(console: Any, check: Check) -> None:
    from rich.markup import escape

    state = "[red]could not check[/]" if check.error else "[green]ran[/]"
    console.print(f"\n[bold]{escape(check.name)}[/] {state} [dim]{check.duration_ms:.0f} ms[/]")
    if check.error:
        console.print(f"  [red]{escape(check.error)}[/]")
    data = check.public_data()
    scalars = {k: v for k, v in data.items() if not _is_rows(v)}
    if scalars:
        console.print(_facts_table(_flatten(scalars)))
    for key, value in data.items():
        if _is_rows(value):
            console.print(_rows_table(key, value))


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _cell(value: Any) -> str:
    from rich.markup import escape

    if value is None:
        return "-"
    if isinstance(value, list | dict):
        return escape(json.dumps(value, default=str))
    return escape(str(value))


def _facts_table(facts: Mapping[str, Any]) -> Any:
    from rich.table import Table

    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for key, value in facts.items():
        table.add_row(key, _cell(value))
    return table


def _rows_table(title: str, rows: list[Mapping[str, Any]]) -> Any:
    from rich.table import Table

    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    return table


@contextmanager
def progress(label: str, quiet: bool = False) -> Iterator[None]:
    """A spinner on stderr, shown only when the step takes longer than a second.

    Nothing is drawn in --json mode or when stderr is not a terminal, so piped output
    stays clean.
    """
    console = _console(stderr=True)
    if quiet or not console.is_terminal:
        yield
        return
    status = console.status(label)
    timer = threading.Timer(_PROGRESS_DELAY_S, status.start)
    timer.daemon = True
    timer.start()
    _active.append((timer, status))
    try:
        yield
    finally:
        _active.remove((timer, status))
        timer.cancel()
        status.stop()


def suspend_progress() -> None:
    """Stop any spinner, e.g. before asking a question on the terminal."""
    for timer, status in _active:
        timer.cancel()
        status.stop()


def note(message: str) -> None:
    """A line for people on stderr (stdout stays the report)."""
    from rich.markup import escape

    _console(stderr=True).print(escape(message))


def error(message: str) -> None:
    """A clear one-line error on stderr (bad input, missing configuration)."""
    from rich.markup import escape

    _console(stderr=True).print(f"[bold red]error:[/] {escape(message)}")
