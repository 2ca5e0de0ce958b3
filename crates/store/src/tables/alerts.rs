//! The alert log (`a/`) and the operators' acknowledgements of alerts
//! (`k/`): their reads, and the [`AlertLog`] implementation, whose alerts
//! and acknowledgements are submitted to the writer.

use mediation_core::alert::{Acknowledgement, Alert, AlertRecord};
use mediation_core::store::{AlertLog, StoreError};
use mediation_records::{
    decode_acknowledgement, decode_alert, encode_acknowledgement, encode_alert,
};

use crate::SledStore;
use crate::format::corrupt;
use crate::format::unavailable;
use crate::keys;
use crate::writer::Op;

/// The alert log's reads, answered at once on the caller's thread (see
/// [`super`]).
impl SledStore {
    pub fn alerts_after(&self, cursor: u64, limit: usize) -> Result<Vec<Alert>, StoreError> {
        // Only alerts whose commit is durable: they leave the gateway by
        // webhook and alert stream, and must not be undone by a power cut.
        let durable = self
            .inner
            .shared
            .durable_alert
            .load(std::sync::atomic::Ordering::Acquire);
        if cursor >= durable {
            return Ok(Vec::new());
        }
        let start = keys::alert(cursor.saturating_add(1));
        let end = keys::alert(durable.saturating_add(1));
        self.db()?
            .range(start..end)
            .take(limit)
            .map(|entry| {
                let (key, value) = entry.map_err(unavailable)?;
                let seq = keys::trailing_seq(&key)
                    .ok_or_else(|| StoreError::Corrupt("alert key".into()))?;
                let record = decode_alert(&value).map_err(|e| corrupt(&key, e))?;
                Ok(Alert { seq, record })
            })
            .collect()
    }
    pub fn acknowledgement(&self, seq: u64) -> Result<Option<Acknowledgement>, StoreError> {
        let key = keys::acknowledgement(seq);
        match self.db()?.get(&key).map_err(unavailable)? {
            Some(bytes) => decode_acknowledgement(&bytes)
                .map(Some)
                .map_err(|e| corrupt(&key, e)),
            None => Ok(None),
        }
    }
}

impl AlertLog for SledStore {
    fn alerts_after(
        &self,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Alert>, StoreError>> + Send {
        std::future::ready(SledStore::alerts_after(self, cursor, limit))
    }

    async fn raise_alert(&self, record: AlertRecord) -> Result<u64, StoreError> {
        self.submit(Op::RaiseAlert(encode_alert(&record)))
            .await
            .map(|r| r.version)
    }

    async fn acknowledge_alert(
        &self,
        seq: u64,
        acknowledgement: Acknowledgement,
    ) -> Result<Acknowledgement, StoreError> {
        self.submit(Op::Acknowledge {
            seq,
            acknowledgement: encode_acknowledgement(&acknowledgement),
        })
        .await?;
        self.acknowledgement(seq)?
            .ok_or_else(|| StoreError::Corrupt(format!("acknowledgement of alert {seq}")))
    }

    fn acknowledgement(
        &self,
        seq: u64,
    ) -> impl Future<Output = Result<Option<Acknowledgement>, StoreError>> + Send {
        std::future::ready(SledStore::acknowledgement(self, seq))
    }
}
