//! Rules that only show across a sequence of steps: an extension after a
//! roll-forward, a sham report during an appraisal, a refused confirmation
//! and then a suit or a new agreement, and what an organisation that lost
//! the case still sees.

use super::*;
use crate::access::Viewer;
use crate::bundle::{Procedure, TrialStage};
use crate::court::CourtLevel;
use crate::outcome::TakesEffect;

/// The fields a refusal names.
fn fields(e: TransitionError) -> Vec<String> {
    match e {
        TransitionError::Invalid(v) => v.0.into_iter().map(|e| e.field).collect(),
        other => panic!("expected invalid fields, got {other:?}"),
    }
}

/// In mediation on the CCPIT platform, accepted on `accepted`.
fn accepted_on(accepted: &str) -> Story {
    Story::received()
        .then(|r, c, p| {
            route_delivered(
                r,
                assignment(org_a()),
                vec!["domain".into()],
                at(accepted),
                c,
                p,
            )
        })
        .then(|r, c, p| r.accept(&org_a(), Some(mediator("m-007")), None, at(accepted), c, p))
}

fn everyone() -> Vec<PartyRef> {
    sample_bundle().party_refs().cloned().collect()
}

#[test]
fn an_extension_by_days_counts_from_the_day_the_rolled_forward_period_ends() {
    // Accepted Thursday 6 March 2025: 30 days reach Saturday 5 April, in the
    // Qingming rest days, so mediation ends on Monday 7 April (CPL Art. 85).
    let story = accepted_on("2025-03-06T10:00:00+08:00");
    assert_eq!(
        story.referral.mediation_deadline().unwrap().due_date,
        date(2025, 4, 7)
    );
    // Two more days agreed (online rules Art. 24) end on Wednesday 9 April.
    let extended = story.then(|r, c, p| r.extend_by_days(&org_a(), 2, everyone(), at(SOON), c, p));
    assert_eq!(
        extended.referral.mediation_deadline().unwrap().due_date,
        date(2025, 4, 9)
    );
}

#[test]
fn an_extension_until_a_day_that_does_not_lengthen_the_period_is_refused() {
    let story = accepted_on("2025-03-06T10:00:00+08:00");
    for day in [date(2025, 4, 6), date(2025, 4, 7)] {
        let refused = story
            .referral
            .extend(
                &org_a(),
                day,
                everyone(),
                at(SOON),
                &story.calendar,
                &story.policy,
            )
            .unwrap_err();
        assert_eq!(fields(refused), ["last_day"], "until {day}");
    }
    let refused = story
        .referral
        .extend_by_days(
            &org_a(),
            0,
            everyone(),
            at(SOON),
            &story.calendar,
            &story.policy,
        )
        .unwrap_err();
    assert_eq!(fields(refused), ["days"]);
}

#[test]
fn a_signature_dated_later_than_now_is_refused() {
    let story = Story::in_mediation();
    let mut agreement = sample_agreement(&org_a(), &mediator("m-007"), at(SOON));
    agreement.signatures[2].signed_at = at("2025-03-08T11:00:00+08:00");
    let refused = story
        .referral
        .record_agreement(&org_a(), agreement.clone(), at(SOON))
        .unwrap_err();
    assert_eq!(fields(refused), ["signatures[2].signed_at"]);
    // Within the clocks' allowed difference it is taken as signed.
    agreement.signatures[2].signed_at = at("2025-03-05T11:05:00+08:00");
    assert!(
        story
            .referral
            .record_agreement(&org_a(), agreement, at(SOON))
            .is_ok()
    );
}

#[test]
fn a_labour_agreement_takes_effect_once_the_committee_sealed_it() {
    // LDMAL Art. 14: the parties signed on 1 March, the mediator and the
    // committee's seal followed on 20 March. The 30 days run from the seal.
    let mut agreement = sample_agreement(
        &org_a(),
        &mediator("m-007"),
        at("2025-03-01T10:00:00+08:00"),
    );
    for s in &mut agreement.signatures {
        if !matches!(s.signer, Signer::Party(_)) {
            s.signed_at = at("2025-03-20T10:00:00+08:00");
        }
    }
    assert_eq!(
        agreement.effective_at(TakesEffect::on(Partner::LabourArbitration)),
        Some(at("2025-03-20T10:00:00+08:00"))
    );
    assert_eq!(
        agreement.effective_at(TakesEffect::on(Partner::Ccpit)),
        Some(at("2025-03-01T10:00:00+08:00"))
    );
    // Applied on 15 April: 45 days after the parties signed, 26 after the seal.
    let application = ConfirmationApplication {
        applicants: everyone(),
        applied_at: at("2025-04-15T10:00:00+08:00"),
    };
    let bundle = sample_bundle();
    let calendar = shipped_calendar();
    assert!(
        application
            .check(
                &bundle,
                &agreement,
                TakesEffect::on(Partner::LabourArbitration),
                &calendar
            )
            .is_ok()
    );
    let late = application
        .check(
            &bundle,
            &agreement,
            TakesEffect::on(Partner::Ccpit),
            &calendar,
        )
        .unwrap_err();
    assert_eq!(late.0[0].field, "applied_at");
}

#[test]
fn a_delegated_settlement_may_end_in_a_pre_litigation_mediation_paper() {
    // Seed 004 (十六) and seed 003 四(四)2: confirmation or a paper.
    let story = Story::agreed();
    let paper = |number: &str| CourtOutcome::MediationPaper {
        case_number: CaseNumber::parse(number).unwrap(),
    };
    let refused = story
        .referral
        .record_court_outcome(&court("京0105"), paper("（2025）京0105民初9号"), at(SOON))
        .unwrap_err();
    assert_eq!(fields(refused), ["case_number"]);
    let refused = story
        .referral
        .record_court_outcome(
            &court("京0105"),
            CourtOutcome::SuitWithdrawn {
                case_number: CaseNumber::parse("（2025）京0105民初9号").unwrap(),
            },
            at(SOON),
        )
        .unwrap_err();
    assert!(matches!(refused, TransitionError::NotForKind { .. }));
    let ended = story.then(|r, _, _| {
        r.record_court_outcome(
            &court("京0105"),
            paper("（2025）京0105民诉前调书12号"),
            at(SOON),
        )
    });
    assert_eq!(ended.referral.status(), Status::Concluded);
}

fn refused_confirmation() -> Story {
    Story::agreed()
        .then(|r, c, _| {
            r.apply_for_confirmation(
                &org_a(),
                ConfirmationApplication {
                    applicants: everyone(),
                    applied_at: at(SOON),
                },
                at(SOON),
                c,
            )
        })
        .then(|r, _, _| {
            r.record_ruling(&court("京0105"), ruling(RulingOutcome::Dismissed), at(SOON))
        })
}

#[test]
fn after_a_refused_confirmation_the_parties_may_sue() {
    // CPL Art. 206: the court dockets the suit they bring.
    let story = refused_confirmation();
    assert!(!story.referral.status().is_final());
    let sued = story.then(|r, _, _| {
        r.record_court_outcome(
            &court("京0105"),
            CourtOutcome::Docketed {
                case_number: CaseNumber::parse("（2025）京0105民初77号").unwrap(),
            },
            at(LATE),
        )
    });
    assert!(sued.referral.docketed().is_some());
    // The case is before the court now: no agreement is recorded beside it.
    let late = sued
        .referral
        .record_agreement(
            &org_a(),
            sample_agreement(&org_a(), &mediator("m-007"), at(LATE)),
            at(LATE),
        )
        .unwrap_err();
    assert!(matches!(late, TransitionError::NotAllowed { .. }));
}

#[test]
fn after_a_refused_confirmation_the_parties_may_agree_again_and_apply_again() {
    // CPL Art. 206: a changed or new agreement through mediation.
    let again = refused_confirmation()
        .then(|r, _, _| {
            r.record_agreement(
                &org_a(),
                sample_agreement(
                    &org_a(),
                    &mediator("m-007"),
                    at("2025-03-20T10:00:00+08:00"),
                ),
                at("2025-03-20T10:00:00+08:00"),
            )
        })
        .then(|r, c, _| {
            r.apply_for_confirmation(
                &org_a(),
                ConfirmationApplication {
                    applicants: everyone(),
                    applied_at: at("2025-03-21T10:00:00+08:00"),
                },
                at("2025-03-21T10:00:00+08:00"),
                c,
            )
        });
    assert_eq!(again.referral.status(), Status::ConfirmationRequested);
    let replayed = Referral::replay(&again.history).unwrap();
    assert_eq!(replayed, again.referral);
}

#[test]
fn an_organisation_whose_mediation_was_ended_as_a_sham_sees_nothing_more() {
    let story = Story::in_mediation()
        .then(|r, _, _| {
            r.report_sham_mediation(
                &org_a(),
                crate::outcome::ShamMediationReport {
                    grounds: narrative("双方串通"),
                },
                at(SOON),
            )
        })
        .then(|r, c, p| {
            r.resolve_sham_mediation(
                &court("京0105"),
                false,
                narrative("虚假调解属实"),
                at(SOON),
                c,
                p,
            )
        });
    assert_eq!(story.referral.status(), Status::ReturnedToCourt);
    assert!(!story.referral.may_view(&Viewer::Organisation(org_a())));
    assert_eq!(
        story.referral.disclosure_to(&org_a()),
        crate::access::Disclosure::Nothing
    );
    assert!(story.referral.may_view(&Viewer::Court(court("京0105"))));
}

#[test]
fn a_recalled_referral_is_not_the_organisations_any_more() {
    let story = Story::routed()
        .then(|r, _, _| r.recall(&court("京0105"), narrative("当事人撤回"), at(SOON)));
    assert!(!story.referral.may_view(&Viewer::Organisation(org_a())));
}

#[test]
fn a_sham_report_found_genuine_during_an_appraisal_leaves_the_appraisal_running() {
    // Online rules Art. 26: appraisal time does not count, whatever the
    // court found about the report made meanwhile.
    let story = accepted_on("2025-03-04T10:00:00+08:00")
        .then(|r, _, p| {
            r.start_appraisal(
                &org_a(),
                narrative("工程造价鉴定"),
                at("2025-03-10T10:00:00+08:00"),
                p,
            )
        })
        .then(|r, _, _| {
            r.report_sham_mediation(
                &org_a(),
                crate::outcome::ShamMediationReport {
                    grounds: narrative("疑似串通"),
                },
                at("2025-03-12T10:00:00+08:00"),
            )
        })
        .then(|r, c, p| {
            r.resolve_sham_mediation(
                &court("京0105"),
                true,
                narrative("未发现虚假调解"),
                at("2025-03-14T10:00:00+08:00"),
                c,
                p,
            )
        });
    assert_eq!(story.referral.status(), Status::SuspendedForAppraisal);
    assert!(story.referral.appraisal().is_some());
    assert_eq!(story.referral.running_deadline(), None);
    // The appraisal ends on 24 March: 14 days paused, from the 10th. 30
    // days from 4 March reach 3 April; 14 more reach 17 April.
    let resumed =
        story.then(|r, c, p| r.end_appraisal(&org_a(), at("2025-03-24T10:00:00+08:00"), c, p));
    assert_eq!(resumed.referral.status(), Status::InMediation);
    assert_eq!(
        resumed.referral.mediation_deadline().unwrap().due_date,
        date(2025, 4, 17)
    );
    assert_eq!(
        Referral::replay(&resumed.history).unwrap(),
        resumed.referral
    );
}

fn entrusted(stage: TrialStage, procedure: Procedure) -> CaseBundle {
    let mut bundle = sample_bundle();
    bundle.kind = ReferralKind::Entrusted { stage, procedure };
    bundle.case_number = Some(CaseNumber::parse(ENTRUSTED_CASE).unwrap());
    bundle
}

#[test]
fn the_summary_procedure_is_for_first_instance_at_basic_courts() {
    // CPL Art. 160.
    let appeal = entrusted(TrialStage::SecondInstance, Procedure::Summary);
    let found = appeal.validate().unwrap_err();
    assert_eq!(found.0[0].field, "procedure");
    let first = entrusted(TrialStage::FirstInstance, Procedure::Summary);
    assert!(first.validate().is_ok());
    assert!(first.check_at_court(CourtLevel::Basic).is_ok());
    let found = first.check_at_court(CourtLevel::Intermediate).unwrap_err();
    assert_eq!(found.0[0].field, "procedure");
    let ordinary = entrusted(TrialStage::FirstInstance, Procedure::Ordinary);
    assert!(ordinary.check_at_court(CourtLevel::Intermediate).is_ok());
}

#[test]
fn no_arbitration_notice_runs_for_a_docketed_labour_case() {
    // LDMAL Art. 14 is about mediation before arbitration.
    let labour = |bundle: CaseBundle| {
        let (referral, event) = Referral::receive(referral_id(), bundle, at(RECEIVED)).unwrap();
        Story {
            referral,
            history: vec![event],
            calendar: shipped_calendar(),
            policy: DeadlinePolicy::default(),
        }
        .then(|r, c, p| {
            route_delivered(
                r,
                Assignment {
                    partner: Partner::LabourArbitration,
                    organisation: organisation("labour-bj-cy"),
                    mediator: None,
                },
                vec!["domain".into()],
                at(ROUTED),
                c,
                p,
            )
        })
        .then(|r, c, p| {
            r.accept(
                &organisation("labour-bj-cy"),
                None,
                None,
                at(ACCEPTED),
                c,
                p,
            )
        })
    };
    let delegated = labour(labour_bundle());
    assert!(delegated.referral.arbitration_due().is_some());
    let mut docketed = labour_bundle();
    docketed.kind = ReferralKind::Entrusted {
        stage: TrialStage::FirstInstance,
        procedure: Procedure::Ordinary,
    };
    docketed.case_number = Some(CaseNumber::parse(ENTRUSTED_CASE).unwrap());
    let docketed = labour(docketed);
    assert_eq!(docketed.referral.arbitration_due(), None);
}

#[test]
fn a_court_decision_is_awaited_only_for_a_delegated_referral_and_ends_with_it() {
    let fail = |story: Story| {
        story.then(|r, c, p| {
            let events = r.report_failure(&org_a(), failure(), at(SOON))?;
            let mut all = events.clone();
            all.extend(r.follow_up(&events, c, p)?);
            Ok(all)
        })
    };
    // A 委派 failure waits for the court, reminded after 7 working days.
    let failed = fail(Story::in_mediation());
    let wait = failed.referral.court_wait().unwrap().clone();
    assert_eq!(wait.since, at(SOON));
    assert_eq!(wait.remind_at, Some(at("2025-03-15T00:00:00+08:00")));
    // Closed without a suit: the wait is over, and nothing starts it again.
    let closed = failed.then(|r, c, p| {
        let events = r.record_court_outcome(
            &court("京0105"),
            CourtOutcome::NotDocketed {
                reason: narrative("申请人撤回起诉申请"),
            },
            at(LATE),
        )?;
        assert!(r.follow_up(&events, c, p)?.is_empty());
        Ok(events)
    });
    assert_eq!(closed.referral.court_wait(), None);
    assert!(closed.referral.timers().is_empty());
    assert_eq!(Referral::replay(&closed.history).unwrap(), closed.referral);
    // A 委托 case is docketed already: its failure starts no wait.
    let mut entrusted = Story::entrusted_agreed();
    entrusted.referral = Referral::replay(&entrusted.history[..4]).unwrap();
    entrusted.history.truncate(4);
    let entrusted = fail(entrusted);
    assert_eq!(entrusted.referral.status(), Status::MediationFailed);
    assert_eq!(entrusted.referral.court_wait(), None);
    assert!(!entrusted.referral.awaits_court_decision());
}

#[test]
fn a_model_case_is_a_docketed_suit_other_than_the_referrals_own() {
    // Seed 000 (十八): the batch's disputes follow a model case's judgment.
    let mut bundle = sample_bundle();
    bundle.model_case = Some(CaseNumber::parse("（2025）京0105民初100号").unwrap());
    assert!(bundle.validate().is_ok());
    bundle.model_case = Some(CaseNumber::parse("（2025）京0105民诉前调5号").unwrap());
    assert_eq!(
        bundle.validate().unwrap_err().0[0].field,
        "model_case_number"
    );
    let mut own = entrusted(TrialStage::FirstInstance, Procedure::Ordinary);
    own.model_case = own.case_number.clone();
    assert_eq!(own.validate().unwrap_err().0[0].field, "model_case_number");
}
