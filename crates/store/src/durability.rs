//! Making sled's writes survive a power cut, not just a killed process.
//!
//! Measured here: sled 0.34's `flush()` issues `sync_file_range`, never `fsync`
//! or `fdatasync`, never syncs `conf`, renames snapshot files without syncing
//! the directory, and writes every page larger than a fraction of a segment
//! (about 128 KiB with the default 512 KiB segments) to a file of its own
//! under `blobs/`, which it never syncs at all. After each flush the gateway
//! therefore
//! - `fdatasync`s `db` and `conf` itself,
//! - syncs every blob file written since the last sync, then `blobs/`,
//! - and whenever the directory's own entries changed, every snapshot file
//!   and the directory.
//!
//! The data files and both directories are opened once and kept open, so a
//! sync opens only files that are new since the last one (a new blob or
//! snapshot): one that fails for want of descriptors fails before anything is
//! trusted, and the store recovers by reopening (see `writer`).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub(crate) struct Syncer {
    dir: PathBuf,
    dir_handle: File,
    data_files: Vec<File>,
    known_entries: BTreeSet<OsString>,
    blobs: Option<File>,
    known_blobs: BTreeSet<OsString>,
}

impl Syncer {
    pub(crate) fn new(dir: &Path) -> io::Result<Self> {
        let mut data_files = Vec::new();
        for name in ["db", "conf"] {
            let path = dir.join(name);
            if path.exists() {
                data_files.push(File::open(&path)?);
            }
        }
        let blobs = match File::open(dir.join("blobs")) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(Self {
            dir: dir.to_owned(),
            dir_handle: File::open(dir)?,
            data_files,
            known_entries: BTreeSet::new(),
            blobs,
            known_blobs: BTreeSet::new(),
        })
    }

    /// Syncs the data files, every blob new since the last call, and the
    /// snapshots and directory if anything was created or renamed since.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        // Blobs first: the log synced next may name any blob written so far,
        // and must never be durable without it.
        self.sync_blobs()?;
        for file in &self.data_files {
            file.sync_data()?;
        }
        let entries: BTreeSet<OsString> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        if entries != self.known_entries {
            for name in &entries {
                if name.to_string_lossy().starts_with("snap.") {
                    File::open(self.dir.join(name))?.sync_all()?;
                }
                if (self.data_files.len() < 2 && (name == "db" || name == "conf"))
                    || (self.blobs.is_none() && name == "blobs")
                {
                    // Created after we opened: pick it up now.
                    *self = Self::new(&self.dir)?;
                    return self.sync();
                }
            }
            self.dir_handle.sync_all()?;
            self.known_entries = entries;
        }
        Ok(())
    }

    /// Syncs each blob file written since the last call, then the `blobs/`
    /// directory that names them. A blob sled removed meanwhile needs nothing.
    fn sync_blobs(&mut self) -> io::Result<()> {
        let Some(blobs_dir) = &self.blobs else {
            return Ok(());
        };
        let path = self.dir.join("blobs");
        let present: BTreeSet<OsString> = std::fs::read_dir(&path)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        if present == self.known_blobs {
            return Ok(());
        }
        for name in present.difference(&self.known_blobs) {
            match File::open(path.join(name)) {
                Ok(blob) => blob.sync_all()?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        blobs_dir.sync_all()?;
        self.known_blobs = present;
        Ok(())
    }

    /// How many blob files the last sync saw.
    #[cfg(test)]
    pub(crate) fn blobs_seen(&self) -> usize {
        self.known_blobs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_blobs_are_found_and_a_removed_one_needs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"x").unwrap();
        std::fs::write(dir.path().join("conf"), b"y").unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        let mut syncer = Syncer::new(dir.path()).unwrap();
        syncer.sync().unwrap();
        assert_eq!(syncer.blobs_seen(), 0);
        std::fs::write(dir.path().join("blobs/17"), b"a large page").unwrap();
        std::fs::write(dir.path().join("blobs/18"), b"another").unwrap();
        syncer.sync().unwrap();
        assert_eq!(syncer.blobs_seen(), 2);
        std::fs::remove_file(dir.path().join("blobs/17")).unwrap();
        syncer.sync().unwrap();
        assert_eq!(syncer.blobs_seen(), 1);
    }

    #[test]
    fn a_blobs_directory_made_after_open_is_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"x").unwrap();
        std::fs::write(dir.path().join("conf"), b"y").unwrap();
        let mut syncer = Syncer::new(dir.path()).unwrap();
        syncer.sync().unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        std::fs::write(dir.path().join("blobs/3"), b"page").unwrap();
        syncer.sync().unwrap();
        assert_eq!(syncer.blobs_seen(), 1);
    }
}
