//! The conformance suite of the storage traits: what any backend must do,
//! run against a fresh store per case, one module per table. The sled store
//! (`mediation-store`) and the PostgreSQL store (`mediation-store-postgres`)
//! run the same [`run_all`] in their tests, each depending on this crate
//! for its tests only; the cases and the fixtures they build are public, so
//! a backend's own tests can run one case or build on the fixtures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

pub mod alerts;
pub mod audit;
pub mod counters;
pub mod outbox;
pub mod referrals;
pub mod timers;

use jiff::{SignedDuration, Timestamp};
use mediation_core::alert::{AlertKind, AlertRecord};
use mediation_core::audit::AuditRecord;
use mediation_core::fixtures::{at, sample_bundle};
use mediation_core::ids::ReferralId;
use mediation_core::lifecycle::{Change, Event, Referral, ReferralState};
use mediation_core::outbox::{Destination, OutboundMessage};
use mediation_core::partner::Partner;
use mediation_core::store::{Commit, CourtKey, FullStore, PendingDelivery};

pub use alerts::{alerts_are_raised_alone_and_acknowledged_once, alerts_resume_from_a_cursor};
pub use audit::{
    audit_details_are_purged_and_the_chain_still_verifies, cut_everything, refused,
    the_audit_chain_verifies,
};
pub use counters::{
    backlog_counts_per_destination, loads_are_kept_with_each_commit,
    referrals_are_found_by_when_they_had_events,
};
pub use outbox::{
    a_dead_letter_blocks_its_lane_until_replayed,
    a_discarded_dead_letter_leaves_the_outbox_and_its_count,
    a_full_destination_does_not_hide_the_others, a_lane_delivers_in_order_one_head_at_a_time,
    a_message_carries_the_trace_of_the_call_that_made_it, a_retry_is_scheduled_and_remembered,
    lanes_are_independent, unknown_messages_are_not_found,
};
pub use referrals::{
    a_commit_records_a_delivery_with_its_events, a_court_key_is_claimed_once,
    a_purge_rewrites_the_history_and_keeps_the_rest, a_stale_version_writes_nothing,
    commits_append_to_the_history, referral_ids_page_in_order,
    the_snapshot_is_the_state_the_history_replays_to,
};
pub use timers::timers_are_replaced_and_found_by_due_time;

pub(crate) const T0: &str = "2025-03-03T09:00:00+08:00";

pub fn id(n: u32) -> ReferralId {
    format!("01JD{n:022}").parse().unwrap()
}

pub(crate) fn received(referral: &ReferralId) -> Event {
    Event {
        at: at(T0),
        change: Change::Received {
            id: referral.clone(),
            bundle: Box::new(sample_bundle()),
        },
    }
}

pub(crate) fn note(text: &str) -> Event {
    Event {
        at: at(T0),
        change: Change::Recalled {
            reason: mediation_core::text::Narrative::parse(text).unwrap(),
        },
    }
}

pub fn message(referral: &ReferralId, destination: Destination, text: &str) -> OutboundMessage {
    OutboundMessage {
        destination,
        referral: referral.clone(),
        court_referral_id: "court-ref".parse().unwrap(),
        event: note(text),
        bundle: None,
        holder: None,
    }
}

pub fn ccpit() -> Destination {
    Destination::Partner(Partner::Ccpit)
}

pub fn audit(action: &str) -> AuditRecord {
    AuditRecord {
        at: at(T0),
        actor: "court:京0105".into(),
        action: action.into(),
        referral: None,
        outcome: "ok".into(),
    }
}

pub fn alert(detail: &str) -> AlertRecord {
    AlertRecord {
        kind: AlertKind::DeadLetter,
        raised_at: at(T0),
        referral: None,
        due_at: None,
        detail: detail.into(),
        subject: None,
    }
}

/// The state of a referral after its receipt and `version - 1` notes: what
/// the suite's commits carry as their snapshot.
pub fn state_at(referral: &ReferralId, version: u64) -> ReferralState {
    let mut events = vec![received(referral)];
    events.extend((1..version).map(|_| note("state")));
    Referral::replay(&events).unwrap().state()
}

pub fn new_referral(referral: &ReferralId) -> Commit {
    Commit {
        trace: None,
        delivered: None,
        state: state_at(referral, 1),
        loads: vec![],
        referral: referral.clone(),
        expected_version: 0,
        at: at(T0),
        events: vec![received(referral)],
        court_key: Some(CourtKey {
            court: sample_bundle().court,
            court_referral_id: format!("court-{referral}").parse().unwrap(),
            filed_by: None,
        }),
        messages: vec![],
        timers: vec![],
        alerts: vec![],
        audit: vec![audit("submit_referral")],
    }
}

pub fn follow_up(referral: &ReferralId, version: u64, text: &str) -> Commit {
    Commit {
        trace: None,
        delivered: None,
        state: state_at(referral, version + 1),
        loads: vec![],
        referral: referral.clone(),
        expected_version: version,
        at: at(T0),
        events: vec![note(text)],
        court_key: None,
        messages: vec![],
        timers: vec![],
        alerts: vec![],
        audit: vec![],
    }
}

pub(crate) fn texts(pending: &[PendingDelivery]) -> Vec<String> {
    pending
        .iter()
        .map(|p| match &p.message.event.change {
            Change::Recalled { reason } => reason.to_string(),
            other => other.name().to_owned(),
        })
        .collect()
}

pub fn later(minutes: i64) -> Timestamp {
    at(T0)
        .checked_add(SignedDuration::from_mins(minutes))
        .unwrap()
}

/// Runs every case, each on a fresh store from `fresh` (asynchronous, so
/// that a backend across a network can connect and make a clean database),
/// naming each case as it starts so that a failure says which.
pub async fn run_all<S: FullStore, F, Fut>(mut fresh: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    eprintln!("conformance: commits_append_to_the_history");
    commits_append_to_the_history(fresh().await).await;
    eprintln!("conformance: the_snapshot_is_the_state_the_history_replays_to");
    the_snapshot_is_the_state_the_history_replays_to(fresh().await).await;
    eprintln!("conformance: a_commit_records_a_delivery_with_its_events");
    a_commit_records_a_delivery_with_its_events(fresh().await).await;
    eprintln!("conformance: a_message_carries_the_trace_of_the_call_that_made_it");
    a_message_carries_the_trace_of_the_call_that_made_it(fresh().await).await;
    eprintln!("conformance: a_stale_version_writes_nothing");
    a_stale_version_writes_nothing(fresh().await).await;
    eprintln!("conformance: a_court_key_is_claimed_once");
    a_court_key_is_claimed_once(fresh().await).await;
    eprintln!("conformance: timers_are_replaced_and_found_by_due_time");
    timers_are_replaced_and_found_by_due_time(fresh().await).await;
    eprintln!("conformance: a_lane_delivers_in_order_one_head_at_a_time");
    a_lane_delivers_in_order_one_head_at_a_time(fresh().await).await;
    eprintln!("conformance: lanes_are_independent");
    lanes_are_independent(fresh().await).await;
    eprintln!("conformance: a_full_destination_does_not_hide_the_others");
    a_full_destination_does_not_hide_the_others(fresh().await).await;
    eprintln!("conformance: a_retry_is_scheduled_and_remembered");
    a_retry_is_scheduled_and_remembered(fresh().await).await;
    eprintln!("conformance: a_dead_letter_blocks_its_lane_until_replayed");
    a_dead_letter_blocks_its_lane_until_replayed(fresh().await).await;
    eprintln!("conformance: alerts_resume_from_a_cursor");
    alerts_resume_from_a_cursor(fresh().await).await;
    eprintln!("conformance: alerts_are_raised_alone_and_acknowledged_once");
    alerts_are_raised_alone_and_acknowledged_once(fresh().await).await;
    eprintln!("conformance: the_audit_chain_verifies");
    the_audit_chain_verifies(fresh().await).await;
    eprintln!("conformance: audit_details_are_purged_and_the_chain_still_verifies");
    audit_details_are_purged_and_the_chain_still_verifies(fresh().await).await;
    eprintln!("conformance: backlog_counts_per_destination");
    backlog_counts_per_destination(fresh().await).await;
    eprintln!("conformance: unknown_messages_are_not_found");
    unknown_messages_are_not_found(fresh().await).await;
    eprintln!("conformance: referral_ids_page_in_order");
    referral_ids_page_in_order(fresh().await).await;
    eprintln!("conformance: referrals_are_found_by_when_they_had_events");
    referrals_are_found_by_when_they_had_events(fresh().await).await;
    eprintln!("conformance: loads_are_kept_with_each_commit");
    loads_are_kept_with_each_commit(fresh().await).await;
    eprintln!("conformance: a_discarded_dead_letter_leaves_the_outbox_and_its_count");
    a_discarded_dead_letter_leaves_the_outbox_and_its_count(fresh().await).await;
    eprintln!("conformance: a_purge_rewrites_the_history_and_keeps_the_rest");
    a_purge_rewrites_the_history_and_keeps_the_rest(fresh().await).await;
}
