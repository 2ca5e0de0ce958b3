//! What a simulated counterpart was sent, in arrival order, with switches
//! that make it fail as if it were down.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Called with each message a counterpart takes, as it takes it.
pub type Observer<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// The messages one simulated receiver took. Clones share the same inbox,
/// so the receiver and the test (or demo, or load run) watching it see the
/// same messages.
pub struct Inbox<T> {
    state: Arc<State<T>>,
}

struct State<T> {
    /// Whether to keep each message; a load run that receives millions only
    /// counts them, and remembers when each key was first seen.
    keep: bool,
    received: Mutex<Vec<T>>,
    key: Option<fn(&T) -> String>,
    first_seen: Mutex<HashMap<String, Instant>>,
    taken: AtomicU64,
    down: AtomicBool,
    fail_next: AtomicUsize,
    refused: AtomicUsize,
    observer: Option<Observer<T>>,
}

impl<T> Clone for Inbox<T> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

impl<T> std::fmt::Debug for Inbox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("taken", &self.state.taken.load(Ordering::Relaxed))
            .field("down", &self.state.down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T> Default for Inbox<T> {
    fn default() -> Self {
        Self::build(true, None, None)
    }
}

impl<T> Inbox<T> {
    fn build(keep: bool, key: Option<fn(&T) -> String>, observer: Option<Observer<T>>) -> Self {
        Self {
            state: Arc::new(State {
                keep,
                received: Mutex::default(),
                key,
                first_seen: Mutex::default(),
                taken: AtomicU64::new(0),
                down: AtomicBool::new(false),
                fail_next: AtomicUsize::new(0),
                refused: AtomicUsize::new(0),
                observer,
            }),
        }
    }

    /// Keeps every message (the default for tests).
    pub fn keeping() -> Self {
        Self::default()
    }

    /// Keeps nothing but a count, and when each `key` was first seen.
    pub fn counting(key: fn(&T) -> String) -> Self {
        Self::build(false, Some(key), None)
    }

    /// Keeps every message and shows each to `observer` as it arrives.
    pub fn observed(observer: impl Fn(&T) + Send + Sync + 'static) -> Self {
        Self::build(true, None, Some(Arc::new(observer)))
    }

    /// Takes a message, or refuses it while down or while failures are
    /// queued. `Err` means the receiver answers as a server that is down.
    pub fn take(&self, item: T) -> Result<(), Refused> {
        let s = &self.state;
        let queued_failure = s
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if queued_failure || s.down.load(Ordering::SeqCst) {
            s.refused.fetch_add(1, Ordering::SeqCst);
            return Err(Refused);
        }
        s.taken.fetch_add(1, Ordering::Relaxed);
        if let Some(key) = s.key {
            s.first_seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key(&item))
                .or_insert_with(Instant::now);
        }
        if let Some(observer) = &s.observer {
            observer(&item);
        }
        if s.keep {
            s.received
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(item);
        }
        Ok(())
    }

    /// Answers as a server that is down until `set_down(false)`.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Refuses the next `n` messages, then takes them again.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// How many messages were refused.
    pub fn refused(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }

    /// How many messages were taken, repeats included.
    pub fn taken(&self) -> u64 {
        self.state.taken.load(Ordering::Relaxed)
    }

    /// How many distinct keys were seen (a counting inbox).
    pub fn distinct(&self) -> usize {
        self.state
            .first_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// When `key` was first seen (a counting inbox).
    pub fn first_seen(&self, key: &str) -> Option<Instant> {
        self.state
            .first_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
    }

    /// Forgets everything taken so far.
    pub fn clear(&self) {
        let s = &self.state;
        s.received.lock().unwrap_or_else(|p| p.into_inner()).clear();
        s.first_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        s.taken.store(0, Ordering::Relaxed);
    }
}

impl<T: Clone> Inbox<T> {
    /// Every message kept, in arrival order.
    pub fn all(&self) -> Vec<T> {
        self.state
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A message a counterpart refused, being down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

impl From<Refused> for tonic::Status {
    fn from(_: Refused) -> Self {
        tonic::Status::unavailable("down for maintenance")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_down_inbox_refuses_and_counts_then_takes_again() {
        let inbox: Inbox<u32> = Inbox::keeping();
        inbox.fail_next(1);
        assert_eq!(inbox.take(1), Err(Refused));
        assert_eq!(inbox.take(2), Ok(()));
        inbox.set_down(true);
        assert_eq!(inbox.take(3), Err(Refused));
        inbox.set_down(false);
        assert_eq!(inbox.take(4), Ok(()));
        assert_eq!(inbox.all(), [2, 4]);
        assert_eq!((inbox.refused(), inbox.taken()), (2, 2));
    }

    #[test]
    fn a_counting_inbox_keeps_first_sightings_only() {
        let inbox: Inbox<(String, u32)> = Inbox::counting(|(key, _)| key.clone());
        for (key, n) in [("a", 1), ("b", 2), ("a", 3)] {
            inbox.take((key.to_owned(), n)).unwrap();
        }
        assert!(inbox.all().is_empty());
        assert_eq!((inbox.distinct(), inbox.taken()), (2, 3));
        assert!(inbox.first_seen("a").is_some() && inbox.first_seen("c").is_none());
    }
}
