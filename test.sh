#!/usr/bin/env bash
# Runs every test: the whole workspace on SQLite, then the persistence and end-to-end tests
# again on PostgreSQL when TEST_DATABASE_URL names a server (each test creates a database of its
# own there and drops it afterwards), with the tests only PostgreSQL can serve, which the SQLite
# run lists as ignored. Extra arguments go to cargo test.
#
# A test that needs an optional tool it cannot find (strace, s3s-fs) says SKIPPED on stderr and passes;
# under CI=true it fails instead, so that no check vanishes from CI unnoticed. The run ends by
# naming what was skipped and how to install it.
set -euo pipefail
cd "$(dirname "$0")"

postgres=${TEST_DATABASE_URL:-}
skipped=()
if [ -z "$postgres" ]; then
  skipped+=("the PostgreSQL half (every persistence and end-to-end test again on PostgreSQL,
    and the ones listed as ignored above: several instances on one database, outages): point
    TEST_DATABASE_URL at a server where the tests may create and drop databases, for example
        TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres ./test.sh")
fi
if ! command -v strace >/dev/null 2>&1; then
  skipped+=("the durability trace checks (an fsync of the WAL before every acknowledged write,
    seen in the service's system calls): install strace, for example
        apt-get install strace")
fi
if [ -z "${S3S_FS:-}" ] && ! command -v s3s-fs >/dev/null 2>&1; then
  skipped+=("the object-store tests (file bytes in an S3 bucket: the file suite again, the store
    stopped and hanging, a SIGKILL during uploads, two instances sharing one bucket): install
    s3s-fs, an S3 server over a directory that the tests start themselves, for example
        cargo install s3s-fs --version 0.14.1 --features binary --locked")
fi
if [ ${#skipped[@]} -gt 0 ] && [ "${CI:-}" = true ]; then
  echo "CI=true, where nothing may be skipped, and these cannot run:"
  printf '  - %s\n' "${skipped[@]}"
  exit 1
fi

TEST_DATABASE_URL='' cargo test --workspace "$@"

if [ -n "$postgres" ]; then
  echo
  echo "==> the persistence and end-to-end tests again, on PostgreSQL (${postgres})"
  # The ignored tests need PostgreSQL: here they run too (after any `--` of the caller's).
  args=("$@")
  case " $* " in
    *" -- "*) args+=(--include-ignored) ;;
    *) args+=(-- --include-ignored) ;;
  esac
  TEST_DATABASE_URL=$postgres cargo test -p persistence -p e2e --lib --tests "${args[@]}"
fi

if [ ${#skipped[@]} -gt 0 ]; then
  echo
  echo "NOTE: every test that ran passed; skipped, for want of an optional tool:"
  for item in "${skipped[@]}"; do
    echo "  - $item"
  done
fi
