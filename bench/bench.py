#!/usr/bin/env python3
"""The load benchmark. Run it through bench/run.sh, which builds the release binaries first.

Targets, each started fresh on loopback and measured alternately in the same run:
  ours     this service on SQLite (the embedded default)
  ours-pg  this service on a fresh PostgreSQL database (--postgres URL)
  peer     the FastAPI peer, ../shared/peers/fastapi, with 2 uvicorn workers (--peer)
  bare     poem answering GET /users/{id} from memory (bench/bare), the ceiling for get_user
  ours-before
           another build of this service, on SQLite (--before PATH): a change measured against
           the commit before it, side by side (and ours-before-pg, with --postgres)

Scenarios (wrk: 1 thread, 64 connections, --duration seconds each, --rounds times):
  get_user     GET /users/{random id}
  read_mix     a user, an account, a page of its transactions, in turn
  withdraw     POST /accounts/{id}/withdrawals, amount 1
  transfer     POST /transfers of 1, alternating directions
  create_user  POST /users (Argon2 every time), and meanwhile get_user at 8 connections, whose
               p99 says whether sign-ups starve reads
  failed_login POST /auth/tokens, a new unknown address each time: 401 after Argon2, charged to
               the login limits (this service only; the per-client limit is lifted for it)
  refused_login
               POST /auth/tokens for one address past its limit: 429s decided by the limits alone
               (this service only)
  page, page_gzip, page_br, page_zstd
               GET /users?limit=100 (an admin's page of 100 users) without compression and
               with each coding (this service only): req/s and the bytes of one response
  export       GET /exports/users.csv over 100,000 and 1,000,000 users inserted directly:
               rows/s and the server's peak RSS (VmHWM, /proc); then, for this service, the same
               export under each of gzip, br and zstd: bytes sent, rows/s and peak RSS
               and the JSON Lines export (GET /exports/users.jsonl), identity and zstd
  files        a --file-mib MiB file uploaded (streamed) and downloaded whole with curl, its bytes
               on disk and in a bucket of s3s-fs (when installed): MiB/s and the service's peak
               RSS during each (bench/files.py)
  pg_ceilings  with --postgres: pgbench -S against get_user on PostgreSQL, and a pgbench one-row
               conditional update on 1,000 random accounts against withdrawals from 1,000 random
               accounts (bench/ceilings.py); not in the default list
  followers    get_user (64 connections) alone, then while --followers idle followers of an
               account's stream (GET /accounts/{id}/events) are connected (this service only):
               req/s both ways and the service's RSS per idle follower

Prints one line per measurement and a summary of medians with ratios, and writes the results
as JSON (--json). --smoke runs everything briefly on small data, so that CI keeps the script
working.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import ceilings
import files
import followers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# bench/run.sh builds these; BENCH_PROFILE=debug takes the unoptimised ones (figures mean nothing).
PROFILE = os.environ.get("BENCH_PROFILE", "release")
BINARY = os.path.join(ROOT, "target", PROFILE, "app")
BARE = os.path.join(ROOT, "target", PROFILE, "bare")
PEER = os.path.join(ROOT, "..", "shared", "peers", "fastapi", "run.sh")
ADMIN = {"email": "bench-admin@example.com", "password": "bench-admin-password"}
BIG = 10**12


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def wait_ready(base, path="/readyz"):
    for _ in range(900):
        try:
            urllib.request.urlopen(base + path, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{base} did not come up")


class Target:
    """A running server."""

    def __init__(self, name, process, base, db=None, cleanup=None):
        self.name, self.process, self.base, self.db, self.cleanup = name, process, base, db, cleanup
        self.env = {}

    def stop(self):
        try:
            os.killpg(self.process.pid, 15)
            self.process.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, 9)
        if self.cleanup:
            self.cleanup()

    def pids(self):
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    queue.extend(int(c) for c in f.read().split())
            except OSError:
                pass
        return found

    def status_mib(self, field):
        """`field` (VmRSS, VmHWM) of every process of the target, in MiB."""
        values = []
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    values += [int(line.split()[1]) / 1024 for line in f if line.startswith(field + ":")]
            except OSError:
                pass
        return values

    def reset_peak_rss(self):
        """Starts VmHWM afresh (Linux: 5 > clear_refs), so that the next peak is the export's own
        and not start-up's Argon2 hashes (19 MiB each); returns the RSS at that moment."""
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass
        return sum(self.status_mib("VmRSS"))

    def peak_rss_mib(self):
        return max(self.status_mib("VmHWM"), default=0.0)


# mimalloc settings that hand freed memory back to the system at once, for the export's RSS.
LOW_MEMORY = {"MIMALLOC_PURGE_DELAY": "0", "MIMALLOC_ARENA_EAGER_COMMIT": "0"}


def start_ours(name, work, database_url=None, extra_env=None, binary=BINARY):
    port, metrics_port = free_port(), free_port()
    data = os.path.join(work, name)
    # One client makes every request: its limit lifted, failed_login measures the cost of a
    # failure, not 429s.
    env = dict(os.environ, RUST_LOG="warn", ADMIN_EMAIL=ADMIN["email"], ADMIN_PASSWORD=ADMIN["password"],
               METRICS_BIND=f"127.0.0.1:{metrics_port}", LOGIN_FAILURES_PER_CLIENT="0",
               **(extra_env or {}))
    if database_url:
        env["DATABASE_URL"] = database_url
    process = subprocess.Popen([binary, "--bind", f"127.0.0.1:{port}", "--data-dir", data], env=env,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base)
    target = Target(name, process, base, db=None if database_url else os.path.join(data, "service.db"))
    target.metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    return target


def commit_counters(target):
    """SQLite's group-commit counters (commits, writes) from the metrics listener, if any."""
    if not getattr(target, "metrics", None):
        return None
    with urllib.request.urlopen(target.metrics, timeout=10) as response:
        text = response.read().decode()
    values = dict(line.split(" ", 1) for line in text.splitlines()
                  if line.startswith(("db_group_commits_total ", "db_group_committed_writes_total ")))
    return int(values.get("db_group_commits_total", 0)), int(values.get("db_group_committed_writes_total", 0))


def fsyncs_during(target, run):
    """`run()`, with the fsync and fdatasync calls of the target's processes counted meanwhile
    (perf's syscall tracepoints); None where perf cannot count them."""
    if not shutil.which("perf"):
        return run(), None
    events = "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync"
    perf = subprocess.Popen(["perf", "stat", "-x,", "-e", events, "-p", ",".join(map(str, target.pids()))],
                            stderr=subprocess.PIPE, text=True)
    try:
        result = run()
    finally:
        perf.send_signal(2)
        _, err = perf.communicate(timeout=30)
    counts = [line.split(",")[0] for line in err.splitlines() if "sys_enter_f" in line]
    if not counts or not all(c.isdigit() for c in counts):
        return result, None
    return result, sum(int(c) for c in counts)


def start_ours_pg(work, server_url, target_name="ours-pg", binary=BINARY, extra_env=None):
    name = f"bench_{os.getpid()}_{time.time_ns()}"
    psql = ["psql", server_url, "-qAtc"]
    subprocess.run(psql + [f'CREATE DATABASE "{name}"'], check=True)
    url = server_url.rsplit("/", 1)[0] + "/" + name
    target = start_ours(target_name, work, database_url=url, binary=binary, extra_env=extra_env)
    target.db = url
    target.cleanup = lambda: subprocess.run(psql + [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])
    return target


def start_peer(work):
    port = free_port()
    data = os.path.join(work, "peer")
    env = dict(os.environ, PEER_DATA=data, ADMIN_EMAIL=ADMIN["email"], ADMIN_PASSWORD=ADMIN["password"])
    process = subprocess.Popen([PEER, str(port), "2"], env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base)
    return Target("peer", process, base, db=os.path.join(data, "peer.db"))


def start_bare():
    port = free_port()
    process = subprocess.Popen([BARE, f"127.0.0.1:{port}"], start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, "/users/1")
    target = Target("bare", process, base)
    target.env = {"TOKEN": "-", "FIRST_ID": "1", "LAST_ID": "10000"}
    return target


def seed(target, users):
    """Through the API: `users` users, and two admin accounts holding a large balance."""
    token = call("POST", target.base + "/auth/tokens", ADMIN)["access_token"]

    def signup(n):
        body = {"name": f"Bench User {n}", "email": f"user{n}@bench.example.com", "password": "bench password 1"}
        return call("POST", target.base + "/users", body)["id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(signup, range(users)))
    admin = next(u for u in call("GET", target.base + "/users?limit=100", token=token)["items"]
                 if u["email"].lower() == ADMIN["email"])
    accounts = []
    for _ in range(2):
        account = call("POST", target.base + "/accounts", {"owner_id": admin["id"]}, token=token)
        call("POST", f"{target.base}/accounts/{account['id']}/deposits", {"amount": BIG}, token=token)
        accounts.append(account["id"])
    target.env = {"TOKEN": token, "FIRST_ID": str(min(ids)), "LAST_ID": str(max(ids)),
                  "ACCOUNT": str(accounts[0]), "ACCOUNT2": str(accounts[1])}


def to_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def wrk(target, script, duration, connections=64, extra_env=None):
    # RUN_ID makes each run's sign-up addresses unique (wrk's Lua seeds its random numbers
    # from the clock, and two runs could draw the same prefix, turning sign-ups into 409s).
    env = dict(os.environ, **target.env, **(extra_env or {}), RUN_ID=str(time.time_ns()))
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
                          "-s", os.path.join(HERE, "lua", script), target.base],
                         env=env, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99,
            "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0}


def signup_storm(target, duration):
    """create_user at full load, and get_user at 8 connections alongside it."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        storm = pool.submit(wrk, target, "create_user.lua", duration)
        time.sleep(0.5)
        reads = pool.submit(wrk, target, "get_user.lua", max(1, duration - 1), 8)
        result = storm.result()
        result["get_user_p99_ms_during"] = reads.result()["p99_ms"]
    return result


def insert_users(target, count):
    """`count` users straight into the database, in one statement."""
    columns = {"name": "'User, ' || i", "email": "'u' || i || '@export.example.com'",
               "email_key": "'u' || i || '@export.example.com'", "password_hash": "'x'", "bio": "NULL",
               "is_admin": "false", "created_at": "'2026-01-01T00:00:00+00:00'",
               "updated_at": "'2026-01-01T00:00:00+00:00'"}
    if target.db.startswith("postgres"):
        names = list(columns)
        sql = (f"INSERT INTO users ({', '.join(names)}) SELECT {', '.join(columns[c] for c in names)} "
               f"FROM generate_series(1, {count}) AS i")
        subprocess.run(["psql", target.db, "-qAtc", sql], check=True)
        return
    connection = sqlite3.connect(target.db, timeout=60)
    present = [row[1] for row in connection.execute("PRAGMA table_info(users)")]
    names = [c for c in columns if c in present]
    values = [columns[c].replace("false", "0") for c in names]
    connection.execute(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) "
                       f"INSERT INTO users ({', '.join(names)}) SELECT {', '.join(values)} FROM n")
    connection.commit()
    connection.close()


def export(target):
    request = urllib.request.Request(target.base + "/exports/users.csv",
                                     headers={"Authorization": "Bearer " + target.env["TOKEN"]})
    started, lines = time.monotonic(), 0
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines - 1, time.monotonic() - started


def fetch_size(target, path, encoding):
    """Bytes and seconds of one GET of `path` as the admin, asking for `encoding` (curl does not
    decode it: the bytes are those sent)."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
                          "-H", "Authorization: Bearer " + target.env["TOKEN"],
                          "-H", "Accept-Encoding: " + (encoding or "identity"), target.base + path],
                         capture_output=True, text=True, check=True).stdout
    size, seconds = out.split()
    return int(size), float(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", action="store_true", help="also measure the FastAPI peer")
    parser.add_argument("--bare", action="store_true", help="also measure the bare poem server (get_user)")
    parser.add_argument("--postgres", metavar="URL", help="also measure this service on PostgreSQL")
    parser.add_argument("--before", metavar="PATH",
                        help="also measure the service binary at PATH (a build of an earlier commit) as ours-before")
    parser.add_argument("--process-crash-only", action="store_true",
                        help="also measure this service with --durability process-crash-only (ours-pco)")
    parser.add_argument("--scenarios", default="get_user,read_mix,withdraw,transfer,create_user,failed_login,refused_login,"
                        "page,page_gzip,page_br,page_zstd,export,files,followers")
    parser.add_argument("--file-mib", type=int, default=1024, help="the size of the files scenario's file")
    parser.add_argument("--followers", type=int, default=10000, help="idle followers of the followers scenario")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64, help="wrk's connections (1: latency at low load)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=10000, help="users seeded through the API")
    parser.add_argument("--export-sizes", default="100000,1000000")
    parser.add_argument("--json", default=os.path.join(HERE, "results.json"))
    parser.add_argument("--smoke", action="store_true", help="seconds, a few hundred requests")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.rounds, args.users, args.export_sizes = 1, 1, 20, "1000"
        args.file_mib, args.followers = 12, 50
    scenarios = args.scenarios.split(",")
    work = tempfile.mkdtemp(prefix="bench-")
    targets, results = [], []
    try:
        targets.append(start_ours("ours", work))
        if args.before:
            targets.append(start_ours("ours-before", work, binary=args.before))
        if args.process_crash_only:
            targets.append(start_ours("ours-pco", work, extra_env={"DURABILITY": "process-crash-only"}))
        if args.postgres:
            targets.append(start_ours_pg(work, args.postgres))
            if args.before:
                targets.append(start_ours_pg(work, args.postgres, "ours-before-pg", args.before))
        if args.peer:
            targets.append(start_peer(work))
        for target in targets:
            started = time.monotonic()
            seed(target, args.users)
            print(f"seeded {target.name}: {args.users} users through the API in {time.monotonic() - started:.0f} s",
                  flush=True)
        if args.bare:
            targets.append(start_bare())
        print(f"{'scenario':12} {'target':8} {'round':>5} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non2xx':>7}")
        for round_ in range(1, args.rounds + 1):
            for scenario in [s for s in scenarios if s not in ("export", "files", "followers", "pg_ceilings")]:
                for target in targets:
                    if target.name == "bare" and scenario != "get_user":
                        continue
                    if (scenario.startswith("page") or scenario.endswith("_login")) \
                            and not target.name.startswith("ours"):
                        continue
                    if scenario == "create_user":
                        result = signup_storm(target, args.duration)
                    elif scenario.startswith("page"):
                        encoding = scenario.partition("_")[2]
                        result = wrk(target, "page.lua", args.duration, extra_env={"ENCODING": encoding})
                        result["bytes"] = fetch_size(target, "/users?limit=100", encoding)[0]
                    else:
                        before = commit_counters(target)
                        result, fsyncs = fsyncs_during(
                            target, lambda: wrk(target, f"{scenario}.lua", args.duration, args.connections))
                        after = commit_counters(target)
                        requests = result["rps"] * args.duration
                        if fsyncs is not None and requests:
                            result["fsyncs_per_request"] = fsyncs / requests
                        if before and after and after[0] > before[0]:
                            result["mean_batch"] = (after[1] - before[1]) / (after[0] - before[0])
                    results.append({"scenario": scenario, "target": target.name, "round": round_, **result})
                    extra = (f"  get_user p99 during: {result['get_user_p99_ms_during']:.2f} ms"
                             if "get_user_p99_ms_during" in result else "")
                    if "mean_batch" in result:
                        extra += f"  mean batch {result['mean_batch']:.1f}"
                    if "fsyncs_per_request" in result:
                        extra += f"  fsyncs/request {result['fsyncs_per_request']:.3f}"
                    print(f"{scenario:12} {target.name:8} {round_:>5} {result['rps']:>10.0f} "
                          f"{result['p50_ms']:>8.2f} {result['p99_ms']:>8.2f} {result['non2xx']:>7}{extra}",
                          flush=True)
        if "followers" in scenarios:
            ours = targets[0]
            for round_ in range(1, args.rounds + 1):
                alone = wrk(ours, "get_user.lua", args.duration, args.connections)
                held, rss_before, rss_held = followers.hold(
                    ours, args.followers, lambda: wrk(ours, "get_user.lua", args.duration, args.connections))
                per_follower_kib = (rss_held - rss_before) * 1024 / args.followers
                result = {"scenario": "followers", "target": ours.name, "round": round_,
                          "followers": args.followers, "rps_alone": alone["rps"], "rps_with": held["rps"],
                          "p99_ms_with": held["p99_ms"], "ratio": held["rps"] / alone["rps"],
                          "rss_before_mib": rss_before, "rss_held_mib": rss_held,
                          "rss_per_follower_kib": per_follower_kib}
                results.append(result)
                print(f"followers {ours.name} round {round_}: get_user {alone['rps']:.0f} req/s alone, "
                      f"{held['rps']:.0f} with {args.followers} idle followers ({result['ratio']:.2f}x, "
                      f"p99 {held['p99_ms']:.2f} ms); RSS {rss_before:.1f} -> {rss_held:.1f} MiB, "
                      f"{per_follower_kib:.1f} KiB per follower", flush=True)
        if "pg_ceilings" in scenarios:
            ours_pg = next((t for t in targets if t.name == "ours-pg"), None)
            if ours_pg is None:
                sys.exit("pg_ceilings needs --postgres")
            results += ceilings.measure(ours_pg, args.postgres, call, wrk, BIG, args.rounds,
                                        args.duration, args.connections)
        if "export" in scenarios:
            for target in [t for t in targets if t.name != "bare"]:
                target.stop()
            # Each size on fresh data: the inserted users' addresses repeat from one size to the next.
            # The export's memory target is measured with mimalloc returning freed memory at once
            # (see BENCHMARKS.md): by default it keeps start-up's Argon2 buffers, ~50 MiB.
            exporters = [lambda size: start_ours(f"ours-export-{size}", work, extra_env=LOW_MEMORY)]
            if args.peer:
                exporters.append(lambda size: start_peer(os.path.join(work, f"peer-export-{size}")))
            if args.postgres:
                exporters.append(lambda size: start_ours_pg(work, args.postgres, f"ours-pg-export-{size}",
                                                            extra_env=LOW_MEMORY))
            for size in [int(s) for s in args.export_sizes.split(",")]:
                for start in exporters:
                    target = start(size)
                    try:
                        target.env["TOKEN"] = call("POST", target.base + "/auth/tokens", ADMIN)["access_token"]
                        insert_users(target, size)
                        rss_before = target.reset_peak_rss()
                        rows, seconds = export(target)
                        name = ("peer" if "peer" in target.db
                                else "ours-pg" if target.db.startswith("postgres") else "ours")
                        result = {"scenario": "export", "target": name, "users": size, "rows": rows,
                                  "rows_per_s": rows / seconds, "peak_rss_mib": target.peak_rss_mib(),
                                  "rss_before_mib": rss_before}
                        results.append(result)
                        print(f"export {name:4} {size:>8} users: {rows} rows, {rows / seconds:,.0f} rows/s, "
                              f"peak RSS {result['peak_rss_mib']:.1f} MiB (RSS before: {rss_before:.1f} MiB)",
                              flush=True)
                        if name == "ours":
                            codings = (("export_coded", "/exports/users.csv", "", ("identity", "gzip", "br", "zstd")),
                                       ("export_jsonl", "/exports/users.jsonl", "JSON Lines, ", ("identity", "zstd")))
                            for scenario, path, label, encodings in codings:
                                for encoding in encodings:
                                    target.reset_peak_rss()
                                    sent, seconds = fetch_size(target, path, encoding)
                                    coded = {"scenario": scenario, "target": name, "users": size,
                                             "encoding": encoding, "bytes": sent, "rows_per_s": rows / seconds,
                                             "peak_rss_mib": target.peak_rss_mib()}
                                    results.append(coded)
                                    print(f"export {name:4} {size:>8} users as {label}{encoding:8}: {sent:,} bytes, "
                                          f"{rows / seconds:,.0f} rows/s, peak RSS {coded['peak_rss_mib']:.1f} MiB",
                                          flush=True)
                    finally:
                        target.stop()
        if "files" in scenarios:
            results += files.measure(start_ours, call, ADMIN, work, args.file_mib, args.rounds)
        summarize(results)
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "duration_s": args.duration, "rounds": args.rounds,
                       "results": results}, f, indent=2)
        print(f"results written to {args.json}")
    finally:
        for target in targets:
            try:
                target.stop()
            except Exception:  # already stopped for the export
                pass
        shutil.rmtree(work, ignore_errors=True)


def summarize(results):
    medians = {}
    for r in results:
        if "rps" in r:
            medians.setdefault((r["scenario"], r["target"]), []).append(r)
    print("\nmedians:")
    for (scenario, target), rows in sorted(medians.items()):
        rps = statistics.median(r["rps"] for r in rows)
        p99 = statistics.median(r["p99_ms"] for r in rows)
        line = f"  {scenario:12} {target:8} {rps:>10.0f} req/s  p99 {p99:.2f} ms"
        if (scenario, "peer") in medians and target != "peer":
            peer = statistics.median(r["rps"] for r in medians[(scenario, "peer")])
            line += f"  {rps / peer:5.1f}x the peer" if peer > 0 else "  (the peer finished no request)"
        earlier = {"ours": "ours-before", "ours-pg": "ours-before-pg"}.get(target)
        if (scenario, earlier) in medians:
            before = statistics.median(r["rps"] for r in medians[(scenario, earlier)])
            line += f"  {rps / before:5.2f}x before" if before > 0 else ""
        if (scenario, "bare") in medians and target not in ("bare", "peer"):
            bare = statistics.median(r["rps"] for r in medians[(scenario, "bare")])
            line += f"  {100 * rps / bare:3.0f}% of bare poem"
        if "bytes" in rows[0]:
            line += f"  ({rows[0]['bytes']:,} bytes a response)"
        batches = [r["mean_batch"] for r in rows if "mean_batch" in r]
        if batches:
            line += f"  mean batch {statistics.median(batches):.1f}"
        fsyncs = [r["fsyncs_per_request"] for r in rows if "fsyncs_per_request" in r]
        if fsyncs:
            line += f"  fsyncs/request {statistics.median(fsyncs):.3f}"
        if "get_user_p99_ms_during" in rows[0]:
            line += f"  (get_user p99 meanwhile {statistics.median(r['get_user_p99_ms_during'] for r in rows):.2f} ms)"
        print(line)
    moved = {}
    for r in results:
        if r["scenario"].startswith("files_"):
            moved.setdefault((r["scenario"], r["store"]), []).append(r)
    for (scenario, store), rows in sorted(moved.items()):
        speed = statistics.median(r["mib_per_s"] for r in rows)
        peak = statistics.median(r["peak_rss_mib"] for r in rows)
        line = f"  {scenario:14} {store:6} {speed:>8,.0f} MiB/s  peak RSS {peak:.1f} MiB"
        if store != "disk" and (scenario, "disk") in moved:
            disk = statistics.median(r["mib_per_s"] for r in moved[(scenario, "disk")])
            line += f"  {speed / disk:.2f}x the disk's speed"
        print(line)


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    return {"cpus": os.cpu_count(), "cpu": cpu, "kernel": os.uname().release}


if __name__ == "__main__":
    main()
