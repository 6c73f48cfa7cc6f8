#!/usr/bin/env bash
# Where the service spends its time in one scenario: runs bench.py's scenario against the
# release binary while `perf record` samples it (software clock; no hardware counters needed),
# then prints the hottest symbols, self time first.
#
#   bench/profile.sh get_user [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?usage: bench/profile.sh SCENARIO [SECONDS]}
seconds=${2:-10}
cargo build --release -q -p app
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ADMIN_EMAIL=bench-admin@example.com ADMIN_PASSWORD=bench-admin-password
RUST_LOG=warn target/release/app --bind "127.0.0.1:$port" --data-dir "$work/data" &
pid=$!
python3 - "http://127.0.0.1:$port" > "$work/env" <<'PY'
import sys
sys.path.insert(0, "bench")
import bench
target = bench.Target("ours", None, sys.argv[1])
bench.wait_ready(target.base)
bench.seed(target, 200)
for key, value in target.env.items():
    print(f"export {key}={value}")
PY
source "$work/env"
perf record -q -F 999 -e cpu-clock ${PERF_RECORD:--g} -p "$pid" -o "$work/perf.data" -- sleep "$seconds" &
wrk -t1 -c64 -d"${seconds}s" -s "bench/lua/$scenario.lua" "http://127.0.0.1:$port" | grep -E "Requests/sec|Latency "
wait %2 2>/dev/null || true
if [ -n "${PERF_KEEP:-}" ]; then cp "$work/perf.data" "$PERF_KEEP"; fi
perf report -i "$work/perf.data" --no-children ${PERF_ARGS:-} --sort ${PERF_SORT:-symbol} --percent-limit 1.2 --stdio 2>/dev/null \
  | grep -E "^ +[0-9]" | head -40
