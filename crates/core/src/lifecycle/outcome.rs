//! What the organisation reports: an agreement, a failure, suspected sham
//! mediation, the parties' application for confirmation, a dispute taken
//! directly, and how an agreement was performed.

use jiff::Timestamp;
use mediation_calendar::Calendar;

use super::{Assignment, Change, Decision, Event, Referral, Status, TransitionError, one};
use crate::bundle::ReferralKind;
use crate::ids::OrganisationId;
use crate::outcome::{
    Agreement, ConfirmationApplication, FailureReport, PerformanceReport, ShamMediationReport,
    TakesEffect,
};

impl Referral {
    /// The parties reached an agreement. After the court refused to confirm
    /// one, the parties may change it or reach a new one through mediation
    /// (CPL Art. 206), so the organisation that mediated may record it then
    /// too, and the parties may apply again.
    pub fn record_agreement(
        &self,
        organisation: &OrganisationId,
        agreement: Agreement,
        at: Timestamp,
    ) -> Decision {
        self.require(
            "record an agreement for",
            &[
                Status::InMediation,
                Status::MediationOverdue,
                Status::ConfirmationRefused,
            ],
        )?;
        let assignment = self.require_assigned(organisation)?;
        // Once the court docketed the suit the parties brought instead, the
        // case is before the court.
        if self.docketed.is_some() {
            return Err(self.not_allowed("record an agreement for"));
        }
        // An agreement names the parties by their identities, which are
        // checked against the court's; a purged referral has none left.
        if crate::retention::is_purged(&self.bundle) {
            return Err(TransitionError::Purged {
                action: "record an agreement",
            });
        }
        agreement.check(&self.bundle, organisation, assignment.mediator.as_ref(), at)?;
        one(
            at,
            Change::AgreementReached {
                agreement: Box::new(agreement),
            },
        )
    }

    /// Mediation failed; the report goes to the court.
    pub fn report_failure(
        &self,
        organisation: &OrganisationId,
        report: FailureReport,
        at: Timestamp,
    ) -> Decision {
        self.require(
            "report failure of",
            &[
                Status::InMediation,
                Status::SuspendedForAppraisal,
                Status::MediationOverdue,
            ],
        )?;
        self.require_assigned(organisation)?;
        report.check(&self.bundle)?;
        one(
            at,
            Change::MediationFailed {
                report: Box::new(report),
            },
        )
    }

    /// The mediator suspects a sham mediation: mediation stops, the court is told.
    pub fn report_sham_mediation(
        &self,
        organisation: &OrganisationId,
        report: ShamMediationReport,
        at: Timestamp,
    ) -> Decision {
        self.require(
            "report sham mediation in",
            &[
                Status::InMediation,
                Status::SuspendedForAppraisal,
                Status::MediationOverdue,
            ],
        )?;
        self.require_assigned(organisation)?;
        one(at, Change::ShamMediationReported { report })
    }

    /// The parties jointly apply for judicial confirmation of their agreement.
    ///
    /// Only the organisation that mediated files the parties' joint
    /// application (CPL Art. 205): the agreement it presided over is what the
    /// court is asked to confirm, and no other organisation holds one.
    ///
    /// Judicial confirmation is for agreements reached before a case is
    /// docketed (CPL Art. 205; seed 003 四(四)2): a 委托 referral ends with a
    /// mediation paper or a withdrawal instead. The application's instant is
    /// `at`, when the gateway received it; what the platform says of when it
    /// applied is not trusted.
    pub fn apply_for_confirmation(
        &self,
        organisation: &OrganisationId,
        application: ConfirmationApplication,
        at: Timestamp,
        calendar: &Calendar,
    ) -> Decision {
        self.require("apply for confirmation of", &[Status::Agreed])?;
        self.require_assigned(organisation)?;
        if let ReferralKind::Entrusted { .. } = self.bundle.kind {
            return Err(TransitionError::NotForKind {
                action: "apply for judicial confirmation of",
                kind: "an entrusted (委托) referral, which ends with a mediation paper or a withdrawal (CPL Art. 205)",
            });
        }
        let application = ConfirmationApplication {
            applied_at: at,
            ..application
        };
        let agreement = self
            .agreement
            .as_ref()
            .ok_or_else(|| self.not_allowed("apply for confirmation of"))?;
        let partner = self
            .assignment
            .as_ref()
            .map(|a| a.partner)
            .ok_or_else(|| self.not_allowed("apply for confirmation of"))?;
        application.check(&self.bundle, agreement, TakesEffect::on(partner), calendar)?;
        one(at, Change::ConfirmationApplied { application })
    }

    /// An organisation that took the dispute directly from the parties files
    /// their agreement and their joint application for confirmation with the
    /// court the bundle names. Only a received direct-intake referral can be
    /// filed this way, and the agreement and application are checked as for a
    /// referred case.
    pub fn file_direct_intake(
        &self,
        assignment: Assignment,
        agreement: Agreement,
        application: ConfirmationApplication,
        at: Timestamp,
        calendar: &Calendar,
    ) -> Decision {
        self.require("file a direct-intake application for", &[Status::Received])?;
        // The instant the gateway received the filing, as for a referred case.
        let application = ConfirmationApplication {
            applied_at: at,
            ..application
        };
        if self.bundle.kind != ReferralKind::DirectIntake {
            return Err(self.not_allowed("file a direct-intake application for"));
        }
        agreement.check(
            &self.bundle,
            &assignment.organisation,
            assignment.mediator.as_ref(),
            at,
        )?;
        application.check(
            &self.bundle,
            &agreement,
            TakesEffect::on(assignment.partner),
            calendar,
        )?;
        Ok(vec![
            Event {
                at,
                change: Change::TakenDirectly { assignment },
            },
            Event {
                at,
                change: Change::AgreementReached {
                    agreement: Box::new(agreement),
                },
            },
            Event {
                at,
                change: Change::ConfirmationApplied { application },
            },
        ])
    }

    /// Whether the parties performed the agreement, as the organisation that
    /// mediated it reports.
    pub fn record_performance(
        &self,
        organisation: &OrganisationId,
        report: PerformanceReport,
        at: Timestamp,
    ) -> Decision {
        self.require(
            "record performance of",
            &[
                Status::Agreed,
                Status::ConfirmationRequested,
                Status::Confirmed,
            ],
        )?;
        self.require_assigned(organisation)?;
        one(at, Change::PerformanceRecorded { report })
    }
}
