use jiff::SignedDuration;
use mediation_core::alert::{Acknowledgement, alerts_for};
use mediation_core::audit::AuditRecord;
use mediation_core::fixtures::{days_after_t0, referral_id, sample_histories};
use mediation_core::lifecycle::Referral;
use mediation_core::outbox::messages_for;
use mediation_core::store::{MessageId, PendingDelivery};

use super::*;

#[test]
fn every_sample_event_bundle_and_snapshot_reads_back_the_same() {
    let mut kinds = std::collections::BTreeSet::new();
    for (referral, history) in sample_histories() {
        let bundle = decode_bundle(&encode_bundle(referral.bundle())).unwrap();
        assert_eq!(&bundle, referral.bundle());
        for event in &history {
            let bytes = encode_event(event);
            assert_eq!(bytes[0], FORMAT_VERSION);
            let record = decode_event(&bytes).unwrap();
            assert_eq!(record.at(), event.at);
            assert_eq!(&record.load(Some(&bundle)).unwrap(), event);
            kinds.insert(event.change.name());
        }
        let state = decode_snapshot(&encode_snapshot(&referral.state())).unwrap();
        assert_eq!(Referral::restore(bundle, state), referral);
    }
    assert!(kinds.len() >= 10, "the samples cover {kinds:?}");
}

#[test]
fn a_received_event_holds_no_bundle_and_cannot_be_read_without_it() {
    let (referral, history) = sample_histories().remove(0);
    let event = encode_event(&history[0]);
    let bundle = encode_bundle(referral.bundle());
    // The bundle's own bytes (its parties' names, say) are not in the event.
    assert!(event.len() < 64, "{} bytes", event.len());
    assert!(bundle.len() > 200, "{} bytes", bundle.len());
    let record = decode_event(&event).unwrap();
    assert!(record.needs_bundle());
    assert_eq!(record.load(None), Err(FormatError::BundleMissing));
}

#[test]
fn messages_timers_alerts_and_audit_records_read_back_the_same() {
    let mut messages = 0;
    for (referral, history) in sample_histories() {
        let bundle = referral.bundle().clone();
        let mut replayed = Referral::replay(&history[..1]).unwrap();
        for event in history.iter().skip(1) {
            replayed.apply(event);
            for timer in replayed.timers() {
                assert_eq!(decode_timer(&encode_timer(&timer)).unwrap(), timer);
            }
            for message in messages_for(&replayed, std::slice::from_ref(event)) {
                let pending = PendingDelivery {
                    id: MessageId("m-1".into()),
                    message,
                    enqueued_at: event.at,
                    attempts: 2,
                    next_attempt_at: event.at + SignedDuration::from_mins(1),
                    last_error: Some("unreachable".into()),
                    trace: None,
                    dead_at: Some(event.at),
                };
                let bytes = encode_delivery(&pending);
                let state = decode_delivery_state(&bytes).unwrap();
                assert_eq!(state.enqueued_at, pending.enqueued_at);
                assert_eq!(state.next_attempt_at, pending.next_attempt_at);
                assert!(state.dead);
                let record = decode_delivery(&bytes).unwrap();
                assert_eq!(record.needs_bundle(), pending.message.bundle.is_some());
                assert_eq!(
                    record.load(pending.id.clone(), Some(&bundle)).unwrap(),
                    pending
                );
                messages += 1;
            }
            for alert in alerts_for(referral.id(), std::slice::from_ref(event)) {
                assert_eq!(decode_alert(&encode_alert(&alert)).unwrap(), alert);
            }
        }
    }
    assert!(messages > 5);
    let ack = Acknowledgement {
        by: "operators/alice".into(),
        at: days_after_t0(3),
        note: "已联系调解中心".into(),
    };
    assert_eq!(
        decode_acknowledgement(&encode_acknowledgement(&ack)).unwrap(),
        ack
    );
    let audit = AuditRecord {
        at: days_after_t0(1),
        actor: "tenant=court-bj".into(),
        action: "submit_referral".into(),
        referral: Some(referral_id()),
        outcome: "ok".into(),
    };
    assert_eq!(
        decode_audit_record(&encode_audit_record(&audit)).unwrap(),
        audit
    );
}

#[test]
fn a_record_of_another_version_or_with_bad_contents_is_refused_by_name() {
    let (referral, _) = sample_histories().remove(0);
    let mut bytes = encode_bundle(referral.bundle());
    assert!(!is_first_format(&bytes));
    assert_eq!(bytes[0], crate::BUNDLE_VERSION);
    bytes[0] = 4;
    assert_eq!(
        decode_bundle(&bytes),
        Err(FormatError::Version {
            found: 4,
            expected: crate::BUNDLE_VERSION
        })
    );
    bytes[0] = crate::BUNDLE_VERSION;
    // Schema 2's bundle, the same bytes without the model case after them,
    // still reads.
    let mut v2 = bytes[..bytes.len() - 1].to_vec();
    v2[0] = FORMAT_VERSION;
    assert_eq!(&decode_bundle(&v2).unwrap(), referral.bundle());
    assert!(matches!(
        decode_bundle(&bytes[..bytes.len() / 2]),
        Err(FormatError::Decode(_))
    ));
    assert_eq!(decode_bundle(&[]), Err(FormatError::Empty));
    assert!(is_first_format(br#"{"at":"2025-01-01T00:00:00Z"}"#));
    // A stored value that the domain would refuse is refused on reading.
    let mut timer = encode_timer(&mediation_core::timer::Timer {
        referral: referral_id(),
        kind: mediation_core::timer::TimerKind::MediationEnd,
        fire_at: days_after_t0(1),
    });
    let kind_at = 1 + 1 + referral_id().as_str().len();
    timer[kind_at] = 99;
    assert_eq!(
        decode_timer(&timer),
        Err(FormatError::UnknownCode {
            what: "timer kind",
            code: 99
        })
    );
}
