"""Hand-made Server-Sent Events through schemathesis's own response validation (ST108).

The contract check runs schemathesis against the live service, whose events are always right;
this shows the validation it relies on can fail: against the committed OpenAPI 3.1 document, an
event whose `data` is a `NotificationOut` passes, and one whose `data` breaks `NotificationOut`
(a status it does not have, a member missing, not JSON at all) or whose `event` is no name of
the stream fails. Against the 3.0 document, which has no `contentSchema`, only the event's own
fields can be checked: a wrong name fails there too, and the broken data passes (the control:
what fails in 3.1 is the `contentSchema`).

    python sse_events_check.py openapi-3.1.yaml openapi.yaml
"""

from __future__ import annotations

import json
import sys

import requests
import schemathesis
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.transport import Response

PATH = "/notifications/{id}/events"

NOTIFICATION = {
    "id": 3,
    "email": "ann@example.com",
    "subject": "Your statement is ready",
    "status": "sent",
    "attempts": 1,
    "last_error": None,
    "created_at": "2026-11-26T08:00:00.000000Z",
    "sent_at": "2026-11-26T08:00:00.004120Z",
}


def stream(*events: tuple[str, str]) -> bytes:
    """SSE text as the service writes it: a retry hint, then each event's id, name and data."""
    text = "retry: 2000\n\n"
    for n, (name, data) in enumerate(events, start=1):
        text += f"id: {n}\nevent: {name}\ndata: {data}\n\n"
    return text.encode()


def failures(document: str, body: bytes) -> list[str]:
    """The titles of what schemathesis finds wrong with a 200 of `body`, per `document`."""
    operation = schemathesis.openapi.from_path(document)[PATH]["GET"]
    request = requests.Request("GET", "http://127.0.0.1/notifications/3/events").prepare()
    response = Response(
        status_code=200,
        headers={"content-type": ["text/event-stream"], "x-request-id": ["r"]},
        content=body,
        request=request,
        elapsed=0.01,
        verify=True,
    )
    try:
        operation.validate_response(response)
    except FailureGroup as group:
        return [failure.title for failure in group.exceptions]
    except Failure as failure:
        return [failure.title]
    return []


def main() -> None:
    three_one, three_oh = sys.argv[1], sys.argv[2]
    good = stream(("queued", json.dumps({**NOTIFICATION, "status": "queued", "sent_at": None})), ("sent", json.dumps(NOTIFICATION)))
    broken = {
        "a status NotificationOut does not have": json.dumps({**NOTIFICATION, "status": "lost"}),
        "a required member missing": json.dumps({k: v for k, v in NOTIFICATION.items() if k != "email"}),
        "data that is no JSON": "{not json",
    }
    outcomes = []
    for document in (three_one, three_oh):
        found = failures(document, good)
        outcomes.append(not found)
        print(f"{document}: events as the service sends them: {found or 'valid'}")
    for why, data in broken.items():
        found = failures(three_one, stream(("sent", data)))
        outcomes.append(bool(found))
        print(f"{three_one}: data with {why}: {found or 'VALID (wrong)'}")
    # The control: 3.0 cannot describe the data, so the same broken data passes there; what
    # fails in 3.1 is the `contentSchema`.
    found = failures(three_oh, stream(("sent", broken["a status NotificationOut does not have"])))
    outcomes.append(not found)
    print(f"{three_oh}: the same data, which 3.0 cannot describe: {found or 'valid'}")
    for document in (three_one, three_oh):
        found = failures(document, stream(("delivered", json.dumps(NOTIFICATION))))
        outcomes.append(bool(found))
        print(f"{document}: an event name the stream does not send: {found or 'VALID (wrong)'}")
    if not all(outcomes):
        sys.exit("schemathesis's SSE validation did not judge the hand-made events as the spec says")
    print("SSE validation: every hand-made event judged as the spec says")


if __name__ == "__main__":
    main()
