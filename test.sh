#!/usr/bin/env bash
# Runs every test: the whole workspace on SQLite, then the persistence and end-to-end tests
# again on PostgreSQL when TEST_DATABASE_URL names a server (each test creates a database of its
# own there and drops it afterwards). Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")"

postgres=${TEST_DATABASE_URL:-}
TEST_DATABASE_URL='' cargo test --workspace "$@"

if [ -n "$postgres" ]; then
  echo
  echo "==> the persistence and end-to-end tests again, on PostgreSQL (${postgres})"
  TEST_DATABASE_URL=$postgres cargo test -p persistence -p e2e "$@"
else
  cat <<'NOTE'

NOTE: the PostgreSQL half of the tests was skipped (TEST_DATABASE_URL is not set).
To run every persistence and end-to-end test on PostgreSQL too, point it at a server where
the tests may create and drop databases, for example:
    TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres ./test.sh
NOTE
fi
