//! Streams a client follows: the stored changes of one notification, or the ledger of one
//! account, read from storage as they are committed and resumable from any point.
//!
//! Events come from stored rows, never from memory alone: a follower reads what was committed
//! after its cursor, then waits for a [`Watch`] of its [`Topic`] to say that more may have
//! been committed (by this instance or another), and reads again. So a follower that
//! reconnects, or whose instance restarted, resumes from its cursor and misses nothing, and a
//! wake-up that is lost costs only latency. The watch is taken before the first read: a change
//! committed between a read and the wait still wakes it.

use crate::{
    Result,
    ids::{AccountId, NotificationId},
};
use async_trait::async_trait;
use futures_core::stream::BoxStream;

/// What a follower follows, and what wakes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// One notification's status changes.
    Notification(NotificationId),
    /// One account's ledger.
    Account(AccountId),
    /// The webhook deliveries outbox: a delivery became due.
    WebhookDeliveries,
}

/// Wakes the followers of a topic when storage commits a change to it, on any instance.
pub trait Wakeups: Send + Sync {
    /// A watch of `topic`, which wakes after every change to it committed from now on.
    fn watch(&self, topic: Topic) -> Box<dyn Watch>;
}

/// One follower's watch of a topic.
#[async_trait]
pub trait Watch: Send {
    /// Resolves once a change to the topic may have been committed since this watch was taken
    /// or last resolved. It may resolve when nothing changed (a follower then reads nothing);
    /// it never misses a change.
    async fn changed(&mut self);
}

/// A followed stream of events: each an item, or the failure that ended the stream.
pub type Followed<T> = BoxStream<'static, Result<T>>;

/// How many stored events a follower reads at once.
pub(crate) const BATCH: usize = 100;

/// Follows stored events after `cursor`: reads a batch with `read(cursor)`, hands each event
/// out (its cursor taken by `cursor_of`), and once a read finds nothing waits for `watch`.
/// The stream ends after an event `is_last` says ends it, or a failed read.
pub(crate) fn follow<T, C, R, F>(
    cursor: C,
    watch: Box<dyn Watch>,
    read: R,
    cursor_of: fn(&T) -> C,
    is_last: fn(&T) -> bool,
) -> Followed<T>
where
    T: Send + 'static,
    C: Copy + Send + 'static,
    R: Fn(C) -> F + Send + 'static,
    F: Future<Output = Result<Vec<T>>> + Send,
{
    let state = Following {
        cursor,
        watch,
        pending: std::collections::VecDeque::new(),
        ended: false,
    };
    Box::pin(futures_util::stream::unfold(
        (state, read),
        move |(mut state, read)| async move {
            loop {
                if state.ended {
                    return None;
                }
                if let Some(event) = state.pending.pop_front() {
                    state.cursor = cursor_of(&event);
                    state.ended = is_last(&event);
                    return Some((Ok(event), (state, read)));
                }
                match read(state.cursor).await {
                    Ok(batch) if batch.is_empty() => state.watch.changed().await,
                    Ok(batch) => state.pending.extend(batch),
                    Err(err) => {
                        state.ended = true;
                        return Some((Err(err), (state, read)));
                    }
                }
            }
        },
    ))
}

/// Where a follower stands.
struct Following<T, C> {
    cursor: C,
    watch: Box<dyn Watch>,
    pending: std::collections::VecDeque<T>,
    ended: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, testing::ready};
    use futures_util::StreamExt;
    use std::sync::{Arc, Mutex};

    /// Stored events (numbers), and a watch that commits `next` when waited on: a writer
    /// committing while the follower waits.
    #[derive(Clone, Default)]
    struct Store {
        rows: Arc<Mutex<Vec<u64>>>,
        next: Arc<Mutex<Vec<u64>>>,
        waits: Arc<Mutex<usize>>,
    }

    #[async_trait]
    impl Watch for Store {
        async fn changed(&mut self) {
            *self.waits.lock().unwrap() += 1;
            let committed = std::mem::take(&mut *self.next.lock().unwrap());
            assert!(
                !committed.is_empty(),
                "a follower waited with nothing to come"
            );
            self.rows.lock().unwrap().extend(committed);
        }
    }

    fn followed(store: &Store, after: u64, last: u64) -> Followed<u64> {
        let rows = store.rows.clone();
        let read = move |after: u64| {
            let batch: Vec<u64> = rows
                .lock()
                .unwrap()
                .iter()
                .copied()
                .filter(|n| *n > after)
                .take(2)
                .collect();
            async move { Ok(batch) }
        };
        let is_last: fn(&u64) -> bool = if last == 5 { |n| *n == 5 } else { |_| false };
        follow(after, Box::new(store.clone()), read, |n| *n, is_last)
    }

    fn collect(stream: Followed<u64>) -> Vec<u64> {
        ready(stream.map(|item| item.unwrap()).collect())
    }

    #[test]
    fn a_follower_gets_every_event_after_its_cursor_in_order_across_batches_and_ends_after_the_last()
     {
        let store = Store::default();
        store.rows.lock().unwrap().extend([1, 2, 3, 4, 5]);
        assert_eq!(collect(followed(&store, 1, 5)), [2, 3, 4, 5]);
        assert_eq!(*store.waits.lock().unwrap(), 0, "it read before it waited");
    }

    #[test]
    fn a_follower_with_nothing_new_waits_then_reads_what_was_committed_meanwhile() {
        let store = Store::default();
        store.rows.lock().unwrap().extend([1, 2]);
        store.next.lock().unwrap().extend([3, 4, 5]);
        assert_eq!(collect(followed(&store, 2, 5)), [3, 4, 5]);
        assert_eq!(*store.waits.lock().unwrap(), 1);
    }

    #[test]
    fn a_failed_read_ends_the_stream_with_its_error() {
        let store = Store::default();
        let read = |_: u64| async { Err::<Vec<u64>, _>(Error::internal("gone")) };
        let mut stream = follow(0, Box::new(store), read, |n| *n, |_| false);
        assert!(matches!(
            ready(stream.next()),
            Some(Err(Error::Internal(_)))
        ));
        assert!(ready(stream.next()).is_none());
    }
}
