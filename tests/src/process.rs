//! The service as a separate process: the real binary, started on a scratch database, stopped
//! gently (SIGTERM) or killed (SIGKILL).

use crate::{ADMIN_EMAIL, ADMIN_PASSWORD, Scratch};
use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The service binary: `SERVICE_BINARY` when set (e.g. the release build), else the debug one
/// built next to this test (`cargo test` builds it for `app`'s own tests).
pub fn binary() -> PathBuf {
    if let Some(binary) = std::env::var_os("SERVICE_BINARY") {
        return binary.into();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the target directory");
    let binary = target.join("app");
    assert!(
        binary.exists(),
        "build the service first: cargo build -p app ({})",
        binary.display()
    );
    binary
}

/// A service process, stopped (SIGTERM, then waited for) when dropped.
pub struct Instance {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    child: Child,
    killed: bool,
}

impl Instance {
    /// Starts the binary on `scratch`'s data and database, with the test admin, a shared token
    /// key and `env` on top, on a free loopback port.
    pub fn spawn(scratch: &Scratch, env: &[(&str, String)]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary())
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", &scratch.db.url)
            .env("DATA_DIR", scratch.dir())
            .env("TOKEN_KEY", "one key for every instance of the test")
            .env("ADMIN_EMAIL", ADMIN_EMAIL)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the service starts");
        Self {
            base: format!("http://127.0.0.1:{port}"),
            child,
            killed: false,
        }
    }

    /// Waits until the service answers `/readyz` (at most a minute).
    pub async fn wait_ready(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = client.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "{} did not start", self.base);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process at once (SIGKILL): no draining, no flushing, as in a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.killed = true;
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.killed {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// A bearer token of the test admin from the service at `base`.
pub async fn admin_token(client: &reqwest::Client, base: &str) -> String {
    let login = serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let token: serde_json::Value = client
        .post(format!("{base}/auth/tokens"))
        .json(&login)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("a token")
        .json()
        .await
        .expect("a JSON body");
    token["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// Polls the notification at `url` until it is `sent`; panics once `deadline` passes.
pub async fn wait_until_sent(client: &reqwest::Client, url: &str, token: &str, deadline: Instant) {
    loop {
        let state: serde_json::Value = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("an answer")
            .json()
            .await
            .expect("a JSON body");
        if state["status"] == "sent" {
            return;
        }
        assert!(Instant::now() < deadline, "{url} not sent: {state}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
