"""The replay's report: one self-contained HTML file (inline CSS and SVG, no script, nothing
fetched), readable by an inspector: the summary tables, charts, and a timeline drawing of each
incident with the most breaches."""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from misper.engine.policy.registry import PolicyRegistry

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#1b1f24;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #dde3ea;padding-bottom:.2rem}
.note{color:#5b6570}.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{background:#f3f6f9;border-radius:8px;padding:.7rem 1rem;min-width:8rem}.card b{display:block;font-size:1.5rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e5e9ee;vertical-align:top}
th{background:#f3f6f9;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.basis{font-size:.75rem;padding:.05rem .4rem;border-radius:4px;background:#e8eef5}
.basis.assumed{background:#fff1cc}.basis.statutory{background:#dff3e4}.basis.reported{background:#e9e2f8}
.incident{border:1px solid #dde3ea;border-radius:8px;padding:.8rem 1rem;margin:1rem 0}
.incident li{margin:.2rem 0}svg text{font:11px system-ui,sans-serif;fill:#1b1f24}
"""
STATUS_COLOUR = {
    "met": "#3b8c5a",
    "met_late": "#d08a18",
    "breached": "#c8362f",
    "not_applicable": "#9aa5b1",
    "pending": "#4a7bd0",
    "due_soon": "#d08a18",
}


def write_report(path: Path, data: dict[str, Any], registry: PolicyRegistry) -> None:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>misper replay report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Missing children: replay of historical incidents</h1>",
        "<p class='note'>Each incident judged as a complete record by the policy in force at its report "
        "(or the one named). Every figure comes from the findings and deadlines of the evaluations; "
        "each clause is marked with the provenance of the numbers it rests on.</p>",
        _cards(data),
        _quality(data),
        _grades(data),
        "<h2>Clauses: how often each was breached</h2>",
        _clause_chart(data["clauses"]),
        _clause_table(data["clauses"]),
        "<h2>Deadlines: how late each duty was</h2>",
        "<p class='note'>Delay is the time from the due instant to the event that met the duty (negative: "
        "early). The bar spans the median to the 90th percentile; the tick marks the worst.</p>",
        _delay_chart(data["deadlines"]),
        _delay_table(data["deadlines"]),
        "<h2>By month</h2>",
        _trend(data["months"]),
        _breakdown("month", data["months"]),
        "<h2>By area</h2>",
        _breakdown("area", data["areas"]),
    ]
    if "forces" in data:  # a corpus of several forces' incidents
        parts += [
            "<h2>By force</h2>",
            "<p class='note'>Each force's incidents judged by its own policy (or a national one).</p>",
            _rating_bars(data["forces"]),
            _breakdown("force", data["forces"]),
        ]
    if "comparison" in data:
        parts.append(_comparison(data["comparison"]))
        for force, counts in data.get("forces", {}).items():
            if "comparison" in counts:
                parts.append(_comparison(counts["comparison"], f" for {force}"))
    parts.append("<h2>Incidents with the most breaches</h2>")
    parts += [_incident(item) for item in data["most_breaches"]]
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def _cards(data: dict[str, Any]) -> str:
    cards = [
        ("incidents", data["incidents"]),
        ("children", data["children"]),
        ("children missing more than once", data["repeat_children"]),
        ("most episodes of one child", data["most_episodes"]),
        ("lines refused", data["errors"]),
    ]
    policies = ", ".join(f"{escape(k)}: {v}" for k, v in data["policies"].items())
    return (
        "<div class='cards'>"
        + "".join(f"<div class='card'><b>{v:,}</b>{escape(k)}</div>" for k, v in cards)
        + f"</div><p class='note'>Policies: {policies}</p>"
    )


RATING_COLOUR = {"good": "#3b8c5a", "requires_improvement": "#d08a18", "inadequate": "#c8362f"}
RATING_TEXT = {"good": "good", "requires_improvement": "requires improvement", "inadequate": "inadequate"}


def _quality(data: dict[str, Any]) -> str:
    """The inspectorate's scale for audited cases: the sentence of a case audit, then each
    month's and each area's incidents as a bar split by rating."""
    q = data["quality"]
    sentence = (
        f"Of {data['incidents']:,} incidents, {q['good']:,} were good, {q['requires_improvement']:,} "
        f"required improvement and {q['inadequate']:,} were inadequate."
    )
    legend = " ".join(
        f"<span style='color:{RATING_COLOUR[r]}'>&#9632;</span> {RATING_TEXT[r]}" for r in RATING_COLOUR
    )
    return (
        "<h2>Quality: the inspectorate's scale for audited cases</h2>"
        f"<p><b>{escape(sentence)}</b></p>"
        "<p class='note'>Each incident rated by the policy's rubric (assumed: the inspectorate publishes "
        "the scale, not a formula): inadequate when a breach left the child exposed or three or more "
        f"clauses were breached, requires improvement for any other breach, good otherwise. {legend}</p>"
        "<h3>By month</h3>" + _rating_bars(data["months"]) + "<h3>By area</h3>" + _rating_bars(data["areas"])
    )


def _rating_bars(groups: dict[str, dict[str, int]]) -> str:
    if not groups:
        return ""
    width, left, row = 900, 120, 20
    most = max(v.get("incidents", 0) for v in groups.values()) or 1
    out = [f"<svg role='img' aria-label='ratings' width='{width}' height='{row * len(groups) + 10}'>"]
    for i, (name, counts) in enumerate(groups.items()):
        y, x = 4 + i * row, float(left)
        out.append(f"<text x='0' y='{y + 12}'>{escape(name)}</text>")
        for rating, colour in RATING_COLOUR.items():
            n = counts.get(rating, 0)
            length = (width - left - 170) * n / most
            if n:
                out.append(
                    f"<rect x='{x:.1f}' y='{y}' width='{length:.1f}' height='15' fill='{colour}'>"
                    f"<title>{escape(name)}: {n} {RATING_TEXT[rating]}</title></rect>"
                )
            x += length
        total = sum(counts.get(r, 0) for r in RATING_COLOUR)
        bad = counts.get("inadequate", 0)
        out.append(f"<text x='{x + 5:.1f}' y='{y + 12}'>{total} ({bad} inadequate)</text>")
    out.append("</svg>")
    return "".join(out)


def _grades(data: dict[str, Any]) -> str:
    grades = data["grades"]
    names = sorted({g for counts in grades.values() for g in counts})
    rows = "".join(
        f"<tr><td>{escape(kind)}</td>"
        + "".join(f"<td class='n'>{grades[kind].get(g, 0)}</td>" for g in names)
        + "</tr>"
        for kind in ("initial", "final", "recommended")
        if kind in grades
    )
    changes = "; ".join(f"{escape(k)}: {v}" for k, v in data["grade_changes"].items())
    head = "".join(f"<th>{escape(g.replace('_', ' '))}</th>" for g in names)
    return f"<h2>Grades</h2><table><tr><th>grade</th>{head}</tr>{rows}</table><p class='note'>{changes}</p>"


def _clause_chart(clauses: list[dict[str, Any]]) -> str:
    rows = [c for c in clauses if c["share"] is not None]
    height, width, left = 22 * len(rows) + 30, 900, 170
    out = [f"<svg role='img' aria-label='breach share per clause' width='{width}' height='{height}'>"]
    for i, c in enumerate(rows):
        y = 10 + i * 22
        length = (width - left - 60) * c["share"]
        out.append(f"<text x='0' y='{y + 13}'>{escape(c['policy'])} {escape(c['clause'])}</text>")
        out.append(f"<rect x='{left}' y='{y}' width='{length:.1f}' height='16' fill='#c8362f' rx='2'/>")
        out.append(f"<text x='{left + length + 5:.1f}' y='{y + 13}'>{c['share'] * 100:.0f}%</text>")
    out.append("</svg>")
    return "".join(out)


def _share(c: dict[str, Any]) -> str:
    return "" if c["share"] is None else f"{c['share'] * 100:.1f}%"


def _clause_table(clauses: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(c['policy'])}</td><td><b>{escape(c['clause'])}</b> {escape(c['text'])}</td>"
        f"<td><span class='basis {c['basis']}'>{c['basis']}</span></td><td class='n'>{c['applicable']}</td>"
        f"<td class='n'>{c['breached']}</td><td class='n'>{_share(c)}</td>"
        f"<td class='n'>{', '.join(f'{n} {sev}' for sev, n in c['findings'].items())}</td></tr>"
        for c in clauses
    )
    return (
        "<table><tr><th>policy</th><th>clause</th><th>basis</th><th>applicable</th><th>breached</th>"
        f"<th>share</th><th>findings</th></tr>{rows}</table>"
    )


def _delay_chart(deadlines: list[dict[str, Any]]) -> str:
    rows = [d for d in deadlines if d["median_minutes"] is not None]
    if not rows:
        return ""
    low = min(min(d["median_minutes"], 0) for d in rows)
    high = max(max(d["worst_minutes"], 60) for d in rows)
    height, width, left = 22 * len(rows) + 40, 900, 230

    def x(minutes: float) -> float:
        return left + (width - left - 20) * (minutes - low) / (high - low or 1)

    out = [f"<svg role='img' aria-label='delay per deadline' width='{width}' height='{height}'>"]
    out.append(
        f"<line x1='{x(0):.1f}' x2='{x(0):.1f}' y1='0' y2='{height - 20}' stroke='#1b1f24' stroke-dasharray='3 3'/>"
    )
    out.append(f"<text x='{x(0) + 3:.1f}' y='{height - 5}'>due</text>")
    out.append(f"<text x='{x(high) - 60:.1f}' y='{height - 5}'>{high} min</text>")
    for i, d in enumerate(rows):
        y = 8 + i * 22
        a, b, w = x(d["median_minutes"]), x(d["p90_minutes"]), x(d["worst_minutes"])
        colour = "#c8362f" if d["p90_minutes"] > 0 else "#3b8c5a"
        out.append(f"<text x='0' y='{y + 13}'>{escape(d['clause'])} {escape(d['deadline'])}</text>")
        out.append(
            f"<rect x='{min(a, b):.1f}' y='{y + 2}' width='{max(abs(b - a), 2):.1f}' height='12' fill='{colour}' rx='2'/>"
        )
        out.append(
            f"<line x1='{w:.1f}' x2='{w:.1f}' y1='{y}' y2='{y + 16}' stroke='#1b1f24' stroke-width='2'/>"
        )
    out.append("</svg>")
    return "".join(out)


def _delay_table(deadlines: list[dict[str, Any]]) -> str:
    def minutes(v: int | None) -> str:
        return "" if v is None else f"{v:,}"

    rows = "".join(
        f"<tr><td>{escape(d['policy'])}</td><td>{escape(d['clause'])}</td><td>{escape(d['deadline'])}</td>"
        f"<td class='n'>{d['met']}</td><td class='n'>{d['late']}</td><td class='n'>{d['never']}</td>"
        f"<td class='n'>{minutes(d['median_minutes'])}</td><td class='n'>{minutes(d['p90_minutes'])}</td>"
        f"<td class='n'>{minutes(d['worst_minutes'])}</td></tr>"
        for d in deadlines
    )
    return (
        "<table><tr><th>policy</th><th>clause</th><th>deadline</th><th>met</th><th>of them late</th>"
        "<th>never met</th><th>median delay (min)</th><th>90th percentile</th><th>worst</th></tr>"
        f"{rows}</table>"
    )


def _trend(months: dict[str, dict[str, int]]) -> str:
    keys = sorted(months)
    if not keys:
        return ""
    width, height, left, bottom = 900, 220, 40, 30
    width -= 30
    top = max(max(m.get("incidents", 0), m.get("breaches", 0)) for m in months.values()) or 1
    step = (width - left - 20) / max(len(keys) - 1, 1)

    def points(field: str) -> str:
        return " ".join(
            f"{left + i * step:.1f},{height - bottom - (height - bottom - 10) * months[k].get(field, 0) / top:.1f}"
            for i, k in enumerate(keys)
        )

    out = [
        f"<svg role='img' aria-label='incidents and breaches per month' width='{width}' height='{height}'>"
    ]
    out.append(f"<polyline points='{points('incidents')}' fill='none' stroke='#4a7bd0' stroke-width='2'/>")
    out.append(f"<polyline points='{points('breaches')}' fill='none' stroke='#c8362f' stroke-width='2'/>")
    for i, k in enumerate(keys):
        out.append(
            f"<text x='{left + i * step:.1f}' y='{height - 8}' text-anchor='middle'>{escape(k)}</text>"
        )
    out.append(
        f"<text x='{left}' y='12' fill='#4a7bd0'>incidents</text><text x='{left + 70}' y='12' fill='#c8362f'>breaches</text>"
    )
    out.append("</svg>")
    return "".join(out)


def _breakdown(name: str, groups: dict[str, dict[str, int]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td class='n'>{v.get('incidents', 0)}</td><td class='n'>{v.get('breaches', 0)}</td>"
        f"<td class='n'>{v.get('breaches', 0) / max(v.get('incidents', 1), 1):.2f}</td></tr>"
        for k, v in groups.items()
    )
    return f"<table><tr><th>{name}</th><th>incidents</th><th>breaches</th><th>per incident</th></tr>{rows}</table>"


def _comparison(comparison: dict[str, Any], whose: str = "") -> str:
    parts = [f"<h2>Policy comparison: what changes{escape(whose)}</h2>"]
    for title, key in (
        ("Incidents that change", "changed"),
        ("Ratings that change", "ratings"),
        ("Findings that appear", "appeared"),
        ("Findings that disappear", "disappeared"),
    ):
        rows = "".join(
            f"<tr><td>{escape(k)}</td><td class='n'>{v['incidents']}</td><td>{escape(', '.join(v['examples']))}</td></tr>"
            for k, v in comparison.get(key, {}).items()
        )
        parts.append(
            f"<h3>{title}</h3><table><tr><th>what</th><th>incidents</th><th>for example</th></tr>{rows}</table>"
        )
    return "".join(parts)


def _incident(item: dict[str, Any]) -> str:
    findings = "".join(
        f"<li><b>{escape(f['clause'])}</b> {escape(f['code'])}: {escape(f['message'])} "
        f"<span class='note'>(events {escape(', '.join(f['evidence']))})</span></li>"
        for f in item["findings"]
    )
    return (
        f"<div class='incident'><h3>{escape(item['incident_id'])} "
        f"<span class='note'>line {item['line']}, {item['breaches']} breaches</span></h3>"
        f"{_timeline(item)}<ul>{findings}</ul></div>"
    )


def _timeline(item: dict[str, Any]) -> str:
    """Events as ticks on a time axis; each deadline as a bar from its start to its due instant,
    coloured by its status, with a cross where a late duty was met or a breach stands."""
    events = [(datetime.fromisoformat(e["at"]), e) for e in item["events"]]
    deadlines = [d for d in item["deadlines"] if d["status"] != "not_applicable"]
    instants = [t for t, _ in events] + [
        datetime.fromisoformat(d[k]) for d in deadlines for k in ("starts_at", "due_at")
    ]
    if not instants:
        return ""
    start, end = min(instants), max(instants)
    span = (end - start).total_seconds() or 1
    width, left, row = 1000, 190, 14
    rows = list(
        dict.fromkeys((d["clause"], d["id"]) for d in deadlines)
    )  # one row per duty, every occurrence on it
    height = 70 + row * len(rows)

    def x(moment: datetime) -> float:
        return left + (width - left - 20) * (moment - start).total_seconds() / span

    out = [f"<svg role='img' aria-label='timeline of the incident' width='{width}' height='{height}'>"]
    out.append(f"<line x1='{left}' x2='{width - 20}' y1='40' y2='40' stroke='#1b1f24'/>")
    for i, (moment, e) in enumerate(sorted(events, key=lambda p: p[0])):
        px = x(moment)
        out.append(f"<line x1='{px:.1f}' x2='{px:.1f}' y1='34' y2='46' stroke='#1b1f24'/>")
        label = escape(str(e["type"]).replace("_", " "))
        out.append(f"<title>{label} {escape(str(e['at']))}</title>")
        if i % 2 == 0:
            out.append(
                f"<text x='{px:.1f}' y='{28 - (i // 2 % 2) * 12}' text-anchor='middle'>{escape(str(e['id']))}</text>"
            )
    out.append(
        f"<text x='0' y='44'>events ({escape(f'{start:%d %b %H:%M}')} to {escape(f'{end:%d %b %H:%M}')})</text>"
    )
    for i, (clause, name) in enumerate(rows):
        out.append(f"<text x='0' y='{58 + i * row + 10}'>{escape(clause)} {escape(name)}</text>")
    for d in deadlines:
        y = 58 + rows.index((d["clause"], d["id"])) * row
        a, b = x(datetime.fromisoformat(d["starts_at"])), x(datetime.fromisoformat(d["due_at"]))
        colour = STATUS_COLOUR.get(d["status"], "#9aa5b1")
        out.append(
            f"<rect x='{a:.1f}' y='{y + 2}' width='{max(b - a, 2):.1f}' height='9' fill='{colour}' rx='2'><title>{escape(d['status'])}</title></rect>"
        )
        if d["status"] == "met_late" and d["met_at"]:
            m = x(datetime.fromisoformat(d["met_at"]))
            out.append(
                f"<line x1='{b:.1f}' x2='{m:.1f}' y1='{y + 6}' y2='{y + 6}' stroke='{colour}' stroke-dasharray='2 2'/>"
            )
            out.append(f"<text x='{m - 3:.1f}' y='{y + 10}' fill='{colour}'>&#x2715;</text>")
        elif d["status"] == "breached":
            out.append(f"<text x='{b + 2:.1f}' y='{y + 10}' fill='{colour}'>&#x2715;</text>")
    out.append("</svg>")
    return "".join(out)
