"""The tasks that run in worker processes: plain, picklable values in, JSON bytes out.

A server hands its evaluations and its store's work to worker processes so that parsing,
evaluating and waiting on the database never hold its event loop, nor its interpreter lock
(pydantic parses and serialises in Rust without releasing it, for tens of milliseconds on a large
timeline). Each task is a thin call of the engine's use case or of a service; engine errors
(which pickle with their field errors) are raised back to the server.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from misper.api.alerts import service as alert_service
from misper.api.incidents import service
from misper.api.incidents.store import Where
from misper.api.replay import runner
from misper.engine.errors import FieldError, PolicyInvalid
from misper.engine.policy.registry import PolicyRegistry, registry_for
from misper.engine.session import RULE_SESSION
from misper.engine.usecases import EvaluationAsk, SimulationAsk, evaluation, simulation


@dataclass(frozen=True)
class CheckedRules:
    """The rules a server checked at start-up (their folder and each version's content hash),
    for its worker processes to load."""

    rules_dir: str
    hashes: dict[str, str]

    @classmethod
    def of(cls, registry: PolicyRegistry, rules_dir: Path) -> CheckedRules:
        return cls(str(rules_dir), {p.id: p.sha256 for p in registry.policies})

    def registry(self) -> PolicyRegistry:
        """The rules a worker process loads must be those its server checked: a file edited since
        then (a worker started later would read it) is refused, not used unchecked."""
        registry = registry_for(Path(self.rules_dir))
        if {p.id: p.sha256 for p in registry.policies} != self.hashes:
            raise PolicyInvalid(
                f"the rules in {self.rules_dir} changed after the server started; restart it to check "
                "and use them",
                [FieldError(self.rules_dir, "differs from the policies checked at start-up")],
            )
        return registry


def warm(rules: CheckedRules) -> None:
    """Ready a fresh worker process before it takes requests: load the rules and create their
    rulesets in the rule engine. Rules changed since start-up are left for a real job to report."""
    try:
        registry = rules.registry()
    except PolicyInvalid:
        return
    for policy in registry.policies:
        RULE_SESSION.gate(policy)


def evaluation_json(rules: CheckedRules, raw: bytes, ask: EvaluationAsk) -> bytes:
    """The evaluation of a timeline's bytes, as compact JSON."""
    return evaluation(rules.registry(), raw, ask).to_json(indent=None).encode()


def simulation_json(rules: CheckedRules, raw: bytes, ask: SimulationAsk) -> bytes:
    """One page of the step-through of a timeline's bytes (or the state at one instant)."""
    return simulation(rules.registry(), raw, ask).model_dump_json().encode()


def put_incident(rules: CheckedRules, where: Where, incident_id: str, raw: bytes) -> bytes:
    return service.put_incident(where.store(), rules.registry(), incident_id, raw, _now())


def append_events(rules: CheckedRules, where: Where, incident_id: str, raw: bytes) -> bytes:
    return service.append_events(where.store(), rules.registry(), incident_id, raw, _now())


def stored_evaluation(
    rules: CheckedRules, where: Where, incident_id: str, as_of: datetime | None, key_name: str
) -> bytes:
    return service.stored_evaluation(where.store(), rules.registry(), incident_id, as_of, key_name, _now())


def incident_size(where: Where, incident_id: str) -> int:
    """How many events the incident holds (0 when it is not stored), to choose its lane."""
    return service.size(where.store(), incident_id)


def open_incidents(where: Where) -> int:
    return service.open_count(where.store())


def worklist(where: Where, status: str, page: int, per_page: int) -> bytes:
    answer = service.worklist(where.store(), status, page, per_page, int(time.time()))
    shown = [i["incident_id"] for i in json.loads(answer)["incidents"]] if where.reader else []
    return _audited(where, shown, f"the worklist ({status}, page {page})", answer)


def stored_incident(where: Where, incident_id: str) -> bytes:
    return _audited(where, [incident_id], "the incident", service.stored_incident(where.store(), incident_id))


def decisions(where: Where, incident_id: str, page: int, per_page: int) -> bytes:
    answer = service.decisions(where.store(), incident_id, page, per_page)
    return _audited(where, [incident_id], f"its decisions (page {page})", answer)


def _audited(where: Where, incident_ids: list[str], what: str, answer: bytes) -> bytes:
    """The answer, once the inspectorate's read of it is in each incident's audit trail."""
    if where.reader is not None:
        service.record_reads(where.store(), incident_ids, what, where.reader, _now())
    return answer


def alerts_raise(rules: CheckedRules, where: Where, now: float) -> int:
    return alert_service.raise_due(where.store(), rules.registry(), now)


def alerts_claim(where: Where, now: float) -> list[dict[str, Any]]:
    return alert_service.claim_deliveries(where.store(), now)


def alerts_record(where: Where, outcome: dict[str, Any], now: float, retry_seconds: float) -> str:
    return alert_service.record_attempt(where.store(), outcome, now, retry_seconds)


def alerts_wake_at(where: Where) -> float | None:
    return alert_service.wake_at(where.store())


def alerts_list(where: Where, status: str, page: int, per_page: int) -> bytes:
    return alert_service.list_alerts(where.store(), status, page, per_page)


def open_alerts(where: Where) -> int:
    return alert_service.open_count(where.store())


def alerts_after(where: Where, after: int) -> list[tuple[int, bytes]]:
    return alert_service.alerts_after(where.store(), after)


def alerts_last(where: Where) -> int:
    return alert_service.last_seq(where.store())


def alerts_ack(where: Where, alert_id: str, key_name: str, note: str | None) -> bytes:
    return alert_service.acknowledge(where.store(), alert_id, key_name, note, time.time())


def incident_audit(where: Where, incident_id: str, page: int, per_page: int) -> bytes:
    answer = alert_service.audit_trail(where.store(), incident_id, page, per_page)
    return _audited(where, [incident_id], f"its audit trail (page {page})", answer)


def subscribe(where: Where, asked: Any, key_name: str) -> bytes:
    return alert_service.subscribe(where.store(), asked, key_name, time.time())


def subscriptions(where: Where) -> bytes:
    return alert_service.list_subscriptions(where.store())


def unsubscribe(where: Where, subscription_id: str) -> bytes:
    return alert_service.unsubscribe(where.store(), subscription_id)


def delivery_log(where: Where, subscription_id: str, page: int, per_page: int) -> bytes:
    return alert_service.delivery_log(where.store(), subscription_id, page, per_page)


def replay_chunk(
    rules: CheckedRules, options: runner.ReplayOptions, items: list[tuple[int, str]]
) -> list[Any]:
    """A chunk of corpus lines, judged with the rules the server checked."""
    return runner.judge_chunk(rules.registry(), options, items)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def watch_parent(parent: int) -> None:
    """A worker's initializer: exit when the server that started it is gone (a SIGTERM or a
    crash skips the pool's own shutdown, and the worker would live on, orphaned)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
