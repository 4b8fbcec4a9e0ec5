"""The summary an inspector wants of a replay, built one result at a time in bounded memory:
counts, per-clause breach rates, per-deadline delay distributions (minute histograms, so the
percentiles are exact to the minute), breakdowns by area and month (and by force, when the corpus
holds more than one force's incidents), the incidents with the most breaches, and, when two
policies are compared, what changes between them (for each force too, when there are several)."""

from __future__ import annotations

import hashlib
import heapq
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from misper.engine.policy.registry import PolicyRegistry

TOP = 10
EXAMPLES = 3
RATINGS = ("good", "requires_improvement", "inadequate")
PROVENANCE_ORDER = ["assumed", "reported", "statutory", "stated"]  # weakest first


def percentile(histogram: Counter[int], share: float) -> int | None:
    """The smallest value with at least ``share`` of the observations at or below it."""
    total = sum(histogram.values())
    if not total:
        return None
    need, seen = share * total, 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= need:
            return value
    return max(histogram)


def _count(counts: Counter[Any], more: Counter[Any]) -> None:
    """Add counts, a key new to ``counts`` coming after those it has (as counting one by one
    would place it: some breakdowns are written in the order their keys were first met), kept
    even when its count is nought (as ``+=`` keeps it)."""
    counts.update(more)


@dataclass
class Comparison:
    """What changes when incidents are judged by another policy."""

    changed: Counter[str] = field(default_factory=Counter)
    rating_changes: Counter[str] = field(default_factory=Counter)
    appeared: Counter[str] = field(default_factory=Counter)
    disappeared: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, incident: str, first: dict[str, Any], second: dict[str, Any]) -> None:
        changes = {
            "recommended grade": first["recommended"] != second["recommended"],
            "required oversight": first["required_role"] != second["required_role"],
            "findings": first["codes"] != second["codes"],
            "quality rating": first.get("quality") != second.get("quality"),
        }
        if first.get("quality") != second.get("quality"):
            move = f"{first.get('quality')} to {second.get('quality')}"
            self.rating_changes[move] += 1
            self._example(f"rating:{move}", incident)
        for what, changed in changes.items():
            if changed:
                self.changed[what] += 1
                self._example(f"changed:{what}", incident)
        for code in sorted(set(second["codes"]) - set(first["codes"])):
            self.appeared[code] += 1
            self._example(f"appeared:{code}", incident)
        for code in sorted(set(first["codes"]) - set(second["codes"])):
            self.disappeared[code] += 1
            self._example(f"disappeared:{code}", incident)

    def merge(self, other: Comparison) -> None:
        """Add the comparison of the incidents that follow this one's."""
        for counts, more in (
            (self.changed, other.changed),
            (self.rating_changes, other.rating_changes),
            (self.appeared, other.appeared),
            (self.disappeared, other.disappeared),
        ):
            _count(counts, more)
        for key, incidents in other.examples.items():
            kept = self.examples[key]
            kept += incidents[: EXAMPLES - len(kept)]

    def _example(self, key: str, incident: str) -> None:
        if len(self.examples[key]) < EXAMPLES:
            self.examples[key].append(incident)

    def __bool__(self) -> bool:
        return bool(self.changed or self.appeared or self.disappeared or self.rating_changes)

    def as_dict(self) -> dict[str, Any]:
        def counted(prefix: str, found: Counter[str]) -> dict[str, Any]:
            return {
                k: {"incidents": n, "examples": self.examples[f"{prefix}:{k}"]}
                for k, n in sorted(found.items())
            }

        return {
            "changed": counted("changed", self.changed),
            "appeared": counted("appeared", self.appeared),
            "disappeared": counted("disappeared", self.disappeared),
            # How many incidents move between ratings: "good to inadequate" ...
            "ratings": counted("rating", self.rating_changes),
        }


@dataclass
class Summary:
    incidents: int = 0
    errors: int = 0
    # Episodes per child, keyed by a 64-bit digest of the child's id: a fixed size per child
    # however long the ids, and no ids held (the chance that two of a million children's ids
    # share a digest is about 1 in 37 million).
    children: Counter[int] = field(default_factory=Counter)
    policies: Counter[str] = field(default_factory=Counter)
    grades: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    grade_changes: Counter[str] = field(default_factory=Counter)
    applicable: Counter[tuple[str, str]] = field(default_factory=Counter)
    breached: Counter[tuple[str, str]] = field(default_factory=Counter)
    findings: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # policy, clause, severity
    delays: dict[tuple[str, str, str], Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    never: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    areas: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    months: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    top: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)
    ratings: Counter[str] = field(default_factory=Counter)
    forces: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    comparison: Comparison = field(default_factory=Comparison)
    by_force: dict[str, Comparison] = field(default_factory=lambda: defaultdict(Comparison))

    def add(self, result: dict[str, Any], ranked: bool = True) -> None:
        """Count one result. ``ranked``: whether it may be among the incidents with the most
        breaches; one its giver knows cannot be need not carry its result line and events."""
        if "error" in result:
            self.errors += 1
            return
        facts = result["facts"]
        policy = facts["policy"]
        self.incidents += 1
        self.children[child_digest(facts["child_id"])] += 1
        self.policies[policy] += 1
        self._grades(facts)
        self._clauses(policy, facts)
        area = result.get("area") or "not given"
        force = facts.get("force") or "not given"
        rating = facts.get("quality")
        for group in (self.areas[area], self.months[facts["month"]], self.forces[force]):
            group["incidents"] += 1
            group["breaches"] += facts["breaches"]
            if rating:
                group[rating] += 1
        if rating:
            self.ratings[rating] += 1
        if ranked:
            self._rank((facts["breaches"], -result["line"], {"result": result}))
        if "compare" in facts:
            self.comparison.add(facts["incident_id"], *facts["compare"])
            self.by_force[force].add(facts["incident_id"], *facts["compare"])

    def _rank(self, entry: tuple[int, int, dict[str, Any]]) -> None:
        if len(self.top) < TOP:
            heapq.heappush(self.top, entry)
        elif entry[:2] > self.top[0][:2]:
            heapq.heapreplace(self.top, entry)

    def merge(self, other: Summary) -> None:
        """Add the summary of the results that follow this one's (a later block of the corpus):
        the same as adding those results one by one, down to the order in which each breakdown
        first meets a rating and the examples of each change."""
        self.incidents += other.incidents
        self.errors += other.errors
        for counts, more in (
            (self.children, other.children),
            (self.policies, other.policies),
            (self.grade_changes, other.grade_changes),
            (self.applicable, other.applicable),
            (self.breached, other.breached),
            (self.findings, other.findings),
            (self.never, other.never),
            (self.ratings, other.ratings),
        ):
            _count(counts, more)
        breakdowns: tuple[tuple[dict[Any, Counter[Any]], dict[Any, Counter[Any]]], ...] = (
            (self.grades, other.grades),
            (self.delays, other.delays),
            (self.areas, other.areas),
            (self.months, other.months),
            (self.forces, other.forces),
        )
        for groups, others in breakdowns:
            for key, counted in others.items():
                _count(groups[key], counted)
        for entry in other.top:
            self._rank(entry)
        self.comparison.merge(other.comparison)
        for force, comparison in other.by_force.items():
            self.by_force[force].merge(comparison)

    def _grades(self, facts: dict[str, Any]) -> None:
        for kind in ("initial", "final", "recommended"):
            self.grades[kind][facts[f"{kind}_grade"] or "none"] += 1
        if facts["initial_grade"] and facts["final_grade"] and facts["initial_grade"] != facts["final_grade"]:
            self.grade_changes["initial differs from final"] += 1
        if facts["final_grade"] != facts["recommended_grade"]:
            self.grade_changes["final differs from recommended"] += 1

    def _clauses(self, policy: str, facts: dict[str, Any]) -> None:
        for clause in facts["applicable"]:
            self.applicable[(policy, clause)] += 1
        for clause in facts["breached"]:
            self.breached[(policy, clause)] += 1
        for clause, severity in facts["findings"]:
            self.findings[(policy, clause, severity)] += 1
        for deadline, clause, late in facts["delays"]:
            key = (policy, clause, deadline)
            if late is None:
                self.never[key] += 1
            else:
                self.delays[key][late] += 1

    def as_dict(self, registry: PolicyRegistry) -> dict[str, Any]:
        """The summary as JSON data, every list in a fixed order."""
        clauses = []
        for policy_id, clause in sorted(
            set(self.applicable) | set(self.breached) | {k[:2] for k in self.findings}
        ):
            policy = registry.get(policy_id)
            # A clause with a deadline applies where the deadline did; a rule's, to every incident.
            timed = any(d.clause == clause for d in policy.deadlines)
            applicable = self.applicable[(policy_id, clause)] if timed else self.policies[policy_id]
            applicable = max(applicable, self.breached[(policy_id, clause)])
            clauses.append(
                {
                    "policy": policy_id,
                    "clause": clause,
                    "text": policy.meta.clauses.get(clause, ""),
                    "basis": _basis(policy, clause),
                    "applicable": applicable,
                    "breached": self.breached[(policy_id, clause)],
                    "share": round(self.breached[(policy_id, clause)] / applicable, 4)
                    if applicable
                    else None,
                    "findings": {
                        sev: n
                        for (p, c, sev), n in sorted(self.findings.items())
                        if (p, c) == (policy_id, clause)
                    },
                }
            )
        deadlines = []
        for key in sorted(set(self.delays) | set(self.never)):
            histogram = self.delays[key]
            deadlines.append(
                {
                    "policy": key[0],
                    "clause": key[1],
                    "deadline": key[2],
                    "met": sum(histogram.values()),
                    "late": sum(n for v, n in histogram.items() if v > 0),
                    "never": self.never[key],
                    "median_minutes": percentile(histogram, 0.5),
                    "p90_minutes": percentile(histogram, 0.9),
                    "worst_minutes": max(histogram) if histogram else None,
                    "histogram": {str(v): n for v, n in sorted(histogram.items())},
                }
            )
        top = sorted(self.top, key=lambda e: (-e[0], -e[1]))
        out: dict[str, Any] = {
            "incidents": self.incidents,
            "errors": self.errors,
            "children": len(self.children),
            "repeat_children": sum(1 for n in self.children.values() if n > 1),
            "most_episodes": max(self.children.values(), default=0),
            "policies": dict(sorted(self.policies.items())),
            "grades": {k: dict(sorted(v.items())) for k, v in sorted(self.grades.items())},
            "grade_changes": dict(sorted(self.grade_changes.items())),
            # The inspectorate's scale for audited cases: how many incidents got each rating.
            "quality": {r: self.ratings[r] for r in RATINGS},
            "clauses": clauses,
            "deadlines": deadlines,
            "areas": {k: dict(v) for k, v in sorted(self.areas.items())},
            "months": {k: dict(v) for k, v in sorted(self.months.items())},
            "most_breaches": [_most(e[0], e[2]["result"]) for e in top],
        }
        if self.comparison:
            out["comparison"] = self.comparison.as_dict()
        if len(self.forces) > 1:
            # Each force's own incidents, quality and, when compared, what changes for it.
            out["forces"] = {
                force: {
                    **dict(counts),
                    **({"comparison": self.by_force[force].as_dict()} if self.by_force[force] else {}),
                }
                for force, counts in sorted(self.forces.items())
            }
        return out


def _most(breaches: int, result: dict[str, Any]) -> dict[str, Any]:
    """One of the incidents with the most breaches, for the report's drawing (no free text but
    the findings' own sentences)."""
    evaluation = json.loads(result["out"])["evaluation"]
    return {
        "line": result["line"],
        "incident_id": result["facts"]["incident_id"],
        "breaches": breaches,
        "findings": [
            {k: f[k] for k in ("clause", "code", "severity", "message", "evidence", "at")}
            for f in evaluation["findings"]
            if f["severity"] == "breach"
        ],
        "events": result["facts"]["events"],
        "deadlines": [
            {k: d[k] for k in ("id", "occurrence", "clause", "starts_at", "due_at", "met_at", "status")}
            for d in evaluation["deadlines"]
        ],
    }


def child_digest(child_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(child_id.encode(), digest_size=8).digest(), "little")


def _basis(policy: Any, clause: str) -> str:
    """The weakest provenance among the clause's parameters; stated when it has none."""
    found = {p.provenance for p in policy.parameters.values() if p.clause == clause}
    return next((p for p in PROVENANCE_ORDER if p in found), "stated")
