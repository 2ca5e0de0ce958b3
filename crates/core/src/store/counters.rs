//! The counts a store keeps with its writes so that it need not read every
//! record to answer: organisations' open referrals ([`ReferralStore::loads`])
//! and destinations' waiting messages ([`OutboxStore::backlog`]). What the
//! counts mean, and how a check compares them with what the records say,
//! is written here once; reading the records is each backend's.
//!
//! [`OutboxStore::backlog`]: super::OutboxStore::backlog

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Serialize;

use super::{Backlog, ReferralStore, StoreError};
use crate::ids::{OrganisationId, ReferralId};
use crate::lifecycle::Referral;

/// An organisation whose kept count of open referrals differs from what
/// its histories say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadMismatch {
    pub organisation: OrganisationId,
    pub kept: u64,
    pub counted: u64,
}

/// What replaying every history found against what the commits kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCheck {
    pub referrals: u64,
    /// Open referrals, as the histories say.
    pub open: u64,
    /// Organisations whose kept count differs from the histories.
    pub load_mismatches: Vec<LoadMismatch>,
    /// Referrals whose snapshot is not the state their history replays to.
    pub snapshot_mismatches: Vec<ReferralId>,
}

/// Replays every referral's history, through the storage traits, and checks
/// what the commits kept against it: each snapshot, and each organisation's
/// count of open referrals. `progress` is told how many referrals were
/// checked, every thousand. For `store verify` on a store without a faster
/// way of its own.
pub async fn check_histories<S: ReferralStore>(
    store: &S,
    mut progress: impl FnMut(u64),
) -> Result<HistoryCheck, StoreError> {
    let mut counted: BTreeMap<OrganisationId, u64> = BTreeMap::new();
    let mut snapshot_mismatches = Vec::new();
    let mut referrals = 0u64;
    let mut after: Option<ReferralId> = None;
    loop {
        let page = store.referral_ids(after.as_ref(), 1_000).await?;
        let Some(last) = page.last().cloned() else {
            break;
        };
        for id in page {
            let history = store
                .history(&id)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("{id}: no history")))?;
            let replayed = Referral::replay(&history)
                .map_err(|e| StoreError::Corrupt(format!("history of {id}: {e}")))?;
            if let Some(organisation) = crate::routing::occupies(&replayed) {
                *counted.entry(organisation.clone()).or_default() += 1;
            }
            if store.referral(&id).await?.as_ref() != Some(&replayed) {
                snapshot_mismatches.push(id);
            }
            referrals += 1;
        }
        progress(referrals);
        after = Some(last);
    }
    let kept: BTreeMap<OrganisationId, u64> = store.loads().await?.into_iter().collect();
    Ok(HistoryCheck {
        referrals,
        open: counted.values().sum(),
        load_mismatches: load_mismatches(&kept, &counted),
        snapshot_mismatches,
    })
}

/// The organisations whose kept count of open referrals differs from the
/// count the histories give, in order; an organisation missing from one
/// side counts 0 there.
pub fn load_mismatches(
    kept: &BTreeMap<OrganisationId, u64>,
    counted: &BTreeMap<OrganisationId, u64>,
) -> Vec<LoadMismatch> {
    let organisations: BTreeSet<&OrganisationId> = counted.keys().chain(kept.keys()).collect();
    organisations
        .into_iter()
        .filter_map(|o| {
            let (kept, counted) = (
                kept.get(o).copied().unwrap_or(0),
                counted.get(o).copied().unwrap_or(0),
            );
            (kept != counted).then(|| LoadMismatch {
                organisation: o.clone(),
                kept,
                counted,
            })
        })
        .collect()
}

/// Every destination's waiting messages, counted from the messages
/// themselves, one at a time in any order: pending, dead, and the earliest
/// enqueue time among them (the backlog's oldest). What a backend's kept
/// counts must agree with.
#[derive(Debug, Clone, Default)]
pub struct BacklogTally {
    by_destination: BTreeMap<String, Backlog>,
}

impl BacklogTally {
    /// Counts one waiting message of `destination` (its key): whether it
    /// is a dead letter; when it was enqueued.
    pub fn add(&mut self, destination: &str, dead: bool, enqueued_at: Timestamp) {
        let backlog = self
            .by_destination
            .entry(destination.to_owned())
            .or_insert_with(|| Backlog {
                destination: destination.to_owned(),
                pending: 0,
                dead: 0,
                oldest_enqueued_at: None,
            });
        if dead {
            backlog.dead += 1;
        } else {
            backlog.pending += 1;
        }
        // The earliest enqueue time, not the first message numbered: two
        // commits handled close together may reach a store in either order.
        backlog.oldest_enqueued_at = Some(
            backlog
                .oldest_enqueued_at
                .map_or(enqueued_at, |o| o.min(enqueued_at)),
        );
    }

    /// The backlog of every destination with a message counted, by
    /// destination key.
    pub fn into_backlogs(self) -> BTreeMap<String, Backlog> {
        self.by_destination
    }
}

/// A destination whose kept counts differ from its messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BacklogMismatch {
    pub destination: String,
    /// Pending and dead, as kept.
    pub kept: [u64; 2],
    /// Pending and dead, as counted.
    pub counted: [u64; 2],
}

/// How much later than the earliest enqueue time counted a kept oldest may
/// be. A store that finds its oldest through an index in the order it
/// numbered the messages (sled) can name one a moment younger: commands
/// read the clock before they reach the store, and two handled together
/// may reach it in either order. A message whose age an index lost would
/// be off by far more.
pub const OLDEST_TOLERANCE: jiff::SignedDuration = jiff::SignedDuration::from_secs(1);

/// The destinations whose kept backlog differs from the one counted from
/// their messages ([`BacklogTally`]), in their key order: in the pending or
/// dead count, or in the oldest message's enqueue time (kept earlier than
/// counted, or later by more than [`OLDEST_TOLERANCE`]). A destination
/// missing from one side counts nothing there.
pub fn backlog_mismatches(
    kept: &BTreeMap<String, Backlog>,
    counted: &BTreeMap<String, Backlog>,
) -> Vec<BacklogMismatch> {
    let pair = |b: Option<&Backlog>| b.map_or([0, 0], |b| [b.pending, b.dead]);
    let names: BTreeSet<&String> = counted.keys().chain(kept.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (k, c) = (kept.get(name), counted.get(name));
            let oldest = |b: Option<&Backlog>| b.and_then(|b| b.oldest_enqueued_at);
            let oldest_differs = match (oldest(k), oldest(c)) {
                (Some(k), Some(c)) => k < c || k.duration_since(c) > OLDEST_TOLERANCE,
                (k, c) => k != c,
            };
            let differs = pair(k) != pair(c) || oldest_differs;
            differs.then(|| BacklogMismatch {
                destination: name.clone(),
                kept: pair(k),
                counted: pair(c),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::at;

    fn backlog(oldest: Option<&str>) -> BTreeMap<String, Backlog> {
        BTreeMap::from([(
            "partner:ccpit".to_owned(),
            Backlog {
                destination: "partner:ccpit".into(),
                pending: 2,
                dead: 0,
                oldest_enqueued_at: oldest.map(at),
            },
        )])
    }

    #[test]
    fn the_tally_keeps_the_earliest_enqueue_time_whatever_the_order_counted() {
        let mut tally = BacklogTally::default();
        tally.add("partner:ccpit", false, at("2026-12-08T09:00:01Z"));
        tally.add("partner:ccpit", true, at("2026-12-08T09:00:00Z"));
        tally.add("partner:ccpit", false, at("2026-12-08T09:00:02Z"));
        let counted = tally.into_backlogs();
        let b = &counted["partner:ccpit"];
        assert_eq!((b.pending, b.dead), (2, 1));
        assert_eq!(b.oldest_enqueued_at, Some(at("2026-12-08T09:00:00Z")));
    }

    /// A kept oldest a moment younger than the one counted agrees (two
    /// commands handled together may reach a store in either order); one
    /// older, or younger by more than the tolerance, or missing, does not.
    #[test]
    fn a_kept_oldest_agrees_within_the_tolerance_and_only_later() {
        let counted = backlog(Some("2026-12-08T09:00:00Z"));
        let agrees = |kept: Option<&str>| backlog_mismatches(&backlog(kept), &counted).is_empty();
        assert!(agrees(Some("2026-12-08T09:00:00Z")));
        assert!(agrees(Some("2026-12-08T09:00:00.900Z")));
        assert!(
            agrees(Some("2026-12-08T09:00:01Z")),
            "exactly the tolerance"
        );
        assert!(!agrees(Some("2026-12-08T09:00:01.001Z")));
        assert!(
            !agrees(Some("2026-12-08T08:59:59.999Z")),
            "older than any waiting"
        );
        assert!(!agrees(None));
    }
}
