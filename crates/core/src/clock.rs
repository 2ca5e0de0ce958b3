//! Where the domain's "now" comes from. Deadline and retry logic reads a
//! [`Clock`] so that tests can move time by hand instead of sleeping.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// How far past the gateway's clock a time another system gives as already
/// past may be and still be believed: systems' clocks differ by a little.
/// Beyond it, the time has not come yet (a consent given or a signature
/// made "later than now" is refused).
pub const CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(10);

/// The latest instant a time stated as past may name, seen at `now`.
pub fn latest_past(now: Timestamp) -> Timestamp {
    now.checked_add(CLOCK_SKEW).unwrap_or(now)
}

/// A source of the current instant.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock to `instant` (backwards too, to test clock skew).
    pub fn set(&self, instant: Timestamp) {
        *self.lock() = instant;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.lock();
        *now = now.saturating_add(by).unwrap_or(Timestamp::MAX);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        // A panic while holding this lock cannot leave a Timestamp half-written,
        // so a poisoned lock is still safe to use.
        self.now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.lock()
    }
}

/// A sandbox's clock, for rehearsing deadlines against a development
/// gateway: it runs `speed` times faster than real time from where it
/// started, and an operator can move it forward. It never goes back, across
/// a restart too when it is [kept](SandboxClock::kept) in a file.
#[derive(Debug)]
pub struct SandboxClock {
    start: Timestamp,
    started: std::time::Instant,
    speed: f64,
    /// Nanoseconds moved forward by hand, in all.
    moved: std::sync::atomic::AtomicI64,
    /// Where the clock keeps its reading, for a kept clock; the lock makes
    /// one move at a time, so that the file always holds the latest.
    kept: Option<Mutex<PathBuf>>,
}

/// The file, in the gateway's data directory, where a sandbox's clock keeps
/// its reading.
pub const SANDBOX_CLOCK_FILE: &str = "sandbox-clock";

/// Why a sandbox's clock was not moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    #[error("the clock only moves forward: give a positive duration, not {0}")]
    NotForward(SignedDuration),
    #[error("moving the clock by {0} goes past the end of time")]
    TooFar(SignedDuration),
    /// The new reading could not be made durable; the clock did not move.
    #[error("the clock was not moved: its new reading cannot be kept ({0})")]
    NotKept(String),
}

/// What a kept clock's file says: the clock's reading when it was written,
/// the system's time then, and the clock's speed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    shown: Timestamp,
    written: Timestamp,
    speed: f64,
}

impl Reading {
    /// Where the clock is at `now` (the system's time), had it run on at its
    /// speed since it was written: never before the reading, nor before
    /// real time.
    fn resumed(&self, now: Timestamp) -> Timestamp {
        let since = now.duration_since(self.written).max(SignedDuration::ZERO);
        let ran = SignedDuration::try_from_secs_f64(since.as_secs_f64() * self.speed.max(1.0))
            .unwrap_or(since);
        self.shown
            .checked_add(ran)
            .unwrap_or(Timestamp::MAX)
            .max(self.shown)
            .max(now)
    }

    fn to_text(self) -> String {
        format!(
            "# The sandbox's movable clock (sandbox.clock = \"movable\"): what it showed\n\
             # and when, by the system's clock. A restart resumes it from here, so\n\
             # that it never goes back; delete this file, with the gateway stopped, to\n\
             # start it again from real time.\n\
             shown = {}\nwritten = {}\nspeed = {}\n",
            self.shown, self.written, self.speed
        )
    }

    fn parse(text: &str) -> Option<Reading> {
        let mut shown = None;
        let mut written = None;
        let mut speed = None;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once('=')?;
            let value = value.trim();
            match key.trim() {
                "shown" => shown = Some(value.parse().ok()?),
                "written" => written = Some(value.parse().ok()?),
                "speed" => speed = Some(value.parse::<f64>().ok().filter(|s| s.is_finite())?),
                _ => return None,
            }
        }
        Some(Reading {
            shown: shown?,
            written: written?,
            speed: speed?,
        })
    }
}

/// Reads a kept clock's file; `None` when there is none yet.
fn read_reading(file: &Path) -> std::io::Result<Option<Reading>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Reading::parse(&text).map(Some).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} does not hold a sandbox clock's reading; with the gateway stopped, delete it to start the clock again from real time",
                file.display()
            ),
        )
    })
}

/// Replaces a kept clock's file, durably: written beside it, synced,
/// renamed over it, and the directory synced.
fn write_reading(file: &Path, reading: Reading) -> std::io::Result<()> {
    use std::io::Write as _;
    let partial = file.with_extension("partial");
    {
        let mut out = std::fs::File::create(&partial)?;
        out.write_all(reading.to_text().as_bytes())?;
        out.sync_all()?;
    }
    std::fs::rename(&partial, file)?;
    #[cfg(unix)]
    {
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl SandboxClock {
    /// A clock at `start` now, running `speed` times real time (at least 1).
    pub fn new(start: Timestamp, speed: f64) -> Self {
        Self {
            start,
            started: std::time::Instant::now(),
            speed: if speed.is_finite() {
                speed.max(1.0)
            } else {
                1.0
            },
            moved: std::sync::atomic::AtomicI64::new(0),
            kept: None,
        }
    }

    /// A clock kept in `file` (see [`SANDBOX_CLOCK_FILE`]), running `speed`
    /// times real time: it resumes where the file says it was, had it run
    /// on at its speed since (so its moves are kept and it never goes back
    /// across a restart), or starts at real time when there is no file yet.
    /// Every move is in the file, synced, before [`SandboxClock::advance`]
    /// returns.
    pub fn kept(file: &Path, speed: f64) -> std::io::Result<Self> {
        let now = Timestamp::now();
        let start = read_reading(file)?.map_or(now, |r| r.resumed(now));
        let mut clock = Self::new(start, speed);
        write_reading(
            file,
            Reading {
                shown: start,
                written: now,
                speed: clock.speed,
            },
        )?;
        clock.kept = Some(Mutex::new(file.to_owned()));
        Ok(clock)
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Moves the clock forward by `by`; returns the instant it shows then.
    /// A kept clock's new reading is durable first: if it cannot be written,
    /// the clock does not move.
    pub fn advance(&self, by: SignedDuration) -> Result<Timestamp, MoveError> {
        if by <= SignedDuration::ZERO {
            return Err(MoveError::NotForward(by));
        }
        let nanos = i64::try_from(by.as_nanos()).map_err(|_| MoveError::TooFar(by))?;
        // One move at a time, so that the file ends with the latest.
        let file = self
            .kept
            .as_ref()
            .map(|k| k.lock().unwrap_or_else(|p| p.into_inner()));
        let before = self.moved.load(std::sync::atomic::Ordering::Acquire);
        let after = before.checked_add(nanos).ok_or(MoveError::TooFar(by))?;
        let shown = self.at(after);
        if shown == Timestamp::MAX {
            return Err(MoveError::TooFar(by));
        }
        if let Some(file) = &file {
            write_reading(
                file,
                Reading {
                    shown,
                    written: Timestamp::now(),
                    speed: self.speed,
                },
            )
            .map_err(|e| MoveError::NotKept(format!("{}: {e}", file.display())))?;
        }
        self.moved
            .fetch_add(nanos, std::sync::atomic::Ordering::AcqRel);
        Ok(self.now())
    }

    /// The instant shown with `moved` nanoseconds moved by hand.
    fn at(&self, moved: i64) -> Timestamp {
        let run = self.started.elapsed().as_secs_f64() * self.speed;
        self.start
            .checked_add(SignedDuration::from_secs_f64(run))
            .and_then(|t| t.checked_add(SignedDuration::from_nanos(moved)))
            .unwrap_or(Timestamp::MAX)
    }
}

impl Clock for SandboxClock {
    fn now(&self) -> Timestamp {
        // Real time only goes on and the moves only add: never back.
        self.at(self.moved.load(std::sync::atomic::Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(SignedDuration::from_hours(25));
        assert_eq!(clock.now(), "2025-01-02T01:00:00Z".parse().unwrap());
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn a_sandbox_clock_moves_forward_only_and_runs_at_its_speed() {
        let start: Timestamp = "2025-03-03T09:00:00+08:00".parse().unwrap();
        let clock = SandboxClock::new(start, 1.0);
        let first = clock.now();
        assert!(first >= start && first.duration_since(start) < SignedDuration::from_secs(5));
        let moved = clock.advance(SignedDuration::from_hours(72)).unwrap();
        assert!(moved.duration_since(first) >= SignedDuration::from_hours(72));
        assert!(clock.now() >= moved);
        assert_eq!(
            clock.advance(SignedDuration::from_secs(-1)),
            Err(MoveError::NotForward(SignedDuration::from_secs(-1)))
        );
        assert_eq!(
            clock.advance(SignedDuration::ZERO),
            Err(MoveError::NotForward(SignedDuration::ZERO))
        );
        assert!(clock.now() >= moved, "a refused move changes nothing");
        // A fast clock: a day of real time per millisecond would be far
        // beyond this test, so check the factor on a short real wait.
        let fast = SandboxClock::new(start, 3_600.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(fast.now().duration_since(start) >= SignedDuration::from_secs(60));
    }

    #[test]
    fn a_kept_sandbox_clock_resumes_after_a_restart_and_never_goes_back() {
        let dir = std::env::temp_dir().join(format!(
            "mediation-sandbox-clock-{}-{}",
            std::process::id(),
            Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(SANDBOX_CLOCK_FILE);
        let clock = SandboxClock::kept(&file, 1.0).unwrap();
        let moved = clock.advance(SignedDuration::from_hours(72)).unwrap();
        drop(clock);
        // The gateway restarts: the clock resumes from its file, three days
        // ahead of real time, not from real time.
        let again = SandboxClock::kept(&file, 1.0).unwrap();
        assert!(
            again.now() >= moved,
            "{} went back from {moved}",
            again.now()
        );
        assert!(
            again.now().duration_since(Timestamp::now()) >= SignedDuration::from_hours(71),
            "{}",
            again.now()
        );
        let further = again.advance(SignedDuration::from_hours(1)).unwrap();
        drop(again);
        let third = SandboxClock::kept(&file, 1.0).unwrap();
        assert!(third.now() >= further);
        drop(third);
        // A file that is not a reading is refused rather than taken for
        // "start again from real time".
        std::fs::write(&file, "shown = yesterday\n").unwrap();
        assert!(SandboxClock::kept(&file, 1.0).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_kept_reading_resumes_at_its_speed_and_not_before_itself() {
        let reading = Reading {
            shown: "2025-03-10T00:00:00Z".parse().unwrap(),
            written: "2025-03-01T00:00:00Z".parse().unwrap(),
            speed: 60.0,
        };
        assert_eq!(Reading::parse(&reading.to_text()), Some(reading));
        // A minute stopped is an hour of a clock that runs 60 times real time.
        assert_eq!(
            reading.resumed("2025-03-01T00:01:00Z".parse().unwrap()),
            "2025-03-10T01:00:00Z".parse::<Timestamp>().unwrap()
        );
        // A system clock that went back does not take the reading back.
        assert_eq!(
            reading.resumed("2025-02-01T00:00:00Z".parse().unwrap()),
            reading.shown
        );
        assert_eq!(Reading::parse("shown = 2025-03-10T00:00:00Z\n"), None);
    }
}
