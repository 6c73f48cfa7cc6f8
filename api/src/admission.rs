//! How many of something run at once, within a cap: requests in flight at the edge, followed
//! streams. One place under the cap is held by an [`Admitted`] and given back when it drops,
//! whatever ends it (an answer, a client gone, a panic unwinding).

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// A count of what runs now, which admits one more only while it is under a cap.
#[derive(Debug, Default)]
pub struct Admission {
    count: AtomicUsize,
}

impl Admission {
    /// Nothing admitted yet.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A place for one more, unless `max` are admitted already.
    pub fn enter(self: &Arc<Self>, max: usize) -> Option<Admitted> {
        let before = self.count.fetch_add(1, Ordering::AcqRel);
        // Counted first and given back by the drop below when refused: no place is ever
        // handed out past the cap, however many ask at once.
        let admitted = Admitted(self.clone());
        (before < max).then_some(admitted)
    }

    /// How many are admitted now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

/// One place under an [`Admission`]'s cap, given back when dropped.
#[derive(Debug)]
pub struct Admitted(Arc<Admission>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_given_up_to_the_cap_and_back_when_dropped() {
        let admission = Admission::new();
        let first = admission.enter(2);
        let second = admission.enter(2);
        assert!(first.is_some() && second.is_some());
        assert!(admission.enter(2).is_none(), "a third past a cap of two");
        assert_eq!(admission.count(), 2, "a refusal holds nothing");
        drop(first);
        assert_eq!(admission.count(), 1);
        assert!(
            admission.enter(2).is_some(),
            "a place given back is taken again"
        );
        drop(second);
        assert_eq!(admission.count(), 0);
    }

    #[test]
    fn many_asking_at_once_never_get_more_places_than_the_cap() {
        let admission = Admission::new();
        let held: Vec<Option<Admitted>> = std::thread::scope(|scope| {
            let asks: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| admission.enter(5)))
                .collect();
            asks.into_iter().map(|ask| ask.join().unwrap()).collect()
        });
        assert_eq!(held.iter().flatten().count(), 5);
        assert_eq!(admission.count(), 5);
    }
}
