#!/usr/bin/env python3
"""Notification delivery figures for the release binary with the file mail transport.

Usage: bench/notifications.py [COUNT]   (default 10000; builds nothing: run after
`cargo build --release -p app`)

1. Latency: 200 notifications submitted one at a time; the median and p99 of sent_at minus
   created_at, as the service recorded them.
2. Drain rate: COUNT notifications accepted with the worker off, then the service restarted
   with it on; the rate at which the outbox fills with .eml files.
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "app")
WORKERS = int(os.environ.get("NOTIFICATION_WORKERS", "16"))
ADMIN = {"email": "bench-admin@example.com", "password": "bench-admin-password"}


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
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def start(data, workers):
    port = free_port()
    env = dict(os.environ, RUST_LOG="warn", ADMIN_EMAIL=ADMIN["email"], ADMIN_PASSWORD=ADMIN["password"],
               NOTIFICATION_WORKERS=str(workers))
    process = subprocess.Popen([BINARY, "--bind", f"127.0.0.1:{port}", "--data-dir", data], env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/readyz", timeout=1)
            return process, base
        except OSError:
            time.sleep(0.1)
    sys.exit("the service did not start")


def stop(process):
    process.terminate()
    process.wait(timeout=60)


def when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def latency(data):
    process, base = start(data, workers=WORKERS)
    try:
        token = call("POST", base + "/auth/tokens", ADMIN)["access_token"]
        ids = []
        for n in range(200):
            body = {"email": "friend@example.com", "subject": f"latency {n}", "body": "hello"}
            ids.append(call("POST", base + "/notifications", body, token)["id"])
            time.sleep(0.005)
        delays = []
        for nid in ids:
            while True:
                n = call("GET", f"{base}/notifications/{nid}", token=token)
                if n["status"] == "sent":
                    delays.append((when(n["sent_at"]) - when(n["created_at"])).total_seconds() * 1000)
                    break
                time.sleep(0.01)
        delays.sort()
        return statistics.median(delays), delays[int(len(delays) * 0.99) - 1]
    finally:
        stop(process)


def drain(data, count):
    process, base = start(data, workers=0)
    token = call("POST", base + "/auth/tokens", ADMIN)["access_token"]
    for n in range(count):
        call("POST", base + "/notifications", {"email": "friend@example.com", "subject": f"drain {n}", "body": "hello"}, token)
    stop(process)
    outbox = os.path.join(data, "outbox")
    already = len(os.listdir(outbox)) if os.path.isdir(outbox) else 0
    process, base = start(data, workers=WORKERS)
    started = time.monotonic()
    try:
        while True:
            done = len([f for f in os.listdir(outbox) if f.endswith(".eml")]) - already
            if done >= count:
                return count / (time.monotonic() - started)
            time.sleep(0.01)
    finally:
        stop(process)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    data = tempfile.mkdtemp()
    try:
        p50, p99 = latency(os.path.join(data, "latency"))
        print(f"202 to sent: median {p50:.1f} ms, p99 {p99:.1f} ms (200 notifications, file transport)")
        rate = drain(os.path.join(data, "drain"), count)
        print(f"drain: {count} queued notifications at {rate:.0f}/s into the file transport ({WORKERS} workers)")
    finally:
        shutil.rmtree(data)


if __name__ == "__main__":
    main()
