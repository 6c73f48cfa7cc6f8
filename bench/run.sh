#!/usr/bin/env bash
# The load benchmark: builds the release binaries, then runs bench/bench.py (see its --help).
#
#   bench/run.sh --peer --bare [--postgres postgres://postgres@127.0.0.1:5432/postgres]
#   bench/run.sh --smoke        # seconds: what CI runs, so that the script keeps working
#
# BENCH_PROFILE=debug runs unoptimised binaries instead, to try the scripts without a release
# build: the figures then mean nothing.
#
# Needs wrk (Debian: apt-get install wrk) and python3; --peer needs python3-venv for the peer.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench needs wrk (apt-get install wrk)" >&2; exit 2; }
case "${BENCH_PROFILE:-release}" in
  release) cargo build --release -q -p app -p bare ;;
  debug) cargo build -q -p app -p bare ;;
  *) echo "BENCH_PROFILE is release or debug" >&2; exit 2 ;;
esac
exec python3 bench/bench.py "$@"
