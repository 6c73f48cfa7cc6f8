//! A real S3 server for tests: `s3s-fs` (an S3 server over a directory) on a free loopback
//! port, with one empty bucket, killed when dropped. Tests that need it are `#[ignore]`d ("needs
//! s3s-fs"), and `./test.sh` runs them when it finds the server (`.ci/run`
//! installs it).
//!
//! This is test code: a server that does not start is a failed test, so it may panic.
#![allow(clippy::expect_used)]

use crate::files::S3Settings;
use std::{
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The access key the server takes.
pub const ACCESS_KEY: &str = "test-access-key";
/// The secret key the server takes.
pub const SECRET_KEY: &str = "test-secret-key";
/// The bucket every server has.
pub const BUCKET: &str = "service-files";
/// How to install the server, for the message of a test that cannot start it.
pub const INSTALL: &str = "cargo install s3s-fs --version 0.14.1 --features binary --locked";

/// The `s3s-fs` binary: `S3S_FS` when set, else the first on the `PATH`.
pub fn binary() -> Option<PathBuf> {
    if let Some(binary) = std::env::var_os("S3S_FS") {
        return Some(binary.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("s3s-fs"))
        .find(|candidate| candidate.is_file())
}

/// A running `s3s-fs` and the directory it serves.
pub struct TestS3 {
    dir: tempfile::TempDir,
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl TestS3 {
    /// A server with an empty bucket; panics when `s3s-fs` is not installed.
    pub fn start() -> Self {
        let binary = binary()
            .unwrap_or_else(|| panic!("s3s-fs is not installed (`{INSTALL}`, or S3S_FS=path)"));
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir(dir.path().join(BUCKET)).expect("the bucket's directory");
        let mut server = Self {
            dir,
            binary,
            port: 0,
            child: None,
        };
        server.run();
        server
    }

    /// Starts the server (again, after [`TestS3::kill`]) on the same directory, on its port when
    /// it had one, else on a free one.
    pub fn run(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.port == 0 {
                self.port = TcpListener::bind("127.0.0.1:0")
                    .and_then(|listener| listener.local_addr())
                    .expect("a free port")
                    .port();
            }
            let mut child = Command::new(&self.binary)
                .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(self.dir.path())
                .env("RUST_LOG", "error")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("s3s-fs starts");
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    // Another process may have taken the port since it was freed (ours then
                    // fails to bind and exits, perhaps only later on a loaded machine): only a
                    // child that holds the listening socket itself is the one answering.
                    if listens_on(child.id(), self.port) != Some(false)
                        && child.try_wait().ok().flatten().is_none()
                    {
                        self.child = Some(child);
                        return;
                    }
                    break;
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // It exited (the port was taken meanwhile, or is still held): elsewhere, then.
            let _ = child.kill();
            let _ = child.wait();
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server at once; what it stored stays, for [`TestS3::run`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (`true`: SIGSTOP) or resumes (`false`: SIGCONT) the server: stopped, it takes
    /// connections and never answers, as a store that hangs.
    pub fn freeze(&self, frozen: bool) {
        let child = self.child.as_ref().expect("a running server to freeze");
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let sent = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill {signal} {}", child.id());
        // The signal is acted on asynchronously: wait until the process says it is (or is no
        // longer) stopped, so that the test's next request meets a store that hangs.
        let deadline = Instant::now() + Duration::from_secs(5);
        while process_stopped(child.id()).is_some_and(|stopped| stopped != frozen) {
            assert!(Instant::now() < deadline, "s3s-fs never took {signal}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Settings for the bucket, under `prefix`, with a store timeout of a second.
    pub fn settings(&self, prefix: &str) -> S3Settings {
        S3Settings {
            url: format!("s3://{BUCKET}/{prefix}"),
            endpoint: Some(self.endpoint()),
            region: Some("us-east-1".to_owned()),
            access_key_id: Some(ACCESS_KEY.to_owned()),
            secret_access_key: Some(SECRET_KEY.to_owned()),
            session_token: None,
            virtual_hosted_style: false,
            timeout: Duration::from_secs(1),
        }
    }

    /// The directory the bucket's objects are files in.
    pub fn bucket_dir(&self) -> PathBuf {
        self.dir.path().join(BUCKET)
    }

    /// How many multipart uploads the server holds unfinished (begun, neither completed nor
    /// aborted): s3s-fs keeps each as `.upload-<id>.json` at its root.
    pub fn unfinished_uploads(&self) -> usize {
        std::fs::read_dir(self.dir.path())
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|entry| {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        name.starts_with(".upload-") && name.ends_with(".json")
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Every object's key in the bucket, sorted (what the server keeps of unfinished uploads
    /// is not among them).
    pub fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        collect(&self.bucket_dir(), &self.bucket_dir(), &mut keys);
        keys.sort();
        keys
    }
}

fn collect(root: &Path, dir: &Path, keys: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, keys);
        } else if let Ok(key) = path.strip_prefix(root) {
            let key = key.to_string_lossy().into_owned();
            // s3s-fs keeps its own bookkeeping beside the objects, under dot-names.
            if !key.split('/').any(|part| part.starts_with('.')) {
                keys.push(key);
            }
        }
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        self.freeze(false);
        self.kill();
    }
}

/// Whether process `pid` is stopped (state `T` in `/proc/<pid>/stat`); `None` where there is
/// no `/proc` to say.
fn process_stopped(pid: u32) -> Option<bool> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses and may hold spaces.
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    Some(state == "T" || state == "t")
}

/// Whether process `pid` holds the socket listening on 127.0.0.1:`port`; `None` where `/proc`
/// cannot say.
fn listens_on(pid: u32, port: u16) -> Option<bool> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    // A listening socket is state 0A; its inode is the tenth column.
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            (columns.get(1) == Some(&local.as_str()) && columns.get(3) == Some(&"0A"))
                .then(|| columns.get(9).map(|inode| format!("socket:[{inode}]")))
                .flatten()
        })
        .collect();
    if inodes.is_empty() {
        return Some(false);
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| {
            inodes
                .iter()
                .any(|inode| target.to_string_lossy() == *inode)
        })
    }))
}
