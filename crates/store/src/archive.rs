//! A whole store in one file: every key of the sled keyspace and every case
//! file, to move a gateway to another machine or keep an offline copy.
//!
//! The format is a magic line followed by records, each a tag byte:
//!
//! | tag | record |
//! |---|---|
//! | `K` | key length (u32 BE), key, value length (u32 BE), value |
//! | `D` | the file's SHA-256 as 64 hex digits, its length (u64 BE), its bytes |
//! | `U` | a file's SHA-256 as 64 hex digits, then the tenant that uploaded it (u32 BE length, UTF-8) |
//! | `Z` | keys (u64 BE), files (u64 BE), then the SHA-256 of every byte before it |
//!
//! An import writes into a fresh directory beside the target and moves it into
//! place only after the trailer's counts and checksum match, so a truncated
//! or altered archive leaves no store behind. Case files are checked against
//! their digests as they are written, exactly as uploads are; the records of
//! who uploaded them are applied only once the trailer has been checked.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use mediation_core::document::Sha256Digest;
use sha2::{Digest, Sha256};

use crate::documents::{DocumentError, DocumentStore};
use crate::{FIRST_SCHEMA_VERSION, PREVIOUS_SCHEMA_VERSIONS, SCHEMA_VERSION, SledStore, keys};

const MAGIC: &[u8] = b"mediation-gateway archive 1\n";

/// What an export wrote or an import read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArchiveSummary {
    pub keys: u64,
    pub documents: u64,
    pub bytes: u64,
}

/// Why an export or import failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a mediation-gateway archive")]
    NotAnArchive,
    #[error("the archive is cut short")]
    Truncated,
    #[error("unknown record tag {0:#04x} at byte {1}")]
    UnknownRecord(u8, u64),
    #[error("the archive's checksum or counts do not match its contents: it was altered")]
    Altered,
    #[error("the archive holds a key of no table of the store, {0:?}, at byte {1}")]
    UnknownKey(String, u64),
    #[error("the archive holds a store of schema {found}; this build reads {supported}")]
    UnsupportedSchema { found: u32, supported: u32 },
    #[error("{0} already holds a store; import only into an empty or missing directory")]
    TargetNotEmpty(PathBuf),
    #[error("store: {0}")]
    Store(String),
    #[error("case file {digest}: {source}")]
    Document {
        digest: String,
        source: DocumentError,
    },
}

/// Writes and hashes everything that passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        self.inner.write_all(bytes)
    }
}

impl SledStore {
    /// Writes every key and every file in `documents` to `out`. Run it on a
    /// store no gateway is serving from; `progress` hears about every 10,000
    /// keys and every file.
    pub fn export(
        &self,
        documents: &DocumentStore,
        out: impl Write,
        mut progress: impl FnMut(&ArchiveSummary),
    ) -> Result<ArchiveSummary, ArchiveError> {
        let mut out = Hashing {
            inner: io::BufWriter::new(out),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let mut summary = ArchiveSummary::default();
        out.put(MAGIC)?;
        let db = self.db().map_err(|e| ArchiveError::Store(e.to_string()))?;
        for entry in db.iter() {
            let (key, value) = entry.map_err(|e| ArchiveError::Store(e.to_string()))?;
            out.put(b"K")?;
            out.put(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_be_bytes())?;
            out.put(&key)?;
            out.put(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes())?;
            out.put(&value)?;
            summary.keys += 1;
            if summary.keys % 10_000 == 0 {
                summary.bytes = out.bytes;
                progress(&summary);
            }
        }
        for (digest, path) in document_files(documents.root())? {
            let mut file = fs::File::open(&path)?;
            let size = file.metadata()?.len();
            out.put(b"D")?;
            out.put(digest.as_str().as_bytes())?;
            out.put(&size.to_be_bytes())?;
            let mut buffer = vec![0; 64 * 1024];
            let mut left = size;
            while left > 0 {
                let n = file.read(&mut buffer)?;
                if n == 0 {
                    return Err(ArchiveError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} shrank while it was exported", path.display()),
                    )));
                }
                let n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
                out.put(&buffer[..n])?;
                left -= n as u64;
            }
            summary.documents += 1;
            summary.bytes = out.bytes;
            progress(&summary);
            for tenant in documents.uploaders(&digest)? {
                out.put(b"U")?;
                out.put(digest.as_str().as_bytes())?;
                out.put(
                    &u32::try_from(tenant.len())
                        .unwrap_or(u32::MAX)
                        .to_be_bytes(),
                )?;
                out.put(tenant.as_bytes())?;
            }
        }
        out.put(b"Z")?;
        out.put(&summary.keys.to_be_bytes())?;
        out.put(&summary.documents.to_be_bytes())?;
        let checksum: [u8; 32] = out.hasher.clone().finalize().into();
        out.inner.write_all(&checksum)?;
        out.inner.flush()?;
        summary.bytes = out.bytes + 32;
        Ok(summary)
    }
}

/// Every kept file under `root/sha256`, in digest order.
fn document_files(root: &Path) -> io::Result<Vec<(Sha256Digest, PathBuf)>> {
    let mut files = Vec::new();
    let base = root.join("sha256");
    if !base.is_dir() {
        return Ok(files);
    }
    for dir in fs::read_dir(&base)? {
        let dir = dir?.path();
        if !dir.is_dir() {
            continue;
        }
        for file in fs::read_dir(&dir)? {
            let path = file?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Ok(digest) = Sha256Digest::parse(name) {
                files.push((digest, path));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads exactly `n` bytes, hashing them.
struct Reading<R> {
    inner: R,
    hasher: Sha256,
    offset: u64,
}

impl<R: Read> Reading<R> {
    fn take(&mut self, buffer: &mut [u8]) -> Result<(), ArchiveError> {
        self.inner.read_exact(buffer).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => ArchiveError::Truncated,
            _ => ArchiveError::Io(e),
        })?;
        self.hasher.update(&*buffer);
        self.offset += buffer.len() as u64;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ArchiveError> {
        let mut bytes = [0; N];
        self.take(&mut bytes)?;
        Ok(bytes)
    }

    fn block(&mut self) -> Result<Vec<u8>, ArchiveError> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        let mut bytes = vec![0; len];
        self.take(&mut bytes)?;
        Ok(bytes)
    }
}

/// Imports the archive in `input` into the store directory `store_dir`, which
/// must be missing or empty, and its case files into `documents`.
pub fn import(
    input: impl Read,
    store_dir: &Path,
    documents: &DocumentStore,
    mut progress: impl FnMut(&ArchiveSummary),
) -> Result<ArchiveSummary, ArchiveError> {
    if store_dir.exists() && fs::read_dir(store_dir)?.next().is_some() {
        return Err(ArchiveError::TargetNotEmpty(store_dir.to_owned()));
    }
    let staging = staging_dir(store_dir);
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    let result = import_into(input, &staging, documents, &mut progress);
    match result {
        Ok(summary) => {
            if store_dir.exists() {
                fs::remove_dir(store_dir)?;
            }
            fs::rename(&staging, store_dir)?;
            if let Some(parent) = store_dir.parent() {
                fs::File::open(parent)?.sync_all()?;
            }
            Ok(summary)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn staging_dir(store_dir: &Path) -> PathBuf {
    let mut name = store_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".importing");
    store_dir.with_file_name(name)
}

fn import_into(
    input: impl Read,
    staging: &Path,
    documents: &DocumentStore,
    progress: &mut impl FnMut(&ArchiveSummary),
) -> Result<ArchiveSummary, ArchiveError> {
    let store = |e: sled::Error| ArchiveError::Store(e.to_string());
    // A one-shot handle, flushed by hand below: without sled's periodic
    // flusher thread, which can hold the directory lock for a moment after
    // the handle is dropped (sled #1234), the store can be opened at once.
    let db = sled::Config::new()
        .path(staging)
        .segment_size(crate::NEW_STORE_SEGMENT_BYTES)
        .flush_every_ms(None)
        .open()
        .map_err(store)?;
    let mut reader = Reading {
        inner: io::BufReader::new(input),
        hasher: Sha256::new(),
        offset: 0,
    };
    let mut magic = vec![0; MAGIC.len()];
    reader
        .take(&mut magic)
        .map_err(|_| ArchiveError::NotAnArchive)?;
    if magic != MAGIC {
        return Err(ArchiveError::NotAnArchive);
    }
    let mut summary = ArchiveSummary::default();
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    let mut uploaders = Vec::new();
    loop {
        let at = reader.offset;
        let [tag] = reader.array::<1>()?;
        match tag {
            b'K' => {
                let key = reader.block()?;
                let value = reader.block()?;
                // Every key a gateway ever wrote names a table; anything
                // else is not a gateway's store.
                if keys::Table::of_key(&key).is_none() {
                    return Err(ArchiveError::UnknownKey(
                        String::from_utf8_lossy(&key[..key.len().min(40)]).into_owned(),
                        at,
                    ));
                }
                batch.insert(key, value);
                in_batch += 1;
                summary.keys += 1;
                if in_batch == 10_000 {
                    db.apply_batch(std::mem::take(&mut batch)).map_err(store)?;
                    in_batch = 0;
                    summary.bytes = reader.offset;
                    progress(&summary);
                }
            }
            b'D' => {
                let hex: [u8; 64] = reader.array()?;
                let digest = Sha256Digest::parse(&String::from_utf8_lossy(&hex))
                    .map_err(|_| ArchiveError::Altered)?;
                let size = u64::from_be_bytes(reader.array()?);
                let document = |source| ArchiveError::Document {
                    digest: digest.as_str().to_owned(),
                    source,
                };
                let mut upload = documents.begin(digest.clone(), size).map_err(document)?;
                let mut buffer = vec![0; 64 * 1024];
                let mut left = size;
                while left > 0 {
                    let n = buffer
                        .len()
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    reader.take(&mut buffer[..n])?;
                    upload.write(&buffer[..n]).map_err(document)?;
                    left -= n as u64;
                }
                upload.finish_unattributed().map_err(document)?;
                summary.documents += 1;
                summary.bytes = reader.offset;
                progress(&summary);
            }
            b'U' => {
                let hex: [u8; 64] = reader.array()?;
                let digest = Sha256Digest::parse(&String::from_utf8_lossy(&hex))
                    .map_err(|_| ArchiveError::Altered)?;
                let tenant =
                    String::from_utf8(reader.block()?).map_err(|_| ArchiveError::Altered)?;
                uploaders.push((digest, tenant));
            }
            b'Z' => {
                let keys = u64::from_be_bytes(reader.array()?);
                let files = u64::from_be_bytes(reader.array()?);
                let expected: [u8; 32] = reader.hasher.clone().finalize().into();
                let mut checksum = [0; 32];
                reader
                    .inner
                    .read_exact(&mut checksum)
                    .map_err(|_| ArchiveError::Truncated)?;
                if checksum != expected || keys != summary.keys || files != summary.documents {
                    return Err(ArchiveError::Altered);
                }
                summary.bytes = reader.offset + 32;
                break;
            }
            other => return Err(ArchiveError::UnknownRecord(other, at)),
        }
    }
    db.apply_batch(batch).map_err(store)?;
    let schema = db
        .get(keys::SCHEMA)
        .map_err(store)?
        .and_then(|b| <[u8; 4]>::try_from(b.as_ref()).ok())
        .map(u32::from_be_bytes)
        .ok_or(ArchiveError::Altered)?;
    // An archive an older build exported holds a store of an older schema:
    // it is imported as it is, and migrated when it is first opened.
    if !(schema == SCHEMA_VERSION
        || schema == FIRST_SCHEMA_VERSION
        || PREVIOUS_SCHEMA_VERSIONS.contains(&schema))
    {
        return Err(ArchiveError::UnsupportedSchema {
            found: schema,
            supported: SCHEMA_VERSION,
        });
    }
    for (digest, tenant) in uploaders {
        documents
            .record_uploader(&digest, &tenant)
            .map_err(|e| ArchiveError::Document {
                digest: digest.as_str().to_owned(),
                source: DocumentError::Io(e),
            })?;
    }
    db.flush().map_err(store)?;
    drop(db);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediation_core::store::AlertLog;

    use crate::StoreOptions;

    async fn filled(dir: &Path) -> (SledStore, DocumentStore, Sha256Digest) {
        let store = SledStore::open(StoreOptions::new(dir.join("store"))).unwrap();
        mediation_store_conformance::alerts_are_raised_alone_and_acknowledged_once(store.clone())
            .await;
        let documents = DocumentStore::open(dir.join("documents")).unwrap();
        let bytes = b"a scanned agreement".repeat(10_000);
        let digest = Sha256Digest::from_bytes(Sha256::digest(&bytes).into());
        let mut upload = documents.begin(digest.clone(), bytes.len() as u64).unwrap();
        upload.write(&bytes).unwrap();
        upload.finish("court-bj").unwrap();
        (store, documents, digest)
    }

    #[tokio::test]
    async fn an_exported_store_imports_whole_with_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let (store, documents, digest) = filled(&dir.path().join("a")).await;
        let mut archive = Vec::new();
        let mut heard = 0;
        let written = store
            .export(&documents, &mut archive, |_| heard += 1)
            .unwrap();
        assert_eq!(written.documents, 1);
        assert_eq!(written.bytes, archive.len() as u64);
        assert!(heard >= 1);

        let target = dir.path().join("b");
        let documents_b = DocumentStore::open(target.join("documents")).unwrap();
        let read = import(&archive[..], &target.join("store"), &documents_b, |_| {}).unwrap();
        assert_eq!(read, written);
        let imported = SledStore::open(StoreOptions::new(target.join("store"))).unwrap();
        for referral in store.referral_ids(None, 100).unwrap() {
            assert_eq!(
                imported.history(&referral).unwrap(),
                store.history(&referral).unwrap()
            );
        }
        assert_eq!(
            imported.alerts_after(0, 100).unwrap(),
            store.alerts_after(0, 100).unwrap()
        );
        assert_eq!(
            imported.acknowledgement(2).unwrap(),
            store.acknowledgement(2).unwrap()
        );
        assert_eq!(
            imported.verify_audit().unwrap(),
            store.verify_audit().unwrap()
        );
        assert!(documents_b.contains(&digest));
        assert!(
            documents_b.uploaded_by(&digest, "court-bj"),
            "who uploaded a file travels with it"
        );
        assert!(!documents_b.uploaded_by(&digest, "court-sh"));
        // The imported store keeps numbering where the old one stopped.
        let next = imported
            .raise_alert(store.alerts_after(0, 1).unwrap()[0].record.clone())
            .await
            .unwrap();
        assert_eq!(next, store.alerts_after(0, 100).unwrap().len() as u64 + 1);
    }

    /// A key of no table is no gateway's: the archive is refused, and no
    /// store is left.
    #[tokio::test]
    async fn an_archive_with_a_key_of_no_table_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (store, documents, _) = filled(&dir.path().join("a")).await;
        store.db().unwrap().insert(b"z/foreign", b"?").unwrap();
        let mut archive = Vec::new();
        store.export(&documents, &mut archive, |_| {}).unwrap();
        let documents_b = DocumentStore::open(dir.path().join("b/documents")).unwrap();
        let target = dir.path().join("b/store");
        let refused = import(&archive[..], &target, &documents_b, |_| {});
        assert!(
            matches!(&refused, Err(ArchiveError::UnknownKey(key, _)) if key == "z/foreign"),
            "{refused:?}"
        );
        assert!(!target.exists());
    }

    #[tokio::test]
    async fn a_cut_or_altered_archive_leaves_no_store_and_an_existing_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (store, documents, _) = filled(&dir.path().join("a")).await;
        let mut archive = Vec::new();
        store.export(&documents, &mut archive, |_| {}).unwrap();
        let documents_b = DocumentStore::open(dir.path().join("b/documents")).unwrap();
        let target = dir.path().join("b/store");

        let cut = &archive[..archive.len() / 2];
        assert!(matches!(
            import(cut, &target, &documents_b, |_| {}),
            Err(ArchiveError::Truncated)
        ));
        assert!(!target.exists());

        let mut altered = archive.clone();
        let middle = MAGIC.len() + 40;
        altered[middle] ^= 0x01;
        assert!(import(&altered[..], &target, &documents_b, |_| {}).is_err());
        assert!(!target.exists());
        assert!(!staging_dir(&target).exists());

        assert!(matches!(
            import(&b"PK\x03\x04 a zip file"[..], &target, &documents_b, |_| {}),
            Err(ArchiveError::NotAnArchive)
        ));

        // Into the store that is already there: refused, nothing touched.
        drop(store);
        let existing = dir.path().join("a/store");
        assert!(matches!(
            import(&archive[..], &existing, &documents_b, |_| {}),
            Err(ArchiveError::TargetNotEmpty(_))
        ));
        SledStore::open(StoreOptions::new(existing)).unwrap();
    }
}
