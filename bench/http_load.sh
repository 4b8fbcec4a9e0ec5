#!/usr/bin/env bash
# Requests per second and latency percentiles for POST /v1/evaluations on this machine.
# Usage: bench/http_load.sh [WORKERS] [CONNECTIONS] [SECONDS] [healthz] [RUNS]   (needs wrk: apt-get install wrk)
# With "healthz" it measures GET /healthz instead: the framework's floor.
# Method: a fresh data folder and a control_room key; `misper serve` on 127.0.0.1:8800 with
# WORKERS processes; 5 s of warm-up, then wrk with 2 threads and CONNECTIONS connections for
# SECONDS, posting the case-study timeline (12 events, 12 findings), RUNS times (default 1), each
# followed by the CPU time wrk itself used ("wrk cpu: user U s, sys S s"). Loopback only; it
# stops the server when done.
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${1:-1} connections=${2:-16} seconds=${3:-20} route=${4:-evaluations} runs=${5:-1}
misper=${MISPER:-.venv/bin/misper}
data=$(mktemp -d)
export MISPER_DATA_DIR=$data
export MISPER_KEY=$("$misper" keys create --name bench --role control_room --force suffolk 2>/dev/null)
"$misper" serve --port 8800 --workers "$workers" 2>"$data/server.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:8800/healthz >/dev/null && break; sleep 0.2; done
if [ "$route" = healthz ]; then
  url=http://127.0.0.1:8800/healthz script=()
else
  url=http://127.0.0.1:8800/v1/evaluations script=(-s bench/post_timeline.lua)
fi
threads=$(( connections < 2 ? connections : 2 ))  # wrk needs a connection per thread
wrk -t"$threads" -c"$connections" -d5s "${script[@]}" "$url" >/dev/null
TIMEFORMAT='wrk cpu: user %U s, sys %S s'
for run in $(seq "$runs"); do
  echo "workers=$workers connections=$connections duration=${seconds}s route=$route run=$run"
  { time wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "${script[@]}" "$url"; } 2>&1
done
