//! Operator alerts, numbered from 1, and their acknowledgements
//! ([`AlertLog`]).

use mediation_core::alert::{Acknowledgement, Alert, AlertRecord};
use mediation_core::store::{AlertLog, StoreError};

use crate::MemoryStore;

impl AlertLog for MemoryStore {
    /// Only alerts a crash cannot undo: they leave the gateway by webhook
    /// and alert stream, as the sled store hands out only durable ones.
    async fn alerts_after(&self, cursor: u64, limit: usize) -> Result<Vec<Alert>, StoreError> {
        Ok(self.read(|inner| {
            let durable = inner.durable().alert_seq;
            if cursor >= durable {
                return Vec::new();
            }
            inner
                .written
                .alerts
                .range(cursor + 1..=durable)
                .take(limit)
                .map(|(seq, record)| Alert {
                    seq: *seq,
                    record: record.clone(),
                })
                .collect()
        }))
    }

    async fn raise_alert(&self, record: AlertRecord) -> Result<u64, StoreError> {
        self.write(|state| Ok(state.append_alerts(vec![record])))
    }

    async fn acknowledge_alert(
        &self,
        seq: u64,
        acknowledgement: Acknowledgement,
    ) -> Result<Acknowledgement, StoreError> {
        self.write(|state| state.acknowledge_alert(seq, acknowledgement))
    }

    async fn acknowledgement(&self, seq: u64) -> Result<Option<Acknowledgement>, StoreError> {
        Ok(self.read(|inner| inner.written.acknowledgements.get(&seq).cloned()))
    }
}
