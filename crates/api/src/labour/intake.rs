//! A dispute a labour committee took directly and files for judicial
//! confirmation (LDMAL Art. 14; CPL Art. 205), read into the domain's terms.
//! The committee states every party, the employment and the claim; nothing
//! is filled in for it.

use mediation_core::Violations;
use mediation_core::bundle::{
    CaseBundle, Claim, Consent, ConsentMethod, DisputeDomain, Party, PartyRole, PersonKind,
    ReferralKind,
};
use mediation_core::court::CourtCode;
use mediation_core::ids::{CourtReferralId, OrganisationId, PartyRef};
use mediation_core::lifecycle::Assignment;
use mediation_core::money::{Amount, Currency};
use mediation_core::outcome::ConfirmationApplication;
use mediation_core::particulars::{LabourClaimItem, LabourParticulars, Particulars};
use mediation_core::partner::Partner;
use mediation_core::text::{Line, Narrative};
use mediation_proto::labour::v1 as pb;

use super::codes::{CLAIM_KINDS, CLAIM_NAMES};
use super::inbound::{agreement, signed};
use crate::partner::codes::identity;
use crate::partner::{Intake, intake_reference};
use crate::wire::read::{date, optional, required_time, yuan};

/// A party as the committee identified it, with its role in the dispute.
fn party(v: &mut Violations, path: &str, p: &pb::IntakeParty) -> Option<(Party, pb::IntakeRole)> {
    let at = |f: &str| format!("{path}.{f}");
    let reference = v.check(at("reference"), PartyRef::parse(&p.reference));
    let role = match pb::IntakeRole::try_from(p.role) {
        Ok(pb::IntakeRole::Unspecified) | Err(_) => {
            v.push(
                at("role"),
                "must be INTAKE_ROLE_EMPLOYER, INTAKE_ROLE_WORKER or INTAKE_ROLE_OTHER",
            );
            None
        }
        Ok(role) => Some(role),
    };
    let name = v.check(at("name"), Line::parse(&p.name));
    let identity = identity(
        v,
        path,
        ("document_type", &p.document_type),
        ("document_number", &p.document_number),
    );
    let contact = v.check(at("contact"), Line::parse(&p.contact));
    let address = v.check(at("address"), Line::parse(&p.address));
    let region = v.check(at("region"), optional(&p.region, Line::parse));
    let role = role?;
    let identity = identity?;
    Some((
        Party {
            reference: reference?,
            role: match role {
                pb::IntakeRole::Worker => PartyRole::Claimant,
                pb::IntakeRole::Employer => PartyRole::Respondent,
                _ => PartyRole::ThirdParty,
            },
            person: if p.organisation {
                PersonKind::Legal
            } else {
                PersonKind::Natural
            },
            name: name?,
            resides_abroad: identity.kind().is_foreign(),
            identity,
            contact: contact?,
            service_address: address?,
            region: region?,
        },
        role,
    ))
}

/// The one party of `role`, named under `parties` when there is none or
/// more than one.
fn the_one(
    v: &mut Violations,
    parties: &[(Party, pb::IntakeRole)],
    role: pb::IntakeRole,
    name: &str,
) -> Option<PartyRef> {
    let found: Vec<&Party> = parties
        .iter()
        .filter(|(_, r)| *r == role)
        .map(|(p, _)| p)
        .collect();
    match found.as_slice() {
        [one] => Some(one.reference.clone()),
        [] => {
            v.push("parties", format!("must name the {name}"));
            None
        }
        _ => {
            v.push(
                "parties",
                format!("must name one {name}; list the others as INTAKE_ROLE_OTHER"),
            );
            None
        }
    }
}

/// Reads the filing, or names every field that is wrong.
pub(super) fn intake(r: &pb::FileDirectIntakeRequest) -> Result<Intake, Violations> {
    let mut v = Violations::new();
    let committee = v.check("committee", OrganisationId::parse(&r.committee));
    let reference = v.check("intake_reference", intake_reference(&r.intake_reference));
    let court = v.check("court", CourtCode::parse(&r.court));
    let cause = v.check("cause_of_action", Line::parse(&r.cause_of_action));
    let agreed_at = required_time(
        &mut v,
        "mediation_agreed_at",
        r.mediation_agreed_at.as_ref(),
    );
    let parties: Vec<(Party, pb::IntakeRole)> = r
        .parties
        .iter()
        .enumerate()
        .filter_map(|(i, p)| party(&mut v, &format!("parties[{i}]"), p))
        .collect();
    let (employer, employee) = if parties.len() == r.parties.len() {
        (
            the_one(&mut v, &parties, pb::IntakeRole::Employer, "employer"),
            the_one(&mut v, &parties, pb::IntakeRole::Worker, "worker"),
        )
    } else {
        (None, None)
    };
    let employment = match &r.employment {
        Some(e) => {
            let start = v.check("employment.started_on", date(&e.started_on));
            let end = v.check("employment.ended_on", optional(&e.ended_on, date));
            let position = v.check("employment.position", optional(&e.position, Line::parse));
            let wage = v.check("employment.monthly_wage", optional(&e.monthly_wage, yuan));
            Some((e.written_contract, start, end, position, wage))
        }
        None => {
            v.push(
                "employment",
                "is required: the employment the dispute is about",
            );
            None
        }
    };
    let claim_items: Vec<LabourClaimItem> = r
        .claim_items
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let kind = v.check(
                format!("claim_items[{i}].kind"),
                CLAIM_KINDS.read_number(c.kind),
            );
            let amount = v.check(format!("claim_items[{i}].amount"), yuan(&c.amount));
            Some(LabourClaimItem {
                kind: kind?,
                amount: amount?,
            })
        })
        .collect();
    if r.claim_items.is_empty() {
        v.push("claim_items", "must list what the worker claimed");
    }
    let applied_at = required_time(&mut v, "applied_at", r.applied_at.as_ref());
    let mut inner = Violations::new();
    let signed = match &r.agreement {
        Some(a) => signed(&mut inner, a),
        None => {
            v.push("agreement", "is required");
            None
        }
    };
    if let Some(s) = &signed
        && !s.states_its_parties()
    {
        inner.push(
            "parties",
            "must state every party who signed, with disputed_matters: a directly taken dispute has no referral to take them from",
        );
    }
    v.nest("agreement", inner);
    let (
        Some(committee),
        Some(reference),
        Some(court),
        Some(cause),
        Some(agreed_at),
        Some(employer),
        Some(employee),
        Some((written_contract, Some(start), Some(end), Some(position), Some(wage))),
        Some(signed),
        Some(applied_at),
        true,
    ) = (
        committee,
        reference,
        court,
        cause,
        agreed_at,
        employer,
        employee,
        employment,
        signed,
        applied_at,
        v.is_empty(),
    )
    else {
        return Err(v);
    };
    let court_referral_id = v.check(
        "intake_reference",
        CourtReferralId::parse(&format!("{committee}:{reference}")),
    );
    let Some(court_referral_id) = court_referral_id else {
        return Err(v);
    };
    let total: u64 = claim_items.iter().map(|c| c.amount.minor).sum();
    let amount = v.check("claim_items", Amount::from_minor(total, Currency::cny()));
    let claims = claim_items
        .iter()
        .filter_map(|c| {
            Narrative::parse(&format!(
                "{}{}元",
                CLAIM_NAMES.code(c.kind),
                c.amount.decimal()
            ))
            .ok()
            .map(|description| Claim {
                description,
                amount: Some(c.amount.clone()),
            })
        })
        .collect();
    let parties: Vec<Party> = parties.into_iter().map(|(p, _)| p).collect();
    let consents = parties
        .iter()
        .map(|p| Consent {
            party: p.reference.clone(),
            given_at: agreed_at,
            method: ConsentMethod::Written,
        })
        .collect();
    let applicants = parties.iter().map(|p| p.reference.clone()).collect();
    let bundle = CaseBundle {
        court_referral_id,
        court,
        case_number: None,
        kind: ReferralKind::DirectIntake,
        cause_of_action: cause,
        domain: DisputeDomain::Labour,
        parties,
        claims,
        amount_in_dispute: amount,
        documents: Vec::new(),
        consents,
        preferred_organisation: Some(committee.clone()),
        summary: None,
        particulars: Some(Particulars::Labour(LabourParticulars {
            employer,
            employee,
            written_contract,
            employment_start: start,
            employment_end: end,
            position,
            monthly_wage: wage,
            arbitration_committee: None,
            claim_items,
        })),
        reassignment_allowed: false,
        designated_organisation: None,
        cross_border: false,
        subject_matter_abroad: false,
        language: None,
        interpreter_needed: false,
        model_case: None,
    };
    // The bundle's own rules; its paths (`parties[i]`, …) are the request's.
    bundle.validate()?;
    let agreement = agreement(&bundle, &committee, &signed).map_err(|e| {
        let mut v = Violations::new();
        v.push("agreement", e.to_string());
        v
    })?;
    Ok(Intake {
        assignment: Assignment {
            partner: Partner::LabourArbitration,
            organisation: committee,
            mediator: Some(signed.mediator().clone()),
        },
        bundle,
        agreement,
        application: ConfirmationApplication {
            applicants,
            applied_at,
        },
    })
}
