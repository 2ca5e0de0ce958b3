//! Case materials on disk, kept once each by SHA-256 digest, beside the sled
//! store (by default `data/documents` next to `data/store`).
//!
//! An upload goes to a temporary file in `tmp/` while it is hashed. Only when
//! its digest and size match what the sender declared is the file synced,
//! renamed to `sha256/<first two digits>/<digest>` and the directory synced:
//! a file is either complete under its digest or absent. A mismatch, an
//! abandoned upload or a crash mid-upload leaves nothing under `sha256/`, and
//! leftovers in `tmp/` are removed when the store opens.
//!
//! Knowing a file's digest is not enough to use it: the directory also
//! records who uploaded each file, as an empty marker
//! `uploaders/<digest>/<tenant in hex>` made durable before the upload is
//! answered. Whoever uploaded the bytes has them, so a second tenant that
//! uploads the same bytes is recorded too. Files kept before markers existed
//! have none; they stay reachable through the referrals that list them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use mediation_core::document::DocumentError;
use mediation_core::document::Sha256Digest;
use mediation_core::store::{DocumentFiles, DocumentUpload, StoredFile};
use sha2::{Digest, Sha256};

/// The document directory.
#[derive(Debug, Clone)]
pub struct DocumentStore {
    root: PathBuf,
}

impl DocumentStore {
    /// Opens (creating if needed) the document directory at `root`, and
    /// removes uploads a crash left unfinished.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, DocumentError> {
        let root = root.into();
        crate::create_durable_dir(&root.join("sha256"))?;
        crate::create_durable_dir(&root.join("uploaders"))?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        sync_dir(&root)?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, digest: &Sha256Digest) -> PathBuf {
        let hex = digest.as_str();
        self.root.join("sha256").join(&hex[..2]).join(hex)
    }

    fn uploaders_of(&self, digest: &Sha256Digest) -> PathBuf {
        self.root.join("uploaders").join(digest.as_str())
    }

    /// Whether `tenant` uploaded the file with `digest` (and it is kept).
    pub fn uploaded_by(&self, digest: &Sha256Digest, tenant: &str) -> bool {
        self.contains(digest) && self.uploaders_of(digest).join(hex(tenant)).is_file()
    }

    /// Removes the file with `digest` and its uploaders' markers, markers
    /// first, each removal synced; whether a file was there.
    pub fn remove(&self, digest: &Sha256Digest) -> io::Result<bool> {
        self.forget_uploaders(digest)?;
        let file = self.path_of(digest);
        match fs::remove_file(&file) {
            Ok(()) => {
                sync_dir(file.parent().unwrap_or(&self.root))?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes the record of who uploaded the file with `digest`, synced.
    pub fn forget_uploaders(&self, digest: &Sha256Digest) -> io::Result<()> {
        let markers = self.uploaders_of(digest);
        if markers.exists() {
            fs::remove_dir_all(&markers)?;
            sync_dir(&self.root.join("uploaders"))?;
        }
        Ok(())
    }

    /// Records durably that `tenant` uploaded the file with `digest`.
    pub fn record_uploader(&self, digest: &Sha256Digest, tenant: &str) -> io::Result<()> {
        let dir = self.uploaders_of(digest);
        let marker = dir.join(hex(tenant));
        if marker.is_file() {
            return Ok(());
        }
        let new_dir = !dir.exists();
        fs::create_dir_all(&dir)?;
        File::create(&marker)?;
        sync_dir(&dir)?;
        if new_dir {
            sync_dir(&self.root.join("uploaders"))?;
        }
        Ok(())
    }

    /// Who uploaded the file with `digest`, as recorded.
    pub fn uploaders(&self, digest: &Sha256Digest) -> io::Result<Vec<String>> {
        let dir = self.uploaders_of(digest);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut tenants = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            if let Some(tenant) = name.to_str().and_then(unhex) {
                tenants.push(tenant);
            }
        }
        tenants.sort();
        Ok(tenants)
    }

    /// Whether the file with `digest` is kept.
    pub fn contains(&self, digest: &Sha256Digest) -> bool {
        self.path_of(digest).is_file()
    }

    /// Opens the kept file with `digest`, with its size.
    pub fn open_file(&self, digest: &Sha256Digest) -> io::Result<Option<(File, u64)>> {
        match File::open(self.path_of(digest)) {
            Ok(file) => {
                let size = file.metadata()?.len();
                Ok(Some((file, size)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Starts receiving a file that must hash to `digest` and be `size` bytes.
    pub fn begin(&self, digest: Sha256Digest, size: u64) -> Result<Upload, DocumentError> {
        let name = format!("{}-{}", digest.as_str(), ulid::Ulid::generate());
        let temp = self.root.join("tmp").join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        Ok(Upload {
            store: self.clone(),
            temp,
            file: Some(file),
            hasher: Sha256::new(),
            declared: digest,
            size,
            written: 0,
        })
    }
}

/// A file being received. Dropping it unfinished removes what was written.
#[derive(Debug)]
pub struct Upload {
    store: DocumentStore,
    temp: PathBuf,
    file: Option<File>,
    hasher: Sha256,
    declared: Sha256Digest,
    size: u64,
    written: u64,
}

impl Upload {
    /// Appends the next bytes. Refuses as soon as more arrive than declared.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), DocumentError> {
        let written = self.written + bytes.len() as u64;
        if written > self.size {
            return Err(DocumentError::TooLarge {
                declared: self.size,
            });
        }
        self.hasher.update(bytes);
        if let Some(file) = &mut self.file {
            file.write_all(bytes)?;
        }
        self.written = written;
        Ok(())
    }

    /// Checks the size and digest, then makes the file, and the record that
    /// `uploader` uploaded it, durable under its digest. Returns whether the
    /// file was new.
    pub fn finish(self, uploader: &str) -> Result<bool, DocumentError> {
        let store = self.store.clone();
        let digest = self.declared.clone();
        let created = self.finish_unattributed()?;
        store.record_uploader(&digest, uploader)?;
        Ok(created)
    }

    /// [`Upload::finish`] without recording an uploader: for an import, which
    /// brings the records of who uploaded what separately.
    pub fn finish_unattributed(mut self) -> Result<bool, DocumentError> {
        if self.written != self.size {
            return Err(DocumentError::SizeMismatch {
                declared: self.size,
                actual: self.written,
            });
        }
        let actual = Sha256Digest::from_bytes(self.hasher.clone().finalize().into());
        if actual != self.declared {
            return Err(DocumentError::DigestMismatch {
                declared: self.declared.clone(),
                actual,
            });
        }
        let file = self.file.take();
        if let Some(file) = file {
            file.sync_all()?;
        }
        let target = self.store.path_of(&self.declared);
        if target.is_file() {
            // Same digest, same bytes: keep the first copy.
            let _ = fs::remove_file(&self.temp);
            return Ok(false);
        }
        let dir = target.parent().unwrap_or(self.store.root());
        let new_dir = !dir.exists();
        fs::create_dir_all(dir)?;
        fs::rename(&self.temp, &target)?;
        sync_dir(dir)?;
        if new_dir {
            sync_dir(&self.store.root.join("sha256"))?;
        }
        Ok(true)
    }
}

impl DocumentFiles for DocumentStore {
    fn uploaded_by(&self, digest: &Sha256Digest, tenant: &str) -> bool {
        DocumentStore::uploaded_by(self, digest, tenant)
    }

    fn open(&self, digest: &Sha256Digest) -> Result<Option<StoredFile>, DocumentError> {
        Ok(self
            .open_file(digest)?
            .map(|(file, size)| (Box::new(file) as Box<dyn io::Read + Send>, size)))
    }

    fn begin(
        &self,
        digest: Sha256Digest,
        size: u64,
    ) -> Result<Box<dyn DocumentUpload>, DocumentError> {
        Ok(Box::new(DocumentStore::begin(self, digest, size)?))
    }

    fn forget_uploaders(&self, digest: &Sha256Digest) -> Result<(), DocumentError> {
        DocumentStore::forget_uploaders(self, digest).map_err(DocumentError::from)
    }

    fn remove(&self, digest: &Sha256Digest) -> Result<bool, DocumentError> {
        DocumentStore::remove(self, digest).map_err(DocumentError::from)
    }
}

impl DocumentUpload for Upload {
    fn write(&mut self, bytes: &[u8]) -> Result<(), DocumentError> {
        Upload::write(self, bytes)
    }

    fn finish(self: Box<Self>, uploader: &str) -> Result<bool, DocumentError> {
        Upload::finish(*self, uploader)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // After a successful finish the temporary file has been renamed away
        // and this does nothing.
        let _ = fs::remove_file(&self.temp);
    }
}

/// A tenant id as a file name: hexadecimal, so no id can name a path.
fn hex(tenant: &str) -> String {
    tenant.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(name: &str) -> Option<String> {
    if !name.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..name.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(name.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(bytes: &[u8]) -> Sha256Digest {
        Sha256Digest::from_bytes(Sha256::digest(bytes).into())
    }

    #[test]
    fn a_file_is_kept_under_its_digest_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = DocumentStore::open(dir.path()).unwrap();
        let bytes = b"scanned pleading".repeat(1000);
        let d = digest(&bytes);
        let mut upload = store.begin(d.clone(), bytes.len() as u64).unwrap();
        for chunk in bytes.chunks(777) {
            upload.write(chunk).unwrap();
        }
        assert!(upload.finish("court-bj").unwrap());
        assert!(store.contains(&d));
        assert!(store.uploaded_by(&d, "court-bj"));
        assert!(
            !store.uploaded_by(&d, "court-sh"),
            "knowing the digest is not uploading"
        );
        let (mut file, size) = store.open_file(&d).unwrap().unwrap();
        assert_eq!(size, bytes.len() as u64);
        let mut back = Vec::new();
        io::Read::read_to_end(&mut file, &mut back).unwrap();
        assert_eq!(back, bytes);
        // The same file again is harmless and not new.
        let mut again = store.begin(d.clone(), bytes.len() as u64).unwrap();
        again.write(&bytes).unwrap();
        assert!(!again.finish("court-bj").unwrap());
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_removed_file_is_gone_with_its_uploaders() {
        let dir = tempfile::tempdir().unwrap();
        let store = DocumentStore::open(dir.path()).unwrap();
        let bytes = b"an identity card, scanned".to_vec();
        let d = digest(&bytes);
        let mut upload = store.begin(d.clone(), bytes.len() as u64).unwrap();
        upload.write(&bytes).unwrap();
        upload.finish("court-bj").unwrap();
        assert!(store.remove(&d).unwrap());
        assert!(!store.contains(&d));
        assert!(!store.uploaded_by(&d, "court-bj"));
        assert!(store.open_file(&d).unwrap().is_none());
        assert!(!store.path_of(&d).exists());
        assert!(!store.uploaders_of(&d).exists());
        // Removing it again finds nothing, and is no error.
        assert!(!store.remove(&d).unwrap());
    }

    #[test]
    fn a_mismatch_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = DocumentStore::open(dir.path()).unwrap();
        let declared = digest(b"what was promised");
        let mut upload = store.begin(declared.clone(), 17).unwrap();
        upload.write(b"what was uploaded").unwrap();
        assert!(matches!(
            upload.finish("t"),
            Err(DocumentError::DigestMismatch { .. })
        ));
        let mut upload = store.begin(declared.clone(), 3).unwrap();
        assert!(matches!(
            upload.write(b"four"),
            Err(DocumentError::TooLarge { declared: 3 })
        ));
        drop(upload);
        let short = store.begin(declared.clone(), 30).unwrap();
        assert!(matches!(
            short.finish("t"),
            Err(DocumentError::SizeMismatch { .. })
        ));
        assert!(!store.contains(&declared));
        assert!(
            !store.uploaded_by(&declared, "t"),
            "a refused upload records no one"
        );
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn leftovers_of_a_crash_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = DocumentStore::open(dir.path()).unwrap();
        let upload = store.begin(digest(b"x"), 1).unwrap();
        // A crash: the upload is never finished nor dropped.
        std::mem::forget(upload);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 1);
        DocumentStore::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
