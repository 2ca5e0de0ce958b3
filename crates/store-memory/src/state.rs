//! The plain state of a store, one copy of it, and the writes that change
//! it. Every write checks everything it can refuse before it changes
//! anything, so a refused write leaves the state as it was: what the other
//! backends get from a transaction or an atomic batch.
//!
//! The numbering and the ids follow the sled store's: messages are numbered
//! by one counter across the outbox and named `{referral}-{number:016x}`,
//! alerts are numbered from 1, audit entries from 0.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use mediation_core::alert::{Acknowledgement, AlertRecord};
use mediation_core::audit::{AuditEntry, AuditRecord};
use mediation_core::bundle::CaseBundle;
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::{Event, ReferralState};
use mediation_core::store::{
    Commit, CourtKey, DeliveryOutcome, MessageId, PendingDelivery, Receipt, StoreError,
    genesis_hash,
};
use mediation_core::timer::Timer;

/// Where a timer sits in the order they fire in: when, whose, which (by
/// its name, as the sled store orders them).
pub(crate) type TimerKey = (Timestamp, ReferralId, &'static str);

/// A lane: the messages of one referral to one destination (its key),
/// delivered in order.
pub(crate) type Lane = (ReferralId, String);

/// One referral: its bundle, kept once; its events; the snapshot of its
/// state its last commit left; its version; and where its timers sit.
#[derive(Debug, Clone)]
pub(crate) struct StoredReferral {
    pub(crate) bundle: CaseBundle,
    pub(crate) events: Vec<Event>,
    pub(crate) state: ReferralState,
    pub(crate) version: u64,
    pub(crate) timers: Vec<TimerKey>,
}

/// A message waiting in the outbox, pending or dead, with its lane.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) lane: Lane,
    pub(crate) delivery: PendingDelivery,
}

impl Message {
    /// Its destination's key.
    pub(crate) fn destination(&self) -> &str {
        &self.lane.1
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.delivery.dead_at.is_some()
    }
}

/// One link of the audit chain: the entry, and the record's bytes as they
/// were hashed (`mediation_records::audit_hashed_part` of its encoding), as
/// the other backends hash them.
#[derive(Clone)]
pub(crate) struct AuditLink {
    pub(crate) entry: AuditEntry,
    pub(crate) hashed: Vec<u8>,
}

impl std::fmt::Debug for AuditLink {
    // The hash stands for the bytes hashed: a dump need not list them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.entry, f)
    }
}

/// Every table of a store, as plain ordered maps.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) referrals: BTreeMap<ReferralId, StoredReferral>,
    /// The idempotency keys ([`court_key`]) and the referral each names.
    pub(crate) court_keys: BTreeMap<String, ReferralId>,
    /// Every referral's timers, in the order they fire.
    pub(crate) timers: BTreeMap<TimerKey, Timer>,
    /// Every waiting message by its number: the order of arrival.
    pub(crate) messages: BTreeMap<u64, Message>,
    /// Each lane's messages, by number: its head is the first.
    pub(crate) lanes: BTreeMap<Lane, BTreeSet<u64>>,
    /// The dead letters, by number.
    pub(crate) dead: BTreeSet<u64>,
    /// The number of the last message enqueued.
    pub(crate) outbox_seq: u64,
    pub(crate) alerts: BTreeMap<u64, AlertRecord>,
    /// The number of the last alert raised.
    pub(crate) alert_seq: u64,
    pub(crate) acknowledgements: BTreeMap<u64, Acknowledgement>,
    /// The audit chain, entry `n` at index `n`.
    pub(crate) audit: Vec<AuditLink>,
    /// Where the writes left the chain's end: the number of the next entry
    /// and the hash it links to.
    pub(crate) audit_next_seq: u64,
    pub(crate) audit_last_hash: String,
    /// The first entry the retention pass has not looked at for details.
    pub(crate) audit_details_purged_to: u64,
    /// Each organisation's open referrals, as the commits moved them.
    pub(crate) loads: BTreeMap<OrganisationId, u64>,
    /// The referrals with an event on each day (UTC, counted from 1970).
    pub(crate) activity: BTreeMap<i64, BTreeSet<ReferralId>>,
    /// Purged referrals' case files still to be removed from disk.
    pub(crate) purged_files: BTreeMap<ReferralId, Vec<mediation_core::document::Sha256Digest>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            referrals: BTreeMap::new(),
            purged_files: BTreeMap::new(),
            court_keys: BTreeMap::new(),
            timers: BTreeMap::new(),
            messages: BTreeMap::new(),
            lanes: BTreeMap::new(),
            dead: BTreeSet::new(),
            outbox_seq: 0,
            alerts: BTreeMap::new(),
            alert_seq: 0,
            acknowledgements: BTreeMap::new(),
            audit: Vec::new(),
            audit_next_seq: 0,
            audit_last_hash: genesis_hash(),
            audit_details_purged_to: 0,
            loads: BTreeMap::new(),
            activity: BTreeMap::new(),
        }
    }
}

/// A court key as one string: the court's namespace, or the platform's
/// that filed it, then the court and its id (the sled store's key).
pub(crate) fn court_key(key: &CourtKey) -> String {
    match key.filed_by {
        None => format!("c/{}\0{}", key.court, key.court_referral_id),
        Some(platform) => format!(
            "q/{}/{}\0{}",
            platform.as_str(),
            key.court,
            key.court_referral_id
        ),
    }
}

/// The day (UTC, counted from 1970) of an instant.
pub(crate) fn day_of(t: Timestamp) -> i64 {
    t.as_second().div_euclid(86_400)
}

/// A message's id: its referral and its number.
fn message_id(referral: &ReferralId, n: u64) -> MessageId {
    MessageId(format!("{referral}-{n:016x}"))
}

impl State {
    /// A purge: its commit, then the redacted history and bundle over the
    /// stored ones; nothing changes if the commit is refused.
    pub(crate) fn purge(&mut self, p: mediation_core::store::Purge) -> Result<Receipt, StoreError> {
        let bundle = p.check()?.clone();
        let referral = p.commit.referral.clone();
        let receipt = self.commit(p.commit)?;
        if let Some(stored) = self.referrals.get_mut(&referral) {
            stored.bundle = bundle;
            for (slot, event) in stored.events.iter_mut().zip(p.redacted) {
                *slot = event;
            }
        }
        if !p.files.is_empty() {
            self.purged_files.insert(referral, p.files);
        }
        Ok(receipt)
    }

    /// Writes everything one command decided, or nothing.
    pub(crate) fn commit(&mut self, c: Commit) -> Result<Receipt, StoreError> {
        let version = c.version_after()?;
        let actual = self.referrals.get(&c.referral).map_or(0, |r| r.version);
        if actual != c.expected_version {
            return Err(StoreError::VersionConflict {
                referral: c.referral,
                expected: c.expected_version,
                actual,
            });
        }
        let bundle = c.new_bundle().cloned();
        if c.expected_version == 0 && bundle.is_none() {
            return Err(StoreError::Corrupt(format!(
                "the first commit of {} does not start with its receipt",
                c.referral
            )));
        }
        let claimed = c.court_key.as_ref().map(court_key);
        if let Some(key) = &claimed
            && let Some(existing) = self.court_keys.get(key)
        {
            return Err(StoreError::DuplicateCourtReferral {
                existing: existing.clone(),
            });
        }
        let Commit {
            referral,
            at,
            events,
            messages,
            timers,
            alerts,
            audit,
            loads,
            state,
            delivered,
            trace,
            ..
        } = c;
        // The referral first: the one step that could still find something
        // amiss (a referral at a version, without its record).
        if let Some(bundle) = bundle {
            self.referrals.insert(
                referral.clone(),
                StoredReferral {
                    bundle,
                    events: Vec::new(),
                    state: state.clone(),
                    version: 0,
                    timers: Vec::new(),
                },
            );
        }
        let Some(stored) = self.referrals.get_mut(&referral) else {
            return Err(StoreError::Corrupt(format!(
                "{referral} is at version {actual} but has no record"
            )));
        };
        for event in &events {
            self.activity
                .entry(day_of(event.at))
                .or_default()
                .insert(referral.clone());
        }
        stored.events.extend(events);
        stored.state = state;
        stored.version = version;
        // The commit's timers replace the referral's.
        for key in std::mem::take(&mut stored.timers) {
            self.timers.remove(&key);
        }
        for timer in timers {
            let key = (timer.fire_at, timer.referral.clone(), timer.kind.as_str());
            stored.timers.push(key.clone());
            self.timers.insert(key, timer);
        }

        if let Some(key) = claimed {
            self.court_keys.insert(key, referral.clone());
        }
        for change in &loads {
            let open = self.loads.entry(change.organisation.clone()).or_insert(0);
            *open = match change.delta.signum() {
                1 => open.saturating_add(1),
                -1 => open.saturating_sub(1),
                _ => *open,
            };
        }
        for message in messages {
            self.outbox_seq += 1;
            let n = self.outbox_seq;
            let lane = (message.referral.clone(), message.destination.key());
            let delivery = PendingDelivery {
                id: message_id(&message.referral, n),
                message,
                enqueued_at: at,
                attempts: 0,
                next_attempt_at: at,
                last_error: None,
                dead_at: None,
                trace: trace.clone(),
            };
            self.lanes.entry(lane.clone()).or_default().insert(n);
            self.messages.insert(n, Message { lane, delivery });
        }
        self.append_alerts(alerts);
        self.append_audit(audit);
        // A delivery recorded already (by an earlier attempt's receipt, say)
        // leaves nothing more to record.
        if let Some(n) = delivered.as_ref().and_then(|id| self.find_message(id)) {
            self.remove_message(n);
        }
        Ok(Receipt { version })
    }

    /// The number of the waiting message `id`.
    pub(crate) fn find_message(&self, id: &MessageId) -> Option<u64> {
        let (_, n) = id.0.rsplit_once('-')?;
        let n = u64::from_str_radix(n, 16).ok()?;
        let message = self.messages.get(&n)?;
        (message.delivery.id == *id).then_some(n)
    }

    /// Takes message `n` out of the outbox: the next one of its lane, if
    /// any, is its head now.
    fn remove_message(&mut self, n: u64) {
        let Some(message) = self.messages.remove(&n) else {
            return;
        };
        self.dead.remove(&n);
        if let Some(lane) = self.lanes.get_mut(&message.lane) {
            lane.remove(&n);
            if lane.is_empty() {
                self.lanes.remove(&message.lane);
            }
        }
    }

    /// Records how an attempt to deliver `id` ended.
    pub(crate) fn record_delivery(
        &mut self,
        id: &MessageId,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError> {
        let not_found = || StoreError::NotFound(format!("message {id}"));
        let n = self.find_message(id).ok_or_else(not_found)?;
        match outcome {
            DeliveryOutcome::Delivered => self.remove_message(n),
            // A dead letter replayed meanwhile is a message again.
            DeliveryOutcome::Discarded if !self.dead.contains(&n) => {
                return Err(StoreError::NotFound(format!("dead letter {id}")));
            }
            DeliveryOutcome::Discarded => self.remove_message(n),
            DeliveryOutcome::Retry { at, error } => {
                let delivery = &mut self.messages.get_mut(&n).ok_or_else(not_found)?.delivery;
                delivery.attempts = delivery.attempts.saturating_add(1);
                delivery.next_attempt_at = at;
                delivery.last_error = Some(error);
            }
            DeliveryOutcome::Dead { at, error, alert } => {
                let delivery = &mut self.messages.get_mut(&n).ok_or_else(not_found)?.delivery;
                delivery.attempts = delivery.attempts.saturating_add(1);
                delivery.last_error = Some(error);
                delivery.dead_at = Some(at);
                self.dead.insert(n);
                self.append_alerts(vec![alert]);
            }
        }
        Ok(())
    }

    /// Puts dead letter `id` back at the head of its lane, due at `at`,
    /// with its attempts reset.
    pub(crate) fn replay_dead_letter(
        &mut self,
        id: &MessageId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let not_found = || StoreError::NotFound(format!("dead letter {id}"));
        let n = self
            .find_message(id)
            .filter(|n| self.dead.contains(n))
            .ok_or_else(not_found)?;
        let delivery = &mut self.messages.get_mut(&n).ok_or_else(not_found)?.delivery;
        delivery.dead_at = None;
        delivery.attempts = 0;
        delivery.next_attempt_at = at;
        self.dead.remove(&n);
        Ok(())
    }

    /// Numbers and keeps `records`; returns the number of the last alert.
    pub(crate) fn append_alerts(&mut self, records: Vec<AlertRecord>) -> u64 {
        for record in records {
            self.alert_seq += 1;
            self.alerts.insert(self.alert_seq, record);
        }
        self.alert_seq
    }

    /// Keeps the first acknowledgement of alert `seq` and returns it.
    pub(crate) fn acknowledge_alert(
        &mut self,
        seq: u64,
        acknowledgement: Acknowledgement,
    ) -> Result<Acknowledgement, StoreError> {
        if !self.alerts.contains_key(&seq) {
            return Err(StoreError::NotFound(format!("alert {seq}")));
        }
        Ok(self
            .acknowledgements
            .entry(seq)
            .or_insert(acknowledgement)
            .clone())
    }

    /// Purges the details of the entries before `before` from the place
    /// the last purge left (`AuditLog::purge_audit_details`).
    pub(crate) fn purge_audit_details(
        &mut self,
        cut: mediation_core::store::DetailCut,
    ) -> mediation_core::store::AuditDetailsPurged {
        let from = self.audit_details_purged_to;
        let mut walk = mediation_core::store::DetailPurgeWalk::new(from, cut);
        let mut at_end = true;
        let skip = usize::try_from(from).unwrap_or(usize::MAX);
        for link in self.audit.iter_mut().skip(skip) {
            if !walk.wants_more() {
                at_end = false;
                break;
            }
            if !walk.look(link.entry.seq, Some(link.entry.record.at)) {
                continue;
            }
            let (code, detail) = mediation_core::audit::split_outcome(&link.entry.record.outcome);
            if !link.entry.detail_purged && !detail.is_empty() {
                link.entry.record.outcome = code.to_owned();
                link.entry.detail_purged = true;
                walk.cut();
            }
        }
        let (to, done) = walk.finish(at_end);
        self.audit_details_purged_to = to;
        done
    }

    /// Links `records` to the end of the audit chain, with the hash the
    /// other backends use over the bytes they hash.
    pub(crate) fn append_audit(&mut self, records: Vec<AuditRecord>) {
        for record in records {
            let encoded = mediation_records::encode_audit_record(&record);
            // What the chain hashes: never the outcome's detail, which a
            // purge removes.
            let hashed = mediation_records::audit_hashed_part(&encoded)
                .map(<[u8]>::to_vec)
                .unwrap_or(encoded);
            let seq = self.audit_next_seq;
            let prev_hash = std::mem::take(&mut self.audit_last_hash);
            let hash = mediation_records::chain_hash(seq, &prev_hash, &hashed);
            self.audit.push(AuditLink {
                entry: AuditEntry {
                    seq,
                    record,
                    prev_hash,
                    hash: hash.clone(),
                    detail_purged: false,
                },
                hashed,
            });
            self.audit_next_seq = seq + 1;
            self.audit_last_hash = hash;
        }
    }
}
