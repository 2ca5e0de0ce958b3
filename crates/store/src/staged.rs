//! The writes of one group of operations, staged over the database until
//! the whole group goes to sled as one batch.
//!
//! Each operation reads what the operations before it in the group wrote
//! (a version, a lane's head, a count), so the writer reads through the
//! staged writes rather than the database alone. An operation that fails
//! leaves nothing staged: its writes are kept apart until it succeeds.
//!
//! One batch per group matters because sled takes a process-wide lock for
//! every `apply_batch` that every reader shares; a counter touched by many
//! operations of a group is also written once rather than once each.

use std::collections::BTreeMap;

use mediation_core::store::StoreError;

use crate::format::unavailable;

/// A key's staged value: `None` once removed.
type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Keys with their values, in order.
pub(crate) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// How many key writes the operations asked for, and how many reached sled
/// once a group's repeats were folded together.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyWrites {
    pub(crate) inserts: u64,
    pub(crate) removes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Staged {
    /// What the group's successful operations wrote.
    group: Writes,
    /// What the operation under way wrote so far.
    op: Writes,
    /// Asked for by the group's successful operations.
    pub(crate) asked: KeyWrites,
    op_asked: KeyWrites,
}

impl Staged {
    pub(crate) fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl AsRef<[u8]>) {
        self.op_asked.inserts += 1;
        self.op.insert(key.into(), Some(value.as_ref().to_vec()));
    }

    pub(crate) fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.op_asked.removes += 1;
        self.op.insert(key.into(), None);
    }

    /// The value of `key` as the group left it so far.
    pub(crate) fn get(&self, db: &sled::Db, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.op.get(key).or_else(|| self.group.get(key)) {
            Some(staged) => Ok(staged.clone()),
            None => Ok(db.get(key).map_err(unavailable)?.map(|v| v.to_vec())),
        }
    }

    /// Every key under `prefix` with its value, in order, as the group left
    /// them. For the small prefixes the writer walks: one referral's
    /// timers, one lane.
    pub(crate) fn scan(&self, db: &sled::Db, prefix: &[u8]) -> Result<Entries, StoreError> {
        let mut found: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for entry in db.scan_prefix(prefix) {
            let (key, value) = entry.map_err(unavailable)?;
            found.insert(key.to_vec(), value.to_vec());
        }
        for writes in [&self.group, &self.op] {
            for (key, value) in writes.range(prefix.to_vec()..) {
                if !key.starts_with(prefix) {
                    break;
                }
                match value {
                    Some(value) => found.insert(key.clone(), value.clone()),
                    None => found.remove(key),
                };
            }
        }
        Ok(found.into_iter().collect())
    }

    /// The operation under way succeeded: its writes join the group's.
    pub(crate) fn keep_op(&mut self) {
        let op = std::mem::take(&mut self.op);
        self.group.extend(op);
        self.asked.inserts += self.op_asked.inserts;
        self.asked.removes += self.op_asked.removes;
        self.op_asked = KeyWrites::default();
    }

    /// The operation under way failed: nothing it wrote is kept.
    pub(crate) fn drop_op(&mut self) {
        self.op.clear();
        self.op_asked = KeyWrites::default();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.group.is_empty()
    }

    /// The group as one sled batch, with the key writes it holds and the
    /// bytes of keys and values it writes.
    pub(crate) fn into_batch(self) -> (sled::Batch, KeyWrites, u64) {
        let mut batch = sled::Batch::default();
        let mut written = KeyWrites::default();
        let mut bytes = 0u64;
        for (key, value) in self.group {
            bytes += key.len() as u64;
            match value {
                Some(value) => {
                    bytes += value.len() as u64;
                    written.inserts += 1;
                    batch.insert(key, value);
                }
                None => {
                    written.removes += 1;
                    batch.remove(key);
                }
            }
        }
        (batch, written, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_reads_what_the_group_wrote_and_a_failed_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        db.insert(b"l/a/1", b"old").unwrap();
        db.insert(b"l/a/2", b"kept").unwrap();
        let mut staged = Staged::default();
        staged.insert(b"l/a/3".to_vec(), b"new");
        staged.remove(b"l/a/1".to_vec());
        staged.keep_op();
        assert_eq!(staged.get(&db, b"l/a/1").unwrap(), None);
        assert_eq!(staged.get(&db, b"l/a/3").unwrap(), Some(b"new".to_vec()));
        let keys: Vec<_> = staged
            .scan(&db, b"l/a/")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec![b"l/a/2".to_vec(), b"l/a/3".to_vec()]);

        staged.insert(b"l/a/4".to_vec(), b"doomed");
        staged.insert(b"l/a/3".to_vec(), b"overwritten");
        assert_eq!(staged.scan(&db, b"l/a/").unwrap().len(), 3);
        staged.drop_op();
        assert_eq!(staged.get(&db, b"l/a/3").unwrap(), Some(b"new".to_vec()));
        assert_eq!(staged.get(&db, b"l/a/4").unwrap(), None);

        // A key written by two operations reaches sled once.
        staged.insert(b"n/x".to_vec(), b"1");
        staged.keep_op();
        staged.insert(b"n/x".to_vec(), b"2");
        staged.keep_op();
        assert_eq!(
            staged.asked,
            KeyWrites {
                inserts: 3,
                removes: 1
            }
        );
        let (batch, written, _) = staged.into_batch();
        assert_eq!(
            written,
            KeyWrites {
                inserts: 2,
                removes: 1
            }
        );
        db.apply_batch(batch).unwrap();
        assert_eq!(db.get(b"n/x").unwrap().unwrap().as_ref(), b"2");
        assert!(db.get(b"l/a/1").unwrap().is_none());
    }
}
