#!/usr/bin/env python3
"""Seeds a service for a benchmark through its API and prints what the load scripts need.

Usage: seed.py BASE_URL  (ADMIN_EMAIL and ADMIN_PASSWORD in the environment)
Logs in as the admin, opens an account for the admin and deposits a large balance, then prints
`TOKEN=... ACCOUNT=...` lines for the shell. Works against this service and the FastAPI peer
(same contract).
"""
import json
import os
import sys
import urllib.request


def call(method, url, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def main():
    base = sys.argv[1].rstrip("/")
    credentials = {"email": os.environ["ADMIN_EMAIL"], "password": os.environ["ADMIN_PASSWORD"]}
    token = call("POST", base + "/auth/tokens", credentials)["access_token"]
    users = call("GET", base + "/users?limit=100", token=token)["items"]
    admin = next(u for u in users if u["email"].lower() == credentials["email"].lower())
    account = call("POST", base + "/accounts", {"owner_id": admin["id"]}, token=token)
    call("POST", f"{base}/accounts/{account['id']}/deposits", {"amount": 10**12}, token=token)
    print(f"TOKEN={token}")
    print(f"ACCOUNT={account['id']}")


if __name__ == "__main__":
    main()
