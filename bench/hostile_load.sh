#!/usr/bin/env bash
# /healthz latency while the API is flooded with large timelines (issue 7's acceptance run).
# Usage: bench/hostile_load.sh [CONNECTIONS] [SECONDS]   (needs wrk: apt-get install wrk)
# Method: a fresh data folder and an admin key; `misper serve` on 127.0.0.1:8801 (1 worker,
# defaults); the answers of an idle server are recorded for a small timeline (the report only)
# and the largest allowed one (4,999 alternating-grade reviews, 0.7 MB); then for SECONDS,
# `wrk -t2 -cCONNECTIONS` posts the two in turn (bench/mixed.lua counts statuses and checks
# every 200 answer against the idle one) while a second `wrk -t1 -c1 --latency` asks /healthz
# without pause. Both wrk processes run on the same 2-vCPU machine as the server.
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-64} seconds=${2:-60}
misper=${MISPER:-.venv/bin/misper}
python=${PYTHON:-.venv/bin/python}
data=$(mktemp -d)
export MISPER_DATA_DIR=$data MISPER_BENCH_DIR=$data
export MISPER_KEY=$("$misper" keys create --name bench --role admin --force suffolk 2>/dev/null)
"$python" - "$data" <<'PY'
import json, sys
sys.path.insert(0, ".")
from tests.support.timelines import alternating_reviews, report_timeline
out = sys.argv[1]
open(f"{out}/small.json", "w").write(json.dumps(report_timeline([], as_of="2023-07-11T21:00:00+01:00")))
open(f"{out}/large.json", "w").write(json.dumps(alternating_reviews(4999)))
PY
"$misper" serve --port 8801 2>"$data/server.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:8801/readyz >/dev/null && break; sleep 0.2; done
url=http://127.0.0.1:8801
for body in small large; do
  curl -sf -H "Authorization: Bearer $MISPER_KEY" -H "Content-Type: application/json" \
       --data-binary @"$data/$body.json" "$url/v1/evaluations" -o "$data/$body.out"
done
# The server process and its evaluation worker processes (children), in MB of RSS.
rss() {
  local main; main=$(pgrep -f "misper serve --port 8801" | head -1)
  local kids; kids=$(pgrep -P "$main" | tr '\n' ',' | sed 's/,$//')
  printf "server %s MB, workers %s MB" "$(ps -o rss= -p "$main" | awk '{printf "%.0f", $1/1024}')" \
    "$( [ -n "$kids" ] && ps -o rss= -p "$kids" | awk '{s+=$1} END {printf "%.0f", s/1024}' || echo 0)"
}
echo "server RSS idle: $(rss)"
wrk -t1 -c1 -d"${seconds}s" --latency "$url/healthz" > "$data/health.txt" &
health=$!
echo "flood: $connections connections for ${seconds}s"
wrk -t2 -c"$connections" -d"${seconds}s" --timeout 30s -s bench/mixed.lua "$url/v1/evaluations"
wait $health
echo "--- /healthz meanwhile:"
cat "$data/health.txt"
echo "server RSS after: $(rss)"
sleep 5
echo "server RSS 5 s later: $(rss)"
echo "server log lines: $(wc -l < "$data/server.log")"
