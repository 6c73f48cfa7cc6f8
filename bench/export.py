#!/usr/bin/env python3
"""Export and download figures, this service (release build) next to the FastAPI peer.

Usage: bench/export.py [--peer] [--sizes 100000,1000000] [--download-mib 1024]

For each size: a fresh service, that many users inserted straight into its SQLite database,
then GET /exports/users.csv read to the end; prints rows/s and the server's peak resident
memory (VmHWM from /proc, the largest over the service's processes). Then a file of
--download-mib MiB is uploaded and downloaded whole; prints the download throughput.
"""
import argparse
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "app")
PEER = os.path.join(ROOT, "..", "shared", "peers", "fastapi", "run.sh")
ADMIN = {"email": "bench-admin@example.com", "password": "bench-admin-password"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base):
    for _ in range(600):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{base} did not start")


def token(base):
    request = urllib.request.Request(base + "/auth/tokens", json.dumps(ADMIN).encode(),
                                     {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))["access_token"]


def start_ours(data):
    port = free_port()
    env = dict(os.environ, RUST_LOG="warn", ADMIN_EMAIL=ADMIN["email"], ADMIN_PASSWORD=ADMIN["password"],
               MAX_FILE_BYTES=str(8 << 30))
    process = subprocess.Popen([BINARY, "--bind", f"127.0.0.1:{port}", "--data-dir", data], env=env,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base)
    return process, base, os.path.join(data, "service.db")


def start_peer(data):
    port = free_port()
    env = dict(os.environ, PEER_DATA=data, ADMIN_EMAIL=ADMIN["email"], ADMIN_PASSWORD=ADMIN["password"])
    process = subprocess.Popen([PEER, str(port), "2"], env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base)
    return process, base, os.path.join(data, "peer.db")


def stop(process):
    os.killpg(process.pid, 15)
    process.wait(timeout=60)


def tree(pid):
    """pid and all its descendants."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as f:
                queue.extend(int(child) for child in f.read().split())
        except OSError:
            pass
    return pids


def peak_rss_mib(pid):
    peaks = []
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return max(peaks, default=0.0)


def insert_users(db, count):
    connection = sqlite3.connect(db, timeout=60)
    columns = [row[1] for row in connection.execute("PRAGMA table_info(users)")]
    values = {
        "name": "'User, ' || i", "email": "'u' || i || '@example.com'", "email_key": "'u' || i || '@example.com'",
        "password_hash": "'x'", "bio": "NULL", "is_admin": "0",
        "created_at": "'2026-01-01T00:00:00+00:00'", "updated_at": "'2026-01-01T00:00:00+00:00'",
    }
    names = [c for c in columns if c in values]
    connection.execute(
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) "
        f"INSERT INTO users ({', '.join(names)}) SELECT {', '.join(values[c] for c in names)} FROM n")
    connection.commit()
    connection.close()


def export(base, bearer):
    request = urllib.request.Request(base + "/exports/users.csv", headers={"Authorization": "Bearer " + bearer})
    started = time.monotonic()
    lines = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines - 1, time.monotonic() - started


def download(base, bearer, mib):
    name = "big.bin"
    block = os.urandom(1 << 20)

    def body():
        for _ in range(mib):
            yield block

    request = urllib.request.Request(base + f"/files/{name}", data=body(), method="PUT",
                                     headers={"Authorization": "Bearer " + bearer,
                                              "Content-Type": "application/octet-stream",
                                              "Transfer-Encoding": "chunked"})
    urllib.request.urlopen(request, timeout=600).read()
    result = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
                             "-H", "Authorization: Bearer " + bearer, base + f"/files/{name}"],
                            capture_output=True, text=True, check=True)
    size, seconds = result.stdout.split()
    return int(size) / (1 << 20) / float(seconds)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", action="store_true")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--download-mib", type=int, default=1024)
    args = parser.parse_args()
    targets = [("ours", start_ours)] + ([("peer", start_peer)] if args.peer else [])
    work = tempfile.mkdtemp()
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            for name, start in targets:
                process, base, db = start(os.path.join(work, f"{name}-{size}"))
                try:
                    insert_users(db, size)
                    rows, seconds = export(base, token(base))
                    print(f"export {name:4} {size:>8} users: {rows} rows in {seconds:.2f} s = "
                          f"{rows / seconds:,.0f} rows/s, peak RSS {peak_rss_mib(process.pid):.1f} MiB", flush=True)
                finally:
                    stop(process)
        if args.download_mib:
            process, base, _ = start_ours(os.path.join(work, "download"))
            try:
                rate = download(base, token(base), args.download_mib)
                print(f"download ours {args.download_mib} MiB file: {rate:,.0f} MiB/s, "
                      f"peak RSS {peak_rss_mib(process.pid):.1f} MiB", flush=True)
            finally:
                stop(process)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
