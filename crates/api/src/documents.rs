//! The `Documents` service: case materials in and out, in chunks.
//!
//! Uploads are hashed as they arrive and kept only when they match the
//! declared digest and size ([`DocumentFiles`]). Downloads are
//! answered only to the court system of the referring court or the platform
//! of the organisation holding the referral, and only for files the referral
//! lists; anything else is NOT_FOUND, so a caller cannot learn which files or
//! referrals exist. A referral lists a file only if the tenant that listed
//! it had uploaded it, or it already belonged to that referral
//! ([`require_uploaded`]), so a download is never granted on the strength of
//! a digest alone. Who calls is the guard's authenticated caller, never a
//! name in the request.

use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;

use mediation_core::Violations;
use mediation_core::document::{Document, DocumentLocation, MediaType, Sha256Digest};
use mediation_core::ids::ReferralId;
use mediation_core::lifecycle::Referral;
use mediation_core::store::{AuditLog, DocumentFiles, ReferralStore};
use mediation_proto::documents::v1 as pb;
use mediation_proto::documents::v1::documents_server::Documents;
use mediation_service::Commands;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::guard::take;
use crate::status::{self, from_service, invalid, invalid_field};

/// The largest chunk either way.
pub const MAX_CHUNK: usize = 1024 * 1024;
/// The largest file accepted: scans of a thick file run to tens of megabytes.
pub const MAX_FILE: u64 = 512 * 1024 * 1024;

/// Serves case materials.
#[derive(Debug)]
pub struct DocumentsService<S> {
    gateway: Arc<Commands<S>>,
    documents: Arc<dyn DocumentFiles>,
}

impl<S> DocumentsService<S> {
    pub fn new(gateway: Arc<Commands<S>>, documents: Arc<dyn DocumentFiles>) -> Self {
        Self { gateway, documents }
    }
}

/// FAILED_PRECONDITION naming each listed file the caller may not list.
/// `files` pairs each file with its path in the request.
///
/// A file listed without a url must be one `tenant` uploaded itself, or one
/// that already belongs to `referral` (the case the call is about, when it
/// is about one). Knowing a digest is not enough: otherwise any tenant could
/// attach another's file to its own case and then download it. The answer
/// is the same whether or not someone else uploaded the file, so it tells
/// nothing of other tenants' files.
pub fn require_uploaded<'a>(
    store: &dyn DocumentFiles,
    tenant: &str,
    referral: Option<&Referral>,
    files: impl IntoIterator<Item = (String, &'a Document)>,
) -> Result<(), Status> {
    let mut refused = Vec::new();
    for (path, file) in files {
        let allowed = file.location != DocumentLocation::Stored
            || referral.is_some_and(|r| r.lists_document(&file.sha256))
            || store.uploaded_by(&file.sha256, tenant);
        if !allowed {
            refused.push((
                format!("{path}.sha256"),
                format!(
                    "{} is listed without a url but this tenant has not uploaded it; upload it with Documents.Upload first",
                    file.sha256
                ),
            ));
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(status::files_not_uploaded(&refused))
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::DownloadChunk, Status>> + Send>>;

#[tonic::async_trait]
impl<S: ReferralStore + AuditLog + 'static> Documents for DocumentsService<S> {
    async fn upload(
        &self,
        request: Request<Streaming<pb::UploadChunk>>,
    ) -> Result<Response<pb::UploadReceipt>, Status> {
        let (call, mut stream) = take(request)?;
        let header = match stream.next().await {
            Some(Ok(pb::UploadChunk {
                part: Some(pb::upload_chunk::Part::Header(h)),
            })) => h,
            Some(Err(status)) => return Err(status),
            _ => {
                return Err(invalid_field(
                    "header",
                    "the first message of an upload must be its header",
                ));
            }
        };
        let mut v = Violations::new();
        let digest = v.check("header.sha256", Sha256Digest::parse(&header.sha256));
        v.check("header.media_type", MediaType::parse(&header.media_type));
        if header.size_bytes == 0 || header.size_bytes > MAX_FILE {
            v.push(
                "header.size_bytes",
                format!("must be from 1 to {MAX_FILE} bytes"),
            );
        }
        let (Some(digest), true) = (digest, v.is_empty()) else {
            return Err(invalid(&v));
        };
        let mut upload = self
            .documents
            .begin(digest.clone(), header.size_bytes)
            .map_err(|e| status::from_document(&e))?;
        while let Some(chunk) = stream.next().await {
            match chunk?.part {
                Some(pb::upload_chunk::Part::Data(bytes)) => {
                    if bytes.len() > MAX_CHUNK {
                        return Err(invalid_field(
                            "data",
                            format!("a chunk holds at most {MAX_CHUNK} bytes"),
                        ));
                    }
                    upload
                        .write(&bytes)
                        .map_err(|e| status::from_document(&e))?;
                }
                _ => {
                    return Err(invalid_field(
                        "header",
                        "only the first message is a header",
                    ));
                }
            }
        }
        // Hashing is done; syncing and renaming block, so off the runtime.
        let uploader = call.caller.tenant.clone();
        let created = tokio::task::spawn_blocking(move || upload.finish(&uploader))
            .await
            .map_err(|e| status::task_failed("the upload task", e))?
            .map_err(|e| status::from_document(&e))?;
        tracing::info!(sha256 = %digest, size = header.size_bytes, created, uploader = %call.caller.tenant, "document uploaded");
        Ok(Response::new(pb::UploadReceipt {
            sha256: digest.to_string(),
            size_bytes: header.size_bytes,
            created,
        }))
    }

    type DownloadStream = ChunkStream;

    async fn download(
        &self,
        request: Request<pb::DownloadRequest>,
    ) -> Result<Response<Self::DownloadStream>, Status> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let id = v.check("referral_id", ReferralId::parse(&r.referral_id));
        let digest = v.check("sha256", Sha256Digest::parse(&r.sha256));
        let (Some(id), Some(digest)) = (id, digest) else {
            return Err(invalid(&v));
        };
        call.concerns(&id);
        let referral = self
            .gateway
            .referral(&id)
            .await
            .map_err(|e| from_service(&e))?
            .ok_or_else(status::document_not_found)?;
        // Case materials are for the court and for the organisation holding
        // the case once it accepted it; operators never read them.
        if !referral.lists_document(&digest) {
            return Err(status::document_not_found());
        }
        if !call.caller.may_read_materials(&referral) {
            // The organisation that was offered the case knows the file is
            // listed; it is told why it cannot have it yet. Anyone else
            // learns nothing.
            if call.caller.entitled_to_offer(&referral) {
                return Err(Status::failed_precondition(
                    "the case's files can be downloaded once the organisation accepts the case",
                ));
            }
            return Err(status::document_not_found());
        }
        let (mut file, size) = self
            .documents
            .open(&digest)
            .map_err(|e| status::from_document(&e))?
            .ok_or_else(status::document_not_found)?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let mut first = true;
            loop {
                let mut buffer = vec![0; 256 * 1024];
                let read = match file.read(&mut buffer) {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(status::from_document(&e.into())));
                        return;
                    }
                };
                buffer.truncate(read);
                let chunk = pb::DownloadChunk {
                    data: buffer,
                    size_bytes: if first { size } else { 0 },
                };
                first = false;
                if tx.blocking_send(Ok(chunk)).is_err() {
                    // The caller went away.
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
