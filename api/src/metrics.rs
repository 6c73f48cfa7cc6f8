//! Request metrics, kept by the edge and rendered in the Prometheus text format.
//!
//! Requests are counted by method, route template (`/users/{id}`, never the concrete path, so
//! that the number of series stays bounded) and status, with a latency histogram for each.
//! Recording takes a read lock, a lookup by borrowed key parts (no reference count touched) and
//! two relaxed atomic adds; a series is created once.

use hashbrown::{Equivalent, HashMap};
use poem::http::{Method, StatusCode};
use std::{
    fmt::Write,
    hash::{Hash, Hasher},
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route label of a request that matched no route of the API.
const UNMATCHED: &str = "unmatched";

/// One series: a request count and a latency histogram.
#[derive(Default)]
struct Series {
    /// Requests per bucket (not cumulative; the last slot is past every bound).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    micros: AtomicU64,
}

impl Series {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Requests counted, over every bucket.
    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }
}

type Key = (Method, Arc<str>, u16);

/// A [`Key`] made of borrowed parts, hashed and compared as the key it stands for.
struct Probe<'a>(&'a Method, &'a str, u16);

impl Hash for Probe<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `Key` hashes: `Arc<str>` hashes as its `str`.
        (self.0, self.1, self.2).hash(state);
    }
}

impl Equivalent<Key> for Probe<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        *self.0 == key.0 && self.1 == &*key.1 && self.2 == key.2
    }
}

/// The metrics the HTTP layer keeps.
#[derive(Default)]
pub struct HttpMetrics {
    series: RwLock<HashMap<Key, Arc<Series>>>,
    /// Requests being handled now: the edge admits them under its in-flight cap here.
    pub(crate) in_flight: Arc<crate::admission::Admission>,
}

impl HttpMetrics {
    /// Empty metrics.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Records one answered request to `route` (a template, or `None` when none matched).
    pub(crate) fn observe(
        &self,
        method: &Method,
        route: Option<&Arc<str>>,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let probe = Probe(method, route.map_or(UNMATCHED, |r| &**r), status.as_u16());
        if let Some(series) = self
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&probe)
        {
            series.observe(elapsed);
            return;
        }
        let route = route.map_or_else(|| Arc::from(UNMATCHED), Arc::clone);
        let key = (method.clone(), route, status.as_u16());
        let series = self
            .series
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone();
        series.observe(elapsed);
    }

    /// Appends the metrics to `out` in the Prometheus text format (version 0.0.4).
    pub fn render(&self, out: &mut String) {
        let mut series: Vec<(Key, Arc<Series>)> = self
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(key, series)| (key.clone(), series.clone()))
            .collect();
        series.sort_by(|(a, _), (b, _)| (&a.1, a.0.as_str(), a.2).cmp(&(&b.1, b.0.as_str(), b.2)));
        let labels = |(method, route, status): &Key| {
            format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            )
        };
        out.push_str(
            "# HELP http_requests_total Requests answered, by method, route template and status.\n\
             # TYPE http_requests_total counter\n",
        );
        for (key, s) in &series {
            let count = s.count();
            let _ = writeln!(out, "http_requests_total{{{}}} {count}", labels(key));
        }
        out.push_str(
            "# HELP http_request_duration_seconds Time from a request's head to its response.\n\
             # TYPE http_request_duration_seconds histogram\n",
        );
        for (key, s) in &series {
            let labels = labels(key);
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS.iter().zip(&s.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += s.buckets[BUCKETS.len()].load(Ordering::Relaxed);
            let seconds = s.micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}\n\
                 http_request_duration_seconds_sum{{{labels}}} {seconds}\n\
                 http_request_duration_seconds_count{{{labels}}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP http_requests_in_flight Requests being handled.\n\
             # TYPE http_requests_in_flight gauge\n\
             http_requests_in_flight {}",
            self.in_flight.count()
        );
    }
}

/// A label value with `\`, `"` and newlines escaped, as the text format asks.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
