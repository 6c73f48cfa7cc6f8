//! The service as a separate process: the real binary, started on a test storage, stopped
//! gently (SIGTERM) or killed (SIGKILL).

use crate::{ADMIN_EMAIL, ADMIN_PASSWORD, TestStorage, wait_until};
use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
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
    exited: bool,
}

impl Instance {
    /// Starts the binary on `storage`'s data and database, with the test admin, a shared token
    /// key and `env` on top, on a free loopback port.
    pub fn spawn(storage: &TestStorage, env: &[(&str, String)]) -> Self {
        Self::spawn_under(&[], storage, env)
    }

    /// [`Instance::spawn`], the binary run by the command `wrapper` (e.g. `strace` and its
    /// flags), which must pass signals on and exit with it.
    pub fn spawn_under(wrapper: &[String], storage: &TestStorage, env: &[(&str, String)]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary());
                command
            }
            None => Command::new(binary()),
        };
        let child = command
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", &storage.db.url)
            .env("DATA_DIR", storage.dir())
            .env("TOKEN_KEY", "one key for every instance of the test")
            .env("ADMIN_EMAIL", ADMIN_EMAIL)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .envs(storage.files_env())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the service starts");
        Self {
            base: format!("http://127.0.0.1:{port}"),
            child,
            exited: false,
        }
    }

    /// The process id of what was spawned (the wrapper, when there is one).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the service answers `/readyz` (at most a minute).
    pub async fn wait_ready(&self, client: &reqwest::Client) {
        let url = format!("{}/readyz", self.base);
        let deadline = Instant::now() + Duration::from_secs(60);
        wait_until(deadline, format!("{url} answers"), async || {
            match client.get(&url).send().await {
                Ok(ready) if ready.status().is_success() => Ok(()),
                Ok(ready) => Err(ready.status().to_string()),
                Err(err) => Err(err.to_string()),
            }
        })
        .await;
    }

    /// Stops the process gently (SIGTERM: it drains requests and deliveries in flight, then
    /// exits) and waits until it has exited. After this, nothing more comes from it.
    pub fn stop(mut self) -> ExitStatus {
        self.terminate().expect("the service exits")
    }

    /// Kills the process at once (SIGKILL): no draining, no flushing, as in a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.exited = true;
    }

    fn terminate(&mut self) -> std::io::Result<ExitStatus> {
        self.exited = true;
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.terminate();
        }
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
    wait_until(deadline, format!("{url} is sent"), async || {
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
            Ok(())
        } else {
            Err(state)
        }
    })
    .await;
}
