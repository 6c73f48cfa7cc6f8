//! Wake-ups for followers of stored events ([`domain::streams::Wakeups`]): which topics changed,
//! told to the followers of this process at once and, on PostgreSQL, to those of every other
//! instance through `LISTEN`/`NOTIFY`.
//!
//! A write announces its topics in its transaction ([`crate::database::WriteTxn::announce`]):
//! on PostgreSQL a `NOTIFY`, which the server delivers at commit and never for a rolled-back
//! transaction; in this process a wake-up once the commit returned. Each instance listens on
//! one connection of its own; when it is lost, followers fall back to reading their tables
//! every [`FALLBACK_POLL`] while it reconnects, and all of them read again once it is back, so
//! that nothing sent meanwhile is missed. A follower waits on a watch channel of its topic: a
//! writer only flips a flag, never waits for a follower.

use async_trait::async_trait;
use domain::{
    ids::{AccountId, NotificationId},
    streams::{Topic, Wakeups, Watch},
};
use sea_orm::sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tokio::sync::watch;

/// The channel every instance listens on.
pub(crate) const CHANNEL: &str = "service_events";

/// How often a follower reads its table while no notification channel is open.
const FALLBACK_POLL: Duration = Duration::from_secs(1);

/// How long the listener waits before connecting again after it lost its connection.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// The followers of this process, by topic.
pub(crate) struct WakeupHub {
    topics: Mutex<HashMap<Topic, watch::Sender<()>>>,
    /// Whether every change committed anywhere is heard: always in-process (SQLite); on
    /// PostgreSQL, while the listener's connection is open.
    hearing: AtomicBool,
    listener: Mutex<Option<tokio::task::AbortHandle>>,
}

impl WakeupHub {
    /// A hub for one process that owns its database: every change is made here.
    pub(crate) fn in_process() -> Arc<Self> {
        Arc::new(Self {
            topics: Mutex::new(HashMap::new()),
            hearing: AtomicBool::new(true),
            listener: Mutex::new(None),
        })
    }

    /// A hub that also hears the changes other instances commit to the PostgreSQL database of
    /// `pool`, from a listener task of its own.
    ///
    /// The listener holds its connection for the process's life, so it connects beside `pool`
    /// rather than from it: a pool of one would otherwise be left with nothing for requests.
    pub(crate) fn listening(pool: &PgPool) -> Arc<Self> {
        let own = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .connect_lazy_with(pool.connect_options().as_ref().clone());
        let hub = Self::in_process();
        hub.hearing.store(false, Ordering::SeqCst);
        let task = tokio::spawn(listen(own, Arc::downgrade(&hub)));
        *lock(&hub.listener) = Some(task.abort_handle());
        hub
    }

    /// Stops listening (the pool is closing).
    pub(crate) fn stop(&self) {
        if let Some(task) = lock(&self.listener).take() {
            task.abort();
        }
        self.hearing.store(false, Ordering::SeqCst);
    }

    /// Wakes the followers of `topic` in this process.
    pub(crate) fn wake(&self, topic: Topic) {
        if let Some(sender) = lock(&self.topics).get(&topic) {
            sender.send_replace(());
        }
    }

    /// Wakes every follower in this process: what it missed, it reads.
    fn wake_all(&self) {
        for sender in lock(&self.topics).values() {
            sender.send_replace(());
        }
    }

    /// Whether every change committed anywhere is heard now.
    #[cfg(test)]
    pub(crate) fn hearing(&self) -> bool {
        self.hearing.load(Ordering::SeqCst)
    }

    /// How many topics have followers here.
    #[cfg(test)]
    pub(crate) fn topics(&self) -> usize {
        lock(&self.topics).len()
    }
}

impl Drop for WakeupHub {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The hub as the domain sees it.
pub(crate) struct HubWakeups(pub(crate) Arc<WakeupHub>);

impl Wakeups for HubWakeups {
    fn watch(&self, topic: Topic) -> Box<dyn Watch> {
        let receiver = lock(&self.0.topics)
            .entry(topic)
            .or_insert_with(|| watch::channel(()).0)
            .subscribe();
        Box::new(HubWatch {
            receiver,
            topic,
            hub: self.0.clone(),
        })
    }
}

/// One follower's watch of a topic.
struct HubWatch {
    receiver: watch::Receiver<()>,
    topic: Topic,
    hub: Arc<WakeupHub>,
}

#[async_trait]
impl Watch for HubWatch {
    async fn changed(&mut self) {
        let hearing = self.hub.hearing.load(Ordering::SeqCst);
        tokio::select! {
            _ = self.receiver.changed() => {}
            () = tokio::time::sleep(FALLBACK_POLL), if !hearing => {}
        }
    }
}

impl Drop for HubWatch {
    /// The last follower of a topic takes its channel away: the map holds only followed topics.
    fn drop(&mut self) {
        let mut topics = lock(&self.hub.topics);
        if topics
            .get(&self.topic)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            topics.remove(&self.topic);
        }
    }
}

/// The `NOTIFY` payload that names `topic`.
pub(crate) fn payload(topic: Topic) -> String {
    match topic {
        Topic::Notification(id) => format!("n:{id}"),
        Topic::Account(id) => format!("a:{id}"),
        Topic::WebhookDeliveries => "w:0".to_owned(),
    }
}

/// The topic a `NOTIFY` payload names, if it is one.
fn topic_of(payload: &str) -> Option<Topic> {
    let (kind, id) = payload.split_once(':')?;
    let id: i64 = id.parse().ok()?;
    match kind {
        "n" => NotificationId::parse(id).ok().map(Topic::Notification),
        "a" => AccountId::parse(id).ok().map(Topic::Account),
        "w" => (id == 0).then_some(Topic::WebhookDeliveries),
        _ => None,
    }
}

/// Listens on [`CHANNEL`] for as long as the hub lives: each notification wakes its topic's
/// followers; a lost connection makes every follower fall back to reading, and once the
/// listener is back, read once more.
async fn listen(pool: PgPool, hub: Weak<WakeupHub>) {
    loop {
        if let Err(err) = hear(&pool, &hub).await {
            tracing::warn!(error = %err, "the change listener lost its connection; reconnecting");
        }
        let Some(hub) = hub.upgrade() else { return };
        hub.hearing.store(false, Ordering::SeqCst);
        hub.wake_all();
        drop(hub);
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// One connection's worth of listening; returns when it is lost.
async fn hear(pool: &PgPool, hub: &Weak<WakeupHub>) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    // Listening from now on: what was committed before, followers read again.
    match hub.upgrade() {
        Some(hub) => {
            hub.hearing.store(true, Ordering::SeqCst);
            hub.wake_all();
        }
        None => return Ok(()),
    }
    loop {
        // `None`: the connection was lost (sqlx would reconnect on the next call, but what was
        // sent meanwhile is gone): start over, so that followers read again.
        let Some(notification) = listener.try_recv().await? else {
            return Ok(());
        };
        let Some(hub) = hub.upgrade() else {
            return Ok(());
        };
        if let Some(topic) = topic_of(notification.payload()) {
            hub.wake(topic);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: i64) -> Topic {
        Topic::Account(AccountId::parse(n).unwrap())
    }

    async fn woke(watch: &mut Box<dyn Watch>) -> bool {
        tokio::time::timeout(Duration::from_millis(50), watch.changed())
            .await
            .is_ok()
    }

    #[test]
    fn payloads_name_their_topic_and_nothing_else_is_one() {
        let note = Topic::Notification(NotificationId::parse(9).unwrap());
        for topic in [account(7), note, Topic::WebhookDeliveries] {
            assert_eq!(topic_of(&payload(topic)), Some(topic));
        }
        for other in ["", "a:", "a:x", "a:0", "x:1", "a1"] {
            assert_eq!(topic_of(other), None, "{other}");
        }
    }

    #[tokio::test]
    async fn a_wake_reaches_the_followers_of_its_topic_only_and_a_topic_goes_with_its_last() {
        let hub = WakeupHub::in_process();
        let changes = HubWakeups(hub.clone());
        let mut seven = changes.watch(account(7));
        let mut eight = changes.watch(account(8));
        let mut again = changes.watch(account(7));
        hub.wake(account(7));
        assert!(woke(&mut seven).await);
        assert!(woke(&mut again).await);
        assert!(!woke(&mut eight).await, "another topic's follower slept on");
        assert!(!woke(&mut seven).await, "one wake, one resolve");
        assert_eq!(hub.topics(), 2);
        drop((seven, again));
        assert_eq!(hub.topics(), 1);
        drop(eight);
        assert_eq!(hub.topics(), 0);
    }
}
