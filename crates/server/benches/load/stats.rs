//! Latency percentiles and throughput of one measured run.

use std::time::Duration;

/// Latencies in microseconds; percentiles are read off the sorted samples.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_micros() as u64);
    }

    pub fn push_micros(&mut self, us: u64) {
        self.0.push(us);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`-th percentile (0 < p ≤ 100) in milliseconds, nearest rank.
    pub fn percentile(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1] as f64 / 1000.0
    }

    /// "p50 a ms, p99 b ms, p999 c ms".
    pub fn summary(&mut self) -> String {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms",
            self.percentile(50.0),
            self.percentile(99.0),
            self.percentile(99.9)
        )
    }
}

/// What a fixed-time run of concurrent clients achieved.
#[derive(Debug, Default)]
pub struct Run {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub latencies: Latencies,
}

impl Run {
    /// Adds one client's run to the total of a measurement.
    pub fn absorb(&mut self, run: Run) {
        self.ok += run.ok;
        self.errors += run.errors;
        if self.first_error.is_none() {
            self.first_error = run.first_error;
        }
        self.latencies.extend(run.latencies);
    }

    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// One line: rate and percentiles, and errors if any.
    pub fn line(&mut self) -> String {
        let errors = match (&self.first_error, self.errors) {
            (_, 0) => String::new(),
            (Some(e), n) => format!(" [{n} errors, first: {e}]"),
            (None, n) => format!(" [{n} errors]"),
        };
        let rate = self.rate();
        format!("{rate:>8.0} /s  {}{errors}", self.latencies.summary())
    }
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}
