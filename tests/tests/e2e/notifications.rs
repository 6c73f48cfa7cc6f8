//! Notifications end to end: 202 now, delivery by the background worker through a real SMTP
//! listener (or into `.eml` files), retries and failure, and no loss across a restart.

use client::types::{self, NotificationStatus as Status};
use e2e::{
    Service, TestStorage,
    smtp::{Mode, SmtpServer},
    typed::id,
    wait_until,
};
use std::{
    num::NonZeroU64,
    time::{Duration, Instant},
};

/// Signs Ann up; her token.
async fn sender(service: &Service) -> String {
    service.signup("Ann", "ann@example.com").await.token
}

/// Submits a notification: 202 with `Location` naming its monitor. Its id.
async fn submit(service: &Service, token: &str, subject: &str) -> NonZeroU64 {
    let notification = types::NotificationIn {
        email: "friend@example.com".try_into().unwrap(),
        subject: subject.try_into().unwrap(),
        body: "Line one\nLine two".try_into().unwrap(),
    };
    let accepted = service
        .api(token)
        .notifications_create(&notification)
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let location = accepted.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/notifications/{}", accepted.id));
    assert_eq!(accepted.status, Status::Queued);
    assert_eq!(accepted.headers()["retry-after"], "1");
    id(accepted.id)
}

/// Polls the status monitor until the notification is `status`, or fails after 20 s.
async fn wait_for(
    service: &Service,
    token: &str,
    notification: NonZeroU64,
    status: Status,
) -> types::NotificationOut {
    let api = service.api(token);
    let deadline = Instant::now() + Duration::from_secs(20);
    let what = format!("notification {notification} is {status:?}");
    wait_until(deadline, what, async || {
        let current = api
            .notifications_get(notification, None)
            .await
            .unwrap()
            .into_inner();
        if current.status == status {
            Ok(current)
        } else {
            Err(format!("{current:?}"))
        }
    })
    .await
}

#[tokio::test]
async fn a_notification_is_delivered_through_smtp_with_recipient_subject_and_body() {
    let smtp = SmtpServer::start(Mode::Accept).await.unwrap();
    let url = smtp.url();
    let service = Service::start_with(|s| s.mail_url = Some(url)).await;
    let token = sender(&service).await;
    let notification = submit(&service, &token, "Hello from the service").await;
    let sent = wait_for(&service, &token, notification, Status::Sent).await;
    assert_eq!(sent.attempts, 1);
    assert!(sent.sent_at.is_some());
    assert_eq!(sent.last_error, None);
    let final_look = service
        .api(&token)
        .notifications_get(notification, None)
        .await
        .unwrap();
    assert!(
        final_look.headers().get("retry-after").is_none(),
        "a sent notification will not change: no Retry-After"
    );
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.to, ["friend@example.com"]);
    assert_eq!(mail.from, "noreply@example.com");
    assert_eq!(mail.header("Subject"), Some("Hello from the service"));
    assert_eq!(mail.header("To"), Some("friend@example.com"));
    assert!(
        mail.header("Message-ID")
            .unwrap()
            .starts_with("<notification-")
    );
    assert_eq!(mail.body().trim_end(), "Line one\r\nLine two");
}

#[tokio::test]
async fn temporary_refusals_are_retried_with_backoff_until_the_attempts_run_out() {
    let smtp = SmtpServer::start(Mode::RefuseTemporarily).await.unwrap();
    let url = smtp.url();
    let service = Service::start_with(|s| {
        s.mail_url = Some(url);
        s.notification_max_attempts = 3;
    })
    .await;
    let token = sender(&service).await;
    let notification = submit(&service, &token, "Doomed").await;
    let failed = wait_for(&service, &token, notification, Status::Failed).await;
    assert_eq!(failed.attempts, 3);
    assert!(
        failed.last_error.as_deref().unwrap().contains("451"),
        "{failed:?}"
    );
    assert_eq!(failed.sent_at, None);
    assert_eq!(smtp.refusals(), 3);
    assert!(smtp.received().is_empty());
}

#[tokio::test]
async fn a_retry_succeeds_once_the_server_accepts_again() {
    let smtp = SmtpServer::start(Mode::RefuseTemporarily).await.unwrap();
    let url = smtp.url();
    let service = Service::start_with(|s| s.mail_url = Some(url)).await;
    let token = sender(&service).await;
    let notification = submit(&service, &token, "Eventually").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    wait_until(
        deadline,
        "the first attempt is refused",
        async || match smtp.refusals() {
            0 => Err("no refusal"),
            _ => Ok(()),
        },
    )
    .await;
    smtp.set_mode(Mode::Accept);
    let sent = wait_for(&service, &token, notification, Status::Sent).await;
    assert!(sent.attempts >= 2, "{sent:?}");
    assert_eq!(smtp.received().len(), 1);
}

#[tokio::test]
async fn a_permanent_refusal_fails_at_once() {
    let smtp = SmtpServer::start(Mode::RefusePermanently).await.unwrap();
    let url = smtp.url();
    let service = Service::start_with(|s| s.mail_url = Some(url)).await;
    let token = sender(&service).await;
    let notification = submit(&service, &token, "Nobody home").await;
    let failed = wait_for(&service, &token, notification, Status::Failed).await;
    assert_eq!(failed.attempts, 1);
    assert!(
        failed.last_error.as_deref().unwrap().contains("550"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn a_notification_accepted_before_a_stop_is_delivered_once_after_the_restart() {
    let smtp = SmtpServer::start(Mode::Accept).await.unwrap();
    let storage = TestStorage::new().await;
    let url = smtp.url();
    // No delivery worker: the service stops after the 202 and before any delivery.
    let mut first = Service::start_on(&storage, |s| {
        s.mail_url = Some(url.clone());
        s.notification_workers = 0;
    })
    .await;
    let token = sender(&first).await;
    let notification = submit(&first, &token, "Survives a restart").await;
    first.stop().await.unwrap();
    assert!(smtp.received().is_empty());

    let mut second = Service::start_on(&storage, |s| s.mail_url = Some(url)).await;
    let sent = wait_for(&second, &token, notification, Status::Sent).await;
    assert_eq!(sent.attempts, 1);
    // Stopped, the service has finished every delivery it began (its worker drains them):
    // any duplicate would be at the mail server now, and none can come later.
    second.stop().await.unwrap();
    let received = smtp.received();
    assert_eq!(received.len(), 1, "delivered once");
    assert_eq!(received[0].header("Subject"), Some("Survives a restart"));
}

#[tokio::test]
async fn without_a_mail_server_messages_are_written_as_eml_files() {
    let storage = TestStorage::new().await;
    let service = Service::start_on(&storage, |_| {}).await;
    let token = sender(&service).await;
    let notification = submit(&service, &token, "On disk").await;
    let sent = wait_for(&service, &token, notification, Status::Sent).await;
    let file = storage
        .dir()
        .join("outbox")
        .join(format!("notification-{:012}.eml", sent.id));
    let eml = std::fs::read_to_string(&file).unwrap();
    assert!(eml.contains("To: friend@example.com\r\n"), "{eml}");
    assert!(eml.contains("Subject: On disk\r\n"), "{eml}");
    assert!(eml.contains("Line one\r\nLine two"), "{eml}");
    let leftovers: Vec<_> = std::fs::read_dir(storage.dir().join("outbox"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}
