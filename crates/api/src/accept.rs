//! Taking connections when the process runs out of file descriptors, for
//! every listener the gateway has (the gRPC server's and the console's).
//!
//! With no descriptor left, `accept` fails with EMFILE (or ENFILE) and leaves
//! the connection in the listen backlog, so the listener is ready again at
//! once: a loop that only retries spins a core, the client waits in the
//! backlog, and the store, which opens a file or a directory to sync, finds
//! no descriptor either. Instead, as hyper and axum advise, a listener that
//! cannot accept pauses (5 ms, doubling to 1 s) before it tries again, and
//! says so once per episode. And because the gateway holds a small reserve
//! of descriptors from the start (open on `/dev/null`), the first EMFILE gives
//! them back to the process: the store can sync, and the listener can take
//! each waiting connection and close it at once, so that its client is
//! refused rather than left waiting. Connections are taken again, and the
//! reserve held again, once the reserve and one descriptor beside it can be
//! opened.

use std::fs::File;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Descriptors the gateway holds back, to give to the process when a
/// listener finds none left.
pub const RESERVED_DESCRIPTORS: usize = 8;

/// The first pause after a failed accept; it doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);
/// While out of descriptors, how often a connection taken is checked for
/// descriptors come back (rather than closed at once).
const RECHECK: Duration = Duration::from_millis(50);

static RESERVE: Mutex<Vec<File>> = Mutex::new(Vec::new());

fn reserve() -> MutexGuard<'static, Vec<File>> {
    RESERVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Holds the reserve, if it is not held already; whether it is held whole.
pub fn hold_reserve() -> bool {
    let mut held = reserve();
    while held.len() < RESERVED_DESCRIPTORS {
        match File::open("/dev/null") {
            Ok(file) => held.push(file),
            Err(_) => return false,
        }
    }
    true
}

/// Gives the reserve's descriptors back to the process; how many.
pub fn release_reserve() -> usize {
    let mut held = reserve();
    let released = held.len();
    held.clear();
    released
}

/// Holds the reserve again if it and one descriptor beside it can be
/// opened; otherwise holds no more than before.
fn retake_reserve() -> bool {
    let mut held = reserve();
    let mut opened = Vec::with_capacity(RESERVED_DESCRIPTORS + 1);
    // The reserve's missing descriptors, and one to spare.
    for _ in held.len()..=RESERVED_DESCRIPTORS {
        match File::open("/dev/null") {
            Ok(file) => opened.push(file),
            // Those opened are closed again as `opened` goes.
            Err(_) => return false,
        }
    }
    // The spare is closed again: it only showed there is room.
    opened.pop();
    held.extend(opened);
    true
}

/// EMFILE or ENFILE: the process, or the system, has no descriptor left
/// (the same numbers on Linux and the BSDs).
pub fn is_out_of_descriptors(error: &io::Error) -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    matches!(error.raw_os_error(), Some(ENFILE | EMFILE))
}

/// An error of the one connection being accepted (it was reset before it
/// was taken, say): the next may be fine, so there is no pause.
fn is_connection_error(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted
            | ConnectionReset
            | ConnectionRefused
            | Interrupted
            | HostUnreachable
            | NetworkUnreachable
            | NetworkDown
    )
}

/// A stretch of failed accepts, from the first failure to the next
/// connection kept.
#[derive(Debug)]
struct Episode {
    since: Instant,
    failures: u64,
    /// Connections taken and closed at once.
    refused: u64,
    /// Out of descriptors (rather than some other failure): connections are
    /// refused until the reserve can be held again.
    out_of_descriptors: bool,
    /// When a connection taken may next be kept, if the reserve can be
    /// held again by then.
    next_check: Instant,
}

/// One listener's way through failed accepts; see the module.
#[derive(Debug)]
pub struct Accepting {
    /// The listener's name in logs and metrics.
    listener: &'static str,
    pause: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    episode: Option<Episode>,
}

impl Accepting {
    /// For the listener called `listener`; holds the reserve if nothing
    /// holds it yet.
    pub fn new(listener: &'static str) -> Self {
        if !hold_reserve() {
            tracing::warn!(
                listener,
                "cannot hold the reserve of descriptors; running out of them may stop the store"
            );
        }
        Self {
            listener,
            pause: FIRST_PAUSE,
            sleep: None,
            episode: None,
        }
    }

    /// Whether a listener that cannot accept is pausing or refusing now.
    pub fn is_starved(&self) -> bool {
        self.episode.is_some()
    }

    /// The next connection to keep, from `accept` (a listener's own poll:
    /// `None` when it has ended). Failed accepts pause the listener instead
    /// of being retried at once; while out of descriptors, connections taken
    /// are closed at once (their clients are refused) until there is room
    /// again.
    pub fn poll_accept<S>(
        &mut self,
        cx: &mut Context<'_>,
        mut accept: impl FnMut(&mut Context<'_>) -> Poll<Option<io::Result<S>>>,
    ) -> Poll<Option<S>> {
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            let accepted = match accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(accepted)) => accepted,
            };
            match accepted {
                Ok(connection) => {
                    self.pause = FIRST_PAUSE;
                    if self.room_again() {
                        return Poll::Ready(Some(connection));
                    }
                    // Closed at once: its client is refused, not left in
                    // the backlog, and its descriptor is free again.
                    drop(connection);
                    if let Some(episode) = &mut self.episode {
                        episode.refused += 1;
                    }
                    metrics::counter!("gateway_connections_refused_total", "listener" => self.listener)
                        .increment(1);
                }
                Err(error) if is_connection_error(&error) => {}
                Err(error) => {
                    self.failed(&error);
                    self.sleep = Some(Box::pin(tokio::time::sleep(self.pause)));
                    self.pause = (self.pause * 2).min(LONGEST_PAUSE);
                }
            }
        }
    }

    /// Counts a failed accept; the first of an episode is logged, and the
    /// first for want of descriptors gives the reserve back.
    fn failed(&mut self, error: &io::Error) {
        let out = is_out_of_descriptors(error);
        let released = match &self.episode {
            Some(episode) if episode.out_of_descriptors || !out => 0,
            _ if out => release_reserve(),
            _ => 0,
        };
        match &mut self.episode {
            Some(episode) => {
                episode.failures += 1;
                if out && !episode.out_of_descriptors {
                    episode.out_of_descriptors = true;
                    tracing::warn!(
                        listener = self.listener,
                        %error,
                        released,
                        "out of file descriptors: refusing new connections until some are free"
                    );
                }
            }
            None => {
                if out {
                    tracing::warn!(
                        listener = self.listener,
                        %error,
                        released,
                        "out of file descriptors: refusing new connections until some are free"
                    );
                } else {
                    tracing::warn!(
                        listener = self.listener,
                        %error,
                        "cannot accept connections; pausing before trying again"
                    );
                }
                metrics::counter!("gateway_accept_pauses_total", "listener" => self.listener)
                    .increment(1);
                self.episode = Some(Episode {
                    since: Instant::now(),
                    failures: 1,
                    refused: 0,
                    out_of_descriptors: out,
                    next_check: Instant::now(),
                });
            }
        }
    }

    /// Whether a connection just taken may be kept: always, but for want of
    /// descriptors only once the reserve and one beside it can be held
    /// again (checked every [`RECHECK`] at most). Ends the episode when so.
    fn room_again(&mut self) -> bool {
        let Some(episode) = &mut self.episode else {
            return true;
        };
        if episode.out_of_descriptors {
            let now = Instant::now();
            if now < episode.next_check {
                return false;
            }
            episode.next_check = now + RECHECK;
            if !retake_reserve() {
                return false;
            }
        }
        tracing::info!(
            listener = self.listener,
            failures = episode.failures,
            refused = episode.refused,
            seconds = episode.since.elapsed().as_secs_f64(),
            "taking connections again"
        );
        self.episode = None;
        true
    }
}

#[cfg(test)]
#[allow(clippy::await_holding_lock, reason = "the lock only orders the tests")]
mod tests {
    use super::*;

    /// The reserve is the process's: one test at a time uses it.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emfile() -> io::Error {
        io::Error::from_raw_os_error(24)
    }

    /// Polls `accepting` once over a scripted listener.
    fn poll_once(
        accepting: &mut Accepting,
        script: &mut Vec<Poll<Option<io::Result<u32>>>>,
        polls: &mut usize,
    ) -> Poll<Option<u32>> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        accepting.poll_accept(&mut cx, |_| {
            *polls += 1;
            if script.is_empty() {
                Poll::Pending
            } else {
                script.remove(0)
            }
        })
    }

    #[test]
    fn the_reserve_is_given_back_and_taken_again() {
        let _serial = serial();
        assert!(hold_reserve());
        assert_eq!(release_reserve(), RESERVED_DESCRIPTORS);
        assert_eq!(release_reserve(), 0);
        assert!(retake_reserve());
        assert_eq!(reserve().len(), RESERVED_DESCRIPTORS);
        assert!(is_out_of_descriptors(&emfile()));
        assert!(is_out_of_descriptors(&io::Error::from_raw_os_error(23)));
        assert!(!is_out_of_descriptors(
            &io::ErrorKind::ConnectionReset.into()
        ));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn out_of_descriptors_the_listener_pauses_instead_of_spinning() {
        let _serial = serial();
        let mut accepting = Accepting::new("test");
        // The listener fails for ever: each poll tries once, then pauses.
        let mut script: Vec<_> = (0..1_000)
            .map(|_| Poll::Ready(Some(Err(emfile()))))
            .collect();
        let mut polls = 0;
        assert!(poll_once(&mut accepting, &mut script, &mut polls).is_pending());
        assert_eq!(polls, 1, "one try, then a pause");
        assert!(accepting.is_starved());
        // Polled again before the pause is over: no try.
        assert!(poll_once(&mut accepting, &mut script, &mut polls).is_pending());
        assert_eq!(polls, 1);
        // The pauses double: 5 + 10 + 20 + … ms, at most a second each.
        let mut pauses = Vec::new();
        for _ in 0..12 {
            // The pause under way is at most the next one; a little more
            // for the timer's millisecond ticks.
            tokio::time::advance(accepting.pause + Duration::from_millis(2)).await;
            assert!(poll_once(&mut accepting, &mut script, &mut polls).is_pending());
            pauses.push(accepting.pause);
        }
        assert_eq!(polls, 13);
        assert_eq!(*pauses.last().unwrap(), LONGEST_PAUSE);
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]));
        // The reserve went back to the process at the first failure.
        assert_eq!(reserve().len(), 0);
        hold_reserve();
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_connection_refused_error_is_passed_over_and_a_connection_kept() {
        let _serial = serial();
        let mut accepting = Accepting::new("test");
        let mut script = vec![
            Poll::Ready(Some(Err(io::ErrorKind::ConnectionAborted.into()))),
            Poll::Ready(Some(Ok(7))),
        ];
        let mut polls = 0;
        assert_eq!(
            poll_once(&mut accepting, &mut script, &mut polls),
            Poll::Ready(Some(7))
        );
        assert_eq!(polls, 2);
        assert!(!accepting.is_starved());
        let mut ended = vec![Poll::Ready(None)];
        assert_eq!(
            poll_once(&mut accepting, &mut ended, &mut polls),
            Poll::Ready(None)
        );
    }
}
