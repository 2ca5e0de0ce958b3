use super::*;
use crate::fixtures::*;
use crate::identity::IdentityKind;
use crate::statistics::{Period, Statistics};

/// Every text of the sample histories a person could be found by.
fn personal_texts(events: &[Event]) -> Vec<String> {
    let mut texts = Vec::new();
    for event in events {
        match &event.change {
            Change::Received { bundle, .. } => {
                for p in &bundle.parties {
                    texts.push(p.name.to_string());
                    texts.push(p.identity.number().to_owned());
                    texts.push(p.contact.to_string());
                    texts.push(p.service_address.to_string());
                }
                texts.extend(bundle.claims.iter().map(|c| c.description.to_string()));
                texts.extend(bundle.documents.iter().map(|d| d.name.to_string()));
            }
            Change::AgreementReached { agreement } => {
                texts.extend(agreement.terms.iter().map(|t| t.to_string()));
                texts.extend(
                    agreement
                        .parties
                        .iter()
                        .map(|p| p.identity.number().to_owned()),
                );
            }
            Change::Declined { reasons, .. } => {
                texts.extend(reasons.iter().map(|r| r.explanation.to_string()));
            }
            Change::AppraisalStarted { note, .. } => texts.push(note.to_string()),
            Change::RulingRecorded { ruling } => {
                texts.extend(ruling.reasons.iter().map(|r| r.to_string()));
            }
            _ => {}
        }
    }
    texts
}

#[test]
fn a_redacted_history_holds_none_of_the_personal_data() {
    for (_, history) in sample_histories() {
        let texts = personal_texts(&history);
        assert!(texts.len() >= 8, "the sample names people: {texts:?}");
        let redacted = serde_json::to_string(&redact(&history)).unwrap();
        for text in texts {
            assert!(
                !redacted.contains(&text),
                "'{text}' is still in the redacted history"
            );
        }
        assert!(redacted.contains(crate::text::PURGED_TEXT));
    }
}

#[test]
fn a_redacted_history_replays_to_the_same_statuses_deadlines_and_statistics() {
    for (referral, history) in sample_histories() {
        let redacted = redact(&history);
        assert_eq!(redacted.len(), history.len());
        let replayed = Referral::replay(&redacted).unwrap();
        assert_eq!(replayed.status(), referral.status());
        assert_eq!(replayed.version(), referral.version());
        assert_eq!(replayed.timers(), referral.timers());
        assert_eq!(replayed.mediation_deadline(), referral.mediation_deadline());
        assert_eq!(
            replayed.acceptance_deadline(),
            referral.acceptance_deadline()
        );
        assert_eq!(replayed.accepted_at(), referral.accepted_at());
        assert_eq!(
            replayed.ruling().map(|r| r.outcome),
            referral.ruling().map(|r| r.outcome)
        );
        for (was, is) in history.iter().zip(&redacted) {
            assert_eq!((was.at, was.change.name()), (is.at, is.change.name()));
        }
        let period = Period {
            from: at("2000-01-01T00:00:00Z"),
            to: at("2100-01-01T00:00:00Z"),
        };
        let (mut before, mut after) = (Statistics::new(period), Statistics::new(period));
        before.add(&history);
        after.add(&redacted);
        assert_eq!(format!("{before:?}"), format!("{after:?}"));
    }
}

#[test]
fn identities_keep_their_kind_and_lose_their_number() {
    let (_, history) = &sample_histories()[0];
    let Change::Received { bundle, .. } = &redact(history)[0].change else {
        panic!("a history starts with its received event")
    };
    let kinds: Vec<_> = bundle.parties.iter().map(|p| p.identity.kind()).collect();
    assert!(kinds.contains(&IdentityKind::ResidentIdCard));
    assert!(bundle.parties.iter().all(|p| p.identity.is_withheld()));
    assert!(is_purged(bundle));
    assert!(!is_purged(&sample_bundle()));
    assert!(bundle.parties.iter().all(|p| p.region.is_none()));
    // The files are listed before the purge, and the purged referral lists
    // none.
    assert!(!stored_files(history).is_empty());
    assert!(stored_files(&redact(history)).is_empty());
    assert!(bundle.documents.is_empty());
}

fn ended_sample() -> (Referral, Timestamp) {
    let (referral, history) = sample_histories().swap_remove(0);
    assert!(referral.status().is_final());
    let last = history.last().unwrap().at;
    (referral, last)
}

#[test]
fn a_referral_is_due_once_its_outcome_s_period_has_passed_since_its_last_event() {
    let (referral, last) = ended_sample();
    let policy = RetentionPolicy {
        default_days: 180,
        by_outcome: [(Status::Confirmed, 30)].into(),
    };
    let until = last + SignedDuration::from_hours(24 * 30);
    assert_eq!(
        verdict(
            &referral,
            last,
            false,
            &policy,
            until - SignedDuration::from_secs(1)
        ),
        Verdict::KeptUntil(until)
    );
    assert_eq!(
        verdict(&referral, last, false, &policy, until),
        Verdict::Due {
            policy: "particulars.confirmed".into()
        }
    );
    // A message still to deliver keeps it whatever the time.
    assert_eq!(
        verdict(&referral, last, true, &policy, until),
        Verdict::Busy
    );
    let by_default = RetentionPolicy::default();
    assert_eq!(
        verdict(&referral, last, false, &by_default, until),
        Verdict::KeptUntil(last + SignedDuration::from_hours(24 * 180))
    );
}

#[test]
fn an_open_referral_is_never_due() {
    let (referral, history) = sample_histories().swap_remove(2);
    assert!(!rests(referral.status()));
    let far = history[0].at + SignedDuration::from_hours(24 * 4000);
    assert_eq!(
        verdict(
            &referral,
            history[0].at,
            false,
            &RetentionPolicy::default(),
            far
        ),
        Verdict::Open
    );
}

#[test]
fn a_policy_names_only_ended_statuses_and_sensible_periods() {
    let policy = RetentionPolicy {
        default_days: 0,
        by_outcome: [(Status::InMediation, 30), (Status::Recalled, MAX_DAYS + 1)].into(),
    };
    let problems = policy.check().unwrap_err();
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    // A period of 0 is refused once, not again as too short for agreements.
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(
        text.iter()
            .any(|t| t.starts_with("days: a period is 1 to 3653 days, not 0"))
    );
    assert!(text.iter().any(|t| t.starts_with("recalled: a period")));
    assert!(
        text.iter()
            .any(|t| t.starts_with("in_mediation: not a status a referral rests in"))
    );
    let short = RetentionPolicy {
        default_days: 365,
        by_outcome: [(Status::Agreed, AGREED_MIN_DAYS - 1)].into(),
    };
    assert!(matches!(
        short.check().unwrap_err()[..],
        [PolicyError::AgreedTooShort { days: 44 }]
    ));
    assert!(RetentionPolicy::default().check().is_ok());
}

#[test]
fn the_purge_event_leaves_the_same_state_whichever_history_it_follows() {
    let (referral, mut history) = sample_histories().swap_remove(0);
    let last = history.last().unwrap().at;
    let now = last + SignedDuration::from_hours(24 * 400);
    let event = purge_event(&referral, last, false, &RetentionPolicy::default(), now).unwrap();
    assert_eq!(
        event.change,
        Change::PersonalDataPurged {
            policy: "particulars.default".into()
        }
    );
    let mut redacted = redact(&history);
    history.push(event.clone());
    redacted.push(event);
    let (original, purged) = (
        Referral::replay(&history).unwrap(),
        Referral::replay(&redacted).unwrap(),
    );
    assert_eq!(original.state(), purged.state());
    assert_eq!(original.bundle(), purged.bundle());
    assert_eq!(original.version(), referral.version() + 1);
    let texts = personal_texts(&history);
    let state = format!("{:?}{:?}", purged.state(), purged.bundle());
    for text in texts {
        assert!(!state.contains(&text), "'{text}' is still in the state");
    }
}

#[test]
fn a_purged_referral_takes_no_new_agreement_but_the_court_may_still_act() {
    use crate::outcome::{Ruling, RulingOutcome};
    // Agreed, applied for confirmation, refused: the parties may agree
    // again (CPL Art. 206), and the referral rests meanwhile.
    let (_, history) = sample_histories().swap_remove(0);
    let applied = history
        .iter()
        .position(|e| e.change.name() == "confirmation_applied")
        .unwrap();
    let mut referral = Referral::replay(&history[..=applied]).unwrap();
    let refused_at = history[applied].at + SignedDuration::from_hours(24 * 5);
    let refused = referral
        .record_ruling(
            &court("京0105"),
            Ruling {
                outcome: RulingOutcome::Dismissed,
                case_number: None,
                reasons: Some(narrative("协议内容不明确")),
                ruled_at: refused_at,
            },
            refused_at,
        )
        .unwrap();
    referral.apply_all(&refused);
    assert_eq!(referral.status(), Status::ConfirmationRefused);
    let org = organisation("ccpit-bj-01");
    let agreement = || sample_agreement(&org, &mediator("m-007"), refused_at);
    // Before the purge a new agreement is taken...
    assert!(
        referral
            .record_agreement(&org, agreement(), refused_at)
            .is_ok()
    );
    // ...after it, it is refused with the reason.
    let now = refused_at + SignedDuration::from_hours(24 * 181);
    let event = purge_event(
        &referral,
        refused_at,
        false,
        &RetentionPolicy::default(),
        now,
    )
    .unwrap();
    referral.apply(&event);
    let err = referral
        .record_agreement(&org, agreement(), now)
        .unwrap_err();
    assert!(
        matches!(err, crate::lifecycle::TransitionError::Purged { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("PIPL Art. 47"), "{err}");
}
