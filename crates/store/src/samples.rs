//! The stored format, pinned: one sample of every kind of record the store
//! writes, encoded as this build encodes it, against the samples checked in
//! under `src/samples/v{SCHEMA_VERSION}.txt` (hexadecimal). A change to a
//! stored record (a field added to or retyped in a record struct, a new
//! code) fails here, so it cannot reach a store without a new schema
//! version and a migration; and every checked-in sample must still read
//! back and encode to the same bytes. A renamed domain field changes
//! nothing stored. To add a sample on purpose: `MG_WRITE_STORED_SAMPLES=1
//! cargo test -p mediation-store samples`, and review the diff.
//!
//! The samples of the first format (`samples/v1.txt`, the domain types'
//! JSON) stay too: the migration must read every one of them.

use jiff::SignedDuration;
use mediation_core::alert::{Acknowledgement, Alert, alerts_for};
use mediation_core::audit::{AuditEntry, AuditRecord};
use mediation_core::fixtures::{
    SAMPLE_T0, at, days_after_t0, referral_id, sample_bundle, sample_histories,
};
use mediation_core::lifecycle::{Event, Referral};
use mediation_core::outbox::messages_for;
use mediation_core::store::{MessageId, PendingDelivery};
use mediation_core::timer::{Timer, TimerKind};
use mediation_records::{
    decode_acknowledgement, decode_alert, decode_bundle, decode_delivery, decode_event,
    decode_events, decode_plain, decode_snapshot, decode_timer, encode_acknowledgement,
    encode_alert, encode_bundle, encode_delivery, encode_event, encode_events, encode_plain,
    encode_snapshot, encode_timer,
};

use crate::SCHEMA_VERSION;
use crate::format::{AuditHead, AuditLink, chain_hash, head_value, read_head, split_head_v3};

/// One sample: its kind, its bytes as this build writes them, and how to
/// read bytes of its kind back and write them again.
struct Sample {
    kind: String,
    bytes: Vec<u8>,
    again: fn(&[u8]) -> Vec<u8>,
}

fn sample(kind: impl Into<String>, bytes: Vec<u8>, again: fn(&[u8]) -> Vec<u8>) -> Sample {
    Sample {
        kind: kind.into(),
        bytes,
        again,
    }
}

fn event_again(bytes: &[u8]) -> Vec<u8> {
    // A receipt's bundle is not in its bytes; any bundle reads it.
    encode_event(
        &decode_event(bytes)
            .unwrap()
            .load(Some(&sample_bundle()))
            .unwrap(),
    )
}

fn events_again(bytes: &[u8]) -> Vec<u8> {
    let events: Vec<Event> = decode_events(bytes)
        .unwrap()
        .into_iter()
        .map(|record| record.load(Some(&sample_bundle())).unwrap())
        .collect();
    encode_events(&events)
}

fn bundle_again(bytes: &[u8]) -> Vec<u8> {
    encode_bundle(&decode_bundle(bytes).unwrap())
}

fn head_again(bytes: &[u8]) -> Vec<u8> {
    let head = read_head(b"sample", bytes).unwrap();
    head_value(
        head.version,
        &head.timers,
        &encode_snapshot(&decode_snapshot(head.snapshot).unwrap()),
    )
}

/// A referral's timers as its head lists them.
fn timers_of(referral: &Referral) -> Vec<(TimerKind, jiff::Timestamp)> {
    referral
        .timers()
        .into_iter()
        .map(|t| (t.kind, t.fire_at))
        .collect()
}

fn timer_again(bytes: &[u8]) -> Vec<u8> {
    encode_timer(&decode_timer(bytes).unwrap())
}

fn delivery_again(bytes: &[u8]) -> Vec<u8> {
    decode_delivery(bytes).unwrap().encode()
}

fn alert_again(bytes: &[u8]) -> Vec<u8> {
    encode_alert(&decode_alert(bytes).unwrap())
}

fn acknowledgement_again(bytes: &[u8]) -> Vec<u8> {
    encode_acknowledgement(&decode_acknowledgement(bytes).unwrap())
}

fn link_again(bytes: &[u8]) -> Vec<u8> {
    encode_plain(&decode_plain::<AuditLink>(bytes).unwrap())
}

fn audit_head_again(bytes: &[u8]) -> Vec<u8> {
    encode_plain(&decode_plain::<AuditHead>(bytes).unwrap())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn samples() -> Vec<Sample> {
    let mut out = Vec::new();
    for (referral, history) in sample_histories() {
        let domain = format!("{:?}", referral.bundle().domain).to_lowercase();
        out.push(sample(
            format!("bundle/{domain}"),
            encode_bundle(referral.bundle()),
            bundle_again,
        ));
        for event in &history {
            out.push(sample(
                format!("event/{}", event.change.name()),
                encode_event(event),
                event_again,
            ));
        }
        // Schema 7 keeps a commit's events under one key: the whole
        // history as one commit's samples it.
        out.push(sample(
            format!("events/{domain}"),
            encode_events(&history),
            events_again,
        ));
        out.push(sample(
            format!("head/{}", referral.status()),
            head_value(
                referral.version(),
                &timers_of(&referral),
                &encode_snapshot(&referral.state()),
            ),
            head_again,
        ));
        let mut replayed = Referral::replay(&history[..1]).unwrap();
        for event in history.iter().skip(1) {
            replayed.apply(event);
            for timer in replayed.timers() {
                out.push(sample(
                    format!("timer/{}", timer.kind.as_str()),
                    encode_timer(&timer),
                    timer_again,
                ));
            }
            for message in messages_for(&replayed, std::slice::from_ref(event)) {
                out.push(sample(
                    format!("outbox/{}", event.change.name()),
                    encode_delivery(&PendingDelivery {
                        id: MessageId("unused".into()),
                        message,
                        enqueued_at: event.at,
                        attempts: 1,
                        next_attempt_at: event.at + SignedDuration::from_mins(1),
                        last_error: Some("unreachable".into()),
                        trace: None,
                        dead_at: None,
                    }),
                    delivery_again,
                ));
            }
            for record in alerts_for(referral.id(), std::slice::from_ref(event)) {
                out.push(sample(
                    format!("alert/{}", record.kind.as_str()),
                    encode_alert(&record),
                    alert_again,
                ));
            }
        }
    }
    out.push(sample(
        "alert/acceptance_breach",
        encode_alert(&mediation_core::alert::AlertRecord {
            kind: mediation_core::alert::AlertKind::AcceptanceBreach,
            raised_at: days_after_t0(4),
            referral: Some(referral_id()),
            due_at: Some(days_after_t0(3)),
            detail: "ccpit-bj-01 did not answer in time".into(),
            subject: Some("acceptance:01JD".into()),
        }),
        alert_again,
    ));
    out.push(sample(
        "acknowledgement",
        encode_acknowledgement(&Acknowledgement {
            by: "operators/alice".into(),
            at: days_after_t0(3),
            note: "已联系调解中心".into(),
        }),
        acknowledgement_again,
    ));
    let record = mediation_records::encode_audit_record(&AuditRecord {
        at: at(SAMPLE_T0),
        actor: "tenant=court-bj sub=svc cert=none".into(),
        action: "submit_referral".into(),
        referral: Some(referral_id()),
        outcome: "ok".into(),
    });
    let head = AuditHead::genesis();
    let link = |record: Vec<u8>| {
        let hashed = mediation_records::audit_hashed_part(&record).unwrap();
        encode_plain(&AuditLink {
            hash: chain_hash(0, &head.last_hash, hashed),
            prev_hash: head.last_hash.clone(),
            record,
        })
    };
    out.push(sample("audit", link(record), link_again));
    // Schema 6: an outcome with a detail, and the same once purged.
    let detailed = mediation_records::encode_audit_record(&AuditRecord {
        at: at(SAMPLE_T0),
        actor: "tenant=ccpit sub=svc cert=none".into(),
        action: "call /mediation.ccpit.v1.CcpitPlatform/RecordAgreement".into(),
        referral: Some(referral_id()),
        outcome: "FailedPrecondition: party 张三 did not sign".into(),
    });
    let purged = mediation_records::purge_audit_detail(&detailed)
        .unwrap()
        .unwrap();
    out.push(sample("audit/detail", link(detailed), link_again));
    out.push(sample("audit/purged", link(purged), link_again));
    out.push(sample("audit_head", encode_plain(&head), audit_head_again));
    out.extend(court_wait_samples());
    out.extend(purge_samples());
    // One sample of each kind is enough; the first of each is kept.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|s| seen.insert(s.kind.clone()));
    out
}

/// The records of schema 5's purge: the event, a purged referral's bundle
/// and head (identities withheld, texts purged), and the files to remove.
fn purge_samples() -> Vec<Sample> {
    use mediation_core::lifecycle::Change;
    use mediation_core::retention;
    let (_, mut history) = sample_histories().swap_remove(0);
    let purge = Event {
        at: days_after_t0(400),
        change: Change::PersonalDataPurged {
            policy: "particulars.confirmed".into(),
        },
    };
    let files: Vec<_> = retention::stored_files(&history).into_iter().collect();
    history.push(purge.clone());
    let purged = Referral::replay(&history).unwrap();
    vec![
        sample(
            "event/personal_data_purged",
            encode_event(&purge),
            event_again,
        ),
        sample(
            "bundle/commercial/purged",
            encode_bundle(purged.bundle()),
            bundle_again,
        ),
        sample(
            "head/confirmed/purged",
            head_value(purged.version(), &[], &encode_snapshot(&purged.state())),
            head_again,
        ),
        sample(
            "purged_files",
            mediation_records::encode_purged_files(&files),
            |bytes| {
                mediation_records::encode_purged_files(
                    &mediation_records::decode_purged_files(bytes).unwrap(),
                )
            },
        ),
    ]
}

/// The records of schema 3's court's wait: a referral back with the court,
/// awaiting its decision, reminded.
fn court_wait_samples() -> Vec<Sample> {
    use mediation_core::lifecycle::{Change, CourtWait};
    use mediation_core::timer::{Timer, TimerKind};
    let (referral, _) = sample_histories()
        .into_iter()
        .find(|(r, _)| r.status() == mediation_core::lifecycle::Status::ReturnedToCourt)
        .expect("the sample histories hold a referral back with the court");
    let since = days_after_t0(20);
    let remind_at = days_after_t0(31);
    let awaited = Event {
        at: since,
        change: Change::CourtDecisionAwaited {
            since,
            remind_at: Some(remind_at),
        },
    };
    let overdue = Event {
        at: remind_at,
        change: Change::CourtDecisionOverdue { since, remind_at },
    };
    let mut state = referral.state();
    state.court_wait = Some(CourtWait {
        since,
        remind_at: Some(remind_at),
        reminded: false,
    });
    let mut out = vec![
        sample(
            "event/court_decision_awaited",
            encode_event(&awaited),
            event_again,
        ),
        sample(
            "event/court_decision_overdue",
            encode_event(&overdue),
            event_again,
        ),
        sample(
            "event/court_outcome_recorded/not_docketed",
            encode_event(&Event {
                at: remind_at,
                change: Change::CourtOutcomeRecorded {
                    outcome: mediation_core::outcome::CourtOutcome::NotDocketed {
                        reason: mediation_core::fixtures::narrative("申请人撤回起诉申请"),
                    },
                },
            }),
            event_again,
        ),
        sample(
            "head/returned_to_court/awaiting_court",
            head_value(
                state.version + 1,
                &[(TimerKind::CourtDecisionReminder, remind_at)],
                &encode_snapshot(&state),
            ),
            head_again,
        ),
        sample(
            "timer/court_decision_reminder",
            encode_timer(&Timer {
                referral: referral.id().clone(),
                kind: TimerKind::CourtDecisionReminder,
                fire_at: remind_at,
            }),
            timer_again,
        ),
    ];
    let mut following = sample_bundle();
    following.model_case =
        Some(mediation_core::court::CaseNumber::parse("（2025）京0105民初100号").unwrap());
    out.push(sample(
        "bundle/commercial/model_case",
        encode_bundle(&following),
        bundle_again,
    ));
    for record in alerts_for(referral.id(), std::slice::from_ref(&overdue)) {
        out.push(sample(
            format!("alert/{}", record.kind.as_str()),
            encode_alert(&record),
            alert_again,
        ));
    }
    out
}

/// The samples pinned for schema `n`, as checked in.
fn pinned(n: u32) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/samples");
    std::fs::read_to_string(dir.join(format!("v{n}.txt"))).unwrap()
}

/// Every record schemas 2 and 3 wrote still reads: their records are not
/// rewritten (schema 4 moves keys, and lists timers in each head). A
/// snapshot of schema 2 reads with no court's wait.
#[test]
fn every_schema_2_and_3_sample_still_reads() {
    for schema in [2, 3] {
        every_sample_of_schema_reads(schema);
    }
}

/// Schema 5 only adds: every record of schema 4 is written byte for byte
/// as schema 4 wrote it, so a store of schema 4 needs no rewriting.
#[test]
fn schema_5_writes_every_record_of_schema_4_as_it_was() {
    let (four, five) = (pinned(4), pinned(5));
    let five: std::collections::BTreeSet<&str> = five.lines().collect();
    let mut kept = 0;
    for line in four.lines() {
        assert!(five.contains(line), "schema 5 changed {line}");
        kept += 1;
    }
    assert!(kept >= 40, "{kept} records of schema 4");
}

#[test]
fn schema_6_writes_every_record_of_schema_5_as_it_was_but_the_audit_chain() {
    let (five, six) = (pinned(5), pinned(6));
    let six: std::collections::BTreeSet<&str> = six.lines().collect();
    let mut kept = 0;
    for line in five.lines() {
        if line.starts_with("audit\t") {
            assert!(!six.contains(line), "schema 6 kept the audit record of 5");
            continue;
        }
        assert!(six.contains(line), "schema 6 changed {line}");
        kept += 1;
    }
    assert!(kept >= 45, "{kept} records of schema 5");
}

/// Schema 7 keeps every record of schema 6 as it was, and adds one: a
/// commit's events under one key, each event encoded as a lone one is.
#[test]
fn schema_7_writes_every_record_of_schema_6_as_it_was_and_a_commits_events_together() {
    let (six, seven) = (pinned(6), pinned(7));
    let seven_lines: std::collections::BTreeSet<&str> = seven.lines().collect();
    for line in six.lines() {
        assert!(seven_lines.contains(line), "schema 7 changed {line}");
    }
    let added: Vec<&str> = seven
        .lines()
        .filter(|line| !six.lines().any(|old| old == *line))
        .collect();
    let mut longest = 0;
    for line in added {
        let (kind, bytes) = line.split_once('\t').unwrap();
        assert!(kind.starts_with("events/"), "schema 7 added {kind}");
        longest = longest.max(decode_events(&unhex(bytes)).unwrap().len());
    }
    assert!(longest > 1, "a sample of several events under one key");
}

fn every_sample_of_schema_reads(schema: u32) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("src/samples/v{schema}.txt"));
    let pinned = std::fs::read_to_string(&path).unwrap();
    let mut read = 0;
    for (kind, bytes) in pinned.lines().filter_map(|l| l.split_once('\t')) {
        let bytes = unhex(bytes);
        let family = kind.split('/').next().unwrap_or(kind);
        match family {
            "bundle" => drop(decode_bundle(&bytes).unwrap()),
            "event" => drop(
                decode_event(&bytes)
                    .unwrap()
                    .load(Some(&sample_bundle()))
                    .unwrap(),
            ),
            "head" => {
                let (_, snapshot) = split_head_v3(b"sample", &bytes).unwrap();
                let state = decode_snapshot(snapshot).unwrap();
                if schema == 2 {
                    assert_eq!(state.court_wait, None, "{kind}");
                }
            }
            "timer" => drop(decode_timer(&bytes).unwrap()),
            "outbox" => drop(decode_delivery(&bytes).unwrap()),
            "alert" => drop(decode_alert(&bytes).unwrap()),
            "acknowledgement" => drop(decode_acknowledgement(&bytes).unwrap()),
            "audit" => {
                let link = decode_plain::<AuditLink>(&bytes).unwrap();
                drop(crate::format::audit_record(b"sample", &link.record).unwrap());
                let hashed = crate::format::audit_hashed(b"sample", &link.record).unwrap();
                assert_eq!(chain_hash(0, &link.prev_hash, &hashed), link.hash, "{kind}");
            }
            "audit_head" => drop(decode_plain::<AuditHead>(&bytes).unwrap()),
            other => panic!("a schema {schema} sample of an unknown family {other}"),
        }
        read += 1;
    }
    assert!(read >= 20, "{read} samples of schema {schema} read");
}

#[test]
fn stored_records_keep_the_format_of_their_schema_version() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("src/samples/v{SCHEMA_VERSION}.txt"));
    let samples = samples();
    let lines: Vec<String> = samples
        .iter()
        .map(|s| format!("{}\t{}", s.kind, hex(&s.bytes)))
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
            hex(&(sample.again)(&unhex(bytes))),
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

/// Every kind of record of the first format, as pinned when it was the
/// store's format, is read by the migration and rewritten in this one.
#[test]
fn every_first_format_sample_is_read_by_the_migration() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/samples/v1.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let mut kinds = 0;
    for line in text.lines() {
        let (kind, json) = line.split_once('\t').unwrap();
        let bytes = json.as_bytes();
        assert!(mediation_records::is_first_format(bytes), "{kind}");
        let key = kind.as_bytes();
        let rewritten = match kind.split('/').next().unwrap() {
            "event" => {
                let event: Event = crate::v1::decode(key, bytes).unwrap();
                let again = decode_event(&encode_event(&event)).unwrap();
                assert_eq!(again.load(Some(&sample_bundle())).unwrap(), event);
                continue;
            }
            "head" => {
                crate::v1::decode::<crate::v1::Head>(key, bytes).unwrap();
                continue;
            }
            "timer" => encode_timer(&crate::v1::decode::<Timer>(key, bytes).unwrap()),
            "outbox" => {
                let pending: PendingDelivery = crate::v1::decode(key, bytes).unwrap();
                let again = decode_delivery(&encode_delivery(&pending)).unwrap();
                assert_eq!(
                    again
                        .load(pending.id.clone(), pending.message.bundle.as_deref())
                        .unwrap(),
                    pending
                );
                continue;
            }
            "alert" => encode_alert(&crate::v1::decode::<Alert>(key, bytes).unwrap().record),
            "acknowledgement" => {
                encode_acknowledgement(&crate::v1::decode::<Acknowledgement>(key, bytes).unwrap())
            }
            "audit" => {
                let entry: AuditEntry = crate::v1::decode(key, bytes).unwrap();
                // The migrated link keeps the bytes that were hashed.
                let hashed = crate::v1::audit_record_bytes(&entry.record);
                assert_eq!(chain_hash(entry.seq, &entry.prev_hash, &hashed), entry.hash);
                continue;
            }
            "audit_head" => continue,
            other => panic!("a first-format sample of unknown kind {other}"),
        };
        assert!(!mediation_records::is_first_format(&rewritten));
        kinds += 1;
    }
    assert!(kinds >= 5, "{kinds} kinds rewritten");
}
