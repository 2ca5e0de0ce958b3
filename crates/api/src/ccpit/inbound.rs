//! What the CCPIT platform sends, to domain values: settlements, failure
//! reports, and `FileDirectIntake`, a dispute a centre took directly from the
//! parties and files with a court for confirmation of the settlement.

use mediation_core::Violations;
use mediation_core::bundle::{
    CaseBundle, Claim, Consent, ConsentMethod, DisputeDomain, Party, PartyRole, PersonKind,
    ReferralKind,
};
use mediation_core::court::CourtCode;
use mediation_core::document::Document;
use mediation_core::ids::{CourtReferralId, MediatorId, OrganisationId, PartyRef};
use mediation_core::lifecycle::Assignment;
use mediation_core::outcome::{
    Agreement, ConfirmationApplication, FailureReport, Signature, Signer,
};
use mediation_core::partner::Partner;
use mediation_core::text::{Line, Narrative};
use mediation_proto::ccpit::v1 as pb;

use super::codes::{SIGNER_TYPES, SignerType};
use crate::partner::codes::{agreement_party, identity};
use crate::partner::{Intake, intake_reference};
use crate::wire::read::{
    date, files, narratives, optional, optional_money, optional_narrative, required_time,
};

fn participant(
    v: &mut Violations,
    path: &str,
    p: &pb::Participant,
    role: PartyRole,
    agreed_at: Option<jiff::Timestamp>,
) -> Option<(Party, Option<Consent>)> {
    let at = |f: &str| format!("{path}.{f}");
    let reference = v.check(at("reference"), PartyRef::parse(&p.reference));
    let name = v.check(at("name"), Line::parse(&p.name));
    let identity = identity(
        v,
        path,
        ("document_type", &p.document_type),
        ("document_number", &p.document_number),
    );
    let contact = v.check(at("contact"), Line::parse(&p.contact));
    let address = v.check(
        at("address_for_service"),
        Line::parse(&p.address_for_service),
    );
    let region = v.check(at("region"), optional(&p.region, Line::parse));
    let reference = reference?;
    let consent = agreed_at.map(|given_at| Consent {
        party: reference.clone(),
        given_at,
        method: ConsentMethod::Written,
    });
    Some((
        Party {
            reference,
            role,
            person: if p.enterprise {
                PersonKind::Legal
            } else {
                PersonKind::Natural
            },
            name: name?,
            identity: identity?,
            contact: contact?,
            service_address: address?,
            // The platform marks a foreign participant; where it lives is
            // not stated apart from that.
            resides_abroad: p.foreign,
            region: region?,
        },
        consent,
    ))
}

/// The bundle's own rules, with its party paths (`parties[i]`, counting only
/// the participants that could be read) turned into the request's
/// (`applicants[…]`, `respondents[…]`), a missing role named by the list it
/// is missing from, and the consents by the instant they come from.
fn bundle_rules(bundle: &CaseBundle, paths: &[String]) -> Violations {
    let mut v = Violations::new();
    let Err(found) = bundle.validate() else {
        return v;
    };
    for e in found.0 {
        // With no party there is no consent either; the missing parties are
        // what to say.
        if e.field.starts_with("consents") && bundle.parties.is_empty() {
            continue;
        }
        let field = if e.field == "parties" {
            if e.rule.contains("respondent") {
                "respondents".to_owned()
            } else {
                "applicants".to_owned()
            }
        } else if e.field.starts_with("consents") {
            // The parties' consent is the day they agreed to mediate.
            "mediation_agreed_at".to_owned()
        } else {
            paths
                .iter()
                .enumerate()
                .find_map(|(i, path)| {
                    e.field
                        .strip_prefix(&format!("parties[{i}]"))
                        .map(|rest| format!("{path}{rest}"))
                })
                .unwrap_or(e.field)
        };
        v.push(field, e.rule);
    }
    v
}

/// Reads the request; every bad field is named by its path in the request.
pub(crate) fn intake(r: &pb::FileDirectIntakeRequest) -> Result<Intake, Violations> {
    let mut v = Violations::new();
    let centre = v.check(
        "mediation_centre",
        OrganisationId::parse(&r.mediation_centre),
    );
    let reference = v.check("intake_reference", intake_reference(&r.intake_reference));
    let court = v.check("court", CourtCode::parse(&r.court));
    let cause = v.check("cause_of_action", Line::parse(&r.cause_of_action));
    let agreed_at = required_time(
        &mut v,
        "mediation_agreed_at",
        r.mediation_agreed_at.as_ref(),
    );
    // Where each party sits in the request, to name it in errors.
    let mut paths = Vec::new();
    let mut parties = Vec::new();
    let mut consents = Vec::new();
    for (list, role, name) in [
        (&r.applicants, PartyRole::Claimant, "applicants"),
        (&r.respondents, PartyRole::Respondent, "respondents"),
    ] {
        for (i, p) in list.iter().enumerate() {
            let path = format!("{name}[{i}]");
            if let Some((party, consent)) = participant(&mut v, &path, p, role, agreed_at) {
                parties.push(party);
                consents.extend(consent);
                paths.push(path);
            }
        }
    }
    let amount =
        optional_money(&mut v, "amount_in_dispute", r.amount_in_dispute.as_ref()).flatten();
    let claims: Vec<Claim> = r
        .claims
        .iter()
        .enumerate()
        .filter_map(|(i, c)| v.check(format!("claims[{i}]"), Narrative::parse(c)))
        .map(|description| Claim {
            description,
            amount: None,
        })
        .collect();
    let mediator = v.check("mediator", MediatorId::parse(&r.mediator));
    let applied_at = required_time(&mut v, "applied_at", r.applied_at.as_ref());
    let mut inner = Violations::new();
    let agreement = match &r.settlement {
        Some(s) => settlement(&mut inner, s),
        None => {
            v.push("settlement", "is required");
            None
        }
    };
    v.nest("settlement", inner);
    if !v.is_empty() {
        // The bundle's rules across fields too, on the parties that could be
        // read, so that one answer names every problem.
        let listed = r.applicants.len() + r.respondents.len();
        let placeholder = || -> Option<CaseBundle> {
            Some(CaseBundle {
                court_referral_id: CourtReferralId::parse("partial").ok()?,
                court: court.clone().or_else(|| CourtCode::parse("京").ok())?,
                case_number: None,
                kind: ReferralKind::DirectIntake,
                cause_of_action: Line::parse("partial").ok()?,
                domain: DisputeDomain::Commercial,
                parties: parties.clone(),
                claims: claims.clone(),
                amount_in_dispute: amount.clone(),
                documents: Vec::new(),
                consents: consents.clone(),
                preferred_organisation: None,
                summary: None,
                particulars: None,
                reassignment_allowed: false,
                designated_organisation: None,
                cross_border: false,
                subject_matter_abroad: false,
                language: None,
                interpreter_needed: false,
                model_case: None,
            })
        };
        if let Some(partial) = placeholder() {
            for e in bundle_rules(&partial, &paths).0 {
                // A missing role or claim may be one that could not be read.
                let misled = (e.field == "applicants" || e.field == "respondents")
                    && parties.len() < listed
                    || e.field == "claims" && claims.len() < r.claims.len()
                    || e.field == "mediation_agreed_at" && agreed_at.is_none();
                if !misled {
                    v.push(e.field, e.rule);
                }
            }
        }
        return Err(v);
    }
    let (Some(centre), Some(reference), Some(court), Some(cause), Some(mediator)) =
        (centre, reference, court, cause, mediator)
    else {
        return Err(v);
    };
    let (Some(agreement), Some(applied_at)) = (agreement, applied_at) else {
        return Err(v);
    };
    let court_referral_id =
        CourtReferralId::parse(&format!("{centre}:{reference}")).map_err(|e| {
            let mut v = Violations::new();
            v.push("intake_reference", e.rule);
            v
        })?;
    let applicants = parties.iter().map(|p| p.reference.clone()).collect();
    let bundle = CaseBundle {
        court_referral_id,
        court,
        case_number: None,
        kind: ReferralKind::DirectIntake,
        cause_of_action: cause,
        domain: DisputeDomain::Commercial,
        parties,
        claims,
        amount_in_dispute: amount,
        documents: Vec::new(),
        consents,
        preferred_organisation: Some(centre.clone()),
        summary: None,
        particulars: None,
        reassignment_allowed: false,
        designated_organisation: None,
        cross_border: false,
        subject_matter_abroad: false,
        language: None,
        interpreter_needed: false,
        model_case: None,
    };
    let found = bundle_rules(&bundle, &paths);
    if !found.is_empty() {
        return Err(found);
    }
    Ok(Intake {
        bundle,
        assignment: Assignment {
            partner: Partner::Ccpit,
            organisation: centre,
            mediator: Some(mediator),
        },
        agreement,
        application: ConfirmationApplication {
            applicants,
            applied_at,
        },
    })
}

pub(super) fn settlement(v: &mut Violations, r: &pb::SubmitSettlementRequest) -> Option<Agreement> {
    let mut parties = Vec::new();
    for (i, p) in r.parties.iter().enumerate() {
        parties.extend(agreement_party(
            v,
            &format!("parties[{i}]"),
            (&p.reference, &p.name),
            (&p.document_type, &p.document_number),
        ));
    }
    let disputed_matters = optional_narrative(v, "disputed_matters", &r.disputed_matters)?;
    let terms = narratives(v, "terms", &r.terms);
    let performance_method = optional_narrative(v, "performance_method", &r.performance_method)?;
    let performance_deadline = v.check("perform_by", optional(&r.perform_by, date))?;
    let mut signatures = Vec::new();
    for (i, s) in r.signatures.iter().enumerate() {
        let at = |f: &str| format!("signatures[{i}].{f}");
        let kind = v.check(at("signer_type"), SIGNER_TYPES.read(&s.signer_type));
        let signer = kind.and_then(|k| {
            v.check(
                at("signer"),
                match k {
                    SignerType::Centre => {
                        OrganisationId::parse(&s.signer).map(Signer::Organisation)
                    }
                    SignerType::Mediator => MediatorId::parse(&s.signer).map(Signer::Mediator),
                    SignerType::Party => PartyRef::parse(&s.signer).map(Signer::Party),
                },
            )
        });
        let signed_at = required_time(v, &at("signed_at"), s.signed_at.as_ref());
        if let (Some(signer), Some(signed_at)) = (signer, signed_at) {
            signatures.push(Signature { signer, signed_at });
        }
    }
    let documents: Vec<Document> = files(v, "files", &r.files);
    Some(Agreement {
        parties,
        disputed_matters,
        terms,
        performance_method,
        performance_deadline,
        signatures,
        documents,
        compensation: Vec::new(),
    })
}

/// A failure report, with every element the rules ask for.
pub(super) fn failure(v: &mut Violations, r: &pb::ReportFailureRequest) -> Option<FailureReport> {
    crate::partner::complete_failure!(v, r)
}
