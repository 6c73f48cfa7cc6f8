//! A small SMTP server on loopback for the tests: real SMTP over TCP, enough of it for lettre
//! (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT). It records every message it accepts and
//! can refuse recipients, temporarily (451) or for good (550).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// How the server answers `RCPT TO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 250: accept.
    Accept,
    /// 451: try again later.
    RefuseTemporarily,
    /// 550: no such user.
    RefusePermanently,
    /// No answer to a recipient until the mode changes: a delivery held in flight.
    Stall,
}

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message (headers and body), dot-unstuffed, with CRLF line ends.
    pub data: String,
}

impl Received {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.data
            .split("\r\n\r\n")
            .next()?
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name).then(|| value.trim())
            })
    }

    /// The body: what follows the blank line after the headers.
    pub fn body(&self) -> &str {
        self.data
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body)
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    refusals: usize,
}

/// The running server.
pub struct SmtpServer {
    /// Where it listens.
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpServer {
    /// Starts a server on a free loopback port, answering in `mode`.
    pub async fn start(mode: Mode) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(Mutex::new(mode));
        let state = Arc::new(Mutex::new(State::default()));
        let (task_mode, task_state) = (mode.clone(), state.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (mode, state) = (task_mode.clone(), task_state.clone());
                tokio::spawn(async move {
                    let _ = session(stream, mode, state).await;
                });
            }
        });
        Ok(Self {
            addr,
            mode,
            state,
            task,
        })
    }

    /// The `MAIL_URL` that reaches this server.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Changes how recipients are answered from now on.
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .received
            .clone()
    }

    /// How many recipients were refused so far.
    pub fn refusals(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .refusals
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(
    stream: TcpStream,
    mode: Arc<Mutex<Mode>>,
    state: Arc<Mutex<State>>,
) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    writer.write_all(b"220 test.local ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250 test.local\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&line);
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            let mode = loop {
                match *mode.lock().unwrap_or_else(PoisonError::into_inner) {
                    Mode::Stall => {}
                    other => break other,
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            };
            match mode {
                Mode::Accept => {
                    to.push(address(&line));
                    b"250 OK\r\n"
                }
                Mode::RefuseTemporarily | Mode::RefusePermanently | Mode::Stall => {
                    state
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .refusals += 1;
                    if mode == Mode::RefuseTemporarily {
                        b"451 4.3.0 Mailbox busy, try again later\r\n"
                    } else {
                        b"550 5.1.1 No such user here\r\n"
                    }
                }
            }
        } else if upper == "DATA" {
            writer
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = String::new();
            while let Some(line) = lines.next_line().await? {
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push_str("\r\n");
            }
            let message = Received {
                from: from.clone(),
                to: to.clone(),
                data,
            };
            state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .received
                .push(message);
            b"250 OK queued\r\n"
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            writer.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        writer.write_all(reply).await?;
    }
    Ok(())
}

/// The address in `MAIL FROM:<a@b>` or `RCPT TO:<a@b>`.
fn address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or_else(String::new, |(address, _)| address.to_owned())
}
