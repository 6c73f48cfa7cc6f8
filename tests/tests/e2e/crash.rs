//! Crash safety: a mixed write load against the service binary, a SIGKILL in the middle of it,
//! a restart on the same data, and then every acknowledged write must be there: users,
//! deposits, withdrawals, transfers, whole files, and every accepted notification delivered.
//! Runs on SQLite, and on PostgreSQL in the suite's PostgreSQL half.

use e2e::{
    PASSWORD, TestStorage, all_items,
    process::{Instance, admin_token, wait_until_sent},
    sha256_hex,
    smtp::{Mode, SmtpServer},
};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// Concurrent clients of the load.
const CLIENTS: usize = 16;
/// Accounts the money moves between.
const ACCOUNTS: usize = 4;
/// Deliveries at once: at most this many can be sent but not yet marked sent when the process
/// dies, and be sent again (with the same `Message-ID`) after the restart.
const DELIVERY_WORKERS: usize = 4;

/// Load until at least this many of every kind of write are acknowledged (or time is up).
const EACH_KIND: usize = 10;

/// What the service acknowledged with a 2xx before it was killed.
#[derive(Default, Debug)]
struct Acked {
    users: Vec<i64>,
    /// (account, transaction id).
    deposits: Vec<(i64, i64)>,
    /// (account, transaction id).
    withdrawals: Vec<(i64, i64)>,
    /// (from, to, amount): each transfer has an amount of its own, to be found in both ledgers.
    transfers: Vec<(i64, i64, i64)>,
    files: Vec<String>,
    notifications: Vec<String>,
}

impl Acked {
    /// How many of each of the six kinds of write, by name.
    fn by_kind(&self) -> [(&'static str, usize); 6] {
        [
            ("users", self.users.len()),
            ("deposits", self.deposits.len()),
            ("withdrawals", self.withdrawals.len()),
            ("transfers", self.transfers.len()),
            ("files", self.files.len()),
            ("notifications", self.notifications.len()),
        ]
    }

    fn total(&self) -> usize {
        self.by_kind().iter().map(|(_, n)| n).sum()
    }

    /// How many of the kind with the fewest.
    fn fewest(&self) -> usize {
        self.by_kind().iter().map(|(_, n)| *n).min().unwrap_or(0)
    }
}

struct Load {
    client: reqwest::Client,
    base: String,
    token: String,
    accounts: Vec<i64>,
    stop: AtomicBool,
    in_flight: AtomicUsize,
    acked: Mutex<Acked>,
}

/// The bytes of the file called `name`: always the same for one name, so a stored file can
/// be checked whole even when its upload was never acknowledged.
fn content(name: &str) -> Vec<u8> {
    name.as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(48 * 1024)
        .collect()
}

impl Load {
    /// One client: cycles through the six kinds of write until told to stop, recording each
    /// acknowledged one. A request cut off by the kill is simply not recorded.
    async fn run(self: Arc<Self>, client_no: usize) {
        let mut n = 0usize;
        while !self.stop.load(Ordering::SeqCst) {
            n += 1;
            let account = self.accounts[client_no % ACCOUNTS];
            let other = self.accounts[(client_no + 1) % ACCOUNTS];
            let tag = format!("c{client_no}-{n}");
            let request = match n % 6 {
                0 => self
                    .client
                    .post(format!("{}/users", self.base))
                    .json(&json!({"name": "Load", "email": format!("{tag}@example.com"), "password": PASSWORD})),
                1 => self
                    .client
                    .post(format!("{}/accounts/{account}/deposits", self.base))
                    .json(&json!({"amount": 100})),
                2 => self
                    .client
                    .post(format!("{}/accounts/{account}/withdrawals", self.base))
                    .json(&json!({"amount": 7})),
                3 => {
                    let amount = 1_000_000 + client_no as i64 * 100_000 + n as i64;
                    self.client
                        .post(format!("{}/transfers", self.base))
                        .json(&json!({"from_account_id": account, "to_account_id": other, "amount": amount}))
                }
                4 => self
                    .client
                    .put(format!("{}/files/{tag}.bin", self.base))
                    .header("content-type", "application/octet-stream")
                    .body(content(&format!("{tag}.bin"))),
                _ => self
                    .client
                    .post(format!("{}/notifications", self.base))
                    .json(&json!({"email": "friend@example.com", "subject": tag, "body": "crash test"})),
            };
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let answer = request.bearer_auth(&self.token).send().await;
            let answer = match answer {
                Ok(resp) if resp.status().is_success() => resp.json::<Value>().await.ok(),
                _ => None,
            };
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let Some(body) = answer else {
                // Refused (402) or cut off by the kill: nothing to find later.
                continue;
            };
            let mut acked = self.acked.lock().unwrap();
            match n % 6 {
                0 => acked.users.push(body["id"].as_i64().unwrap()),
                1 => acked.deposits.push((account, body["id"].as_i64().unwrap())),
                2 => acked
                    .withdrawals
                    .push((account, body["id"].as_i64().unwrap())),
                3 => acked
                    .transfers
                    .push((account, other, body["amount"].as_i64().unwrap())),
                4 => acked.files.push(body["name"].as_str().unwrap().to_owned()),
                _ => acked
                    .notifications
                    .push(format!("/notifications/{}", body["id"])),
            }
        }
    }
}

async fn get(client: &reqwest::Client, url: String, token: &str) -> reqwest::Response {
    client.get(url).bearer_auth(token).send().await.unwrap()
}

#[tokio::test]
async fn every_acknowledged_write_survives_a_sigkill_under_load() {
    let storage = TestStorage::new().await;
    let smtp = SmtpServer::start(Mode::Accept).await.unwrap();
    let env = [
        ("MAIL_URL", smtp.url()),
        ("NOTIFICATION_POLL_MS", "100".to_owned()),
        ("NOTIFICATION_LEASE_SECONDS", "2".to_owned()),
        ("HASH_CONCURRENCY", "1".to_owned()),
        ("NOTIFICATION_WORKERS", DELIVERY_WORKERS.to_string()),
    ];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let first = Instance::spawn(&storage, &env);
    first.wait_ready(&client).await;
    let token = admin_token(&client, &first.base).await;
    let me: Value = get(&client, format!("{}/users?limit=1", first.base), &token)
        .await
        .json()
        .await
        .unwrap();
    let admin_id = me["items"][0]["id"].as_i64().unwrap();
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        let account: Value = client
            .post(format!("{}/accounts", first.base))
            .bearer_auth(&token)
            .json(&json!({"owner_id": admin_id}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = account["id"].as_i64().unwrap();
        let seeded = client
            .post(format!("{}/accounts/{id}/deposits", first.base))
            .bearer_auth(&token)
            .json(&json!({"amount": 1_000_000_000_000_i64}))
            .send()
            .await
            .unwrap();
        assert_eq!(seeded.status(), 201);
        accounts.push(id);
    }

    let load = Arc::new(Load {
        client: client.clone(),
        base: first.base.clone(),
        token: token.clone(),
        accounts: accounts.clone(),
        stop: AtomicBool::new(false),
        in_flight: AtomicUsize::new(0),
        acked: Mutex::new(Acked::default()),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(load.clone().run(n)))
        .collect();
    // Load until a good number of every kind of write is acknowledged (or 20 s pass).
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let enough = {
            let acked = load.acked.lock().unwrap();
            acked.total() >= 400 && acked.fewest() >= EACH_KIND
        };
        if enough {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let in_flight = load.in_flight.load(Ordering::SeqCst);
    first.kill();
    load.stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let acked = std::mem::take(&mut *load.acked.lock().unwrap());
    let counts: Vec<String> = acked
        .by_kind()
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    eprintln!(
        "killed with {in_flight} requests in flight after {} acknowledged writes: {}",
        acked.total(),
        counts.join(", ")
    );
    // A kind never acknowledged is a kind whose survival this test would not prove.
    let unproven: Vec<&str> = acked
        .by_kind()
        .iter()
        .filter(|(_, n)| *n == 0)
        .map(|(kind, _)| *kind)
        .collect();
    assert!(
        unproven.is_empty(),
        "no {} acknowledged before the kill, so nothing shows they survive it ({})",
        unproven.join(", no "),
        counts.join(", ")
    );

    let second = Instance::spawn(&storage, &env);
    second.wait_ready(&client).await;
    let base = second.base.clone();
    let token = admin_token(&client, &base).await;
    // Every acknowledged write not found after the restart, named.
    let mut missing: Vec<String> = Vec::new();

    for id in &acked.users {
        let status = get(&client, format!("{base}/users/{id}"), &token)
            .await
            .status();
        if status != 200 {
            missing.push(format!("user {id} ({status})"));
        }
    }
    for (kind, movements) in [
        ("deposit", &acked.deposits),
        ("withdrawal", &acked.withdrawals),
    ] {
        for (account, tid) in movements {
            let url = format!("{base}/accounts/{account}/transactions/{tid}");
            let resp = get(&client, url, &token).await;
            let status = resp.status();
            if status != 200 {
                missing.push(format!("{kind} {tid} of account {account} ({status})"));
                continue;
            }
            let row: Value = resp.json().await.unwrap();
            if row["kind"] != kind {
                missing.push(format!(
                    "{kind} {tid} of account {account} (a {})",
                    row["kind"]
                ));
            }
        }
    }

    // Every balance equals its ledger, never went below zero, and every transfer is in both.
    let mut transfers_out = BTreeMap::<i64, HashSet<i64>>::new();
    let mut transfers_in = BTreeMap::<i64, HashSet<i64>>::new();
    for account in &accounts {
        let now: Value = get(&client, format!("{base}/accounts/{account}"), &token)
            .await
            .json()
            .await
            .unwrap();
        let ledger = all_items(
            &client,
            &base,
            &format!("/accounts/{account}/transactions"),
            &token,
        )
        .await;
        let mut sum = 0i64;
        for row in &ledger {
            let amount = row["amount"].as_i64().unwrap();
            assert!(row["balance_after"].as_i64().unwrap() >= 0, "{row}");
            match row["kind"].as_str().unwrap() {
                "deposit" => sum += amount,
                "transfer_in" => {
                    sum += amount;
                    transfers_in.entry(*account).or_default().insert(amount);
                }
                "withdrawal" => sum -= amount,
                "transfer_out" => {
                    sum -= amount;
                    transfers_out.entry(*account).or_default().insert(amount);
                }
                other => panic!("unknown kind {other}"),
            }
        }
        let balance = now["balance"].as_i64().unwrap();
        assert!(balance >= 0);
        assert_eq!(balance, sum, "account {account}: balance against ledger");
    }
    for (from, to, amount) in &acked.transfers {
        let out = transfers_out
            .get(from)
            .is_some_and(|out| out.contains(amount));
        let into = transfers_in
            .get(to)
            .is_some_and(|into| into.contains(amount));
        if !(out && into) {
            missing.push(format!(
                "transfer of {amount} from account {from} (in its ledger: {out}) to {to} (in \
                 its ledger: {into})"
            ));
        }
    }

    // Every acknowledged file is there, and no stored file is partial.
    let stored = all_items(&client, &base, "/files", &token).await;
    let names: BTreeSet<&str> = stored.iter().map(|f| f["name"].as_str().unwrap()).collect();
    for name in &acked.files {
        if !names.contains(name.as_str()) {
            missing.push(format!("file {name}"));
        }
    }
    for file in &stored {
        let name = file["name"].as_str().unwrap();
        let bytes = get(&client, format!("{base}/files/{name}"), &token)
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.as_ref(), content(name).as_slice(), "{name} is whole");
        assert_eq!(file["sha256"], sha256_hex(&bytes));
    }

    // Every accepted notification is there and is sent, and reaches the mail server once per
    // Message-ID.
    let deadline = Instant::now() + Duration::from_secs(60);
    for location in &acked.notifications {
        let url = format!("{base}{location}");
        let status = get(&client, url.clone(), &token).await.status();
        if status != 200 {
            missing.push(format!("notification {location} ({status})"));
            continue;
        }
        wait_until_sent(&client, &url, &token, deadline).await;
    }
    let received = smtp.received();
    let ids: Vec<&str> = received
        .iter()
        .filter_map(|m| m.header("Message-ID"))
        .collect();
    let distinct: HashSet<&str> = ids.iter().copied().collect();
    let accepted: HashSet<String> = acked
        .notifications
        .iter()
        .map(|l| l.trim_start_matches("/notifications/").to_owned())
        .collect();
    for id in &accepted {
        let tag = format!("<notification-{id}.");
        if !distinct.iter().any(|m| m.starts_with(&tag)) {
            missing.push(format!("notification {id} at the mail server"));
        }
    }
    eprintln!(
        "after restart: {} acknowledged writes checked, {} missing; {} messages received for {} \
         distinct notifications ({} repeated with the same Message-ID)",
        acked.total(),
        missing.len(),
        ids.len(),
        distinct.len(),
        ids.len() - distinct.len()
    );
    assert!(
        missing.is_empty(),
        "acknowledged before the SIGKILL, missing after the restart: {}",
        missing.join("; ")
    );
    assert!(
        ids.len() - distinct.len() <= DELIVERY_WORKERS,
        "only deliveries in flight at the kill may repeat"
    );
    let ours: HashSet<String> = accepted
        .iter()
        .map(|id| format!("<notification-{id}."))
        .collect();
    let unacknowledged = distinct
        .iter()
        .filter(|m| !ours.iter().any(|tag| m.starts_with(tag.as_str())))
        .count();
    // Accepted just before the kill but never acknowledged: sent, which is allowed (the client
    // could not know), and bounded by the requests in flight.
    assert!(
        unacknowledged <= in_flight,
        "{unacknowledged} unacknowledged sent"
    );
}
