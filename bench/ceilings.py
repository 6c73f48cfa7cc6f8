"""PostgreSQL's own ceilings beside this service on the same server (scenario `pg_ceilings`,
with --postgres): pgbench's select-only run (`-S`, prepared statements) against get_user, and a
pgbench script of one conditional one-row update on 1,000 accounts chosen at random against
withdrawals of 1 from 1,000 accounts chosen at random. Same client count (--connections), same
duration, rounds interleaved; each pgbench run has a database of its own."""
import concurrent.futures
import os
import re
import subprocess
import tempfile
import time

ACCOUNTS = 1000
UPDATE = """\\set id random(1, {accounts})
UPDATE bench_accounts SET balance = balance - 1 WHERE id = :id AND balance >= 1;
"""


def pgbench(server_url, args, duration, clients):
    out = subprocess.run(["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(duration),
                          "-M", "prepared", *args, server_url],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def database(server_url, name):
    psql = ["psql", server_url, "-qAtc"]
    subprocess.run(psql + [f'CREATE DATABASE "{name}"'], check=True)
    url = server_url.rsplit("/", 1)[0] + "/" + name
    return url, lambda: subprocess.run(psql + [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])


def seed_accounts(target, call, count, big):
    """`count` accounts of the admin's, each holding `big`, with consecutive ids."""
    token = target.env["TOKEN"]
    owner = next(u for u in call("GET", target.base + "/users?limit=100", token=token)["items"]
                 if "bench-admin" in u["email"])

    def create(_):
        account = call("POST", target.base + "/accounts", {"owner_id": owner["id"]}, token=token)
        call("POST", f"{target.base}/accounts/{account['id']}/deposits", {"amount": big}, token=token)
        return account["id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = sorted(pool.map(create, range(count)))
    assert ids[-1] - ids[0] == count - 1, "the accounts' ids are not consecutive"
    target.env.update({"FIRST_ACCOUNT": str(ids[0]), "LAST_ACCOUNT": str(ids[-1])})


def measure(ours_pg, server_url, call, wrk, big, rounds, duration, connections):
    """Rounds of: pgbench -S, get_user on ours-pg, the pgbench update, withdraw_many on
    ours-pg. Returns result rows for bench.py's JSON."""
    select_url, drop_select = database(server_url, f"pgbench_select_{os.getpid()}")
    update_url, drop_update = database(server_url, f"pgbench_update_{os.getpid()}")
    results = []
    try:
        subprocess.run(["pgbench", "-i", "-q", "-s", "10", select_url], check=True,
                       capture_output=True)
        subprocess.run(["psql", update_url, "-qAtc",
                        "CREATE TABLE bench_accounts (id int PRIMARY KEY, balance bigint NOT NULL); "
                        f"INSERT INTO bench_accounts SELECT i, {big} FROM generate_series(1, {ACCOUNTS}) i"],
                       check=True)
        seed_accounts(ours_pg, call, ACCOUNTS, big)
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
            script.write(UPDATE.format(accounts=ACCOUNTS))
        for round_ in range(1, rounds + 1):
            select_tps = pgbench(select_url, ["-S"], duration, connections)
            reads = wrk(ours_pg, "get_user.lua", duration, connections)
            update_tps = pgbench(update_url, ["-f", script.name], duration, connections)
            writes = wrk(ours_pg, "withdraw_many.lua", duration, connections)
            for scenario, ceiling, ours in (("pg_reads", select_tps, reads),
                                            ("pg_withdraw_many", update_tps, writes)):
                row = {"scenario": scenario, "target": ours_pg.name, "round": round_,
                       "pgbench_tps": ceiling, "ours_rps": ours["rps"], "p99_ms": ours["p99_ms"],
                       "non2xx": ours["non2xx"], "ratio": ours["rps"] / ceiling}
                results.append(row)
                print(f"{scenario:16} round {round_}: pgbench {ceiling:,.0f} tps, {ours_pg.name} "
                      f"{ours['rps']:,.0f} req/s (p99 {ours['p99_ms']:.2f} ms, non-2xx {ours['non2xx']}): "
                      f"{row['ratio']:.0%} of pgbench", flush=True)
        os.unlink(script.name)
    finally:
        drop_select()
        drop_update()
    return results
