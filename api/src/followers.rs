//! The cap on followed streams: how many are followed now (an [`Admission`]), and each
//! follower's place, given back when its stream ends.

use crate::admission::{Admission, Admitted};
use std::{sync::Arc, time::Duration};
use tokio::sync::watch;

/// How followed streams are served.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// How often a comment keeps an idle stream's connection alive.
    pub keep_alive: Duration,
    /// How long a client is told to wait before reconnecting (`retry:`).
    pub retry: Duration,
    /// Most streams followed at once.
    pub max_followers: usize,
    /// Turns true when the service begins to shut down: every stream ends.
    pub stopping: watch::Receiver<bool>,
}

impl StreamSettings {
    /// Settings for a service that never shuts its streams down (tests of one request).
    pub fn unstoppable(keep_alive: Duration, max_followers: usize) -> Self {
        let (stop, stopping) = watch::channel(false);
        // The sender is gone: `stopping` keeps its last value, false, for good.
        drop(stop);
        Self {
            keep_alive,
            retry: Duration::from_secs(2),
            max_followers,
            stopping,
        }
    }
}

/// The streams followed now, within the cap.
#[derive(Debug)]
pub struct Followers {
    admission: Arc<Admission>,
    settings: StreamSettings,
}

impl Followers {
    /// No follower yet, under `settings`.
    pub fn new(settings: StreamSettings) -> Arc<Self> {
        Arc::new(Self {
            admission: Admission::new(),
            settings,
        })
    }

    /// A place for one more follower, unless the cap is reached.
    pub fn enter(self: &Arc<Self>) -> Option<Following> {
        let place = self.admission.enter(self.settings.max_followers)?;
        Some(Following {
            _place: place,
            followers: self.clone(),
        })
    }

    /// How many streams are followed now.
    pub fn count(&self) -> usize {
        self.admission.count()
    }
}

/// One follower's place, given back when its stream is dropped.
#[derive(Debug)]
pub struct Following {
    _place: Admitted,
    followers: Arc<Followers>,
}

impl Following {
    /// How the stream it holds a place for is served.
    pub fn settings(&self) -> &StreamSettings {
        &self.followers.settings
    }
}
