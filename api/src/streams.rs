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
//! In the spec a stream is documented as Huma documents one: an array (`format: event-stream`)
//! whose items are a `oneOf` of one object per event name, `{id, event, data}`, `event` an enum
//! of that one name and `data` the schema of its data.

pub use crate::followers::{Followers, Following, StreamSettings};
use crate::{
    errors::{self, Refusal},
    provision,
    reply::FromProblem,
};
use bytes::Bytes;
use domain::events::Followed;
use futures_util::{FutureExt, StreamExt};
use poem::{Body, IntoResponse, Response, http::header};
use poem_openapi::{
    payload::Payload,
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};
use serde_json::Value;
use std::{fmt::Write as _, marker::PhantomData, sync::Arc};

/// The response to a request to follow a stream: the stream `followed` came to, if a follower
/// more is taken (else 503 `overloaded`), or the problem of its error.
pub fn reply_following<K, T, R>(
    req: &poem::Request,
    followed: domain::Result<Followed<T>>,
    ok: impl FnOnce(EventStream<K>) -> R,
) -> R
where
    K: EventKind + From<T>,
    T: Send + 'static,
    R: FromProblem,
{
    let refusal = match followed {
        Err(err) => errors::problem_for(err, req.uri().path()),
        Ok(followed) => match provision::provided::<Arc<Followers>>(req).map(Followers::enter) {
            Some(Some(following)) => return ok(EventStream::new(followed, following)),
            Some(None) => errors::refused(Refusal::TooManyFollowers, req.uri().path()),
            None => errors::problem_for(
                domain::Error::internal("streams are not wired"),
                req.uri().path(),
            ),
        },
    };
    R::from_problem(refusal)
}

/// What one kind of stream sends: its event names, and each event as SSE fields.
pub trait EventKind: Send + 'static {
    /// What an event's `data` is, as a JSON object of a documented schema.
    type Data: Type + ToJSON;
    /// Every `event:` name the stream sends, each with the same data schema.
    const NAMES: &'static [&'static str];
    /// How a client reads the stream's events, for the spec.
    const DESCRIPTION: &'static str;

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
        let event = |name: &'static str| {
            let mut schema = MetaSchema::new("object");
            schema.title = Some(name.to_owned());
            schema.required = vec!["id", "event", "data"];
            let mut id = MetaSchema::new("string");
            id.description = Some("What `Last-Event-ID` resumes after.");
            let mut event = MetaSchema::new("string");
            event.enum_items = vec![Value::String(name.to_owned())];
            schema.properties = vec![
                ("id", MetaSchemaRef::Inline(Box::new(id))),
                ("event", MetaSchemaRef::Inline(Box::new(event))),
                ("data", K::Data::schema_ref()),
            ];
            MetaSchemaRef::Inline(Box::new(schema))
        };
        let item = match K::NAMES {
            [one] => event(one),
            names => {
                let mut item = MetaSchema::ANY;
                item.one_of = names.iter().copied().map(event).collect();
                MetaSchemaRef::Inline(Box::new(item))
            }
        };
        let mut events = MetaSchema::new_with_format("array", "event-stream");
        events.description = Some(K::DESCRIPTION);
        events.items = Some(Box::new(item));
        let mut text = MetaSchema::new("string");
        text.description = Some(
            "The stream as it is sent: Server-Sent Events text, whose events the other schema \
             describes.",
        );
        // Either reading: a generated client that reads the body as text gets the text (a
        // Python client generated from the array alone would fail to parse it), and the docs
        // still name each event and its data.
        let mut stream = MetaSchema::ANY;
        stream.any_of = vec![
            MetaSchemaRef::Inline(Box::new(text)),
            MetaSchemaRef::Inline(Box::new(events)),
        ];
        MetaSchemaRef::Inline(Box::new(stream))
    }

    fn register(registry: &mut Registry) {
        K::Data::register(registry);
    }
}
