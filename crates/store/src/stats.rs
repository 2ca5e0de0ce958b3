//! What the writer and the flusher count of their work since the store was
//! opened: syncs, operations, batches, key writes, bytes, checkpoints.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::staged::KeyWrites;

/// Counters of the writer's work since open, for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct CommitStats {
    groups: AtomicU64,
    operations: AtomicU64,
    batches: AtomicU64,
    keys_asked: AtomicU64,
    keys_written: AtomicU64,
    bytes_written: AtomicU64,
    checkpoints: AtomicU64,
}

impl CommitStats {
    /// (syncs made, operations they made durable).
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.groups.load(Ordering::Relaxed),
            self.operations.load(Ordering::Relaxed),
        )
    }

    /// (sled batches applied, key writes the operations asked for, key
    /// writes that reached sled once a group's repeats were folded).
    pub fn key_writes(&self) -> (u64, u64, u64) {
        (
            self.batches.load(Ordering::Relaxed),
            self.keys_asked.load(Ordering::Relaxed),
            self.keys_written.load(Ordering::Relaxed),
        )
    }

    /// Bytes of keys and values applied since open: what the checkpoints
    /// are counted in (`StoreOptions::checkpoint_bytes`).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// Checkpoints (reopenings that bound the next restart) since open.
    pub fn checkpoints(&self) -> u64 {
        self.checkpoints.load(Ordering::Relaxed)
    }

    pub(crate) fn record_checkpoint(&self) {
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_sync(&self, operations: u64) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.operations.fetch_add(operations, Ordering::Relaxed);
    }

    pub(crate) fn record_batch(&self, asked: KeyWrites, written: KeyWrites, bytes: u64) {
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
        metrics::counter!("gateway_store_batches_total").increment(1);
        metrics::counter!("gateway_store_key_writes_total")
            .increment(written.inserts + written.removes);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.keys_asked
            .fetch_add(asked.inserts + asked.removes, Ordering::Relaxed);
        self.keys_written
            .fetch_add(written.inserts + written.removes, Ordering::Relaxed);
    }
}
