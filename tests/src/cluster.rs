//! A PostgreSQL server of one test's own, to stop and start at will: a throwaway cluster made
//! with the server's own tools (`initdb`, `pg_ctl` from `pg_config --bindir`) in a temporary
//! directory, on a free loopback port. Other tests keep using the shared server meanwhile.
//! Stopped and deleted when dropped.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Command, Output},
};

/// A PostgreSQL cluster of this test alone.
pub struct Cluster {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    port: u16,
    /// Whether this test runs as root, whom PostgreSQL refuses: its tools then run as postgres.
    as_root: bool,
}

impl Cluster {
    /// Creates the cluster (trust authentication, user `postgres`) and starts it.
    pub fn start() -> Self {
        let bindir = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .expect("pg_config (PostgreSQL's server tools) is installed");
        let bindir = PathBuf::from(String::from_utf8_lossy(&bindir.stdout).trim());
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|id| String::from_utf8_lossy(&id.stdout).trim() == "0");
        let cluster = Self {
            dir,
            bindir,
            port,
            as_root,
        };
        if cluster.as_root {
            cluster.run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(cluster.dir.path()),
            );
        }
        cluster.tool(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        );
        cluster.start_again();
        cluster
    }

    /// Its `postgres` database's URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the stopped server and waits until it takes connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.tool(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server: `fast` (sessions ended, a clean shutdown) or `immediate` (as a
    /// crash: no checkpoint, recovery at the next start).
    pub fn stop(&self, mode: &str) {
        self.tool("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"]);
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// The server tool `name`, run as the postgres user when this test runs as root.
    fn command(&self, name: &str) -> Command {
        let program = self.bindir.join(name);
        if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn tool(&self, name: &str, args: &[&str]) -> Output {
        self.run(self.command(name).args(args))
    }

    fn run(&self, command: &mut Command) -> Output {
        let output = command
            .output()
            .unwrap_or_else(|err| panic!("{command:?} runs: {err}"));
        assert!(
            output.status.success(),
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}
