//! A dispute an organisation took directly from the parties (自行受理), filed
//! with a court for judicial confirmation of the agreement it reached: what
//! every platform's filing holds, and the checks that are the same whatever
//! the platform calls them.

use mediation_core::Invalid;
use mediation_core::bundle::CaseBundle;
use mediation_core::court::CourtLevel;
use mediation_core::ids::CourtReferralId;
use mediation_core::lifecycle::{Assignment, Referral};
use mediation_core::outcome::{Agreement, ConfirmationApplication};
use mediation_core::store::{AuditLog, ReferralStore};
use tonic::Status;

use super::Desk;
use crate::documents::require_uploaded;
use crate::guard::Call;
use crate::status::{self, from_service, invalid_field};

/// Everything the gateway needs to file the case.
pub(crate) struct Intake {
    pub(crate) bundle: CaseBundle,
    pub(crate) assignment: Assignment,
    pub(crate) agreement: Agreement,
    pub(crate) application: ConfirmationApplication,
}

/// An organisation's own reference for a filing: 1–48 ASCII letters,
/// digits, '-', '_' or '.'. The court key is `{organisation}:{reference}`,
/// so a ':' would let one organisation's reference pass for another's.
pub(crate) fn intake_reference(value: &str) -> Result<CourtReferralId, Invalid> {
    if value.contains(':') || value.len() > 48 {
        return Err(Invalid::new(
            "must be 1–48 ASCII letters, digits, '-', '_' or '.'",
        ));
    }
    CourtReferralId::parse(value)
}

/// Where a platform's filing names the organisation and lists the
/// agreement's files, for its errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IntakeFields {
    /// e.g. `mediation_centre`.
    pub(crate) organisation: &'static str,
    /// e.g. `settlement.files`.
    pub(crate) files: &'static str,
}

impl<S: ReferralStore + AuditLog + 'static> Desk<S> {
    /// Files `intake` as the organisation it names, once the court, the
    /// organisation and the agreement's files are shown to be right.
    pub(crate) async fn file_direct_intake(
        &self,
        call: &Call,
        intake: Intake,
        names: IntakeFields,
    ) -> Result<Referral, Status> {
        let courts = self.gateway.courts();
        match courts.require(&intake.bundle.court) {
            Err(e) => return Err(invalid_field("court", e.rule)),
            // CPL Art. 205 (2): an organisation that mediated on its own
            // files with the basic court where a party lives, the subject
            // matter lies or it sits, or the matching intermediate court.
            // Which of those the court is cannot be told from the bundle
            // (it holds no domiciles); its level can.
            Ok(court) if court.level > CourtLevel::Intermediate => {
                return Err(invalid_field(
                    "court",
                    format!(
                        "{} is a {} court; a directly taken dispute is filed for confirmation with a basic court where a party lives, the subject matter lies or the organisation sits, or the matching intermediate court (CPL Art. 205)",
                        court.code,
                        court.level.as_str()
                    ),
                ));
            }
            Ok(_) => {}
        }
        let organisation = &intake.assignment.organisation;
        if !call
            .caller
            .role
            .acts_for_organisation(self.platform, organisation)
        {
            return Err(status::not_yours(
                names.organisation,
                format_args!(
                    "{organisation} is not one of tenant {}'s organisations",
                    call.caller.tenant
                ),
            ));
        }
        // Only an organisation on the roster, and one of this platform's,
        // takes disputes in through it (the roster is the courts' list of
        // specially invited organisations, 特邀调解组织名册).
        if self.gateway.roster_partner(organisation) != Some(self.platform) {
            return Err(invalid_field(
                names.organisation,
                format!(
                    "{organisation} is not a {} organisation on the roster",
                    self.platform
                ),
            ));
        }
        if let Some(store) = &self.documents {
            require_uploaded(
                store.as_ref(),
                &call.caller.tenant,
                None,
                intake
                    .agreement
                    .documents
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (format!("{}[{i}]", names.files), d)),
            )?;
        }
        let mut v = mediation_core::Violations::new();
        super::step::check_signing_mediators(
            self.gateway.router(),
            organisation,
            &intake.agreement,
            &mut v,
        );
        if !v.is_empty() {
            return Err(crate::status::invalid(&v));
        }
        let actor = self.organisation_actor(call, organisation);
        let submission = self
            .gateway
            .file_direct_intake(
                intake.bundle,
                intake.assignment,
                intake.agreement,
                intake.application,
                &actor,
            )
            .await
            .map_err(|e| from_service(&e))?;
        call.concerns(submission.referral.id());
        self.wake();
        Ok(submission.referral)
    }
}
