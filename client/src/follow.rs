//! Following the service's streams (`…/events`, Server-Sent Events) with typed events.
//!
//! progenitor types only JSON bodies: for a `text/event-stream` answer it hands back the raw
//! bytes. [`follow_notification`] and [`follow_account`] call the generated operations and read
//! those bytes with a maintained SSE parser (`eventsource-stream`), giving each event its `id`,
//! its name and its `data` as the spec's type. A follower that reconnects passes the last `id`
//! it got as `last_event_id` and misses nothing. Use a client from [`following_with_token`]:
//! the generated client's whole-request timeout would cut a stream that is meant to last.

use crate::{Client, Error, types};
use eventsource_stream::Eventsource;
use futures_core::Stream;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// One event of a followed stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Followed<T> {
    /// The event's `id:`: what `last_event_id` resumes after.
    pub id: String,
    /// The event's name (`event:`).
    pub event: String,
    /// Its data, as the spec types it.
    pub data: T,
}

/// Why a followed stream could not be read on.
#[derive(Debug)]
pub enum FollowError {
    /// The connection failed or was closed mid-event.
    Stream(String),
    /// An event's data is not of the type the spec gives it.
    Data(serde_json::Error),
}

impl std::fmt::Display for FollowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stream(why) => write!(f, "the stream broke: {why}"),
            Self::Data(err) => write!(f, "an event's data is not as the spec says: {err}"),
        }
    }
}

impl std::error::Error for FollowError {}

/// A client for following streams at `baseurl` as the holder of `token`: it gives up on a
/// connection only when nothing (not even a keep-alive comment) arrived for a minute.
pub fn following_with_token(baseurl: &str, token: &str) -> Result<Client, reqwest::Error> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(mut value) = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")) {
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(60))
        .default_headers(headers)
        .build()?;
    Ok(Client::new_with_client(baseurl, http))
}

/// A notification's changes (`GET /notifications/{id}/events`): its current state first, or
/// every change after `last_event_id`; the stream ends after `sent` or `failed`.
pub async fn follow_notification(
    client: &Client,
    id: i64,
    last_event_id: Option<&str>,
) -> Result<
    impl Stream<Item = Result<Followed<types::NotificationOut>, FollowError>> + use<>,
    Error<types::Problem>,
> {
    let id = positive(id)?;
    let last: Option<types::NotificationsEventsLastEventId> = last_event(last_event_id)?;
    let answer = client.notifications_events(id, last.as_ref()).await?;
    Ok(typed(answer.into_inner()))
}

/// The transactions booked on an account (`GET /accounts/{id}/events`): from now on, or every
/// one after `last_event_id` (a transaction id; `"0"` for all). The stream does not end.
pub async fn follow_account(
    client: &Client,
    id: i64,
    last_event_id: Option<&str>,
) -> Result<
    impl Stream<Item = Result<Followed<types::TransactionOut>, FollowError>> + use<>,
    Error<types::Problem>,
> {
    let id = positive(id)?;
    let last: Option<types::AccountsEventsLastEventId> = last_event(last_event_id)?;
    let answer = client.accounts_events(id, last.as_ref()).await?;
    Ok(typed(answer.into_inner()))
}

/// The events of an SSE body, their data read as `T`; blocks without data (the `retry:` hint,
/// keep-alive comments) are no events.
fn typed<T: DeserializeOwned>(
    body: progenitor_client::ByteStream,
) -> impl Stream<Item = Result<Followed<T>, FollowError>> {
    body.into_inner().eventsource().filter_map(|event| {
        std::future::ready(match event {
            Ok(event) if event.data.is_empty() => None,
            Ok(event) => Some(
                serde_json::from_str(&event.data)
                    .map(|data| Followed {
                        id: event.id,
                        event: event.event,
                        data,
                    })
                    .map_err(FollowError::Data),
            ),
            Err(err) => Some(Err(FollowError::Stream(err.to_string()))),
        })
    })
}

fn positive(id: i64) -> Result<std::num::NonZeroU64, Error<types::Problem>> {
    u64::try_from(id)
        .ok()
        .and_then(std::num::NonZeroU64::new)
        .ok_or_else(|| Error::InvalidRequest(format!("{id} is not a positive id")))
}

/// `last_event_id` as the operation's type of `Last-Event-ID`.
fn last_event<'a, T>(last_event_id: Option<&'a str>) -> Result<Option<T>, Error<types::Problem>>
where
    T: TryFrom<&'a str>,
    T::Error: std::fmt::Display,
{
    last_event_id
        .map(|id| {
            T::try_from(id)
                .map_err(|err| Error::InvalidRequest(format!("Last-Event-ID {id:?}: {err}")))
        })
        .transpose()
}
