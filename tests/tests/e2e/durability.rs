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
    /// Of those, the ones sent while a write made since the previous response was not synced.
    unsynced: Vec<String>,
    /// Syncs of the WAL seen.
    wal_syncs: usize,
}

/// Reads an `strace -f -yy` trace: in the order events happened, WAL writes, WAL syncs, and
/// the HTTP responses written to TCP sockets.
///
/// The client sends one request at a time, so a request's own WAL writes all come after the
/// previous response. An acknowledgement is durable when every WAL write so far is covered by
/// a completed sync, or when a sync that completed before it covers a write made after the
/// previous response: the request's transaction was synced, and the unsynced bytes belong to
/// a later transaction (the notification worker's claim can land between a request's sync and
/// its response). A sync covers the writes made before it started, not those made while it ran.
fn acknowledgements(trace: &str) -> Acknowledgements {
    let mut seen = Acknowledgements::default();
    // Position (line number) of the latest WAL write, and of the latest one a sync covers.
    let mut written = None;
    let mut covered = None;
    // Position of the previous HTTP response of any status.
    let mut previous_response = None;
    // Per thread inside a WAL sync: the latest write it covers.
    let mut syncing = std::collections::HashMap::new();
    for (at, line) in trace.lines().enumerate() {
        let Some((thread, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        let syncs = call.starts_with("fsync(") || call.starts_with("fdatasync(");
        let on_wal = call.contains("-wal>");
        if syncs && on_wal {
            if call.contains("<unfinished") {
                syncing.insert(thread.to_owned(), written);
            } else if call.ends_with("= 0") {
                covered = covered.max(written);
                seen.wal_syncs += 1;
            }
        } else if call.starts_with("<... fsync resumed>")
            || call.starts_with("<... fdatasync resumed>")
        {
            if let Some(start) = syncing.remove(thread)
                && call.ends_with("= 0")
            {
                covered = covered.max(start);
                seen.wal_syncs += 1;
            }
        } else if on_wal && (call.starts_with("pwrite64(") || call.starts_with("write(")) {
            written = Some(at);
        } else if call.contains("<TCP:[") && call.contains("\"HTTP/1.1 ") {
            if call.contains("\"HTTP/1.1 201") || call.contains("\"HTTP/1.1 202") {
                seen.sent += 1;
                let all_synced = written <= covered;
                let own_synced = covered > previous_response;
                if !all_synced && !own_synced {
                    seen.unsynced.push(line.chars().take(120).collect());
                }
            }
            previous_response = Some(at);
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

#[tokio::test]
#[ignore = "needs strace (it traces the service's system calls): run by ./test.sh when strace is installed"]
async fn every_acknowledged_write_follows_an_fsync_of_the_wal() {
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
#[ignore = "needs strace (it traces the service's system calls): run by ./test.sh when strace is installed"]
async fn process_crash_only_acknowledges_writes_the_wal_has_not_synced() {
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

/// Trace lines as `strace -f -yy` writes them, reduced to what the reader looks at.
const WAL_WRITE: &str = "pwrite64(5</d/db.sqlite-wal>, \"\\0\"..., 24, 32) = 24";
const WAL_SYNC: &str = "fdatasync(5</d/db.sqlite-wal>) = 0";
const RESPONSE_201: &str = "writev(9<TCP:[1->2]>, [{iov_base=\"HTTP/1.1 201 Cre\"...}]) = 300";
const RESPONSE_200: &str = "writev(9<TCP:[1->2]>, [{iov_base=\"HTTP/1.1 200 OK\\r\"...}]) = 300";

fn trace_of(calls: &[(u32, &str)]) -> String {
    calls
        .iter()
        .map(|(thread, call)| format!("{thread} {call}\n"))
        .collect()
}

#[test]
fn an_acknowledgement_sent_before_its_writes_are_synced_is_caught() {
    let trace = trace_of(&[
        (1, RESPONSE_200),
        (2, WAL_WRITE),
        (1, RESPONSE_201),
        (2, WAL_SYNC),
    ]);
    assert_eq!(acknowledgements(&trace).unsynced.len(), 1);
    // A sync of the previous request's writes does not cover this one's.
    let trace = trace_of(&[
        (2, WAL_WRITE),
        (2, WAL_SYNC),
        (1, RESPONSE_201),
        (2, WAL_WRITE),
        (1, RESPONSE_201),
    ]);
    assert_eq!(acknowledgements(&trace).unsynced.len(), 1);
}

#[test]
fn a_write_made_while_a_sync_runs_is_not_covered_by_it() {
    let trace = trace_of(&[
        (1, RESPONSE_200),
        (2, WAL_WRITE),
        (2, "fdatasync(5</d/db.sqlite-wal> <unfinished ...>"),
        (3, WAL_WRITE),
        (2, "<... fdatasync resumed>) = 0"),
        (1, RESPONSE_201),
    ]);
    let seen = acknowledgements(&trace);
    assert_eq!(seen.wal_syncs, 1);
    // The first write was synced after the previous response: the request's own.
    assert!(seen.unsynced.is_empty());
    let trace = trace_of(&[
        (1, RESPONSE_200),
        (2, "fdatasync(5</d/db.sqlite-wal> <unfinished ...>"),
        (3, WAL_WRITE),
        (2, "<... fdatasync resumed>) = 0"),
        (1, RESPONSE_201),
    ]);
    assert_eq!(acknowledgements(&trace).unsynced.len(), 1);
}

#[test]
fn a_later_transaction_written_after_the_sync_does_not_count_against_an_acknowledgement() {
    let trace = trace_of(&[
        (1, RESPONSE_200),
        (2, WAL_WRITE),
        (2, WAL_SYNC),
        // The notification worker's claim, between the request's sync and its response.
        (2, WAL_WRITE),
        (1, RESPONSE_201),
        (2, WAL_SYNC),
    ]);
    let seen = acknowledgements(&trace);
    assert_eq!((seen.sent, seen.unsynced.len(), seen.wal_syncs), (1, 0, 2));
}
