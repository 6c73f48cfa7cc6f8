//! Server-Sent Events: the streams a client follows (`text/event-stream`).
//!
//! A followed stream is the domain's stream of stored events ([`domain::events`]), written as
//! SSE: a `retry:` hint first, then per event its `id:` (what `Last-Event-ID` resumes after),
//! its `event:` name and its `data:` (a JSON object of the event's schema), and a comment every
//! keep-alive interval while nothing happens. Nothing is buffered: an event is read from
//! storage only when the connection can take it, so a reader that stops reading holds nothing
//! but its connection, which the server cuts once writes to it have stalled (see the `app`
//! crate's write timeout); it resumes with `Last-Event-ID`. A stream ends when its domain stream
//! does (a notification's after its final status), when a read fails, and when the service
//! shuts down, so that clients reconnect elsewhere. At most [`StreamSettings::max_followers`]
//! streams are followed at once; past that a new follower is refused (503 `overloaded`).
//!
//! In the spec a stream's schema describes one event as it is sent, the way OpenAPI 3.2 and
//! schemathesis read `text/event-stream` before 3.2: an object of the SSE fields `id`, `event`
//! (an enum of its names) and `data`, a string whose content is the JSON of the event's data
//! schema: in 3.1 `contentMediaType: application/json` and `contentSchema`, in 3.0, which has
//! neither, their `x-` twins ([`document_data`]). Beside the event, `anyOf` offers the whole
//! text, which is what a generated client reads.

pub use crate::followers::{Followers, Following, StreamSettings};
use crate::{
    errors::{self, Refusal},
    responses::FromProblem,
    state,
};
use bytes::Bytes;
use domain::streams::Followed;
use futures_util::{FutureExt, StreamExt};
use poem::{Body, IntoResponse, Response, http::header};
use poem_openapi::{
    payload::Payload,
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};
use serde_json::Value;
use std::{fmt::Write as _, marker::PhantomData, sync::Arc};

/// The response to a request to follow a stream: a follower's place taken first (else 503
/// `overloaded`, before anything is read), then the stream `follow` comes to, or the problem of
/// its error.
pub async fn reply_following<K, T, R>(
    req: &poem::Request,
    follow: impl Future<Output = domain::Result<Followed<T>>>,
    ok: impl FnOnce(EventStream<K>) -> R,
) -> R
where
    K: EventKind + From<T>,
    T: Send + 'static,
    R: FromProblem,
{
    let path = req.uri().path();
    let following = match state::state_of::<Arc<Followers>>(req).map(Followers::enter) {
        Some(Some(following)) => following,
        Some(None) => return R::from_problem(errors::refused(Refusal::TooManyFollowers, path)),
        None => {
            let unwired = domain::Error::internal("streams are not wired");
            return R::from_problem(errors::problem_for(unwired, path));
        }
    };
    match follow.await {
        Ok(followed) => ok(EventStream::new(followed, following)),
        Err(err) => R::from_problem(errors::problem_for(err, path)),
    }
}

/// What one kind of stream sends: its event names, and each event as SSE fields.
pub trait EventKind: Send + 'static {
    /// What an event's `data` is, as a JSON object of a documented schema.
    type Data: Type + ToJSON;
    /// Every `event:` name the stream sends, each with the same data schema.
    const NAMES: &'static [&'static str];
    /// How a client reads the stream's events, for the spec.
    const DESCRIPTION: &'static str;
    /// The name of one event's schema in the spec.
    const TITLE: &'static str;

    /// The event's `id:`, `event:` name and `data`.
    fn fields(&self) -> (String, &'static str, Self::Data);
}

/// A followed stream, as the response of an operation: `text/event-stream`.
pub struct EventStream<K: EventKind> {
    body: Body,
    kind: PhantomData<K>,
}

impl<K: EventKind> EventStream<K> {
    /// The SSE body of `events`, which `following` holds a place for.
    pub fn new<T>(events: Followed<T>, following: Following) -> Self
    where
        T: Send + 'static,
        K: From<T>,
    {
        let settings = following.settings().clone();
        let hint = Bytes::from(format!("retry: {}\n\n", settings.retry.as_millis()));
        let events = events
            .take_while(|item| {
                if let Err(err) = item {
                    tracing::warn!(error = %err, "a followed stream ended: its read failed");
                }
                std::future::ready(item.is_ok())
            })
            .filter_map(|item| std::future::ready(item.ok().map(|event| encode(&K::from(event)))));
        let mut stopping = settings.stopping.clone();
        let stopped = async move {
            // A service whose stop was dropped unsaid never stops its streams.
            if stopping.wait_for(|stop| *stop).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let mut stream = futures_util::stream::once(std::future::ready(hint))
            .chain(events)
            .take_until(stopped.boxed())
            .boxed();
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + settings.keep_alive,
            settings.keep_alive,
        );
        let comment = Bytes::from_static(b":\n\n");
        let body = futures_util::stream::poll_fn(move |cx| {
            let _held = &following;
            if let std::task::Poll::Ready(next) = stream.poll_next_unpin(cx) {
                return std::task::Poll::Ready(next.map(Ok::<_, std::io::Error>));
            }
            tick.poll_tick(cx).map(|_| Some(Ok(comment.clone())))
        });
        Self {
            body: Body::from_bytes_stream(body),
            kind: PhantomData,
        }
    }
}

/// One event in SSE's wire form. The data is compact JSON: one line.
fn encode<K: EventKind>(event: &K) -> Bytes {
    let (id, name, data) = event.fields();
    let json = data.to_json().unwrap_or(Value::Null);
    let mut text = String::with_capacity(256);
    let _ = write!(text, "id: {id}\nevent: {name}\ndata: {json}\n\n");
    Bytes::from(text)
}

/// Rewrites the schema of a `text/event-stream` body as sent: each event's `data`, declared as
/// its data's schema, becomes the string that carries it, naming that schema as the content of
/// the string (in the `x-` twins of 3.1's keywords, which [`crate::spec::openapi31`] converts).
pub fn document_data(schema: &mut Value) {
    let events = schema
        .get_mut("anyOf")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten();
    for event in events {
        let Some(data) = event.pointer_mut("/properties/data") else {
            continue;
        };
        let Some(reference) = data.get("$ref").and_then(Value::as_str) else {
            continue;
        };
        let name = reference.rsplit('/').next().unwrap_or(reference);
        *data = serde_json::json!({
            "type": "string",
            "description": format!("The event's data: a `{name}` as one line of JSON."),
            "x-contentMediaType": "application/json",
            "x-contentSchema": {"$ref": reference},
        });
    }
}

impl<K: EventKind> IntoResponse for EventStream<K> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(<Self as Payload>::CONTENT_TYPE)
            .header(header::CACHE_CONTROL, "no-cache")
            .header("X-Accel-Buffering", "no")
            .body(self.body)
    }
}

impl<K: EventKind> Payload for EventStream<K> {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    fn schema_ref() -> MetaSchemaRef {
        let mut id = MetaSchema::new("string");
        id.description = Some("What `Last-Event-ID` resumes after.");
        id.pattern = Some("^[0-9]+$".to_owned());
        let mut name = MetaSchema::new("string");
        name.description = Some("The event's name (`event:`).");
        name.enum_items = K::NAMES
            .iter()
            .map(|n| Value::String((*n).to_owned()))
            .collect();
        let mut event = MetaSchema::new("object");
        event.title = Some(K::TITLE.to_owned());
        event.description = Some(K::DESCRIPTION);
        event.required = vec!["id", "event", "data"];
        // The data's schema, which `document_data` makes the string it is sent as.
        event.properties = vec![
            ("id", MetaSchemaRef::Inline(Box::new(id))),
            ("event", MetaSchemaRef::Inline(Box::new(name))),
            ("data", K::Data::schema_ref()),
        ];
        let mut text = MetaSchema::new("string");
        text.description = Some(
            "The stream as it is sent, read whole: Server-Sent Events text, whose events the \
             other schema describes.",
        );
        // A generated client that reads the body as text gets the text (one generated from
        // the event alone would fail to parse it), and a reader of events, such as a
        // validator, finds each event's fields described.
        let mut stream = MetaSchema::ANY;
        stream.any_of = vec![
            MetaSchemaRef::Inline(Box::new(text)),
            MetaSchemaRef::Inline(Box::new(event)),
        ];
        MetaSchemaRef::Inline(Box::new(stream))
    }

    fn register(registry: &mut Registry) {
        K::Data::register(registry);
    }
}
