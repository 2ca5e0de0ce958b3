//! Operator alerts and their acknowledgements.

use std::future::Future;

use super::StoreError;
use crate::alert::{Acknowledgement, Alert, AlertRecord};

/// Operator alerts, numbered in the order they were raised.
pub trait AlertLog: Send + Sync {
    /// Alerts with a number greater than `cursor`, at most `limit`.
    fn alerts_after(
        &self,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Alert>, StoreError>> + Send;

    /// Raises an alert that no command's commit carries (e.g. a destination
    /// that stopped answering); returns its number once it is durable.
    fn raise_alert(
        &self,
        record: AlertRecord,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Records that an operator acknowledged alert `seq`, durably. Acknowledging
    /// again keeps and returns the first acknowledgement. `NotFound` if there is
    /// no such alert.
    fn acknowledge_alert(
        &self,
        seq: u64,
        acknowledgement: Acknowledgement,
    ) -> impl Future<Output = Result<Acknowledgement, StoreError>> + Send;

    /// The acknowledgement of alert `seq`, if any.
    fn acknowledgement(
        &self,
        seq: u64,
    ) -> impl Future<Output = Result<Option<Acknowledgement>, StoreError>> + Send;

    /// Which of the alerts `seqs` have been acknowledged: one read for a
    /// page of alerts, where a store across a network would otherwise
    /// answer one call per alert.
    fn acknowledged(
        &self,
        seqs: &[u64],
    ) -> impl Future<Output = Result<std::collections::BTreeSet<u64>, StoreError>> + Send {
        async move {
            let mut acknowledged = std::collections::BTreeSet::new();
            for &seq in seqs {
                if self.acknowledgement(seq).await?.is_some() {
                    acknowledged.insert(seq);
                }
            }
            Ok(acknowledged)
        }
    }
}
