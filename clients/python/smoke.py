"""Smoke test of the Python client that openapi-python-client generates from the served spec.

Run by `.ci/typed-clients` against a fresh release binary, with the generated package
`service_api_client` on the path, after `mypy --strict` has checked this file against it:
every call below is typed, errors included.

    python smoke.py BASE_URL
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
import uuid

from service_api_client import AuthenticatedClient, Client
from service_api_client.api.accounts import accounts_create, accounts_get, deposits_create, withdrawals_create
from service_api_client.api.auth import tokens_create
from service_api_client.api.notifications import notifications_create, notifications_events, notifications_get
from service_api_client.api.users import users_create, users_patch
from service_api_client.api.webhooks import webhooks_create, webhooks_rotate_secret, webhooks_test
from service_api_client.models import (
    AccountIn,
    AccountOut,
    AmountIn,
    NotificationIn,
    NotificationOut,
    NotificationStatus,
    NotificationsEventsNotificationEvent,
    NotificationsEventsNotificationEventEvent,
    Problem,
    TokenIn,
    TokenOut,
    TransactionKind,
    TransactionOut,
    UserIn,
    UserOut,
    UserPatchIn,
    WebhookCreated,
    WebhookDelivery,
    WebhookDeliveryEventType,
    WebhookEventType,
    WebhookIn,
    WebhookSecretOut,
)
from service_api_client.types import Unset
from standardwebhooks.webhooks import Webhook

PASSWORD = "correct horse battery"


def sse_events(text: str) -> list[dict[str, str]]:
    """The events of Server-Sent Events text, each its fields (comments and field-less blocks aside)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if "data" in fields:
            events.append(fields)
    return events


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"smoke failed: {what}")


def delivery(receiver: str, webhook_id: int, n: int) -> tuple[dict[str, str], str]:
    """The `n`th test event (from 1) for endpoint `webhook_id` that the webhook receiver (which
    other smokes share) has got: its headers and body."""
    deadline = time.time() + 20
    while True:
        with urllib.request.urlopen(receiver + "/received", timeout=5) as listed:
            received = [r for r in json.load(listed) if json.loads(r["body"])["data"].get("webhook_id") == webhook_id]
        if len(received) >= n:
            got = received[n - 1]
            return dict(got["headers"]), str(got["body"])
        check(time.time() < deadline, f"delivery {n} arrives")
        time.sleep(0.1)


def main(base_url: str, receiver: str) -> None:
    email = f"smoke-{uuid.uuid4().hex[:12]}@example.com"
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

    # Sign up: 201 with a typed user.
    created = users_create.sync_detailed(
        client=anonymous, body=UserIn(name="Smoke", email=email, password=PASSWORD, bio="hi")
    )
    user = created.parsed
    check(created.status_code == 201 and isinstance(user, UserOut), f"sign-up: {created}")
    assert isinstance(user, UserOut)
    check(created.headers["location"] == f"/users/{user.id}", "Location of the new user")

    # Log in.
    token = tokens_create.sync(client=anonymous, body=TokenIn(email=email, password=PASSWORD))
    check(isinstance(token, TokenOut), f"login: {token}")
    assert isinstance(token, TokenOut)
    api = AuthenticatedClient(base_url=base_url, token=token.access_token, raise_on_unexpected_status=True)

    # A typed 422 naming the failing member.
    invalid = users_create.sync(client=anonymous, body=UserIn(name="", email="nope", password=PASSWORD))
    check(isinstance(invalid, Problem) and invalid.status == 422, f"422: {invalid}")
    assert isinstance(invalid, Problem) and not isinstance(invalid.errors, Unset)
    locs = sorted(".".join(error.loc) for error in invalid.errors)
    check(locs == ["body.email", "body.name"], f"422 errors: {locs}")

    # A merge patch: `bio: None` removes the bio, absent members stay.
    patched = users_patch.sync(user.id, client=api, body=UserPatchIn(bio=None, name="Smoke Test"))
    check(isinstance(patched, UserOut), f"patch: {patched}")
    assert isinstance(patched, UserOut)
    check(patched.bio is None and patched.name == "Smoke Test" and patched.email == email, f"patched: {patched}")

    # Money: a deposit, then a typed 402 with the balance and what was asked for.
    account = accounts_create.sync(client=api, body=AccountIn(owner_id=user.id))
    check(isinstance(account, AccountOut), f"account: {account}")
    assert isinstance(account, AccountOut)
    # A typed 404: no account has this id.
    missing = accounts_get.sync(account.id + 1_000_000, client=api)
    check(isinstance(missing, Problem) and missing.status == 404, f"404: {missing}")
    deposit = deposits_create.sync(account.id, client=api, body=AmountIn(amount=500), idempotency_key="smoke-1")
    check(isinstance(deposit, TransactionOut) and deposit.kind == TransactionKind.DEPOSIT, f"deposit: {deposit}")
    short = withdrawals_create.sync(account.id, client=api, body=AmountIn(amount=501))
    check(isinstance(short, Problem) and short.status == 402, f"402: {short}")
    assert isinstance(short, Problem)
    check((short.balance, short.required) == (500, 501), f"402 members: {short}")

    # A notification: 202, then its monitor.
    accepted = notifications_create.sync_detailed(
        client=api, body=NotificationIn(email="friend@example.com", subject="Smoke", body="Hello")
    )
    notification = accepted.parsed
    check(accepted.status_code == 202 and isinstance(notification, NotificationOut), f"202: {accepted}")
    assert isinstance(notification, NotificationOut)
    monitored = notifications_get.sync(notification.id, client=api)
    check(isinstance(monitored, NotificationOut), f"monitor: {monitored}")
    assert isinstance(monitored, NotificationOut)
    check(isinstance(monitored.status, NotificationStatus), "status is the enum")

    # Its events (Server-Sent Events) from the first on (`Last-Event-ID: 0`), read as text to
    # the end of the stream (after `sent`), each event read as the spec describes it: SSE fields
    # whose `data` is a `NotificationOut` as JSON.
    followed = notifications_events.sync_detailed(notification.id, client=api, last_event_id="0")
    check(followed.status_code == 200 and isinstance(followed.parsed, str), f"stream: {followed}")
    assert isinstance(followed.parsed, str)
    events = [NotificationsEventsNotificationEvent.from_dict(fields) for fields in sse_events(followed.parsed)]
    names = [event.event for event in events]
    check(
        names[:1] == [NotificationsEventsNotificationEventEvent.QUEUED]
        and names[-1:] == [NotificationsEventsNotificationEventEvent.SENT],
        f"events: {names}",
    )
    changes = [NotificationOut.from_dict(json.loads(event.data)) for event in events]
    check(changes[-1].status == NotificationStatus.SENT and changes[-1].id == notification.id, f"data: {changes}")

    # A webhook endpoint at the smoke's receiver: its test event verified with the Standard
    # Webhooks library and the secret shown once; after a rotation, signed by both secrets.
    made = webhooks_create.sync(
        client=api,
        body=WebhookIn(url=receiver + "/hook", events=[WebhookEventType.ACCOUNT_TRANSACTION_BOOKED]),
    )
    check(isinstance(made, WebhookCreated) and made.secret.startswith("whsec_"), f"webhook: {made}")
    assert isinstance(made, WebhookCreated)
    test = webhooks_test.sync(made.id, client=api)
    check(isinstance(test, WebhookDelivery) and test.event_type == WebhookDeliveryEventType.WEBHOOK_TEST, f"test: {test}")
    headers, body = delivery(receiver, made.id, 1)
    payload = Webhook(made.secret).verify(body, headers)
    check(payload["type"] == "webhook.test" and payload["data"]["webhook_id"] == made.id, f"payload: {payload}")
    rotated = webhooks_rotate_secret.sync(made.id, client=api)
    check(isinstance(rotated, WebhookSecretOut), f"rotation: {rotated}")
    assert isinstance(rotated, WebhookSecretOut)
    webhooks_test.sync(made.id, client=api)
    headers, body = delivery(receiver, made.id, 2)
    check(len(headers["webhook-signature"].split(" ")) == 2, f"two signatures: {headers}")
    for secret in (made.secret, rotated.secret):
        Webhook(secret).verify(body, headers)

    print(
        "python smoke: sign-up, login, 422 errors[], merge patch, 404, 402 balance/required, 202, events to sent,"
        " webhooks verified across a rotation: ok"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
