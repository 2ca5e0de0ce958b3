//! The case files: kept once each by digest, beside the storage engine,
//! with who uploaded each one.

use crate::document::{DocumentError, Sha256Digest};

/// Where case files are kept, once each by digest, with who uploaded each
/// one. Implemented beside the storage engine; the API edge reads and writes
/// files only through this.
pub trait DocumentFiles: Send + Sync + std::fmt::Debug {
    /// Whether `tenant` uploaded the file with `digest`, and it is kept.
    fn uploaded_by(&self, digest: &Sha256Digest, tenant: &str) -> bool;

    /// The kept file with `digest`, or `None`.
    fn open(&self, digest: &Sha256Digest) -> Result<Option<StoredFile>, DocumentError>;

    /// Forgets, durably, who uploaded the file with `digest`: from then on
    /// no tenant can list it in a new bundle or agreement without uploading
    /// it anew. For a purge (`crate::retention`), before it looks for
    /// referrals that still list the file.
    fn forget_uploaders(&self, digest: &Sha256Digest) -> Result<(), DocumentError>;

    /// Removes the file with `digest` and the records of who uploaded it,
    /// durably, the records first. Returns whether a file was kept. For a
    /// purge, once no referral lists the file.
    fn remove(&self, digest: &Sha256Digest) -> Result<bool, DocumentError>;

    /// Starts receiving a file that must hash to `digest` and be `size` bytes.
    fn begin(
        &self,
        digest: Sha256Digest,
        size: u64,
    ) -> Result<Box<dyn DocumentUpload>, DocumentError>;
}

/// A kept file being read, and its size in bytes.
pub type StoredFile = (Box<dyn std::io::Read + Send>, u64);

/// A file being received. Dropping it unfinished keeps nothing.
pub trait DocumentUpload: Send {
    /// Appends the next bytes; refuses as soon as more arrive than declared.
    fn write(&mut self, bytes: &[u8]) -> Result<(), DocumentError>;

    /// Checks the size and digest, then makes the file and the record that
    /// `uploader` uploaded it durable. Returns whether the file was new.
    fn finish(self: Box<Self>, uploader: &str) -> Result<bool, DocumentError>;
}
