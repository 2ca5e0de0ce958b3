//! Making sled's writes survive a power cut, not just a killed process.
//!
//! Measured here: sled 0.34's `flush()` issues `sync_file_range`, never `fsync`
//! or `fdatasync`, never syncs `conf`, and renames snapshot files without syncing
//! the directory. After each flush the gateway therefore `fdatasync`s `db` and
//! `conf` itself, and whenever the directory's contents changed it syncs every
//! snapshot file and the directory.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub(crate) struct Syncer {
    dir: PathBuf,
    data_files: Vec<File>,
    known_entries: BTreeSet<OsString>,
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
        Ok(Self {
            dir: dir.to_owned(),
            data_files,
            known_entries: BTreeSet::new(),
        })
    }

    /// Syncs the data files, and the snapshots and directory if anything was
    /// created or renamed since the last call.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
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
                if self.data_files.len() < 2 && (name == "db" || name == "conf") {
                    // Created after we opened: pick it up now.
                    *self = Self::new(&self.dir)?;
                    return self.sync();
                }
            }
            File::open(&self.dir)?.sync_all()?;
            self.known_entries = entries;
        }
        Ok(())
    }
}
