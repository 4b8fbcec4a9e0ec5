"""An evaluation as one screen for a person (`misper evaluate FILE --format text`): the incident,
the policy and its hash, grade, recommended grade and oversight, a table of deadlines and the
findings as sentences with their clause. Coloured on a terminal, plain text elsewhere."""

from __future__ import annotations

import io
import sys
from datetime import datetime

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from misper.engine.contract.evaluation import Evaluation, Simulation

STATUS_STYLE = {
    "met": "green",
    "met_late": "yellow",
    "breached": "bold red",
    "due_soon": "yellow",
    "pending": "cyan",
    "not_applicable": "dim",
}
SEVERITY_STYLE = {"breach": "bold red", "warning": "yellow", "action": "magenta", "advisory": "cyan"}


def when(instant: str | None) -> str:
    """'12 Jul 03:40 BST'-style: short, with the zone's name, for a table cell."""
    if not instant:
        return ""
    moment = datetime.fromisoformat(instant)
    offset = moment.strftime("%z")
    zone = {"+0100": "BST", "+0000": "GMT"}.get(offset, offset)  # the policy's time zone, Europe/London
    return f"{moment:%d %b %H:%M} {zone}"


def _role(role: object) -> str:
    return str(role or "none").replace("_", " ")


def render(result: Evaluation, colour: bool | None = None, width: int = 120) -> str:
    tty = sys.stdout.isatty() if colour is None else colour
    console = Console(file=io.StringIO(), width=width, force_terminal=tty, no_color=not tty, highlight=False)
    grade = result.grade
    oversight = result.oversight
    console.print(
        Text.assemble(
            ("Incident ", "bold"),
            (result.incident_id, "bold"),
            f"  policy {result.policy.id} (sha256 {result.policy.sha256[:12]})  ",
            f"{result.mode}, as of {when(result.as_of)}",
        )
    )
    line = Text.assemble(
        "Grade: ",
        (str(grade.current or "none"), "bold"),
        f"  recommended: {grade.recommended}  oversight: {_role(oversight.required_role)}",
    )
    if oversight.accepted_at:
        line.append(f" (accepted {when(oversight.accepted_at)})")
    if oversight.recommended_role:
        line.append(f"; the recommended grade needs {_role(oversight.recommended_role)}", style="yellow")
    console.print(line)
    if result.next_change_at:
        console.print(f"Ask again at {when(result.next_change_at)}")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1))
    widths = {"clause": 6, "duty": 38, "owner": 23, "due": 16, "status": 25}
    for name, size in widths.items():
        table.add_column(
            name, no_wrap=True, overflow="ellipsis", min_width=size if name != "duty" else 20, max_width=size
        )
    for d in result.deadlines:
        status = str(d.status)
        label = status + (f" {when(d.met_at)}" if d.met_at and status == "met_late" else "")
        table.add_row(
            d.clause,
            d.duty,
            _role(d.owner),
            when(d.due_at),
            Text(label, STATUS_STYLE[status]),
        )
    console.print(table)
    console.print(Text(f"Findings ({len(result.findings)})", "bold"))
    findings = Table.grid(padding=(0, 1))
    findings.add_column(no_wrap=True, style="bold")
    findings.add_column(no_wrap=True)
    findings.add_column()
    for f in result.findings:
        findings.add_row(f.clause, Text(str(f.severity), SEVERITY_STYLE.get(str(f.severity), "")), f.message)
    console.print(findings)
    for note in result.notes:
        console.print(Text(note, "italic"))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    return "".join(line.rstrip() + "\n" for line in str(output).splitlines())


def render_simulation(result: Simulation, colour: bool | None = None, width: int = 120) -> str:
    """A simulation as a person reads it: one block per step, with what happened and what is new."""
    tty = sys.stdout.isatty() if colour is None else colour
    console = Console(file=io.StringIO(), width=width, force_terminal=tty, no_color=not tty, highlight=False)
    console.print(
        Text.assemble(("Simulation ", "bold"), (result.incident_id, "bold"), f"  policy {result.policy.id}"),
        f"  page {result.page} of {result.pages}, until {when(result.until)}",
    )
    for step in result.steps:
        late = sum(str(d.status) == "breached" for d in step.deadlines)
        head = Text.assemble(
            (when(step.at), "bold"),
            f"  grade {step.grade.current or 'none'} (recommended {step.grade.recommended}),"
            f" oversight {_role(step.oversight.required_role)}, {late} breached",
        )
        console.print(head)
        for e in step.events:
            said = f": {e.text}" if e.text else ""
            console.print(
                f"    {_role(e.by)} - {e.type.replace('_', ' ')}{f' {e.grade}' if e.grade else ''}{said}"
            )
        for f in step.new_findings:
            console.print(
                Text.assemble(
                    "    ",
                    (f"{f.clause} {f.severity}", SEVERITY_STYLE.get(str(f.severity), "")),
                    f" {f.message}",
                )
            )
    output = console.file.getvalue()  # type: ignore[attr-defined]
    return "".join(line.rstrip() + "\n" for line in str(output).splitlines())
