//! The commands that mean the same on every platform, whatever the platform
//! calls them: each platform's service reads its own message into a [`Step`],
//! and the desk runs it.

use jiff::civil::Date;
use mediation_core::calendar::cst;
use mediation_core::document::Document;
use mediation_core::ids::{MediationCaseNumber, MediatorId, OrganisationId, PartyRef};
use mediation_core::lifecycle::{Referral, ReturnReason};
use mediation_core::outcome::{
    Agreement, ConfirmationApplication, DeclineReason, FailureReport, PerformanceReport,
    ShamMediationReport,
};
use mediation_core::outcome::{DeclineCode, EarlyEnd, PerformanceStatus, Signer};
use mediation_core::routing::Router;
use mediation_core::text::Narrative;
use mediation_core::{Event, TransitionError, Violations};
use mediation_service::{Context, reroute_or_return};

use crate::wire::read::{date, optional, optional_narrative, party_refs, required_time};

type Decision = Result<Vec<Event>, TransitionError>;

/// The kinds of progress the labour and road-traffic platforms report, read
/// from their own `oneof`s.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reported<'a> {
    AppraisalStarted(&'a str),
    AppraisalEnded,
    ExtendedUntil(&'a str),
    /// An extension naming its consenting parties: to `until`, or by `days`.
    Extension {
        until: &'a str,
        days: u32,
        agreed_by: &'a [String],
    },
}

/// The two platforms' `oneof`s have the same variants under their own types.
macro_rules! reported_from {
    ($($oneof:path),* $(,)?) => {
        $(impl<'a> From<&'a $oneof> for Reported<'a> {
            fn from(progress: &'a $oneof) -> Self {
                use $oneof as P;
                match progress {
                    P::AppraisalStarted(note) => Reported::AppraisalStarted(note),
                    P::AppraisalEnded(_) => Reported::AppraisalEnded,
                    P::ExtendedUntil(until) => Reported::ExtendedUntil(until),
                    P::Extension(e) => Reported::Extension {
                        until: &e.until,
                        days: e.days,
                        agreed_by: &e.agreed_by,
                    },
                }
            }
        })*
    };
}

reported_from!(
    mediation_proto::labour::v1::report_progress_request::Progress,
    mediation_proto::traffic::v1::report_progress_request::Progress,
);

/// One platform command, read and checked.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Accept {
        mediator: Option<MediatorId>,
        number: Option<MediationCaseNumber>,
    },
    /// Declines, and hands the referral on at once: back to the court or to
    /// the next organisation, as the policy says.
    Decline(Vec<DeclineReason>),
    AppraisalStarted(Narrative),
    AppraisalEnded,
    /// `agreed_by`: `None` when the platform reports that every party agreed.
    /// `field`: the request's path of the day or the days, which a refusal
    /// names when the extension would not lengthen the period.
    Extend {
        until: ExtendTo,
        agreed_by: Option<Vec<PartyRef>>,
        field: String,
    },
    Agree(Box<Agreement>),
    Fail(Box<FailureReport>),
    ReportShamMediation(Narrative),
    /// `applicants`: `None` when the platform files for every party. The
    /// application's instant is when the gateway runs the step; the
    /// platform's `applied_at` is checked by the readers and nothing more.
    Apply {
        applicants: Option<Vec<PartyRef>>,
    },
    Performance(PerformanceReport),
    /// Ends mediation before its limit (online rules Art. 25).
    EndEarly {
        ground: EarlyEnd,
        explanation: Narrative,
    },
}

/// How far an extension goes: to a day, or by a number of days.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ExtendTo {
    Day(Date),
    Days(u32),
}

fn everyone(referral: &Referral) -> Vec<PartyRef> {
    referral.bundle().party_refs().cloned().collect()
}

/// The mediators an agreement's signatures name, each checked against the
/// roster of the organisation that mediated, on the day it signed: listed,
/// valid that day, neither suspended nor removed (the courts' roster of
/// invited mediators, seed 000 (十), (二十一); seed 003 四(二)2, 四(三)2).
pub(crate) fn check_signing_mediators(
    router: &dyn Router,
    organisation: &OrganisationId,
    agreement: &Agreement,
    v: &mut Violations,
) {
    for (i, signature) in agreement.signatures.iter().enumerate() {
        if let Signer::Mediator(mediator) = &signature.signer
            && let Err(refused) =
                router.check_mediator(organisation, mediator, cst::date_of(signature.signed_at))
        {
            v.0.push(refused.at(format!("signatures[{i}].signer")));
        }
    }
}

/// Readers for the steps whose fields every platform sends alike; each
/// records violations under the platform's own field names.
impl Step {
    pub(crate) fn accept(
        v: &mut Violations,
        (mediator_field, mediator): (&str, &str),
        (number_field, number): (&str, &str),
    ) -> Option<Step> {
        let mediator = v.check(mediator_field, optional(mediator, MediatorId::parse));
        let number = v.check(number_field, optional(number, MediationCaseNumber::parse));
        mediator
            .zip(number)
            .map(|(mediator, number)| Step::Accept { mediator, number })
    }

    /// `code` is the platform's reason code, already read.
    pub(crate) fn decline(
        v: &mut Violations,
        code: Option<DeclineCode>,
        explanation: &str,
    ) -> Option<Step> {
        let explanation = v.check("explanation", Narrative::parse(explanation));
        code.zip(explanation)
            .map(|(code, explanation)| Step::Decline(vec![DeclineReason { code, explanation }]))
    }

    /// A progress report that names none of its kinds; `extension` is what
    /// the platform calls its extension field.
    pub(crate) fn no_progress(v: &mut Violations, extension: &str) -> Option<Step> {
        v.push(
            "progress",
            format!("one of appraisal_started, appraisal_ended or {extension} is required"),
        );
        None
    }

    pub(crate) fn appraisal_started(v: &mut Violations, field: &str, note: &str) -> Option<Step> {
        v.check(field, Narrative::parse(note))
            .map(Step::AppraisalStarted)
    }

    /// An extension the platform reports every party agreed to.
    pub(crate) fn extend_for_everyone(
        v: &mut Violations,
        field: &str,
        until: &str,
    ) -> Option<Step> {
        v.check(field, date(until)).map(|until| Step::Extend {
            until: ExtendTo::Day(until),
            agreed_by: None,
            field: field.to_owned(),
        })
    }

    /// An extension with its consenting parties named (every party must
    /// be), to a day (`until`) or by a number of days (`days`, 1 to 365):
    /// one of the two. `prefix` is the extension message's field.
    pub(crate) fn extension(
        v: &mut Violations,
        prefix: &str,
        until: &str,
        days: u32,
        agreed_by: &[String],
    ) -> Option<Step> {
        let agreed = party_refs(v, &format!("{prefix}.agreed_by"), agreed_by);
        if agreed_by.is_empty() {
            v.push(
                format!("{prefix}.agreed_by"),
                "name the parties who agreed: every party must",
            );
        }
        let to = match (until.trim().is_empty(), days) {
            (true, 0) => {
                v.push(
                    format!("{prefix}.until"),
                    "give the day mediation is extended to, or days",
                );
                None
            }
            (false, 0) => v
                .check(format!("{prefix}.until"), date(until))
                .map(ExtendTo::Day),
            (true, 1..=365) => Some(ExtendTo::Days(days)),
            (true, _) => {
                v.push(
                    format!("{prefix}.days"),
                    format!("must be from 1 to 365, got {days}"),
                );
                None
            }
            (false, _) => {
                v.push(format!("{prefix}.days"), "give until or days, not both");
                None
            }
        };
        to.map(|until| Step::Extend {
            field: match until {
                ExtendTo::Day(_) => format!("{prefix}.until"),
                ExtendTo::Days(_) => format!("{prefix}.days"),
            },
            until,
            agreed_by: Some(agreed),
        })
    }

    /// A progress report as the labour and road-traffic platforms send it;
    /// an extension they report is one every party agreed to.
    pub(crate) fn reported(v: &mut Violations, progress: Option<Reported<'_>>) -> Option<Step> {
        match progress {
            Some(Reported::AppraisalStarted(note)) => {
                Step::appraisal_started(v, "appraisal_started", note)
            }
            Some(Reported::AppraisalEnded) => Some(Step::AppraisalEnded),
            Some(Reported::ExtendedUntil(until)) => {
                Step::extend_for_everyone(v, "extended_until", until)
            }
            Some(Reported::Extension {
                until,
                days,
                agreed_by,
            }) => Step::extension(v, "extension", until, days, agreed_by),
            None => Step::no_progress(v, "extension"),
        }
    }

    /// A report of suspected sham mediation (虚假调解) on its `grounds`.
    pub(crate) fn sham_mediation(v: &mut Violations, grounds: &str) -> Option<Step> {
        v.check("grounds", Narrative::parse(grounds))
            .map(Step::ReportShamMediation)
    }

    /// An application for confirmation filed for every party of the case,
    /// as the labour and road-traffic platforms file them.
    pub(crate) fn apply_for_everyone(
        v: &mut Violations,
        applied_at: Option<&prost_types::Timestamp>,
    ) -> Option<Step> {
        required_time(v, "applied_at", applied_at).map(|_| Step::Apply { applicants: None })
    }

    /// A performance report: `status` already read, and an optional note.
    pub(crate) fn performance(
        v: &mut Violations,
        status: Option<PerformanceStatus>,
        note: &str,
    ) -> Option<Step> {
        let note = optional_narrative(v, "note", note);
        status
            .zip(note)
            .map(|(status, note)| Step::Performance(PerformanceReport { status, note }))
    }

    /// An early end: `ground` already read, and what happened.
    pub(crate) fn end_early(
        v: &mut Violations,
        ground: Option<EarlyEnd>,
        explanation: &str,
    ) -> Option<Step> {
        let explanation = v.check("explanation", Narrative::parse(explanation));
        ground
            .zip(explanation)
            .map(|(ground, explanation)| Step::EndEarly {
                ground,
                explanation,
            })
    }

    /// The case files the step lists, which must be the caller's own uploads
    /// or already belong to the case.
    pub(crate) fn files(&self) -> &[Document] {
        match self {
            Step::Agree(agreement) => &agreement.documents,
            _ => &[],
        }
    }

    /// The name the audit log records.
    pub(crate) fn action(&self) -> &'static str {
        match self {
            Step::Accept { .. } => "accept",
            Step::Decline(_) => "decline",
            Step::AppraisalStarted(_) => "appraisal_started",
            Step::AppraisalEnded => "appraisal_ended",
            Step::Extend { .. } => "extension_agreed",
            Step::Agree(_) => "submit_agreement",
            Step::Fail(_) => "report_failure",
            Step::ReportShamMediation(_) => "report_sham_mediation",
            Step::Apply { .. } => "apply_for_confirmation",
            Step::Performance(_) => "report_performance",
            Step::EndEarly { .. } => "end_mediation",
        }
    }

    /// Refuses a step that names a mediator the organisation's roster does
    /// not list as able to mediate that day: the one accepting, or one
    /// signing the agreement.
    fn check_mediators(
        &self,
        organisation: &OrganisationId,
        c: &Context<'_>,
    ) -> Result<(), TransitionError> {
        let mut v = Violations::new();
        match self {
            Step::Accept {
                mediator: Some(mediator),
                ..
            } => {
                if let Err(refused) =
                    c.router
                        .check_mediator(organisation, mediator, cst::date_of(c.now))
                {
                    v.0.push(refused.at("mediator"));
                }
            }
            Step::Agree(agreement) => {
                check_signing_mediators(c.router, organisation, agreement, &mut v);
            }
            _ => {}
        }
        if v.is_empty() { Ok(()) } else { Err(v.into()) }
    }

    /// What the step produces for `referral`, done by `organisation`.
    pub(crate) fn decide(
        &self,
        referral: &Referral,
        organisation: &OrganisationId,
        c: &Context<'_>,
    ) -> Decision {
        let deadlines = &c.policy.deadlines;
        self.check_mediators(organisation, c)?;
        match self {
            Step::Accept { mediator, number } => referral.accept(
                organisation,
                mediator.clone(),
                number.clone(),
                c.now,
                c.calendar,
                deadlines,
            ),
            Step::Decline(reasons) => {
                let mut events = referral.decline(organisation, reasons.clone(), c.now)?;
                let mut after = referral.clone();
                after.apply_all(&events);
                events.extend(reroute_or_return(&after, c, ReturnReason::Declined)?);
                Ok(events)
            }
            Step::AppraisalStarted(note) => {
                referral.start_appraisal(organisation, note.clone(), c.now, deadlines)
            }
            Step::AppraisalEnded => {
                referral.end_appraisal(organisation, c.now, c.calendar, deadlines)
            }
            Step::Extend {
                until,
                agreed_by,
                field,
            } => {
                let agreed = agreed_by.clone().unwrap_or_else(|| everyone(referral));
                let decided = match until {
                    ExtendTo::Day(day) => {
                        referral.extend(organisation, *day, agreed, c.now, c.calendar, deadlines)
                    }
                    ExtendTo::Days(days) => referral.extend_by_days(
                        organisation,
                        *days,
                        agreed,
                        c.now,
                        c.calendar,
                        deadlines,
                    ),
                };
                // The domain names the day or the days in its own terms; the
                // request names them where the platform put them.
                decided.map_err(|e| match e {
                    TransitionError::Invalid(v) => TransitionError::Invalid(Violations(
                        v.0.into_iter()
                            .map(|mut e| {
                                if e.field == "last_day" || e.field == "days" {
                                    e.field.clone_from(field);
                                }
                                e
                            })
                            .collect(),
                    )),
                    other => other,
                })
            }
            Step::Agree(agreement) => {
                referral.record_agreement(organisation, (**agreement).clone(), c.now)
            }
            Step::Fail(report) => referral.report_failure(organisation, (**report).clone(), c.now),
            Step::ReportShamMediation(grounds) => referral.report_sham_mediation(
                organisation,
                ShamMediationReport {
                    grounds: grounds.clone(),
                },
                c.now,
            ),
            Step::Apply { applicants } => referral.apply_for_confirmation(
                organisation,
                ConfirmationApplication {
                    applicants: applicants.clone().unwrap_or_else(|| everyone(referral)),
                    applied_at: c.now,
                },
                c.now,
                c.calendar,
            ),
            Step::Performance(report) => {
                referral.record_performance(organisation, report.clone(), c.now)
            }
            Step::EndEarly {
                ground,
                explanation,
            } => referral.end_mediation_early(organisation, *ground, explanation.clone(), c.now),
        }
    }
}
