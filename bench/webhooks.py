#!/usr/bin/env python3
"""What webhooks cost a write, and how fast their deliveries follow, for the release binary.

Usage: bench/webhooks.py [SECONDS]   (default 10; builds nothing: run after
`cargo build --release -p app`; needs wrk)

1. Withdrawals of 1 on one account (wrk, 64 connections, SECONDS each), alternating two rounds
   with no webhook endpoint and two with one subscribed to `account.transaction.booked`: the
   outbox row is written in each withdrawal's transaction, so the difference is its cost.
2. For the rounds with an endpoint: how many deliveries the receiver (a Python server on
   loopback, answering 204) got, how long after the last withdrawal the last one arrived, and
   the median and p99 of arrival minus the event's `timestamp`.

With WEBHOOK_WORKERS=0 nothing is delivered: the rounds then measure the outbox writes alone,
without the deliveries competing for the two cores and the database's one writer.
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("SERVICE_BINARY", os.path.join(ROOT, "target", "release", "app"))
ADMIN = {"email": "bench-admin@example.com", "password": "bench-admin-password"}
arrivals: list[tuple[float, float]] = []


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        sent = datetime.fromisoformat(json.loads(body)["timestamp"].replace("Z", "+00:00"))
        arrivals.append((time.time(), sent.timestamp()))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def free_port() -> int:
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


def start(data):
    port = free_port()
    env = dict(os.environ, RUST_LOG="warn", ADMIN_EMAIL=ADMIN["email"], ADMIN_PASSWORD=ADMIN["password"],
               WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    process = subprocess.Popen([BINARY, "--bind", f"127.0.0.1:{port}", "--data-dir", data], env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/readyz", timeout=1)
            return process, base
        except OSError:
            time.sleep(0.1)
    sys.exit("the service did not start")


def withdrawals(base, token, account, seconds):
    script = os.path.join(ROOT, "bench", "lua", "withdraw.lua")
    env = dict(os.environ, ACCOUNT=str(account), TOKEN=token)
    out = subprocess.run(["wrk", "-t1", "-c64", f"-d{seconds}s", "-s", script, base],
                         env=env, capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("Requests/sec:"))
    return float(line.split()[1])


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    data = tempfile.mkdtemp()
    rates = {"none": [], "one": []}
    try:
        for n, with_endpoint in enumerate([False, True, False, True]):
            process, base = start(os.path.join(data, str(n)))
            try:
                token = call("POST", base + "/auth/tokens", ADMIN)["access_token"]
                admin = call("GET", base + "/users", token=token)["items"][0]["id"]
                account = call("POST", base + "/accounts", {"owner_id": admin, "currency": "EUR"}, token)["id"]
                call("POST", f"{base}/accounts/{account}/deposits", {"amount": 10**12}, token)
                if with_endpoint:
                    call("POST", base + "/webhooks", {"url": hook, "events": ["account.transaction.booked"]}, token)
                    time.sleep(0.5)
                    arrivals.clear()
                rate = withdrawals(base, token, account, seconds)
                ended = time.time()
                rates["one" if with_endpoint else "none"].append(rate)
                if with_endpoint and os.environ.get("WEBHOOK_WORKERS") != "0":
                    expected = int(rate * seconds * 0.98)
                    deadline = time.time() + 120
                    while len(arrivals) < expected and time.time() < deadline:
                        time.sleep(0.05)
                    time.sleep(1)
                    lags = sorted((arrived - sent) * 1000 for arrived, sent in arrivals)
                    last = max(arrived for arrived, _ in arrivals) - ended
                    print(f"round {n}: {len(arrivals)} deliveries; the last {last:.2f} s after the last"
                          f" withdrawal; event to arrival median {statistics.median(lags):.1f} ms,"
                          f" p99 {lags[int(len(lags) * 0.99) - 1]:.1f} ms")
            finally:
                process.terminate()
                process.wait(timeout=60)
        none, one = statistics.mean(rates["none"]), statistics.mean(rates["one"])
        print(f"withdrawals/s: {none:.0f} without an endpoint, {one:.0f} with one subscribed"
              f" ({one / none:.2f}x); rounds {rates}")
    finally:
        shutil.rmtree(data)


if __name__ == "__main__":
    main()
