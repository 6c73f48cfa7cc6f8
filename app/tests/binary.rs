//! The real binary: its `openapi` command and its reaction to SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_app");

#[test]
fn openapi_command_prints_the_committed_documents() {
    for (args, file) in [
        (&["openapi"][..], "openapi.yaml"),
        (
            &["openapi", "--openapi-version", "3.1"][..],
            "openapi-3.1.yaml",
        ),
    ] {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert!(output.status.success());
        let path = format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"));
        let committed = std::fs::read_to_string(path).unwrap();
        assert!(
            output.stdout == committed.as_bytes(),
            "`app {}` differs from {file}; regenerate with `cargo run -p app -- {} > {file}`",
            args.join(" "),
            args.join(" "),
        );
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until_healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ =
                stream.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the service did not become healthy");
}

#[test]
fn sigterm_stops_the_service_cleanly_with_data_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("DATA_DIR")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_healthy(port);
    assert!(
        dir.path().join("data/service.db").exists(),
        "database under ./data"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}
