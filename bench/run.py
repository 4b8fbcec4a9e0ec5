"""The benchmark suite: measures the engine, the replay and the API on this machine and writes
BENCHMARKS.md (machine, versions, method, command, figures).

Run: .venv/bin/python bench/run.py [--replay 10000,100000,1000000] [--no-api] [--out BENCHMARKS.md]

Method. Every figure is a median of repeated measurements with its spread (p99 or the range of
runs). Engine: synthetic timelines of 10 to 1,000 events (a report, a grading, then reviews and
notes every 20 minutes); each call is timed on its own after a warm-up, and evaluation is also
given as a ratio to parsing and validating the same bytes, measured in the same run (these
machines are shared and noisy: the ratio holds when the absolute times do not). Replay: `misper
replay` on a `misper synth` corpus with 1 and 2 workers, 3 runs for small corpora; memory is
the sum of the resident set of the replay's processes, sampled every 0.2 s. API: `misper serve`
and wrk on loopback, 3 runs of 10 s per row, wrk's own CPU time noted (it shares the cores).
Appends: bench/append_load.py's method, 3 runs per store. Growth: an append's latency at 20 and
at 2,000 stored events (bench/append_growth.py's method), and a simulation of a 300-event
timeline against one of the case study (both in process, CPU time, 5 runs each, the median with
the range; each figure is also given as the ratio of the two, measured in the same run). Where the
time goes: cProfile of 2,000 evaluations, own time grouped by module. Alerts are measured by
bench/alerts.py, whose section this keeps; its figure is read back for the targets.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from misper.engine import default_registry, evaluate, parse_timeline  # noqa: E402

REPORT = datetime.fromisoformat("2023-07-11T19:40:00+01:00")
KEY: dict[str, float] = {}  # the figures the targets name, filled in as they are measured


def timeline(events: int, episodes: int = 0) -> bytes:
    body = {
        "incident_id": f"B-{events}",
        "as_of": (REPORT + timedelta(minutes=20 * events + 60)).isoformat(),
        "child": {
            "child_id": "C-1",
            "age_years": 13,
            "risk_factors": ["mental_health"],
            "previous_episodes": [
                {"reported_at": (REPORT - timedelta(hours=6 * (i + 1))).isoformat(), "recorded_on": "compact"}
                for i in range(episodes)
            ],
        },
        "events": [{"id": "r", "type": "report_received", "at": REPORT.isoformat(), "by": "call_handler"}],
    }
    for i in range(1, events):
        at = (REPORT + timedelta(minutes=20 * i)).isoformat()
        if i == 1:
            event = {"type": "risk_graded", "by": "call_handler", "grade": "medium"}
        elif i % 2:
            event = {
                "type": "supervisor_review",
                "by": "sergeant",
                "text": "Enquiries at the known addresses.",
            }
        else:
            event = {"type": "note", "by": "frontline_officer", "text": "CCTV requested."}
        body["events"].append({"id": f"e{i}", "at": at, **event})
    return json.dumps(body).encode()


def timed(fn, calls: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median and p99 of single calls, in ms."""
    for _ in range(max(3, calls // 10)):
        fn()
    samples = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def engine_figures() -> list[str]:
    policy = default_registry().get("suffolk-2023-02")
    rows = [
        "| events | parse median / p99 (ms) | evaluate median / p99 (ms) | evaluate / parse |",
        "|---|---|---|---|",
    ]
    per_event = []
    for n in (10, 20, 50, 200, 1000):
        raw = timeline(n)
        parsed = parse_timeline(raw)
        calls = 400 if n <= 50 else (100 if n <= 200 else 30)
        p50, p99 = timed(lambda raw=raw: parse_timeline(raw), calls)
        e50, e99 = timed(lambda parsed=parsed: evaluate(parsed, policy), calls)
        per_event.append((n, e50))
        if n == 20:
            KEY["engine_ms"], KEY["engine_ratio"] = e50, e50 / p50
        rows.append(f"| {n} | {p50:.3f} / {p99:.3f} | {e50:.3f} / {e99:.3f} | {e50 / p50:.1f}x |")
    slope = (per_event[-1][1] - per_event[2][1]) / (per_event[-1][0] - per_event[2][0])
    rows.append("")
    rows.append(
        f"Growth with events: {slope * 1000:.1f} us per further event between 50 and 1,000 events "
        f"({per_event[2][1]:.2f} ms at 50, {per_event[-1][1]:.2f} ms at 1,000)."
    )
    episodes = []
    for k in (0, 10, 100, 1000):
        parsed = parse_timeline(timeline(20, k))
        episodes.append(f"{k}: {timed(lambda parsed=parsed: evaluate(parsed, policy), 200)[0]:.3f} ms")
    rows.append("With previous episodes (20 events): " + ", ".join(episodes) + ".")
    return rows


def profile_figures() -> list[str]:
    policy = default_registry().get("suffolk-2023-02")
    parsed = parse_timeline(timeline(20))
    for _ in range(200):
        evaluate(parsed, policy)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(2000):
        evaluate(parsed, policy)
    profiler.disable()
    groups: dict[str, float] = {}
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    for (file, _, name), (_, _, own, _, _) in stats.items():
        if "durable_rules_engine" in name:
            group = "durable-rules C core"
        elif file.endswith("engine/session.py") or "orjson" in name:
            group = "rule session (the project's host)"
        elif "/engine/clock/" in file:
            group = "deadline clock (context, deadlines, local time)"
        elif file.endswith("judging/facts.py"):
            group = "fact building"
        elif "pydantic" in file or file.endswith("contract/evaluation.py"):
            group = "output models (pydantic)"
        elif "/engine/" in file:
            group = "the rest of the engine (findings, wording, grading)"
        else:
            group = "Python library (json, datetime, zoneinfo, ...)"
        groups[group] = groups.get(group, 0.0) + own
    total = sum(groups.values())
    rows = ["| where | share of own time |", "|---|---|"]
    rows += [f"| {k} | {v / total * 100:.0f}% |" for k, v in sorted(groups.items(), key=lambda kv: -kv[1])]
    return rows


def _tree_rss(pid: int) -> int:
    """Resident set of a process and its descendants, in kB."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(re.search(r"PPid:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        rss = re.search(r"VmRSS:\s+(\d+)", status)
        if rss and (int(entry.name) == pid or _descends(int(entry.name), pid, ppid)):
            total += int(rss.group(1))
    return total


def _descends(child: int, ancestor: int, parent: int) -> bool:
    while parent > 1:
        if parent == ancestor:
            return True
        try:
            parent = int(re.search(r"PPid:\s+(\d+)", Path(f"/proc/{parent}/status").read_text()).group(1))  # type: ignore[union-attr]
        except (OSError, AttributeError):
            return False
    return False


def replay_figures(sizes: list[int]) -> list[str]:
    misper = (
        str(ROOT / ".venv" / "bin" / "misper") if (ROOT / ".venv" / "bin" / "misper").exists() else "misper"
    )
    rows = [
        "Corpora up to 10,000 incidents are replayed 3 times per row (the median rate with the range "
        "of the runs, the highest peak); larger ones once. A corpus of a million incidents is "
        "replayed with 2 workers only (one worker would take about half an hour more).",
        "",
        "| incidents | workers | runs | incidents/s (range) | wall (s) | peak memory, all processes (MB) |",
        "|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            corpus = Path(folder) / f"c{size}.jsonl"
            with open(corpus, "w") as out:
                subprocess.run(
                    [misper, "synth", "--incidents", str(size), "--seed", "5"], stdout=out, check=True
                )
            for workers in (1, 2) if size < 1_000_000 else (2,):
                runs = [_replay_once(misper, corpus, workers) for _ in range(3 if size <= 10_000 else 1)]
                walls = sorted(wall for wall, _ in runs)
                rates = [size / wall for wall in walls]
                wall, peak = statistics.median(walls), max(mb for _, mb in runs)
                rows.append(
                    f"| {size:,} | {workers} | {len(runs)} | {size / wall:,.0f} "
                    f"({min(rates):,.0f}-{max(rates):,.0f}) | {wall:.1f} | {peak:.0f} |"
                )
                if workers == 2:
                    KEY["replay_rate"], KEY["replay_size"], KEY["replay_mb"] = size / wall, size, peak
            corpus.unlink()
    return rows


def _replay_once(misper: str, corpus: Path, workers: int) -> tuple[float, float]:
    """Wall time (s) and the peak resident set of the replay's processes (MB) of one replay."""
    peak = [0]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [misper, "replay", str(corpus), "--workers", str(workers), "--summary", os.devnull]
        + ["--errors", os.devnull],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    proc.wait()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"misper replay failed ({proc.returncode}) on {corpus}")
    return time.perf_counter() - start, peak[0] / 1024


def api_figures(runs: int = 3, seconds: int = 10) -> list[str]:
    if not shutil.which("wrk"):
        return ["wrk is not installed (apt-get install wrk): the API was not measured."]
    rows = [
        f"Each row: {runs} runs of {seconds} s after a 5 s warm-up; requests/s is the median with the "
        "range of the runs, p50 and p99 the medians of the runs' percentiles, and wrk's CPU the "
        "median of its own user+sys time over the run's length (in cores: the load generator shares "
        "the 2 cores with the server).",
        "",
        "| route | connections | requests/s (range) | p50 | p99 | wrk's CPU |",
        "|---|---|---|---|---|---|",
    ]
    for route, name in (("/healthz", "healthz"), ("POST /v1/evaluations", "evaluations")):
        for connections in (1, 8, 32):
            out = subprocess.run(
                ["bash", "bench/http_load.sh", "1", str(connections), str(seconds), name, str(runs)],
                cwd=ROOT,
                capture_output=True,
                text=True,
            ).stdout
            rates = [float(r) for r in re.findall(r"Requests/sec:\s+([\d.]+)", out)]
            p50s = [_ms(v) for v in re.findall(r"^\s+50%\s+(\S+)", out, re.M)]
            p99s = [_ms(v) for v in re.findall(r"^\s+99%\s+(\S+)", out, re.M)]
            cpus = [
                float(u) + float(s) for u, s in re.findall(r"wrk cpu: user ([\d.]+) s, sys ([\d.]+) s", out)
            ]
            if not rates:
                rows.append(f"| {route} | {connections} | failed | | | |")
                continue
            rate, p50, p99 = statistics.median(rates), statistics.median(p50s), statistics.median(p99s)
            if connections == 32:
                KEY["healthz" if name == "healthz" else "api_rate"] = rate
                if name != "healthz":
                    KEY["api_p99_ms"] = p99
            cpu = f"{statistics.median(cpus) / seconds:.2f} cores" if cpus else "?"
            rows.append(
                f"| {route} | {connections} | {rate:,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | "
                f"{p50:.2f} ms | {p99:.2f} ms | {cpu} |"
            )
    return rows


def append_figures(runs: int = 3, incidents: int = 40, events: int = 25, clients: int = 8) -> list[str]:
    """Appends to stored incidents through `misper serve`, on SQLite and on a throwaway
    PostgreSQL cluster (the method is in bench/append_load.py)."""
    from bench.append_load import run
    from tests.support.pg import start_cluster

    rows = [
        f"Each run: {incidents} incidents, {events} appended events each, {clients} client threads, "
        f"one event per request, `misper serve` with 4 small-lane processes; {runs} runs per store, "
        "the median with the range.",
        "",
        "| store | events appended per run | events/s (range) |",
        "|---|---|---|",
    ]
    cluster = start_cluster()
    try:
        for name, url in (("SQLite", lambda: None), ("PostgreSQL", cluster.new_database)):
            rates = sorted(run(url(), incidents, events, clients) for _ in range(runs))
            rows.append(
                f"| {name} | {incidents * events:,} | {statistics.median(rates):,.0f} "
                f"({rates[0]:,.0f}-{rates[-1]:,.0f}) |"
            )
    finally:
        cluster.stop()
    return rows


def growth_figures(runs: int = 5) -> list[str]:
    """What an append and a simulation cost as an incident grows (the issue's growth targets)."""
    from bench.append_growth import run as append_growth
    from misper.engine.judging.simulate import simulate

    found = append_growth(20, 2000, 21)
    small, large = (statistics.median(found[k]) for k in (20, 2000))
    KEY["append_growth"] = large / small
    policy = default_registry().get("suffolk-2023-02")
    case = parse_timeline((ROOT / "fixtures" / "timelines" / "case-study.json").read_bytes())
    long = parse_timeline(timeline(300))
    sims = {}
    for name, parsed in (("case study (12 events)", case), ("300 events", long)):
        simulate(parsed, policy).model_dump_json()  # warm
        times = []
        for _ in range(runs):
            started = time.process_time()  # in process: its CPU time, steadier on a shared machine
            simulate(parsed, policy).model_dump_json()
            times.append((time.process_time() - started) * 1000)
        sims[name] = times
    case_ms, long_ms = (statistics.median(t) for t in sims.values())
    KEY["simulation_growth"] = long_ms / case_ms
    rows = [
        "| what | median (range) | ratio |",
        "|---|---|---|",
    ]
    for stored in (20, 2000):
        t = found[stored]
        ratio = f"{large / small:.1f}x of the one at 20" if stored == 2000 else ""
        rows.append(
            f"| an append at {stored:,} stored events (SQLite, over HTTP) | {statistics.median(t):.1f} ms "
            f"({min(t):.1f}-{max(t):.1f}) | {ratio} |"
        )
    for name, t in sims.items():
        ratio = f"{long_ms / case_ms:.1f}x the case study's" if name.startswith("300") else ""
        rows.append(
            f"| a whole simulation of the {name}, as JSON | {statistics.median(t):.1f} ms "
            f"({min(t):.1f}-{max(t):.1f}) | {ratio} |"
        )
    return rows


def alert_figures(text: str) -> None:
    """The alerts figures bench/alerts.py wrote (kept in BENCHMARKS.md): p99 and open incidents."""
    among = re.search(r"among ([\d,]+) open incidents", text)
    row = re.search(r"^\| ([\d,]+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", text, re.M)
    if row:
        KEY["alerts_p99"] = float(row.group(4))
        KEY["alerts_open"] = float((among.group(1) if among else row.group(1)).replace(",", ""))


def _ms(text: str) -> float:
    """wrk's latency ('62.22ms', '482.00us', '1.02s') in ms."""
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def target_figures() -> list[str]:
    """The issue's targets beside what this run measured (a target not measured here says so)."""
    rows = ["| target | measured | met |", "|---|---|---|"]

    def row(text: str, key: str, shown: str, ok: bool) -> None:
        measured = key in KEY
        verdict = ("yes" if ok else "no") if measured else "-"
        rows.append(f"| {text} | {shown if measured else 'not measured'} | {verdict} |")

    k = KEY
    row(
        "evaluate, 20 events: median under 0.35 ms",
        "engine_ms",
        f"{k.get('engine_ms', 0):.3f} ms",
        k.get("engine_ms", 9) < 0.35,
    )
    row(
        "evaluate, 20 events: at most 4x parsing",
        "engine_ratio",
        f"{k.get('engine_ratio', 0):.1f}x",
        k.get("engine_ratio", 9) <= 4,
    )
    row(
        "replay with 2 workers: at least 5,000 incidents/s",
        "replay_rate",
        f"{k.get('replay_rate', 0):,.0f}/s ({k.get('replay_size', 0):,.0f} incidents)",
        k.get("replay_rate", 0) >= 5000,
    )
    row(
        "replay of 1,000,000 incidents: peak memory under 300 MB",
        "replay_mb" if k.get("replay_size") == 1_000_000 else "-",
        f"{k.get('replay_mb', 0):.0f} MB",
        k.get("replay_mb", 999) < 300,
    )
    row(
        "API at 32 connections: at least 1,500 evaluations/s",
        "api_rate",
        f"{k.get('api_rate', 0):,.0f}/s",
        k.get("api_rate", 0) >= 1500,
    )
    row(
        "API at 32 connections: p99 under 50 ms",
        "api_p99_ms",
        f"{k.get('api_p99_ms', 0):.1f} ms",
        k.get("api_p99_ms", 999) < 50,
    )
    row(
        "an append at 2,000 stored events: within 2x of one at 20",
        "append_growth",
        f"{k.get('append_growth', 0):.1f}x",
        k.get("append_growth", 99) <= 2,
    )
    row(
        "a 300-event simulation: within 20x the case study's",
        "simulation_growth",
        f"{k.get('simulation_growth', 0):.1f}x",
        k.get("simulation_growth", 99) <= 20,
    )
    row(
        "alerts with 10,000 open incidents: due instant to receiver, p99 under 1 s",
        "alerts_p99" if k.get("alerts_open", 0) >= 10_000 else "-",
        f"{k.get('alerts_p99', 0):.3f} s ({k.get('alerts_open', 0):,.0f} open incidents)",
        k.get("alerts_p99", 99) < 1,
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replay", default="10000", help="corpus sizes, comma-separated")
    parser.add_argument("--no-api", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    started = datetime.now().astimezone()
    parts = [
        "# Benchmarks",
        "",
        f"Regenerated by `.venv/bin/python bench/run.py --replay {args.replay}` "
        f"on {started:%Y-%m-%d %H:%M %Z}.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs ({platform.processor() or 'unknown'}), "
        f"{platform.system()} {platform.release()}. Python {platform.python_version()}; "
        + ", ".join(
            f"{p} {version(p)}" for p in ("durable-rules", "pydantic", "fastapi", "uvicorn", "sqlalchemy")
        ),
        "",
        "Method: see the docstring of `bench/run.py`. Medians with p99 (single calls) or over runs.",
        "",
        "## Engine: one evaluation in-process",
        "",
        *engine_figures(),
        "",
        "## Where the time goes (20 events, cProfile, own time)",
        "",
        *profile_figures(),
        "",
        "## Replay",
        "",
        *replay_figures([int(s) for s in args.replay.split(",")]),
        "",
    ]
    if not args.no_api:
        parts += [
            "## API (loopback, 1 server worker, wrk 2 threads on the same machine)",
            "",
            *api_figures(),
            "",
            "## Appends to a stored incident (loopback)",
            "",
            *append_figures(),
            "",
            "## Growth: an append and a simulation as the incident grows",
            "",
            *growth_figures(),
            "",
        ]
    # bench/alerts.py measures alerts and writes its own section: it is kept as it is.
    old = Path(args.out).read_text(encoding="utf-8") if Path(args.out).exists() else ""
    begin, end = "<!-- bench/alerts.py -->", "<!-- /bench/alerts.py -->"
    kept = old[old.index(begin) : old.index(end) + len(end)] if begin in old and end in old else ""
    alert_figures(kept)
    parts += ["## Against the targets (issue 25)", "", *target_figures(), ""]
    if kept:
        parts += [kept, ""]
    Path(args.out).write_text("\n".join(parts) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
