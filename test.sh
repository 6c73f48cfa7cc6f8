#!/usr/bin/env bash
# Runs every test: the whole workspace on SQLite, then the persistence and end-to-end tests
# again on PostgreSQL when TEST_DATABASE_URL names a server (each test creates a database of its
# own there and drops it afterwards). Extra arguments go to cargo test.
#
# A test that needs what a machine may lack (PostgreSQL, strace, s3s-fs, root) is #[ignore]d with
# the need as its reason, so that the runner lists it as ignored rather than passing it unseen.
# This script runs those it can: the tool tests with --ignored when it finds the tool, the
# PostgreSQL ones in the PostgreSQL half. It ends by naming every test it could not run and how
# to get what it needs; under CI=true anything missing fails the run before any test.
set -euo pipefail
cd "$(dirname "$0")"

# The optional tools: whether one is here, the name filters of the tests that need it (a filter
# matches anywhere in a test's path), and how to get it.
tools=(strace s3s-fs root)
have() {
  case $1 in
    strace) command -v strace > /dev/null 2>&1 ;;
    s3s-fs) [ -n "${S3S_FS:-}" ] || command -v s3s-fs > /dev/null 2>&1 ;;
    root) [ "$(id -u)" = 0 ] ;;
  esac
}
filters() {
  case $1 in
    strace) echo "durability::every_acknowledged_write_follows_an_fsync_of_the_wal durability::process_crash_only_acknowledges_writes_the_wal_has_not_synced" ;;
    s3s-fs) echo "files::s3::tests:: object_store:: ::in_a_bucket" ;;
    root) echo "files::an_upload_that_fills_the_disk_is_507" ;;
  esac
}
what() {
  case $1 in
    strace) echo "the durability trace checks (an fsync of the WAL before every acknowledged write, seen in the service's system calls): install strace, for example
        apt-get install strace" ;;
    s3s-fs) echo "the object-store tests (file bytes in an S3 bucket: the file suite again, the store stopped and hanging, a SIGKILL during uploads, two instances sharing one bucket): install s3s-fs, an S3 server over a directory that the tests start themselves, for example
        cargo install s3s-fs --version 0.14.1 --features binary --locked" ;;
    root) echo "the full-disk test (it mounts a 1 MiB tmpfs): run ./test.sh as root" ;;
  esac
}
# Tool tests that need PostgreSQL as well run in the PostgreSQL half only.
postgres_too=(--skip through_one_bucket)

postgres=${TEST_DATABASE_URL:-}
present=() missing=()
for tool in "${tools[@]}"; do
  if have "$tool"; then present+=("$tool"); else missing+=("$tool"); fi
done
if [ "${CI:-}" = true ] && { [ -z "$postgres" ] || [ ${#missing[@]} -gt 0 ]; }; then
  echo "CI=true, where nothing may be skipped, and these cannot run:"
  [ -n "$postgres" ] || echo "  - the PostgreSQL half: TEST_DATABASE_URL is not set"
  for tool in "${missing[@]}"; do echo "  - $(what "$tool")"; done
  exit 1
fi

# The caller's arguments: cargo's, then (after `--`) the test binaries'.
cargo_args=() test_args=()
seen_separator=false
for arg in "$@"; do
  if ! $seen_separator && [ "$arg" = "--" ]; then seen_separator=true
  elif $seen_separator; then test_args+=("$arg")
  else cargo_args+=("$arg"); fi
done
suites=(-p persistence -p e2e --lib --tests)
present_filters=()
for tool in "${present[@]}"; do read -ra f <<< "$(filters "$tool")"; present_filters+=("${f[@]}"); done
missing_skips=()
for tool in "${missing[@]}"; do
  read -ra f <<< "$(filters "$tool")"
  for filter in "${f[@]}"; do missing_skips+=(--skip "$filter"); done
done

TEST_DATABASE_URL='' cargo test --workspace "${cargo_args[@]}" -- "${test_args[@]}"

if [ ${#present_filters[@]} -gt 0 ]; then
  echo
  echo "==> the tests that need ${present[*]}, on SQLite"
  TEST_DATABASE_URL='' cargo test "${suites[@]}" "${cargo_args[@]}" -- --ignored \
    "${present_filters[@]}" "${postgres_too[@]}" "${test_args[@]}"
fi

if [ -n "$postgres" ]; then
  echo
  echo "==> the persistence and end-to-end tests again, on PostgreSQL (${postgres}), with those only it can serve"
  TEST_DATABASE_URL=$postgres cargo test "${suites[@]}" "${cargo_args[@]}" -- --include-ignored \
    "${missing_skips[@]}" "${test_args[@]}"
fi

# What did not run: the ignored tests of each missing tool, and without PostgreSQL every other
# ignored test the tool run left out.
listed() { cargo test -q "${suites[@]}" "${cargo_args[@]}" -- --ignored --list "$@" 2> /dev/null | sed -n 's/: test$//p' | sort -u; }
notes=()
for tool in "${missing[@]}"; do
  read -ra f <<< "$(filters "$tool")"
  mapfile -t left < <(listed "${f[@]}")
  notes+=("$(what "$tool")
    not run (${#left[@]}): ${left[*]}")
done
if [ -z "$postgres" ]; then
  ran=$(if [ ${#present_filters[@]} -gt 0 ]; then listed "${present_filters[@]}" "${postgres_too[@]}"; fi)
  mapfile -t left < <(comm -23 <(listed "${missing_skips[@]}") <(printf '%s\n' "$ran" | sed '/^$/d' | sort -u))
  notes+=("the PostgreSQL half (every persistence and end-to-end test again on PostgreSQL, and those
    only it can serve: several instances on one database, outages): point TEST_DATABASE_URL at a
    server where the tests may create and drop databases, for example
        TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres ./test.sh
    not run (${#left[@]}): ${left[*]}")
fi
if [ ${#notes[@]} -gt 0 ]; then
  echo
  echo "NOTE: every test that ran passed; skipped, for want of what they need:"
  for note in "${notes[@]}"; do
    echo "  - $note"
  done
fi
