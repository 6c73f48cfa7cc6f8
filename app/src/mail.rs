//! Mail transports for notifications, through lettre: `.eml` files in a directory (the
//! embedded default, so the service runs with no mail server) or SMTP (`MAIL_URL`).
//!
//! Every message of a notification has the same `Message-ID`, on every attempt, so a receiver
//! can tell a redelivery (after a worker died between sending and recording it) from a new
//! message. The file transport names the file after the notification and writes it atomically,
//! so a redelivery replaces the same file: exactly once.

use anyhow::Context;
use async_trait::async_trait;
use domain::notifications::{DeliveryError, Mailer, Notification};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

/// Where messages go.
enum Transport {
    /// One `.eml` file per notification in this directory.
    Files(PathBuf),
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Delivers notifications as e-mail through lettre.
pub struct LettreMailer {
    from: Mailbox,
    transport: Transport,
    /// The domain part of `Message-ID`s.
    host: String,
}

impl LettreMailer {
    /// A mailer sending from `from` through the SMTP server of `url` (`smtp://…` with
    /// `?tls=required` for STARTTLS, or `smtps://…`; credentials as `user:password@`), or, with
    /// no URL, writing files into `outbox`.
    pub fn new(url: Option<&str>, from: &str, outbox: PathBuf) -> anyhow::Result<Self> {
        let from: Mailbox = from.parse().context("MAIL_FROM is not an e-mail address")?;
        let transport = match url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("MAIL_URL is not an SMTP URL")?
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&outbox)
                    .with_context(|| format!("creating the outbox {}", outbox.display()))?;
                Transport::Files(outbox)
            }
        };
        let host = from.email.domain().to_owned();
        Ok(Self {
            from,
            transport,
            host,
        })
    }

    fn message(&self, notification: &Notification) -> Result<Message, DeliveryError> {
        let to: Mailbox = notification.email.as_str().parse().map_err(|err| {
            DeliveryError::permanent(format!("the recipient address cannot be used: {err}"))
        })?;
        Message::builder()
            .message_id(Some(format!(
                "<notification-{}.{}@{}>",
                notification.id,
                notification.created_at.timestamp_micros(),
                self.host
            )))
            .from(self.from.clone())
            .to(to)
            .subject(notification.subject.as_str())
            .header(ContentType::TEXT_PLAIN)
            .body(notification.body.as_str().to_owned())
            .map_err(|err| DeliveryError::permanent(format!("the message cannot be built: {err}")))
    }
}

#[async_trait]
impl Mailer for LettreMailer {
    async fn send(&self, notification: &Notification) -> Result<(), DeliveryError> {
        let message = self.message(notification)?;
        match &self.transport {
            Transport::Files(dir) => write_eml(dir, notification, &message.formatted()).await,
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|err| {
                if err.is_permanent() {
                    DeliveryError::permanent(err.to_string())
                } else {
                    DeliveryError::transient(err.to_string())
                }
            }),
        }
    }
}

/// Writes `notification-<id>.eml`: to a temporary name, synced, then renamed into place.
async fn write_eml(
    dir: &std::path::Path,
    notification: &Notification,
    bytes: &[u8],
) -> Result<(), DeliveryError> {
    let name = format!("notification-{:012}.eml", notification.id.get());
    let temporary = dir.join(format!(".{name}.tmp"));
    let io = |err: std::io::Error| DeliveryError::transient(format!("writing {name}: {err}"));
    let mut file = tokio::fs::File::create(&temporary).await.map_err(io)?;
    file.write_all(bytes).await.map_err(io)?;
    file.sync_all().await.map_err(io)?;
    drop(file);
    tokio::fs::rename(&temporary, dir.join(&name))
        .await
        .map_err(io)
}
