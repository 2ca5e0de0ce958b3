//! What must hold after every step of a run, and once its faults heal.
//! Each check returns what it found wrong, in words that name the referral
//! or message, so that a failing seed says what broke.

use std::collections::{BTreeMap, BTreeSet};

use mediation_core::audit::AuditVerification;
use mediation_core::ids::ReferralId;
use mediation_core::lifecycle::{Change, Event, Referral, Status};
use mediation_core::outbox::messages_for;
use mediation_core::store::{
    AlertLog, AuditLog, MessageId, OutboxStore, ReferralStore, check_histories,
};
use mediation_store_memory::MemoryStore;

use crate::network::{Network, Received};

/// What the gateway acknowledged to its callers: for each referral, its
/// history as read right after the last acknowledged call on it. Every
/// crash must keep at least that much (durability before acknowledgement).
#[derive(Debug, Default)]
pub struct Acknowledged {
    histories: BTreeMap<ReferralId, Vec<Event>>,
}

impl Acknowledged {
    /// Notes `referral`'s history as it stands once a call on it was
    /// answered with success.
    pub async fn note(&mut self, store: &MemoryStore, referral: &ReferralId) {
        if let Ok(Some(history)) = store.history(referral).await {
            let kept = self.histories.entry(referral.clone()).or_default();
            if history.len() >= kept.len() {
                *kept = history;
            }
        }
    }

    /// Every acknowledged history is still there, as a prefix of the
    /// stored one: each event as it was, or, where a purge followed it, as
    /// the purge redacted it (`mediation_core::retention::redact`).
    pub async fn survived(&self, store: &MemoryStore) -> Vec<String> {
        let mut lost = Vec::new();
        for (id, acknowledged) in &self.histories {
            match store.history(id).await {
                Ok(Some(history)) if survives(acknowledged, &history) => {}
                Ok(Some(history)) => lost.push(format!(
                    "{id}: {} events were acknowledged, {} survived the crash as they were",
                    acknowledged.len(),
                    history
                        .iter()
                        .zip(acknowledged)
                        .take_while(|(a, b)| a == b)
                        .count()
                )),
                Ok(None) => lost.push(format!(
                    "{id}: acknowledged with {} events, gone after the crash",
                    acknowledged.len()
                )),
                Err(e) => lost.push(format!("{id}: cannot be read: {e}")),
            }
        }
        lost
    }
}

/// What a timer's firing leaves in a history, as a key that a second
/// firing of the same timer would repeat. The count of appraisals before
/// it tells two pauses apart.
fn fired_key(event: &Event, pauses: usize) -> Option<String> {
    match &event.change {
        Change::DeadlineWarning { kind, due_at } => Some(format!("warning {kind:?} {due_at}")),
        Change::AcceptanceOverdue {
            organisation,
            due_at,
            ..
        } => Some(format!("acceptance overdue {organisation} {due_at}")),
        Change::MediationOverdue { due_at, .. } => Some(format!("mediation overdue {due_at}")),
        Change::AppraisalOverlong { since, .. } => {
            Some(format!("appraisal overlong {since} #{pauses}"))
        }
        Change::CourtDecisionOverdue { since, remind_at } => {
            Some(format!("court reminded {since} {remind_at}"))
        }
        Change::ArbitrationAvailable { .. } => Some("arbitration available".to_owned()),
        _ => None,
    }
}

/// Whether `stored` begins with `acknowledged`, each event as it was or,
/// if a purge came after it, redacted.
fn survives(acknowledged: &[Event], stored: &[Event]) -> bool {
    stored.len() >= acknowledged.len()
        && acknowledged
            .iter()
            .zip(stored)
            .enumerate()
            .all(|(i, (a, s))| {
                a == s
                    || (stored[i + 1..]
                        .iter()
                        .any(|e| matches!(e.change, Change::PersonalDataPurged { .. }))
                        && mediation_core::retention::redact(std::slice::from_ref(a))[0] == *s)
            })
}

/// Each deadline fired at most once in each history.
pub fn fired_once(id: &ReferralId, history: &[Event]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut pauses = 0;
    let mut twice = Vec::new();
    for event in history {
        if matches!(event.change, Change::AppraisalStarted { .. }) {
            pauses += 1;
        }
        if let Some(key) = fired_key(event, pauses)
            && !seen.insert(key.clone())
        {
            twice.push(format!("{id}: fired twice: {key}"));
        }
    }
    twice
}

/// The checks of the store itself: snapshots and loads against the
/// histories, each deadline once, alerts numbered without a gap, the audit
/// chain. `audit` says whether to walk the whole chain this time.
pub async fn store_holds(store: &MemoryStore, audit: bool) -> Vec<String> {
    let mut wrong = Vec::new();
    match check_histories(store, |_| {}).await {
        Ok(check) => {
            for id in check.snapshot_mismatches {
                wrong.push(format!("{id}: its snapshot is not its history's replay"));
            }
            for m in check.load_mismatches {
                wrong.push(format!(
                    "{}: {} open referrals kept, {} by the histories",
                    m.organisation, m.kept, m.counted
                ));
            }
        }
        Err(e) => wrong.push(format!("the histories cannot be checked: {e}")),
    }
    for id in all_referrals(store).await {
        if let Ok(Some(history)) = store.history(&id).await {
            wrong.extend(fired_once(&id, &history));
        }
    }
    match store.alerts_after(0, usize::MAX).await {
        Ok(alerts) => {
            for (n, alert) in alerts.iter().enumerate() {
                if alert.seq != n as u64 + 1 {
                    wrong.push(format!(
                        "alert {} follows alert {}: the numbering has a gap",
                        alert.seq, n
                    ));
                    break;
                }
            }
        }
        Err(e) => wrong.push(format!("the alerts cannot be read: {e}")),
    }
    if audit {
        match store.verify_audit().await {
            Ok(AuditVerification::Intact { .. }) => {}
            Ok(AuditVerification::Broken { seq, reason }) => {
                wrong.push(format!("the audit chain breaks at entry {seq}: {reason}"));
            }
            Err(e) => wrong.push(format!("the audit chain cannot be verified: {e}")),
        }
    }
    wrong
}

pub async fn all_referrals(store: &MemoryStore) -> Vec<ReferralId> {
    store
        .referral_ids(None, usize::MAX)
        .await
        .unwrap_or_default()
}

/// Each lane (referral and destination) took its messages in the order the
/// store numbered them: a message may come again (at least once, and a
/// late copy after later ones, which the receiver drops by its id), but a
/// message never comes for the first time after a later one.
pub fn in_order(received: &[Received]) -> Vec<String> {
    let mut last: BTreeMap<(&ReferralId, &str), &MessageId> = BTreeMap::new();
    let mut wrong = Vec::new();
    for r in received {
        let lane = (&r.referral, r.destination.as_str());
        match last.get(&lane) {
            Some(previous) if r.id < **previous => {
                // A repeat of one taken before is a duplicate, which the
                // receiver drops by its id; a new one out of turn is not.
                let repeat = received
                    .iter()
                    .take_while(|x| !std::ptr::eq(*x, r))
                    .any(|x| x.id == r.id);
                if !repeat {
                    wrong.push(format!("{} took {} after {previous}", r.destination, r.id));
                }
            }
            _ => {
                last.insert(lane, &r.id);
            }
        }
    }
    wrong
}

/// How many copies a receiver took after a later message of their lane:
/// the late arrivals [`in_order`] lets pass as duplicates.
pub fn late_copies(received: &[Received]) -> usize {
    let mut last: BTreeMap<(&ReferralId, &str), &MessageId> = BTreeMap::new();
    let mut late = 0;
    for r in received {
        let lane = (&r.referral, r.destination.as_str());
        match last.get(&lane) {
            Some(previous) if r.id < **previous => late += 1,
            _ => {
                last.insert(lane, &r.id);
            }
        }
    }
    late
}

/// Once the faults have healed and the outbox has drained: nothing waits or
/// lies dead, every acknowledged attempt reached its receiver, and no
/// referral is left where the law does not let it rest (an offer nobody
/// answers lapses, a mediation past its limit ends).
pub async fn settled(store: &MemoryStore, network: &Network) -> Vec<String> {
    let mut wrong = Vec::new();
    let received = network.received();
    let arrived: BTreeSet<MessageId> = received.iter().map(|r| r.id.clone()).collect();
    for id in network.acknowledged() {
        if !arrived.contains(&id) {
            wrong.push(format!(
                "{id} was recorded delivered but its receiver never took it"
            ));
        }
    }
    for id in all_referrals(store).await {
        match store.pending_messages(&id).await {
            Ok(waiting) if waiting.is_empty() => {}
            Ok(waiting) => wrong.push(format!(
                "{id}: {} messages still wait after the faults healed",
                waiting.len()
            )),
            Err(e) => wrong.push(format!("{id}: its messages cannot be read: {e}")),
        }
        if let Ok(Some(history)) = store.history(&id).await {
            wrong.extend(receivers_heard_everything(&id, &history, &received));
        }
        if let Ok(Some(referral)) = store.referral(&id).await {
            let status = referral.status();
            if matches!(
                status,
                Status::Received
                    | Status::AwaitingAcceptance
                    | Status::InMediation
                    | Status::MediationOverdue
            ) {
                wrong.push(format!(
                    "{id}: still {} long after every limit it had passed",
                    status.as_str()
                ));
            }
        }
    }
    wrong
}

/// Each receiver took a message of every event its referral's history
/// says it is told of, once each (duplicates dropped by id), and of
/// nothing else: the outbox lost nothing and made nothing up. Which events
/// go where is the domain's rule (`messages_for`), applied event by event.
/// An offer may be missing from the platform's side only: one whose
/// organisation no longer held the referral when it was due to go is
/// withdrawn, not sent. And a message made before a purge may be missing:
/// it was a dead letter, discarded with the referral's personal data.
fn receivers_heard_everything(
    id: &ReferralId,
    history: &[Event],
    received: &[Received],
) -> Vec<String> {
    let Some(first) = history.first() else {
        return Vec::new();
    };
    let Ok(mut referral) = Referral::replay(std::slice::from_ref(first)) else {
        return vec![format!("{id}: its history does not replay")];
    };
    type Heard = Vec<(String, &'static str, jiff::Timestamp)>;
    let mut expected: Heard = Vec::new();
    for (i, event) in history.iter().enumerate() {
        if i > 0 {
            referral.apply_all(std::slice::from_ref(event));
        }
        expected.extend(
            messages_for(&referral, std::slice::from_ref(event))
                .iter()
                .map(|m| (m.destination.key(), m.event.change.name(), m.event.at)),
        );
    }
    let mut seen = BTreeSet::new();
    let mut heard: Heard = received
        .iter()
        .filter(|r| r.referral == *id)
        .filter(|r| seen.insert(r.id.clone()))
        .map(|r| (r.destination.clone(), r.event, r.at))
        .collect();
    expected.sort();
    heard.sort();
    let mut wrong = Vec::new();
    // What was heard must have been expected, each once.
    let mut left = expected.clone();
    for h in &heard {
        match left.iter().position(|e| e == h) {
            Some(i) => {
                left.remove(i);
            }
            None => wrong.push(format!(
                "{id}: {} heard {:?} at {}, which its history does not send",
                h.0, h.1, h.2
            )),
        }
    }
    // What was expected and not heard: only withdrawn offers, and messages
    // made before a purge: a purge waits for every message still to go, so
    // those were dead letters, discarded with the referral's personal data.
    let last_purge = history
        .iter()
        .rev()
        .find(|e| matches!(e.change, Change::PersonalDataPurged { .. }))
        .map(|e| e.at);
    for (destination, event, at) in left {
        let withdrawn_offer = destination.starts_with("partner:") && event == "routed";
        let discarded = last_purge.is_some_and(|purged| at <= purged);
        if !withdrawn_offer && !discarded {
            wrong.push(format!("{id}: {destination} never heard {event:?} at {at}"));
        }
    }
    wrong
}

/// Each call made through a guard left at most one record in the audit
/// log, and a call whose command changed its referral left exactly one
/// (written in the command's own commit, so no crash loses it). `calls`
/// are the calls' token subjects, each its own, and whether the call
/// changed its referral's history.
pub async fn calls_recorded(store: &MemoryStore, calls: &[(String, bool)]) -> Vec<String> {
    calls_audited(store, calls).await.1
}

/// How many of `calls` have their record in the audit log, and what
/// [`calls_recorded`] finds wrong.
pub async fn calls_audited(store: &MemoryStore, calls: &[(String, bool)]) -> (usize, Vec<String>) {
    let entries = match store.audit_entries(0, usize::MAX).await {
        Ok(entries) => entries,
        Err(e) => return (0, vec![format!("the audit log cannot be read: {e}")]),
    };
    let mut records: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in &entries {
        // `tenant=… sub=… cert=…`: the subject is the caller's own text,
        // here the simulation's, without spaces.
        if let Some(subject) = entry
            .record
            .actor
            .split(' ')
            .find_map(|part| part.strip_prefix("sub="))
        {
            *records.entry(subject).or_default() += 1;
        }
    }
    let mut wrong = Vec::new();
    let mut audited = 0;
    for (subject, changed) in calls {
        match records.get(subject.as_str()).copied().unwrap_or(0) {
            0 if *changed => wrong.push(format!(
                "call {subject} changed its referral but left no audit record"
            )),
            0 => {}
            1 => audited += 1,
            n => wrong.push(format!("call {subject} left {n} audit records")),
        }
    }
    (audited, wrong)
}
