#!/usr/bin/env bash
# Requests per second and latency percentiles for POST /v1/evaluations on this machine.
# Usage: benchmarks/http_load.sh [WORKERS] [CONNECTIONS] [SECONDS]   (needs wrk: apt-get install wrk)
# Method: a fresh data folder and a control_room key; `misper serve` on 127.0.0.1:8800 with
# WORKERS processes; 5 s of warm-up, then wrk with 2 threads and CONNECTIONS connections for
# SECONDS, posting the case-study timeline (12 events, 12 findings). Loopback only; it stops
# the server when done.
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${1:-1} connections=${2:-16} seconds=${3:-20}
misper=${MISPER:-.venv/bin/misper}
data=$(mktemp -d)
export MISPER_DATA_DIR=$data
export MISPER_KEY=$("$misper" keys create --name bench --role control_room 2>/dev/null)
"$misper" serve --port 8800 --workers "$workers" 2>"$data/server.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:8800/healthz >/dev/null && break; sleep 0.2; done
url=http://127.0.0.1:8800/v1/evaluations
wrk -t2 -c"$connections" -d5s -s benchmarks/post_timeline.lua "$url" >/dev/null
echo "workers=$workers connections=$connections duration=${seconds}s"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s benchmarks/post_timeline.lua "$url"
