//! The stored format, pinned: one sample of every kind of record the store
//! writes, encoded as this build encodes it, against the samples checked in
//! under `src/samples/v{SCHEMA_VERSION}.txt`. A change to a stored record
//! (a renamed or retyped field of a domain type, a new tag) fails here, so
//! it cannot reach a store without a new schema version and a migration;
//! and every checked-in sample must still read back and encode to the same
//! bytes. To add a sample on purpose: `MG_WRITE_STORED_SAMPLES=1 cargo test
//! -p mediation-store samples`, and review the diff.

use jiff::{SignedDuration, Timestamp};
use mediation_core::alert::{Acknowledgement, Alert, alerts_for};
use mediation_core::audit::{AuditEntry, AuditRecord};
use mediation_core::deadline::DeadlinePolicy;
use mediation_core::fixtures::{
    at, court, mediator, narrative, organisation, referral_id, route_delivered, sample_agreement,
    sample_bundle, shipped_calendar,
};
use mediation_core::lifecycle::{Assignment, Event, Referral};
use mediation_core::outbox::messages_for;
use mediation_core::outcome::{
    ConfirmationApplication, DeclineCode, DeclineReason, PerformanceReport, PerformanceStatus,
    Ruling, RulingOutcome,
};
use mediation_core::partner::Partner;
use mediation_core::store::{MessageId, PendingDelivery};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::SCHEMA_VERSION;
use crate::codec::{decode, encode};
use crate::writer::{AuditHead, RefHead};

/// One sample: its kind, its bytes as this build writes them, and how to
/// read bytes of its kind back and write them again.
struct Sample {
    kind: String,
    bytes: Vec<u8>,
    again: fn(&[u8]) -> Vec<u8>,
}

fn again<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Vec<u8> {
    let value: T = decode(b"sample", bytes).unwrap();
    encode(&value)
}

fn sample<T: Serialize + DeserializeOwned>(kind: impl Into<String>, value: &T) -> Sample {
    Sample {
        kind: kind.into(),
        bytes: encode(value),
        again: again::<T>,
    }
}

const T0: &str = "2025-03-03T09:00:00+08:00";

fn days(n: i64) -> Timestamp {
    at(T0) + SignedDuration::from_hours(24 * n)
}

/// Two referrals' histories through every common step: offered, accepted,
/// suspended for an appraisal, resumed, agreed, confirmed, performed; and
/// offered, declined, returned to the court.
fn histories() -> Vec<(Referral, Vec<Event>)> {
    let calendar = shipped_calendar();
    let policy = DeadlinePolicy::default();
    let org = organisation("ccpit-bj-01");
    let assignment = Assignment {
        partner: Partner::Ccpit,
        organisation: org.clone(),
        mediator: None,
    };
    let (mut r, received) = Referral::receive(referral_id(), sample_bundle(), at(T0)).unwrap();
    let mut history = vec![received];
    let mut step = |r: &mut Referral, events: Vec<Event>| {
        r.apply_all(&events);
        history.extend(events);
    };
    let routed = route_delivered(
        &r,
        assignment.clone(),
        vec!["sits nearest".into()],
        at(T0),
        &calendar,
        &policy,
    )
    .unwrap();
    step(&mut r, routed);
    let accepted = r
        .accept(
            &org,
            Some(mediator("m-007")),
            None,
            days(1),
            &calendar,
            &policy,
        )
        .unwrap();
    step(&mut r, accepted);
    let suspended = r
        .start_appraisal(&org, narrative("司法鉴定"), days(2), &policy)
        .unwrap();
    step(&mut r, suspended);
    let resumed = r.end_appraisal(&org, days(5), &calendar, &policy).unwrap();
    step(&mut r, resumed);
    let agreed = r
        .record_agreement(
            &org,
            sample_agreement(&org, &mediator("m-007"), days(10)),
            days(10),
        )
        .unwrap();
    step(&mut r, agreed);
    let applied = r
        .apply_for_confirmation(
            &org,
            ConfirmationApplication {
                applicants: r
                    .bundle()
                    .parties
                    .iter()
                    .map(|p| p.reference.clone())
                    .collect(),
                applied_at: days(11),
            },
            days(11),
            &calendar,
        )
        .unwrap();
    step(&mut r, applied);
    let ruled = r
        .record_ruling(
            &court("京0105"),
            Ruling {
                outcome: RulingOutcome::Confirmed,
                case_number: None,
                reasons: Some(narrative("协议合法有效")),
                ruled_at: days(20),
            },
            days(20),
        )
        .unwrap();
    step(&mut r, ruled);
    let performed = r
        .record_performance(
            &org,
            PerformanceReport {
                status: PerformanceStatus::PerformedVoluntarily,
                note: None,
            },
            days(40),
        )
        .unwrap();
    step(&mut r, performed);
    let first = (r, history);

    let mut bundle = sample_bundle();
    bundle.court_referral_id = "declined-sample".parse().unwrap();
    let id = "01JD0000000000000000000777".parse().unwrap();
    let (mut r, received) = Referral::receive(id, bundle, at(T0)).unwrap();
    let mut history = vec![received];
    let routed = route_delivered(&r, assignment, vec![], at(T0), &calendar, &policy).unwrap();
    r.apply_all(&routed);
    history.extend(routed);
    let declined = r
        .decline(
            &org,
            vec![DeclineReason {
                code: DeclineCode::NoCapacity,
                explanation: narrative("本月案件已满"),
            }],
            days(1),
        )
        .unwrap();
    r.apply_all(&declined);
    history.extend(declined);
    let returned = r
        .return_to_court(mediation_core::lifecycle::ReturnReason::Declined, days(1))
        .unwrap();
    r.apply_all(&returned);
    history.extend(returned);
    vec![first, (r, history)]
}

fn samples() -> Vec<Sample> {
    let mut out = Vec::new();
    for (referral, history) in histories() {
        for event in &history {
            out.push(sample(format!("event/{}", event.change.name()), event));
        }
        out.push(sample(
            "head",
            &RefHead {
                version: history.len() as u64,
            },
        ));
        let mut replayed = Referral::replay(&history[..1]).unwrap();
        for (n, event) in history.iter().enumerate().skip(1) {
            replayed.apply(event);
            for timer in replayed.timers() {
                out.push(sample(format!("timer/{}", timer.kind.as_str()), &timer));
            }
            for message in messages_for(&replayed, std::slice::from_ref(event)) {
                out.push(sample(
                    format!("outbox/{}", event.change.name()),
                    &PendingDelivery {
                        id: MessageId(format!("{n:016x}")),
                        message,
                        enqueued_at: event.at,
                        attempts: 1,
                        next_attempt_at: event.at + SignedDuration::from_mins(1),
                        last_error: Some("unreachable".into()),
                        dead_at: None,
                    },
                ));
            }
            for (seq, record) in alerts_for(referral.id(), std::slice::from_ref(event))
                .into_iter()
                .enumerate()
            {
                out.push(sample(
                    format!("alert/{}", record.kind.as_str()),
                    &Alert {
                        seq: seq as u64,
                        record,
                    },
                ));
            }
        }
    }
    out.push(sample(
        "alert/acceptance_breach",
        &Alert {
            seq: 7,
            record: mediation_core::alert::AlertRecord {
                kind: mediation_core::alert::AlertKind::AcceptanceBreach,
                raised_at: days(4),
                referral: Some(referral_id()),
                due_at: Some(days(3)),
                detail: "ccpit-bj-01 did not answer in time".into(),
                subject: Some("acceptance:01JD".into()),
            },
        },
    ));
    out.push(sample(
        "acknowledgement",
        &Acknowledgement {
            by: "operators/alice".into(),
            at: days(3),
            note: "已联系调解中心".into(),
        },
    ));
    let record = AuditRecord {
        at: at(T0),
        actor: "tenant=court-bj sub=svc cert=none".into(),
        action: "submit_referral".into(),
        referral: Some(referral_id()),
        outcome: "ok".into(),
    };
    let head = AuditHead::genesis();
    out.push(sample(
        "audit",
        &AuditEntry {
            seq: 0,
            hash: crate::writer::chain_hash(0, &head.last_hash, &record),
            prev_hash: head.last_hash.clone(),
            record,
        },
    ));
    out.push(sample("audit_head", &head));
    // One sample of each kind is enough; the first of each is kept.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|s| seen.insert(s.kind.clone()));
    out
}

#[test]
fn stored_records_keep_the_format_of_their_schema_version() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("src/samples/v{SCHEMA_VERSION}.txt"));
    let samples = samples();
    let lines: Vec<String> = samples
        .iter()
        .map(|s| {
            format!(
                "{}\t{}",
                s.kind,
                String::from_utf8(s.bytes.clone()).unwrap()
            )
        })
        .collect();
    if std::env::var_os("MG_WRITE_STORED_SAMPLES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        return;
    }
    let pinned = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with MG_WRITE_STORED_SAMPLES=1",
            path.display()
        )
    });
    let pinned: std::collections::BTreeMap<&str, &str> = pinned
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .collect();
    for (sample, line) in samples.iter().zip(&lines) {
        let Some(bytes) = pinned.get(sample.kind.as_str()) else {
            panic!(
                "no pinned sample of {}: a new kind of stored record needs one \
                 (MG_WRITE_STORED_SAMPLES=1, then review the diff)",
                sample.kind
            );
        };
        assert_eq!(
            line.split_once('\t').unwrap().1,
            *bytes,
            "the stored format of {} changed under schema version {SCHEMA_VERSION}: \
             a store written before would not read back the same. Keep the format, \
             or bump SCHEMA_VERSION with a migration and pin new samples.",
            sample.kind
        );
        // What was written before still reads, and writes the same bytes.
        assert_eq!(
            String::from_utf8((sample.again)(bytes.as_bytes())).unwrap(),
            *bytes,
            "{} does not read back to the same record",
            sample.kind
        );
    }
    assert!(
        pinned.len() >= 20,
        "the samples cover every kind of record: {} pinned",
        pinned.len()
    );
}
