//! Durable acknowledgements, seen from the system calls: the binary runs under `strace`, makes
//! a series of writes over HTTP, and every 201 or 202 it sends must come after an `fsync` of
//! the SQLite WAL that followed the last bytes written to it. With `--durability
//! process-crash-only` the same check must find acknowledgements that no sync preceded: that
//! is what shows the check can fail.

use e2e::{
    ADMIN_EMAIL, TestStorage,
    process::{Instance, admin_token},
    user_in,
};
use serde_json::json;
use std::{path::Path, process::Command};

/// What the trace shows of the acknowledgements.
#[derive(Debug, Default)]
struct Acknowledgements {
    /// 201s and 202s sent.
    sent: usize,
    /// Of those, how many went out while bytes written to the WAL were not yet synced.
    unsynced: Vec<String>,
    /// Syncs of the WAL seen.
    wal_syncs: usize,
}

/// Reads an `strace -f -yy` trace: in the order events happened, WAL writes, completed WAL
/// syncs, and the HTTP responses written to TCP sockets.
fn acknowledgements(trace: &str) -> Acknowledgements {
    let mut seen = Acknowledgements::default();
    // Whether the WAL holds bytes no completed sync has covered yet.
    let mut dirty = false;
    // Threads inside a WAL sync that has not returned yet.
    let mut syncing = std::collections::HashSet::new();
    for line in trace.lines() {
        let Some((thread, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        let syncs = call.starts_with("fsync(") || call.starts_with("fdatasync(");
        let on_wal = call.contains("-wal>");
        if syncs && on_wal {
            if call.contains("<unfinished") {
                syncing.insert(thread.to_owned());
            } else if call.ends_with("= 0") {
                dirty = false;
                seen.wal_syncs += 1;
            }
        } else if call.starts_with("<... fsync resumed>")
            || call.starts_with("<... fdatasync resumed>")
        {
            if syncing.remove(thread) && call.ends_with("= 0") {
                dirty = false;
                seen.wal_syncs += 1;
            }
        } else if on_wal && (call.starts_with("pwrite64(") || call.starts_with("write(")) {
            dirty = true;
        } else if call.contains("<TCP:[")
            && (call.contains("\"HTTP/1.1 201") || call.contains("\"HTTP/1.1 202"))
        {
            seen.sent += 1;
            if dirty {
                seen.unsynced.push(line.chars().take(120).collect());
            }
        }
    }
    seen
}

/// Runs the binary under `strace` with `durability`, makes 16 writes that answer 201 or 202,
/// stops it, and reads the trace.
async fn traced_writes(durability: &str) -> Acknowledgements {
    let storage = TestStorage::sqlite();
    let trace = storage.dir().join("trace.txt");
    let strace = [
        "strace",
        "-f",
        "-qq",
        "-yy",
        "-e",
        "trace=pwrite64,write,writev,sendto,sendmsg,fsync,fdatasync",
        "-e",
        "signal=none",
        "-s",
        "16",
        "-o",
    ]
    .map(str::to_owned)
    .into_iter()
    .chain([trace.display().to_string()])
    .collect::<Vec<_>>();
    let instance =
        Instance::spawn_under(&strace, &storage, &[("DURABILITY", durability.to_owned())]);
    let client = reqwest::Client::new();
    instance.wait_ready(&client).await;
    let base = instance.base.clone();
    let admin = admin_token(&client, &base).await;

    let mut created = 0;
    let mut post = async |path: &str, token: &str, body: serde_json::Value| {
        let answer = client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("an answer");
        assert!(
            answer.status().is_success(),
            "POST {path}: {}",
            answer.status()
        );
        created += 1;
        answer
            .json::<serde_json::Value>()
            .await
            .expect("a JSON body")
    };
    post("/users", &admin, user_in("Traced", "traced@example.com")).await;
    let account = post("/accounts", &admin, json!({"owner_id": 1})).await;
    let other = post("/accounts", &admin, json!({"owner_id": 1})).await;
    let id = &account["id"];
    for _ in 0..10 {
        post(
            &format!("/accounts/{id}/deposits"),
            &admin,
            json!({"amount": 100}),
        )
        .await;
    }
    post(
        &format!("/accounts/{id}/withdrawals"),
        &admin,
        json!({"amount": 50}),
    )
    .await;
    let transfer = json!({"from_account_id": id, "to_account_id": other["id"], "amount": 25});
    post("/transfers", &admin, transfer).await;
    let note = json!({"email": ADMIN_EMAIL, "subject": "traced", "body": "a durable note"});
    post("/notifications", &admin, note).await;
    let upload = client
        .put(format!("{base}/files/traced.bin"))
        .bearer_auth(&admin)
        .body(vec![7u8; 4096])
        .send()
        .await
        .expect("an answer");
    assert_eq!(upload.status(), 201);
    assert_eq!(created, 16);
    stop_traced(instance);
    acknowledgements(&std::fs::read_to_string(&trace).expect("the trace"))
}

/// Stops the traced service: SIGTERM to the binary itself (strace, its parent, would only
/// detach), then waits for strace to exit with it, which ends the trace.
fn stop_traced(instance: Instance) {
    let children = format!("/proc/{0}/task/{0}/children", instance.pid());
    let service = std::fs::read_to_string(Path::new(&children)).unwrap_or_default();
    for pid in service.split_whitespace() {
        let _ = Command::new("kill").args(["-TERM", pid]).status();
    }
    instance.stop();
}

fn require_strace() {
    let found = Command::new("strace").arg("-V").output();
    assert!(
        found.is_ok_and(|out| out.status.success()),
        "these tests need strace (apt-get install strace)"
    );
}

#[tokio::test]
async fn every_acknowledged_write_follows_an_fsync_of_the_wal() {
    require_strace();
    let seen = traced_writes("full").await;
    eprintln!("durability full: {seen:?}");
    assert!(
        seen.sent >= 17,
        "only {} acknowledgements traced",
        seen.sent
    );
    assert!(
        seen.unsynced.is_empty(),
        "acknowledged before the WAL was synced: {:#?}",
        seen.unsynced
    );
}

#[tokio::test]
async fn process_crash_only_acknowledges_writes_the_wal_has_not_synced() {
    require_strace();
    let seen = traced_writes("process-crash-only").await;
    eprintln!("durability process-crash-only: {seen:?}");
    assert!(
        seen.sent >= 17,
        "only {} acknowledgements traced",
        seen.sent
    );
    assert!(
        seen.unsynced.len() >= 15,
        "the trace check found only {} unsynced acknowledgements",
        seen.unsynced.len()
    );
}
