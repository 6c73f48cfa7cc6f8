#!/usr/bin/env bash
# Load benchmark: this service (release build, fresh SQLite data on loopback) and, with
# --peer, the FastAPI peer (../shared/peers/fastapi, 2 uvicorn workers) measured in the same run,
# alternating, with the ratio printed. wrk from Debian's packages: 1 thread, 64 connections.
#
#   bench/run.sh [--duration SECONDS] [--rounds N] [--peer] [--smoke]
#
# Scenario so far: withdraw (POST /accounts/{id}/withdrawals, amount 1).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10
rounds=1
peer=false
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --peer) peer=true; shift ;;
    --smoke) duration=2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "bench needs wrk (apt-get install wrk)" >&2; exit 2; }

export ADMIN_EMAIL=bench-admin@example.com ADMIN_PASSWORD=bench-admin-password
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() {
  for _ in $(seq 300); do
    curl -fs "$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "$1 did not come up" >&2; exit 1
}

cargo build --release -q -p app
ours_port=$(free_port)
RUST_LOG=warn target/release/app --bind "127.0.0.1:$ours_port" --data-dir "$work/ours" > "$work/ours.log" 2>&1 &
pids+=($!)
targets=("ours=http://127.0.0.1:$ours_port")
if $peer; then
  peer_port=$(free_port)
  PEER_DATA="$work/peer" ../shared/peers/fastapi/run.sh "$peer_port" 2 > "$work/peer.log" 2>&1 &
  pids+=($!)
  targets+=("peer=http://127.0.0.1:$peer_port")
fi

declare -A seeded
for target in "${targets[@]}"; do
  name=${target%%=*} base=${target#*=}
  wait_ready "$base"
  seeded[$name]=$(python3 bench/seed.py "$base" | tr '\n' ' ')
done

# One wrk run: prints "requests/s p50 p99 non2xx".
measure() {
  local base=$1 script=$2
  local out
  out=$(env ${seeded[$3]} wrk -t1 -c64 -d"${duration}s" --latency -s "bench/$script" "$base")
  local rps p50 p99 bad
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$rps $p50 $p99 ${bad:-0}"
}

printf '%-10s %-6s %5s %12s %10s %10s %8s\n' scenario target round req/s p50 p99 non2xx
for round in $(seq "$rounds"); do
  for target in "${targets[@]}"; do
    name=${target%%=*} base=${target#*=}
    read -r rps p50 p99 bad < <(measure "$base" withdraw.lua "$name")
    printf '%-10s %-6s %5s %12s %10s %10s %8s\n' withdraw "$name" "$round" "$rps" "$p50" "$p99" "$bad"
    echo "withdraw $name $round $rps" >> "$work/results"
  done
done

if $peer; then
  python3 - "$work/results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by = {}
for scenario, target, _, rps in rows:
    by.setdefault((scenario, target), []).append(float(rps))
for scenario in sorted({s for s, _ in by}):
    ours, peer = statistics.median(by[(scenario, "ours")]), statistics.median(by[(scenario, "peer")])
    print(f"{scenario}: ours {ours:.0f} req/s, peer {peer:.0f} req/s, ratio {ours / peer:.1f}x (medians)")
PY
fi
