//! The state machine: every command against every status, and the stories the
//! domain describes.

use jiff::civil::date;

use super::*;
use crate::bundle::ReferralKind;
use crate::court::CaseNumber;
use crate::deadline::DeadlinePolicy;
use crate::deadline::MediationLimits;
use crate::fixtures::*;
use crate::ids::PartyRef;
use crate::outcome::{ConfirmationApplication, Ruling, RulingOutcome};
use crate::outcome::{
    ConfirmedAddress, CourtOutcome, DeclineCode, PerformanceStatus, Signature, Signer,
};
use crate::partner::Partner;
use crate::timer::TimerKind;
use mediation_calendar::{Calendar, cst};

const RECEIVED: &str = "2025-03-03T09:00:00+08:00"; // a Monday
const ROUTED: &str = "2025-03-03T10:00:00+08:00";
const ACCEPTED: &str = "2025-03-04T10:00:00+08:00";
const SOON: &str = "2025-03-05T11:00:00+08:00";
const LATE: &str = "2026-01-01T00:00:00+08:00";
const ENTRUSTED_CASE: &str = "（2025）京0105民初123号";

fn org_a() -> OrganisationId {
    organisation("ccpit-bj-01")
}

fn org_b() -> OrganisationId {
    organisation("ccpit-bj-02")
}

fn assignment(org: OrganisationId) -> Assignment {
    Assignment {
        partner: Partner::Ccpit,
        organisation: org,
        mediator: None,
    }
}

struct Story {
    referral: Referral,
    history: Vec<Event>,
    calendar: Calendar,
    policy: DeadlinePolicy,
}

impl Story {
    fn received() -> Self {
        let (referral, event) =
            Referral::receive(referral_id(), sample_bundle(), at(RECEIVED)).unwrap();
        Self {
            referral,
            history: vec![event],
            calendar: shipped_calendar(),
            policy: DeadlinePolicy::default(),
        }
    }

    /// Runs a decision that must succeed and applies its events.
    fn then(
        mut self,
        decide: impl FnOnce(&Referral, &Calendar, &DeadlinePolicy) -> Decision,
    ) -> Self {
        let events = decide(&self.referral, &self.calendar, &self.policy).unwrap();
        self.referral.apply_all(&events);
        self.history.extend(events);
        self
    }

    fn routed() -> Self {
        Self::received().then(|r, c, p| {
            route_delivered(
                r,
                assignment(org_a()),
                vec!["domain".into()],
                at(ROUTED),
                c,
                p,
            )
        })
    }

    fn in_mediation() -> Self {
        Self::routed()
            .then(|r, c, p| r.accept(&org_a(), Some(mediator("m-007")), None, at(ACCEPTED), c, p))
    }

    fn agreed() -> Self {
        Self::in_mediation().then(|r, _, _| {
            r.record_agreement(
                &org_a(),
                sample_agreement(&org_a(), &mediator("m-007"), at(SOON)),
                at(SOON),
            )
        })
    }

    /// A 委托 referral of （2025）京0105民初123号 the parties settled.
    fn entrusted_agreed() -> Self {
        let mut bundle = sample_bundle();
        bundle.kind = ReferralKind::Entrusted {
            stage: crate::bundle::TrialStage::FirstInstance,
            procedure: crate::bundle::Procedure::Ordinary,
        };
        bundle.case_number = Some(CaseNumber::parse(ENTRUSTED_CASE).unwrap());
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
                assignment(org_a()),
                vec!["domain".into()],
                at(ROUTED),
                c,
                p,
            )
        })
        .then(|r, c, p| r.accept(&org_a(), Some(mediator("m-007")), None, at(ACCEPTED), c, p))
        .then(|r, _, _| {
            r.record_agreement(
                &org_a(),
                sample_agreement(&org_a(), &mediator("m-007"), at(SOON)),
                at(SOON),
            )
        })
    }

    fn in_status(status: Status) -> Self {
        match status {
            Status::Received => Self::received(),
            Status::AwaitingAcceptance => Self::routed(),
            Status::Declined => {
                Self::routed().then(|r, _, _| r.decline(&org_a(), decline_reasons(), at(SOON)))
            }
            Status::AcceptanceOverdue => {
                Self::routed().then(|r, _, _| r.acceptance_deadline_passed(at(LATE)))
            }
            Status::InMediation => Self::in_mediation(),
            Status::SuspendedForAppraisal => Self::in_mediation().then(|r, _, p| {
                r.start_appraisal(&org_a(), narrative("工程造价鉴定"), at(SOON), p)
            }),
            Status::MediationOverdue => {
                Self::in_mediation().then(|r, _, _| r.mediation_deadline_passed(at(LATE), 5))
            }
            Status::Agreed => Self::agreed(),
            Status::ConfirmationRequested => Self::agreed().then(|r, c, _| {
                r.apply_for_confirmation(&org_a(), joint_application(), at(SOON), c)
            }),
            Status::Confirmed => Self::in_status(Status::ConfirmationRequested).then(|r, _, _| {
                r.record_ruling(&court("京0105"), ruling(RulingOutcome::Confirmed), at(SOON))
            }),
            Status::ConfirmationRefused => {
                Self::in_status(Status::ConfirmationRequested).then(|r, _, _| {
                    r.record_ruling(&court("京0105"), ruling(RulingOutcome::Dismissed), at(SOON))
                })
            }
            Status::MediationFailed => {
                Self::in_mediation().then(|r, _, _| r.report_failure(&org_a(), failure(), at(SOON)))
            }
            Status::ShamMediationReported => Self::in_mediation().then(|r, _, _| {
                r.report_sham_mediation(
                    &org_a(),
                    ShamMediationReport {
                        grounds: narrative("双方串通"),
                    },
                    at(SOON),
                )
            }),
            Status::ReturnedToCourt => Self::in_status(Status::Declined)
                .then(|r, _, _| r.return_to_court(ReturnReason::Declined, at(SOON))),
            Status::Recalled => Self::received()
                .then(|r, _, _| r.recall(&court("京0105"), narrative("当事人撤诉"), at(SOON))),
            Status::Concluded => Self::entrusted_agreed().then(|r, _, _| {
                r.record_court_outcome(
                    &court("京0105"),
                    CourtOutcome::MediationPaper {
                        case_number: CaseNumber::parse(ENTRUSTED_CASE).unwrap(),
                    },
                    at(SOON),
                )
            }),
        }
    }
}

fn decline_reasons() -> Vec<DeclineReason> {
    vec![DeclineReason {
        code: DeclineCode::NoCapacity,
        explanation: narrative("本月调解员已满负荷"),
    }]
}

fn joint_application() -> ConfirmationApplication {
    ConfirmationApplication {
        applicants: vec![party_ref("P1"), party_ref("P2")],
        applied_at: at(SOON),
    }
}

fn ruling(outcome: RulingOutcome) -> Ruling {
    Ruling {
        outcome,
        case_number: None,
        reasons: None,
        ruled_at: at(SOON),
    }
}

fn failure() -> FailureReport {
    FailureReport {
        course: narrative("组织双方调解两次"),
        reasons: narrative("双方对金额分歧过大"),
        cost_raising_conduct: None,
        notes_for_court: None,
        undisputed_facts: vec![narrative("合同于2024年签订")],
        confirmed_service_addresses: vec![ConfirmedAddress {
            party: party_ref("P2"),
            address: line("福建省福州市某路2号"),
        }],
    }
}

const ALL: [Status; 16] = Status::ALL;

type Command = fn(&Referral, &Calendar, &DeadlinePolicy) -> Decision;

/// Every command with arguments that are valid whenever the status allows it,
/// and the statuses that allow it.
fn commands() -> Vec<(&'static str, Command, Vec<Status>)> {
    use Status::*;
    vec![
        (
            "route",
            |r, _, _| r.route(assignment(org_b()), vec![], at(SOON)),
            vec![Received, Declined, AcceptanceOverdue],
        ),
        (
            "accept",
            |r, c, p| r.accept(&org_a(), None, None, at(SOON), c, p),
            vec![AwaitingAcceptance],
        ),
        (
            "decline",
            |r, _, _| r.decline(&org_a(), decline_reasons(), at(SOON)),
            vec![AwaitingAcceptance],
        ),
        (
            "acceptance overdue",
            |r, _, _| r.acceptance_deadline_passed(at(LATE)),
            vec![AwaitingAcceptance],
        ),
        (
            "return",
            |r, _, _| r.return_to_court(ReturnReason::Declined, at(SOON)),
            vec![Received, Declined, AcceptanceOverdue],
        ),
        (
            "appraisal start",
            |r, _, p| r.start_appraisal(&org_a(), narrative("鉴定"), at(SOON), p),
            vec![InMediation],
        ),
        (
            "appraisal end",
            |r, c, p| r.end_appraisal(&org_a(), at(SOON), c, p),
            vec![SuspendedForAppraisal],
        ),
        (
            "extend",
            |r, c, p| {
                r.extend(
                    &org_a(),
                    date(2025, 6, 30),
                    vec![party_ref("P1"), party_ref("P2")],
                    at(SOON),
                    c,
                    p,
                )
            },
            vec![InMediation],
        ),
        (
            "mediation overdue",
            |r, _, _| r.mediation_deadline_passed(at(LATE), 5),
            vec![InMediation],
        ),
        (
            "agreement",
            |r, _, _| {
                r.record_agreement(
                    &org_a(),
                    sample_agreement(&org_a(), &mediator("m-007"), at(SOON)),
                    at(SOON),
                )
            },
            // After a refused confirmation, a changed or new agreement
            // (CPL Art. 206).
            vec![InMediation, MediationOverdue, ConfirmationRefused],
        ),
        (
            "failure",
            |r, _, _| r.report_failure(&org_a(), failure(), at(SOON)),
            vec![InMediation, SuspendedForAppraisal, MediationOverdue],
        ),
        (
            "sham",
            |r, _, _| {
                r.report_sham_mediation(
                    &org_a(),
                    ShamMediationReport {
                        grounds: narrative("串通"),
                    },
                    at(SOON),
                )
            },
            vec![InMediation, SuspendedForAppraisal, MediationOverdue],
        ),
        (
            "apply",
            |r, c, _| r.apply_for_confirmation(&org_a(), joint_application(), at(SOON), c),
            vec![Agreed],
        ),
        (
            "ruling",
            |r, _, _| r.record_ruling(&court("京0105"), ruling(RulingOutcome::Confirmed), at(SOON)),
            vec![ConfirmationRequested],
        ),
        (
            "performance",
            |r, _, _| {
                r.record_performance(
                    &org_a(),
                    PerformanceReport {
                        status: PerformanceStatus::PerformedVoluntarily,
                        note: None,
                    },
                    at(SOON),
                )
            },
            vec![Agreed, ConfirmationRequested, Confirmed],
        ),
        (
            "recall",
            |r, _, _| r.recall(&court("京0105"), narrative("撤回"), at(SOON)),
            vec![
                Received,
                AwaitingAcceptance,
                Declined,
                AcceptanceOverdue,
                InMediation,
                SuspendedForAppraisal,
                MediationOverdue,
            ],
        ),
    ]
}

#[test]
fn every_command_is_allowed_exactly_in_its_statuses() {
    let mut checked = 0;
    for status in ALL {
        let story = Story::in_status(status);
        assert_eq!(story.referral.status(), status);
        for (name, command, allowed) in commands() {
            let result = command(&story.referral, &story.calendar, &story.policy);
            if allowed.contains(&status) {
                let events = result.unwrap_or_else(|e| panic!("{name} in {status}: {e}"));
                assert_eq!(events.len(), 1, "{name} in {status}");
            } else {
                match result {
                    Err(TransitionError::NotAllowed { status: s, .. }) => assert_eq!(s, status),
                    other => panic!("{name} in {status} should be refused, got {other:?}"),
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ALL.len() * commands().len());
}

#[test]
fn final_statuses_accept_no_command() {
    for status in ALL.into_iter().filter(|s| s.is_final()) {
        let story = Story::in_status(status);
        for (name, command, _) in commands() {
            let result = command(&story.referral, &story.calendar, &story.policy);
            if status == Status::Confirmed && name == "performance" {
                assert!(result.is_ok());
                continue;
            }
            assert!(result.is_err(), "{name} in {status}");
        }
    }
}

#[test]
fn a_referral_without_consent_is_invalid() {
    let mut bundle = sample_bundle();
    bundle.consents.clear();
    let err = Referral::receive(referral_id(), bundle, at(RECEIVED)).unwrap_err();
    assert_eq!(err.fields().collect::<Vec<_>>(), vec!["consents"]);
    assert!(
        err.to_string().contains("consent to mediation is required"),
        "{err}"
    );
}

#[test]
fn bundle_violations_name_every_field() {
    let mut bundle = sample_bundle();
    bundle.consents.pop();
    bundle.consents[0].party = party_ref("P9");
    bundle.case_number = Some(crate::court::CaseNumber::parse("（2025）京0106民初1号").unwrap());
    bundle.claims.clear();
    bundle.parties[1].person = crate::bundle::PersonKind::Natural;
    let err = bundle.validate().unwrap_err();
    let fields: Vec<_> = err.fields().collect();
    assert_eq!(
        fields,
        vec![
            "case_number",
            "parties[1].identity.kind",
            "consents[0].party",
            "consents",
            "consents",
            "claims"
        ],
        "{err}"
    );
}

#[test]
fn the_whole_story_of_a_confirmed_agreement() {
    let story = Story::agreed()
        .then(|r, c, _| r.apply_for_confirmation(&org_a(), joint_application(), at(SOON), c))
        .then(|r, _, _| {
            r.record_ruling(&court("京0105"), ruling(RulingOutcome::Confirmed), at(SOON))
        })
        .then(|r, _, _| {
            r.record_performance(
                &org_a(),
                PerformanceReport {
                    status: PerformanceStatus::PerformedVoluntarily,
                    note: None,
                },
                at(LATE),
            )
        });
    let r = &story.referral;
    assert_eq!(r.status(), Status::Confirmed);
    assert_eq!(r.assignment().unwrap().mediator, Some(mediator("m-007")));
    assert_eq!(r.performance().len(), 1);
    let names: Vec<_> = story.history.iter().map(|e| e.change.name()).collect();
    assert_eq!(
        names,
        [
            "received",
            "routed",
            "offer_delivered",
            "accepted",
            "agreement_reached",
            "confirmation_applied",
            "ruling_recorded",
            "performance_recorded"
        ]
    );
    // Replaying the history rebuilds exactly the same state.
    assert_eq!(&Referral::replay(&story.history).unwrap(), r);
    // And the history survives serialisation.
    let json = serde_json::to_string(&story.history).unwrap();
    let back: Vec<Event> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, story.history);
}

#[test]
fn deadlines_are_set_when_routed_and_accepted() {
    let story = Story::in_mediation();
    let r = &story.referral;
    // Routed Monday 3 March 2025: three working days → Thursday 6 March.
    assert_eq!(r.acceptance_deadline().unwrap().due_date, date(2025, 3, 6));
    // Accepted Tuesday 4 March: 30 days → Thursday 3 April.
    assert_eq!(r.mediation_deadline().unwrap().due_date, date(2025, 4, 3));
    assert_eq!(r.running_deadline().unwrap().kind, DeadlineKind::Mediation);
}

#[test]
fn a_late_acceptance_is_refused() {
    let story = Story::routed();
    let err = story
        .referral
        .accept(
            &org_a(),
            None,
            None,
            at("2025-03-07T00:00:00+08:00"),
            &story.calendar,
            &story.policy,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransitionError::DeadlinePassed {
                deadline: "acceptance",
                ..
            }
        ),
        "{err}"
    );
    // One second earlier is still on time.
    assert!(
        story
            .referral
            .accept(
                &org_a(),
                None,
                None,
                at("2025-03-06T23:59:59+08:00"),
                &story.calendar,
                &story.policy
            )
            .is_ok()
    );
}

#[test]
fn a_deadline_cannot_be_marked_passed_early() {
    let story = Story::routed();
    let err = story
        .referral
        .acceptance_deadline_passed(at("2025-03-06T23:59:59+08:00"))
        .unwrap_err();
    assert!(matches!(err, TransitionError::NotYetDue { .. }), "{err}");
    assert!(
        story
            .referral
            .acceptance_deadline_passed(at("2025-03-07T00:00:00+08:00"))
            .is_ok()
    );
}

#[test]
fn only_the_assigned_organisation_may_act() {
    let story = Story::routed();
    let err = story
        .referral
        .decline(&org_b(), decline_reasons(), at(SOON))
        .unwrap_err();
    assert_eq!(
        err,
        TransitionError::NotAssigned {
            organisation: org_b().to_string()
        }
    );
}

#[test]
fn only_the_referring_court_may_recall_or_rule() {
    let story = Story::received();
    let err = story
        .referral
        .recall(&court("京0106"), narrative("x"), at(SOON))
        .unwrap_err();
    assert!(
        matches!(err, TransitionError::NotReferringCourt { .. }),
        "{err}"
    );
}

#[test]
fn a_decline_needs_reasons_and_excludes_the_organisation() {
    let story = Story::routed();
    let err = story
        .referral
        .decline(&org_a(), vec![], at(SOON))
        .unwrap_err();
    assert!(
        matches!(&err, TransitionError::Invalid(v) if v.fields().eq(["reasons"])),
        "{err}"
    );
    let story = story.then(|r, _, _| r.decline(&org_a(), decline_reasons(), at(SOON)));
    let err = route_delivered(
        &story.referral,
        assignment(org_a()),
        vec![],
        at(SOON),
        &story.calendar,
        &story.policy,
    )
    .unwrap_err();
    assert!(
        matches!(err, TransitionError::AlreadyDeclined { .. }),
        "{err}"
    );
    // Another organisation can be tried.
    let story =
        story.then(|r, c, p| route_delivered(r, assignment(org_b()), vec![], at(SOON), c, p));
    assert_eq!(story.referral.status(), Status::AwaitingAcceptance);
}

#[test]
fn an_acceptance_breach_can_be_rerouted_or_returned() {
    let overdue = Story::routed()
        .then(|r, _, _| r.acceptance_deadline_passed(at("2025-03-07T00:00:00+08:00")));
    assert!(overdue.referral.excluded().contains(&org_a()));
    let rerouted = Story::in_status(Status::AcceptanceOverdue).then(|r, c, p| {
        route_delivered(
            r,
            assignment(org_b()),
            vec!["next eligible".into()],
            at(LATE),
            c,
            p,
        )
    });
    assert_eq!(
        rerouted.referral.assignment().unwrap().organisation,
        org_b()
    );
    let returned =
        overdue.then(|r, _, _| r.return_to_court(ReturnReason::AcceptanceOverdue, at(SOON)));
    assert_eq!(returned.referral.status(), Status::ReturnedToCourt);
}

#[test]
fn appraisal_moves_the_mediation_deadline() {
    let story = Story::in_mediation().then(|r, _, p| {
        r.start_appraisal(
            &org_a(),
            narrative("伤残等级鉴定"),
            at("2025-03-10T09:00:00+08:00"),
            p,
        )
    });
    assert_eq!(story.referral.running_deadline(), None);
    let story =
        story.then(|r, c, p| r.end_appraisal(&org_a(), at("2025-03-24T15:00:00+08:00"), c, p));
    // 3 April + 14 paused days = Thursday 17 April.
    assert_eq!(
        story.referral.mediation_deadline().unwrap().due_date,
        date(2025, 4, 17)
    );
    assert_eq!(story.referral.status(), Status::InMediation);
}

#[test]
fn an_extension_needs_every_party_and_moves_the_deadline() {
    let story = Story::in_mediation();
    let err = story
        .referral
        .extend(
            &org_a(),
            date(2025, 5, 20),
            vec![party_ref("P1")],
            at(SOON),
            &story.calendar,
            &story.policy,
        )
        .unwrap_err();
    assert_eq!(invalid_fields(&err), ["consenting"], "{err}");
    let err = story
        .referral
        .extend(
            &org_a(),
            date(2025, 3, 20),
            vec![party_ref("P1"), party_ref("P2")],
            at(SOON),
            &story.calendar,
            &story.policy,
        )
        .unwrap_err();
    assert!(
        matches!(&err, TransitionError::Invalid(v) if v.fields().eq(["last_day"])),
        "{err}"
    );
    let story = story.then(|r, c, p| {
        r.extend(
            &org_a(),
            date(2025, 5, 20),
            vec![party_ref("P1"), party_ref("P2")],
            at(SOON),
            c,
            p,
        )
    });
    assert_eq!(
        story.referral.mediation_deadline().unwrap().due_date,
        date(2025, 5, 20)
    );
}

#[test]
fn a_warning_fires_once_per_deadline_and_again_when_it_moves() {
    let story = Story::in_mediation();
    let warn_at = story
        .referral
        .mediation_deadline()
        .unwrap()
        .warn_at
        .unwrap();
    // Due Thursday 3 April 2025; one working day left from the end of Wednesday 2 April.
    assert_eq!(cst::format(warn_at), "2025-04-03T00:00:00+08:00");
    assert!(matches!(
        story
            .referral
            .warn(DeadlineKind::Mediation, at("2025-04-02T23:00:00+08:00")),
        Err(TransitionError::NotYetDue { .. })
    ));
    let story = story.then(|r, _, _| r.warn(DeadlineKind::Mediation, warn_at));
    assert_eq!(
        story
            .referral
            .warn(DeadlineKind::Mediation, warn_at)
            .unwrap(),
        vec![]
    );
    // An extension moves the deadline, so its warning is due again.
    let story = story.then(|r, c, p| {
        r.extend(
            &org_a(),
            date(2025, 4, 30),
            vec![party_ref("P1"), party_ref("P2")],
            warn_at,
            c,
            p,
        )
    });
    let next = story
        .referral
        .mediation_deadline()
        .unwrap()
        .warn_at
        .unwrap();
    assert_eq!(
        story
            .referral
            .warn(DeadlineKind::Mediation, next)
            .unwrap()
            .len(),
        1
    );
    // There is no acceptance deadline running in mediation.
    assert!(story.referral.warn(DeadlineKind::Acceptance, next).is_err());
}

#[test]
fn an_incomplete_agreement_names_what_is_missing() {
    let story = Story::in_mediation();
    let mut agreement = sample_agreement(&org_a(), &mediator("m-007"), at(SOON));
    agreement.terms.clear();
    agreement.performance_deadline = None;
    agreement.parties.pop();
    agreement
        .signatures
        .retain(|s| !matches!(s.signer, Signer::Mediator(_) | Signer::Party(_)));
    agreement.signatures.push(Signature {
        signer: Signer::Party(party_ref("P1")),
        signed_at: at(SOON),
    });
    let err = story
        .referral
        .record_agreement(&org_a(), agreement, at(SOON))
        .unwrap_err();
    let TransitionError::Invalid(v) = err else {
        panic!("expected violations, got {err:?}")
    };
    let rules: Vec<String> = v.0.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        rules,
        [
            "parties: missing the identity information of party P2",
            "terms: missing the terms agreed",
            "performance_deadline: missing by when the terms are performed",
            "signatures: missing the signature of the mediator m-007",
            "signatures: missing the signature of party P2",
        ]
    );
}

#[test]
fn a_confirmation_application_must_be_joint_and_in_time() {
    let story = Story::agreed();
    let lone = ConfirmationApplication {
        applicants: vec![party_ref("P1")],
        applied_at: at(SOON),
    };
    let err = story
        .referral
        .apply_for_confirmation(&org_a(), lone, at(SOON), &story.calendar)
        .unwrap_err();
    assert_eq!(invalid_fields(&err), ["applicants"], "{err}");
    // Signed 5 March 2025: day 30 is Friday 4 April, the Qingming holiday,
    // then a weekend, so the window runs to Monday 7 April (CPL Art. 85).
    let received = |s: &str| {
        story
            .referral
            .apply_for_confirmation(&org_a(), joint_application(), at(s), &story.calendar)
    };
    assert!(received("2025-04-07T12:00:00+08:00").is_ok());
    let err = received("2025-04-08T12:00:00+08:00").unwrap_err();
    assert_eq!(invalid_fields(&err), ["applied_at"], "{err}");
    // The gateway's receipt counts, not the platform's claim.
    let claimed_early = ConfirmationApplication {
        applied_at: at("2025-03-10T12:00:00+08:00"),
        ..joint_application()
    };
    let err = story
        .referral
        .apply_for_confirmation(
            &org_a(),
            claimed_early,
            at("2025-04-08T12:00:00+08:00"),
            &story.calendar,
        )
        .unwrap_err();
    assert_eq!(invalid_fields(&err), ["applied_at"], "{err}");
}

#[test]
fn judicial_confirmation_is_not_for_an_entrusted_referral() {
    // CPL Art. 205 and seed 003 四(四)2: a docketed (委托) case ends with a
    // mediation paper or a withdrawal, not a confirmation.
    let story = Story::entrusted_agreed();
    let err = story
        .referral
        .apply_for_confirmation(&org_a(), joint_application(), at(SOON), &story.calendar)
        .unwrap_err();
    assert!(matches!(err, TransitionError::NotForKind { .. }), "{err}");
}

#[test]
fn the_mediation_limit_follows_the_partner_policy_and_kind() {
    let mut story = Story::routed();
    story.policy.mediation = MediationLimits::SUPREME_COURT_RULES;
    let story = story.then(|r, c, p| r.accept(&org_a(), None, None, at(ACCEPTED), c, p));
    // 委派 under the Supreme Court's rules: 30 days.
    assert_eq!(story.referral.mediation_term().unwrap().limit_days, 30);
}

#[test]
fn a_notice_loaded_later_recomputes_a_provisional_deadline() {
    use mediation_calendar::{Holiday, Notice};
    let received = "2026-12-28T09:00:00+08:00";
    let (referral, event) =
        Referral::receive(referral_id(), sample_bundle(), at(received)).unwrap();
    let mut story = Story {
        referral,
        history: vec![event],
        calendar: shipped_calendar(),
        policy: DeadlinePolicy::default(),
    };
    story =
        story.then(|r, c, p| route_delivered(r, assignment(org_a()), vec![], at(received), c, p));
    let d = story.referral.acceptance_deadline().unwrap().clone();
    // 29, 30 and 31 December 2026 are working days: the period and its warning
    // stay inside 2026, so the deadline is certain.
    assert_eq!(d.due_date, date(2026, 12, 31));
    assert!(!d.is_provisional());
    // Routed on the 30th instead, the period reaches into 2027, which has no notice.
    let late_route = "2026-12-30T09:00:00+08:00";
    let (referral, event) =
        Referral::receive(referral_id(), sample_bundle(), at(late_route)).unwrap();
    let mut story = Story {
        referral,
        history: vec![event],
        calendar: shipped_calendar(),
        policy: DeadlinePolicy::default(),
    };
    story =
        story.then(|r, c, p| route_delivered(r, assignment(org_a()), vec![], at(late_route), c, p));
    let d = story.referral.acceptance_deadline().unwrap().clone();
    assert_eq!(d.due_date, date(2027, 1, 5));
    assert!(d.is_provisional());
    // A hypothetical 2027 notice makes 4–5 January rest days.
    let notice = Notice::new(
        2027,
        "test notice",
        vec![Holiday {
            name: "元旦".into(),
            first: date(2027, 1, 1),
            last: date(2027, 1, 5),
            working_weekends: vec![],
        }],
    )
    .unwrap();
    story.calendar.insert(notice);
    let story = story.then(|r, c, p| r.recompute_deadline(at(late_route), c, p));
    let fresh = story.referral.acceptance_deadline().unwrap();
    assert_eq!(fresh.due_date, date(2027, 1, 7));
    assert!(!fresh.is_provisional());
    // Nothing changes on a second recompute.
    assert_eq!(
        story
            .referral
            .recompute_deadline(at(late_route), &story.calendar, &story.policy)
            .unwrap(),
        vec![]
    );
}

fn direct_intake() -> Referral {
    let mut bundle = sample_bundle();
    bundle.kind = ReferralKind::DirectIntake;
    bundle.court_referral_id = crate::ids::CourtReferralId::parse("ccpit-bj-01:2025-77").unwrap();
    Referral::receive(referral_id(), bundle, at(RECEIVED))
        .unwrap()
        .0
}

fn mediated_by_a() -> Assignment {
    Assignment {
        mediator: Some(mediator("m-007")),
        ..assignment(org_a())
    }
}

#[test]
fn a_directly_taken_dispute_is_filed_for_confirmation_in_one_step() {
    let mut r = direct_intake();
    let agreement = sample_agreement(&org_a(), &mediator("m-007"), at(SOON));
    let events = r
        .file_direct_intake(
            mediated_by_a(),
            agreement,
            joint_application(),
            at(SOON),
            &shipped_calendar(),
        )
        .unwrap();
    let names: Vec<_> = events.iter().map(|e| e.change.name()).collect();
    assert_eq!(
        names,
        [
            "taken_directly",
            "agreement_reached",
            "confirmation_applied"
        ]
    );
    r.apply_all(&events);
    assert_eq!(r.status(), Status::ConfirmationRequested);
    assert_eq!(r.assignment().unwrap().organisation, org_a());
    assert!(
        r.timers().is_empty(),
        "no deadline runs for a direct intake"
    );
    // The court learns of it with the bundle, then of the agreement and the
    // application.
    let messages = crate::outbox::messages_for(&r, &events);
    assert_eq!(messages.len(), 3);
    assert!(messages[0].bundle.is_some());
    assert!(
        messages
            .iter()
            .all(|m| m.destination == crate::outbox::Destination::Court(court("京0105")))
    );
    // The court rules as on any application.
    let ruled = r
        .record_ruling(&court("京0105"), ruling(RulingOutcome::Confirmed), at(SOON))
        .unwrap();
    r.apply_all(&ruled);
    assert_eq!(r.status(), Status::Confirmed);
}

#[test]
fn a_direct_intake_is_checked_and_never_routed() {
    let r = direct_intake();
    // An agreement missing a party's signature is refused, naming it.
    let mut agreement = sample_agreement(&org_a(), &mediator("m-007"), at(SOON));
    agreement.signatures.pop();
    let err = r
        .file_direct_intake(
            mediated_by_a(),
            agreement,
            joint_application(),
            at(SOON),
            &shipped_calendar(),
        )
        .unwrap_err();
    assert!(matches!(err, TransitionError::Invalid(_)), "{err:?}");
    // It is never offered to an organisation.
    let calendar = shipped_calendar();
    assert!(matches!(
        route_delivered(
            &r,
            assignment(org_b()),
            vec![],
            at(SOON),
            &calendar,
            &DeadlinePolicy::default()
        ),
        Err(TransitionError::NotAllowed { .. })
    ));
    // And a court's referral cannot be filed as a direct intake.
    let (court_referral, _) =
        Referral::receive(referral_id(), sample_bundle(), at(RECEIVED)).unwrap();
    assert!(matches!(
        court_referral.file_direct_intake(
            mediated_by_a(),
            sample_agreement(&org_a(), &mediator("m-007"), at(SOON)),
            joint_application(),
            at(SOON),
            &shipped_calendar()
        ),
        Err(TransitionError::NotAllowed { .. })
    ));
}

#[test]
fn statistics_count_each_organisations_outcomes_and_medians_within_the_period() {
    use crate::statistics::{Period, Statistics};
    let histories: Vec<Vec<Event>> = [
        Status::Agreed,
        Status::Agreed,
        Status::MediationFailed,
        Status::Declined,
        Status::AcceptanceOverdue,
        Status::MediationOverdue,
        Status::AwaitingAcceptance,
        Status::Recalled,
    ]
    .into_iter()
    .map(|s| Story::in_status(s).history)
    .collect();
    let agreed_then_performed = Story::agreed()
        .then(|r, _, _| {
            r.record_performance(
                &org_a(),
                PerformanceReport {
                    status: PerformanceStatus::PerformedVoluntarily,
                    note: None,
                },
                at(SOON),
            )
        })
        .history;
    let whole = Period {
        from: at(RECEIVED),
        to: at(LATE)
            .checked_add(jiff::SignedDuration::from_hours(1))
            .unwrap(),
    };
    let mut stats = Statistics::new(whole);
    for history in histories.iter().chain([&agreed_then_performed]) {
        stats.add(history);
    }
    let rows: Vec<_> = stats.organisations().collect();
    assert_eq!(rows.len(), 1, "every story routes to organisation A");
    let (partner, organisation, tally) = rows[0];
    assert_eq!((*partner, organisation), (Partner::Ccpit, &org_a()));
    assert_eq!(tally.referrals, 8, "all but the recalled one were routed");
    assert_eq!(tally.accepted, 5);
    assert_eq!(tally.declined, 1);
    assert_eq!(tally.agreements, 3);
    assert_eq!(tally.failures, 1);
    assert_eq!(tally.success_rate(), Some(0.75));
    assert_eq!(tally.acceptance_breaches, 1);
    assert_eq!(tally.mediation_breaches, 1);
    assert_eq!(tally.breaches(), 2);
    assert_eq!(tally.voluntarily_performed, 1);
    assert_eq!(
        tally.median_time_to_accept(),
        Some(at(ACCEPTED).duration_since(at(ROUTED)))
    );
    assert_eq!(
        tally.median_mediation_duration(),
        Some(at(SOON).duration_since(at(ACCEPTED)))
    );
    assert_eq!(stats.partners()[&Partner::Ccpit], *tally);

    // A period after the acceptances but covering the outcomes counts the
    // outcomes and their durations, and no offers.
    let later = Period {
        from: at(ACCEPTED)
            .checked_add(jiff::SignedDuration::from_secs(1))
            .unwrap(),
        to: whole.to,
    };
    let mut stats = Statistics::new(later);
    for history in &histories {
        stats.add(history);
    }
    let (_, _, tally) = stats.organisations().next().unwrap();
    assert_eq!(
        (tally.referrals, tally.accepted, tally.agreements),
        (0, 0, 2)
    );
    assert_eq!(
        tally.median_mediation_duration(),
        Some(at(SOON).duration_since(at(ACCEPTED)))
    );
}

#[test]
fn only_the_mediating_organisation_applies_for_confirmation_or_reports_performance() {
    let story = Story::agreed();
    let err = story
        .referral
        .apply_for_confirmation(&org_b(), joint_application(), at(SOON), &story.calendar)
        .unwrap_err();
    assert!(matches!(err, TransitionError::NotAssigned { .. }), "{err}");
    let report = PerformanceReport {
        status: PerformanceStatus::PerformedVoluntarily,
        note: None,
    };
    let err = story
        .referral
        .record_performance(&org_b(), report.clone(), at(SOON))
        .unwrap_err();
    assert!(matches!(err, TransitionError::NotAssigned { .. }), "{err}");
    assert!(
        story
            .referral
            .record_performance(&org_a(), report, at(SOON))
            .is_ok()
    );
}

/// The fields an invalid command names; empty for any other refusal.
fn invalid_fields(err: &TransitionError) -> Vec<String> {
    match err {
        TransitionError::Invalid(v) => v.fields().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn mediation_ends_at_its_limit_and_the_court_has_the_case_back() {
    // Online rules Art. 25: a mediation that reaches its limit without an
    // agreement or an extension ends, and the court dockets the case.
    let story = Story::in_mediation();
    let due = story.referral.mediation_deadline().unwrap().due_at;
    let events = story.referral.mediation_deadline_passed(due, 0).unwrap();
    let mut r = story.referral.clone();
    r.apply_all(&events);
    assert_eq!(r.status(), Status::ReturnedToCourt);
    assert!(matches!(
        events.last().map(|e| &e.change),
        Some(Change::ReturnedToCourt {
            reason: ReturnReason::MediationEnded
        })
    ));
    assert!(r.timers().is_empty(), "nothing runs any more");
    let late = r
        .record_agreement(
            &org_a(),
            sample_agreement(&org_a(), &mediator("m-007"), at(SOON)),
            due,
        )
        .unwrap_err();
    assert!(matches!(late, TransitionError::NotAllowed { .. }), "{late}");
}

#[test]
fn within_a_grace_a_late_agreement_counts_and_after_it_mediation_ends() {
    let story = Story::in_mediation();
    let due = story.referral.mediation_deadline().unwrap().due_at;
    let events = story.referral.mediation_deadline_passed(due, 3).unwrap();
    let mut r = story.referral.clone();
    r.apply_all(&events);
    assert_eq!(r.status(), Status::MediationOverdue);
    let ends = due + jiff::SignedDuration::from_hours(72);
    let timers = r.timers();
    assert_eq!(timers.len(), 1);
    assert_eq!(
        (timers[0].kind, timers[0].fire_at),
        (TimerKind::MediationEnd, ends)
    );
    // Within the grace an agreement still counts...
    assert!(
        r.record_agreement(
            &org_a(),
            sample_agreement(&org_a(), &mediator("m-007"), at(SOON)),
            due
        )
        .is_ok()
    );
    // ...and the end does not come early.
    assert!(matches!(
        r.end_mediation(due),
        Err(TransitionError::NotYetDue { .. })
    ));
    let fired = r
        .fire(TimerKind::MediationEnd, ends, &story.policy)
        .unwrap();
    r.apply_all(&fired);
    assert_eq!(r.status(), Status::ReturnedToCourt);
}

#[test]
fn an_overdue_mediation_stored_before_it_could_end_stays_overdue() {
    // An event stored without `ends_at` keeps its old meaning: overdue, with
    // nothing scheduled.
    let story = Story::in_mediation();
    let due = story.referral.mediation_deadline().unwrap().due_at;
    let stored: Change = serde_json::from_value(serde_json::json!({
        "type": "mediation_overdue",
        "due_at": due,
    }))
    .unwrap();
    let mut r = story.referral.clone();
    r.apply_all(&[Event {
        at: due,
        change: stored,
    }]);
    assert_eq!(r.status(), Status::MediationOverdue);
    assert!(r.timers().is_empty());
}

#[test]
fn an_organisation_ends_mediation_early_on_a_ground_of_article_25() {
    let story = Story::in_mediation();
    let ground = crate::outcome::EarlyEnd::PartyWithdrew;
    let err = story
        .referral
        .end_mediation_early(&org_b(), ground, narrative("申请人撤回"), at(SOON))
        .unwrap_err();
    assert!(matches!(err, TransitionError::NotAssigned { .. }), "{err}");
    let events = story
        .referral
        .end_mediation_early(&org_a(), ground, narrative("申请人撤回调解申请"), at(SOON))
        .unwrap();
    let mut r = story.referral.clone();
    r.apply_all(&events);
    assert_eq!(r.status(), Status::ReturnedToCourt);
    assert!(r.timers().is_empty());
    // Once the court has it back, nothing more is reported on it.
    assert!(matches!(
        r.end_mediation_early(&org_a(), ground, narrative("再次"), at(SOON)),
        Err(TransitionError::NotAllowed { .. })
    ));
}

#[test]
fn the_acceptance_period_runs_from_the_offers_delivery_not_from_routing() {
    // Routed on Friday 28 February 2025 while the platform was down; the
    // offer reached it on Monday 3 March. Three working days from the
    // delivery: Thursday 6 March (online rules Art. 12), not Wednesday 5.
    let friday = "2025-02-28T16:00:00+08:00";
    let monday = "2025-03-03T11:00:00+08:00";
    let story = Story::received().then(|r, _, _| r.route(assignment(org_a()), vec![], at(friday)));
    let r = &story.referral;
    assert_eq!(r.status(), Status::AwaitingAcceptance);
    assert_eq!(
        r.acceptance_deadline(),
        None,
        "nothing runs before delivery"
    );
    assert!(r.timers().is_empty(), "so nothing can be breached");
    assert_eq!(r.routed_at(), Some(at(friday)));
    assert_eq!(r.offered_at(), None);
    // The organisation may answer the offer before its acknowledgement is
    // recorded: it has the case.
    assert!(
        r.accept(
            &org_a(),
            None,
            None,
            at(monday),
            &story.calendar,
            &story.policy
        )
        .is_ok()
    );

    let story = story.then(|r, c, p| r.offer_delivered(&org_a(), at(monday), c, p));
    let r = &story.referral;
    assert_eq!(r.offered_at(), Some(at(monday)));
    assert_eq!(r.acceptance_deadline().unwrap().due_date, date(2025, 3, 6));
    assert_eq!(r.timers().len(), 2, "warning and breach");
    // The same acknowledgement again, another organisation's, or one after
    // the referral moved on changes nothing.
    let again = r.offer_delivered(&org_a(), at(LATE), &story.calendar, &story.policy);
    assert_eq!(again, Ok(Vec::new()));
    let other = r.offer_delivered(&org_b(), at(monday), &story.calendar, &story.policy);
    assert_eq!(other, Ok(Vec::new()));
    let accepted = story.then(|r, c, p| r.accept(&org_a(), None, None, at(SOON), c, p));
    let late =
        accepted
            .referral
            .offer_delivered(&org_a(), at(SOON), &accepted.calendar, &accepted.policy);
    assert_eq!(late, Ok(Vec::new()));
}

#[test]
fn a_referral_routed_before_deliveries_were_recorded_keeps_its_deadline_until_its_offer_is() {
    // A `routed` event as stored before this rule: its deadline counted from
    // routing (the field was then always present), and no delivery recorded.
    let (received, first) =
        Referral::receive(referral_id(), sample_bundle(), at(RECEIVED)).unwrap();
    let old = Event {
        at: at(ROUTED),
        change: Change::Routed {
            assignment: assignment(org_a()),
            reasons: vec![],
            acceptance_deadline: Some(
                crate::deadline::acceptance_deadline(
                    &shipped_calendar(),
                    &DeadlinePolicy::default(),
                    at(ROUTED),
                )
                .unwrap(),
            ),
        },
    };
    let stored = serde_json::to_string(&old).unwrap();
    assert!(stored.contains("\"acceptance_deadline\":{"), "{stored}");
    let routed: Event = serde_json::from_str(&stored).unwrap();
    let mut r = received;
    r.apply(&routed);
    assert_eq!(r.acceptance_deadline().unwrap().due_date, date(2025, 3, 6));
    assert_eq!(r.timers().len(), 2);
    assert!(Referral::replay(&[first, routed]).is_ok());
    // The transport records no delivery for such an offer (it already
    // states its deadline); were one recorded, the period would run from it.
    let events = r
        .offer_delivered(
            &org_a(),
            at("2025-03-05T09:00:00+08:00"),
            &shipped_calendar(),
            &DeadlinePolicy::default(),
        )
        .unwrap();
    r.apply_all(&events);
    assert_eq!(r.acceptance_deadline().unwrap().due_date, date(2025, 3, 10));
}

#[test]
fn an_appraisal_that_runs_past_its_review_day_warns_once_and_the_limit_stays_paused() {
    // Appraisal time does not count (online rules Art. 26), so a pause that
    // drags on is flagged: 30 days by default, at the end of the 30th day.
    let story = Story::in_mediation().then(|r, _, p| {
        r.start_appraisal(
            &org_a(),
            narrative("工程造价鉴定"),
            at("2025-03-10T09:00:00+08:00"),
            p,
        )
    });
    let pause = story.referral.appraisal().unwrap().clone();
    assert_eq!(pause.since, date(2025, 3, 10));
    assert_eq!(pause.note, narrative("工程造价鉴定"));
    let review_at = at("2025-04-10T00:00:00+08:00");
    assert_eq!(pause.review_at, Some(review_at));
    let timers = story.referral.timers();
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].kind, TimerKind::AppraisalReview);
    assert_eq!(timers[0].fire_at, review_at);
    assert!(matches!(
        story
            .referral
            .appraisal_overlong(at("2025-04-09T23:59:59+08:00")),
        Err(TransitionError::NotYetDue { .. })
    ));

    let story = story.then(|r, _, p| r.fire(TimerKind::AppraisalReview, review_at, p));
    assert_eq!(
        story.history.last().unwrap().change,
        Change::AppraisalOverlong {
            since: date(2025, 3, 10),
            days: 31,
        }
    );
    let raised = crate::alert::alerts_for(
        story.referral.id(),
        &story.history[story.history.len() - 1..],
    );
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].kind, crate::alert::AlertKind::AppraisalOverlong);
    assert!(
        story.referral.timers().is_empty(),
        "once; the limit stays paused"
    );
    assert_eq!(story.referral.status(), Status::SuspendedForAppraisal);
    assert!(story.referral.appraisal_overlong(at(LATE)).is_err());

    // Resuming clears the pause; a policy of 0 days watches none.
    let story =
        story.then(|r, c, p| r.end_appraisal(&org_a(), at("2025-04-11T09:00:00+08:00"), c, p));
    assert_eq!(story.referral.appraisal(), None);
    let unwatched = DeadlinePolicy {
        appraisal_review_days: 0,
        ..DeadlinePolicy::default()
    };
    let events = story
        .referral
        .start_appraisal(
            &org_a(),
            narrative("再次鉴定"),
            at("2025-04-14T09:00:00+08:00"),
            &unwatched,
        )
        .unwrap();
    let mut r = story.referral.clone();
    r.apply_all(&events);
    assert!(r.timers().is_empty());
}

#[test]
fn the_court_records_a_docketing_once_and_ends_a_settled_entrusted_case_itself() {
    let docketed = |n: &str| CourtOutcome::Docketed {
        case_number: CaseNumber::parse(n).unwrap(),
    };
    // After a failure, the court dockets the case; the failure record
    // stays with the referral for it (seed 004 (十六)).
    let failed = Story::in_status(Status::MediationFailed);
    let err = failed
        .referral
        .record_court_outcome(
            &court("京0105"),
            docketed("（2025）京0105民诉前调9号"),
            at(LATE),
        )
        .unwrap_err();
    assert!(
        matches!(&err, TransitionError::Invalid(v) if v.fields().eq(["case_number"])),
        "{err}"
    );
    assert!(matches!(
        failed.referral.record_court_outcome(
            &court("京0106"),
            docketed("（2025）京0105民初9号"),
            at(LATE)
        ),
        Err(TransitionError::NotReferringCourt { .. })
    ));
    let docketed_story = failed.then(|r, _, _| {
        r.record_court_outcome(
            &court("京0105"),
            docketed("（2025）京0105民初9号"),
            at(LATE),
        )
    });
    let r = &docketed_story.referral;
    assert_eq!(r.status(), Status::MediationFailed);
    assert_eq!(r.docketed().unwrap().as_str(), "（2025）京0105民初9号");
    assert!(
        r.record_court_outcome(
            &court("京0105"),
            docketed("（2025）京0105民初10号"),
            at(LATE)
        )
        .is_err(),
        "once"
    );
    assert!(matches!(
        Story::in_mediation().referral.record_court_outcome(
            &court("京0105"),
            docketed("（2025）京0105民初9号"),
            at(LATE)
        ),
        Err(TransitionError::NotAllowed { .. })
    ));

    // A settled 委托 case ends with the court's mediation paper in its own
    // case; another case's number is refused, and a 委派 one takes a
    // pre-litigation paper's number (诉前调书), never a docketed case's
    // (seed 004 (十六)), and has no suit to withdraw.
    let settled = Story::entrusted_agreed();
    let other = settled.referral.record_court_outcome(
        &court("京0105"),
        CourtOutcome::SuitWithdrawn {
            case_number: CaseNumber::parse("（2025）京0105民初124号").unwrap(),
        },
        at(LATE),
    );
    assert!(
        matches!(other, Err(TransitionError::Invalid(_))),
        "{other:?}"
    );
    let delegated = Story::agreed().referral.record_court_outcome(
        &court("京0105"),
        CourtOutcome::MediationPaper {
            case_number: CaseNumber::parse(ENTRUSTED_CASE).unwrap(),
        },
        at(LATE),
    );
    assert!(
        matches!(delegated, Err(TransitionError::Invalid(_))),
        "{delegated:?}"
    );
    let withdrawn = Story::agreed().referral.record_court_outcome(
        &court("京0105"),
        CourtOutcome::SuitWithdrawn {
            case_number: CaseNumber::parse(ENTRUSTED_CASE).unwrap(),
        },
        at(LATE),
    );
    assert!(
        matches!(withdrawn, Err(TransitionError::NotForKind { .. })),
        "{withdrawn:?}"
    );
    let ended = settled.then(|r, _, _| {
        r.record_court_outcome(
            &court("京0105"),
            CourtOutcome::SuitWithdrawn {
                case_number: CaseNumber::parse(ENTRUSTED_CASE).unwrap(),
            },
            at(LATE),
        )
    });
    assert_eq!(ended.referral.status(), Status::Concluded);
    assert!(ended.referral.status().is_final());
}

mod sequences;
