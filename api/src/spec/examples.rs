//! An example of every schema, as the service would send or take it: what the docs UIs prefill
//! and show. A test reads each request example through the operation's own body parser, so a
//! prefilled request is one the service accepts.

use serde_json::{Value, json};

/// A user as the examples show them.
fn user() -> Value {
    json!({
        "id": 42,
        "name": "Ann Lee",
        "email": "ann@example.com",
        "bio": "Keeps the books.",
        "created_at": "2026-11-25T09:30:00.123456Z",
        "updated_at": "2026-11-26T14:05:12.000981Z",
    })
}

fn account() -> Value {
    json!({
        "id": 7,
        "owner_id": 42,
        "balance": 12500,
        "currency": "EUR",
        "created_at": "2026-11-25T09:31:02.550000Z",
    })
}

fn transaction() -> Value {
    json!({
        "id": 19,
        "account_id": 7,
        "kind": "withdrawal",
        "amount": 2500,
        "balance_after": 10000,
        "created_at": "2026-11-26T08:00:00.000001Z",
    })
}

fn file() -> Value {
    json!({
        "name": "report.pdf",
        "size": 48213,
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "created_at": "2026-11-25T10:00:00.000000Z",
    })
}

fn webhook() -> Value {
    json!({
        "id": 4,
        "owner_id": 42,
        "url": "https://hooks.example.com/service",
        "events": ["account.transaction.booked", "notification.failed"],
        "description": "Bookkeeping",
        "enabled": true,
        "disabled_reason": null,
        "created_at": "2026-11-26T08:00:00.000000Z",
        "updated_at": "2026-11-26T08:00:00.000000Z",
    })
}

fn delivery() -> Value {
    json!({
        "id": 12,
        "webhook_id": 4,
        "message_id": "msg_2f1c0a9e6d3b4c5a8e7f6a5b4c3d2e1f",
        "event_type": "account.transaction.booked",
        "event_timestamp": "2026-11-26T08:00:00.000001Z",
        "status": "delivered",
        "attempts": 2,
        "next_attempt_at": null,
        "last_status_code": 204,
        "last_error": null,
        "last_latency_ms": 38,
        "created_at": "2026-11-26T08:00:00.000001Z",
        "delivered_at": "2026-11-26T08:00:05.412000Z",
    })
}

fn notification() -> Value {
    json!({
        "id": 3,
        "email": "ann@example.com",
        "subject": "Your statement is ready",
        "status": "sent",
        "attempts": 1,
        "last_error": null,
        "created_at": "2026-11-26T08:00:00.000000Z",
        "sent_at": "2026-11-26T08:00:00.004120Z",
    })
}

/// The example of the schema called `name`, if it has one.
pub fn of(name: &str) -> Option<Value> {
    let example = match name {
        "UserIn" => json!({
            "name": "Ann Lee",
            "email": "ann@example.com",
            "password": "correct horse battery",
            "bio": "Keeps the books.",
        }),
        "UserPatchIn" => json!({"bio": null, "name": "Ann Lee-Smith"}),
        "UserOut" => user(),
        "UserPage" => json!({"items": [user()], "next_cursor": "NDI"}),
        "TokenIn" => json!({"email": "ann@example.com", "password": "correct horse battery"}),
        "TokenOut" => json!({
            "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl",
            "token_type": "Bearer",
            "expires_in": 3600,
        }),
        "AccountIn" => json!({"owner_id": 42, "currency": "EUR"}),
        "AccountOut" => account(),
        "AmountIn" => json!({"amount": 2500}),
        "TransactionKind" => json!("withdrawal"),
        "TransactionOut" => transaction(),
        "TransactionPage" => json!({"items": [transaction()], "next_cursor": null}),
        "TransferIn" => json!({"from_account_id": 7, "to_account_id": 8, "amount": 2500}),
        "TransferOut" => json!({
            "id": 5,
            "from_account_id": 7,
            "to_account_id": 8,
            "amount": 2500,
            "created_at": "2026-11-26T08:00:00.000001Z",
        }),
        "NotificationIn" => json!({
            "email": "ann@example.com",
            "subject": "Your statement is ready",
            "body": "Hello Ann,\n\nyour November statement is ready.",
        }),
        "NotificationOut" => notification(),
        "NotificationStatus" => json!("queued"),
        "WebhookIn" => json!({
            "url": "https://hooks.example.com/service",
            "events": ["account.transaction.booked", "notification.failed"],
            "description": "Bookkeeping",
            "enabled": true,
        }),
        "WebhookPatchIn" => json!({"enabled": false}),
        "WebhookOut" => webhook(),
        "WebhookCreated" => {
            let mut created = webhook();
            created["secret"] = json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
            created
        }
        "WebhookPage" => json!({"items": [webhook()], "next_cursor": null}),
        "WebhookEventType" => json!("account.transaction.booked"),
        "WebhookSecretOut" => json!({
            "secret": "whsec_C2bLhbN1EzMhyFRxPjEAF4X3fXzJaGhk",
            "created_at": "2026-11-27T08:00:00.000000Z",
            "previous_secrets_expire_at": "2026-11-28T08:00:00.000000Z",
        }),
        "WebhookDelivery" => delivery(),
        "WebhookDeliveryPage" => json!({"items": [delivery()], "next_cursor": null}),
        "WebhookDeliveryEventType" => json!("webhook.test"),
        "WebhookDeliveryStatus" => json!("pending"),
        "WebhookTestData" => json!({"webhook_id": 4, "url": "https://hooks.example.com/service"}),
        "TransactionBookedEvent" => json!({
            "type": "account.transaction.booked",
            "timestamp": "2026-11-26T08:00:00.000001Z",
            "data": transaction(),
        }),
        "NotificationSentEvent" => json!({
            "type": "notification.sent",
            "timestamp": "2026-11-26T08:00:00.004120Z",
            "data": notification(),
        }),
        "NotificationFailedEvent" => {
            let mut failed = notification();
            failed["status"] = json!("failed");
            failed["attempts"] = json!(5);
            failed["last_error"] = json!("550 mailbox unavailable");
            failed["sent_at"] = Value::Null;
            json!({
                "type": "notification.failed",
                "timestamp": "2026-11-26T08:10:00.000000Z",
                "data": failed,
            })
        }
        "WebhookTestEvent" => json!({
            "type": "webhook.test",
            "timestamp": "2026-11-27T08:00:00.000000Z",
            "data": {"webhook_id": 4, "url": "https://hooks.example.com/service"},
        }),
        "TransactionBookedType" => json!("account.transaction.booked"),
        "NotificationSentType" => json!("notification.sent"),
        "NotificationFailedType" => json!("notification.failed"),
        "WebhookTestType" => json!("webhook.test"),
        "FileOut" => file(),
        "FilePage" => json!({"items": [file()], "next_cursor": null}),
        "Health" => json!({"status": "ok"}),
        "FieldError" => json!({
            "loc": ["body", "email"],
            "msg": "is not a valid e-mail address",
            "type": "email_invalid",
        }),
        "Problem" => json!({
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "detail": "No user has id 42.",
            "instance": "/users/42",
        }),
        _ => return None,
    };
    Some(example)
}
