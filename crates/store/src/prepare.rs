//! Encoding, on the caller's side. A command's commit, a delivery outcome or
//! an alert is turned into the bytes and keys it writes in the task that
//! sends it, so that the single writer only checks, numbers, applies and
//! syncs.

use std::collections::BTreeSet;

use mediation_core::alert::AlertRecord;
use mediation_core::audit::AuditRecord;
use mediation_core::ids::ReferralId;
use mediation_core::routing::LoadChange;
use mediation_core::store::{Commit, StoreError};
use mediation_records::{
    DeliveryRecord, encode_alert, encode_audit_record, encode_bundle, encode_events,
    encode_snapshot, encode_timer,
};

use crate::format::head_value;
use crate::keys;

/// A commit, encoded.
pub(crate) struct Prepared {
    pub(crate) referral: ReferralId,
    pub(crate) expected_version: u64,
    /// When the command was handled: new messages are due then.
    pub(crate) at: jiff::Timestamp,
    /// The idempotency key a new referral claims.
    pub(crate) court_key: Option<Vec<u8>>,
    /// A new referral's bundle, kept once.
    pub(crate) bundle: Option<Vec<u8>>,
    /// The events' key and value: none, or one for all of them.
    pub(crate) events: Vec<(Vec<u8>, Vec<u8>)>,
    /// The activity keys of the events' days.
    pub(crate) activity: BTreeSet<Vec<u8>>,
    /// The referral's new head: its version and snapshot.
    pub(crate) head: Vec<u8>,
    /// The version after the commit.
    pub(crate) version: u64,
    /// Each timer's key and value.
    pub(crate) timers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Each message's lane and value; the writer numbers them.
    pub(crate) messages: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) alerts: Vec<Vec<u8>>,
    pub(crate) audit: Vec<Vec<u8>>,
    pub(crate) loads: Vec<LoadChange>,
    /// A message the commit also records as delivered.
    pub(crate) delivered: Option<mediation_core::store::MessageId>,
    /// The trace its messages carry.
    pub(crate) trace: Option<Vec<u8>>,
    /// Keys a purge writes over: the redacted bundle and events, and the
    /// files still to remove.
    pub(crate) rewrites: Vec<(Vec<u8>, Vec<u8>)>,
    /// Whether the events stored before the commit's are removed first: a
    /// purge writes the redacted history under one key, and the keys it
    /// was stored under before may be others.
    pub(crate) replaces_history: bool,
}

impl Prepared {
    pub(crate) fn of(c: Commit) -> Result<Self, StoreError> {
        let version = c.version_after()?;
        let bundle = c.new_bundle().map(encode_bundle);
        // A commit's events under one key, named by the first one's version.
        let events = (!c.events.is_empty())
            .then(|| {
                (
                    keys::event(&c.referral, c.expected_version + 1),
                    encode_events(&c.events),
                )
            })
            .into_iter()
            .collect();
        let activity = c
            .events
            .iter()
            .map(|event| keys::activity(keys::day_of(event.at), &c.referral))
            .collect();
        let timers = c
            .timers
            .iter()
            .map(|timer| {
                (
                    keys::timer(timer.fire_at, &c.referral, timer.kind),
                    encode_timer(timer),
                )
            })
            .collect();
        let messages = c
            .messages
            .iter()
            .map(|message| {
                (
                    keys::lane(&message.destination, &message.referral),
                    DeliveryRecord::new(message, c.at).encode(),
                )
            })
            .collect();
        Ok(Self {
            court_key: c.court_key.as_ref().map(keys::court),
            bundle,
            events,
            activity,
            head: head_value(
                version,
                &c.timers
                    .iter()
                    .map(|t| (t.kind, t.fire_at))
                    .collect::<Vec<_>>(),
                &encode_snapshot(&c.state),
            ),
            version,
            timers,
            messages,
            alerts: alerts(&c.alerts),
            audit: audit(&c.audit),
            loads: c.loads,
            delivered: c.delivered,
            trace: c.trace.map(|t| t.as_str().as_bytes().to_vec()),
            rewrites: Vec::new(),
            replaces_history: false,
            expected_version: c.expected_version,
            at: c.at,
            referral: c.referral,
        })
    }
}

impl Prepared {
    /// A purge: its commit, with the redacted bundle and events written
    /// over the stored ones and the files still to remove.
    pub(crate) fn purge(purge: mediation_core::store::Purge) -> Result<Self, StoreError> {
        let bundle = encode_bundle(purge.check()?);
        let referral = purge.commit.referral.clone();
        let mut rewrites = vec![(keys::bundle(&referral), bundle)];
        if !purge.redacted.is_empty() {
            rewrites.push((keys::event(&referral, 1), encode_events(&purge.redacted)));
        }
        if !purge.files.is_empty() {
            rewrites.push((
                keys::purged_files(&referral),
                mediation_records::encode_purged_files(&purge.files),
            ));
        }
        let mut prepared = Self::of(purge.commit)?;
        prepared.rewrites = rewrites;
        prepared.replaces_history = true;
        Ok(prepared)
    }
}

pub(crate) fn alerts(records: &[AlertRecord]) -> Vec<Vec<u8>> {
    records.iter().map(encode_alert).collect()
}

pub(crate) fn audit(records: &[AuditRecord]) -> Vec<Vec<u8>> {
    records.iter().map(encode_audit_record).collect()
}
