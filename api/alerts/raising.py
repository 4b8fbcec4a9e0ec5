"""Which alerts an incident's evaluation raises, as plain values: nothing here reads the clock or
the database, so the same evaluation always gives the same alerts under the same ids.

An alert is a transition of an open incident:
- ``due_soon``: a duty not yet done has used the policy's due-soon share of its time;
- ``due``: a duty went due without being done (its deadline is breached, and the record is open);
- ``finding``: a finding of severity breach or action that no deadline gives (those are ``due``);
- ``escalated``: an alert on a duty gone due waited unacknowledged for the policy's time, and the
  next role up is told, citing it.

Its id is worked out from the transition (the incident, the kind, the deadline and its occurrence
and due instant, or the rule and the finding's evidence), so however many servers see one
transition, the database's unique id keeps one alert.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from misper.engine.contract.evaluation import Deadline, Evaluation, Finding
from misper.engine.judging.wording import role_text
from misper.engine.localtime import human_duration
from misper.engine.policy.model import Policy

KINDS = ("due_soon", "due", "finding", "escalated")
FINDING_SEVERITIES = frozenset({"breach", "action"})


@dataclass(frozen=True)
class Draft:
    """An alert before it is stored, in its incident's force."""

    force: str
    alert_id: str
    incident_id: str
    kind: str
    deadline: str | None
    occurrence: int | None
    code: str
    clause: str
    owner: str | None
    due_at: str
    severity: str
    message: str
    escalates: str | None
    policy_id: str


def alert_id(incident_id: str, kind: str, key: str) -> str:
    digest = hashlib.sha256("\n".join((incident_id, kind, key)).encode()).hexdigest()
    return "al_" + digest[:32]


def drafts(force: str, policy: Policy, result: Evaluation) -> list[Draft]:
    """The alerts an open incident of ``force`` raises, from its evaluation at the wall clock's
    now."""
    out: list[Draft] = []
    by_deadline = _deadline_findings(policy, result.findings)
    for d in result.deadlines:
        kind = {"due_soon": "due_soon", "breached": "due"}.get(d.status)
        if kind is None:
            continue
        finding = by_deadline.get((d.id, d.evidence[0], kind))
        key = f"{d.id}#{d.occurrence}@{d.due_at}"
        out.append(
            Draft(
                force=force,
                alert_id=alert_id(result.incident_id, kind, key),
                incident_id=result.incident_id,
                kind=kind,
                deadline=d.id,
                occurrence=d.occurrence,
                code=d.code,
                clause=d.clause,
                owner=d.owner,
                due_at=d.due_at,
                severity=finding.severity if finding else ("warning" if kind == "due_soon" else "breach"),
                message=finding.message if finding else _duty_sentence(d, kind),
                escalates=None,
                policy_id=result.policy.id,
            )
        )
    for f in result.findings:
        if f.severity not in FINDING_SEVERITIES or policy.compiled[f.rule].deadline is not None:
            continue
        out.append(
            Draft(
                force=force,
                alert_id=alert_id(result.incident_id, "finding", f"{f.rule}|{','.join(f.evidence)}"),
                incident_id=result.incident_id,
                kind="finding",
                deadline=None,
                occurrence=None,
                code=f.code,
                clause=f.clause,
                # A finding has no duty of its own: the role overseeing the investigation is told.
                owner=result.oversight.required_role,
                due_at=f.at,
                severity=f.severity,
                message=f.message,
                escalates=None,
                policy_id=result.policy.id,
            )
        )
    return out


def _deadline_findings(policy: Policy, findings: list[Finding]) -> dict[tuple[str, str, str], Finding]:
    """Each deadline finding by (deadline, the event that started its clock, alert kind)."""
    out = {}
    for f in findings:
        deadline = policy.compiled[f.rule].deadline
        if deadline is not None:
            kind = "due_soon" if f.rule.endswith(":due_soon") else "due"
            out[(deadline, f.evidence[0], kind)] = f
    return out


def _duty_sentence(d: Deadline, kind: str) -> str:
    return f"{d.duty} is due by {d.due_at}." if kind == "due_soon" else f"{d.duty} was due by {d.due_at}."


def escalation(policy: Policy, alert: Any, waited: int) -> Draft | None:
    """The alert that tells the next role up about ``alert`` (a stored row, on a duty gone due or
    itself an escalation), which waited ``waited`` seconds unacknowledged; None at the top."""
    step = policy.escalation(alert.owner) if alert.owner else None
    if step is None:
        return None
    to, _ = step
    role = role_text(alert.owner)
    return Draft(
        force=alert.force,
        alert_id=alert_id(alert.incident_id, "escalated", alert.alert_id),
        incident_id=alert.incident_id,
        kind="escalated",
        deadline=alert.deadline,
        occurrence=alert.occurrence,
        code=alert.code,
        clause=alert.clause,
        owner=to,
        due_at=alert.due_at,
        severity=alert.severity,
        message=(
            f"Escalated: nobody acknowledged within {human_duration(waited)} the alert to the {role}. "
            + alert.message
        ),
        escalates=alert.alert_id,
        policy_id=alert.policy_id,
    )


def delivery_body(row: Any) -> bytes:
    """What a receiver is sent for an alert (and the stream's data): the same bytes each time."""
    data: dict[str, Any] = {
        "alert_id": row.alert_id,
        "incident_id": row.incident_id,
    }
    if row.deadline is not None:
        data["deadline"] = row.deadline
        data["occurrence"] = row.occurrence
    data.update(
        code=row.code,
        clause=row.clause,
        owner=row.owner,
        due_at=row.due_at,
        severity=row.severity,
        message=row.message,
        escalates=row.escalates,
    )
    body = {"type": f"alert.{row.kind}", "timestamp": row.raised_at, "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
