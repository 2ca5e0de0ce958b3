//! What court systems send, to domain values: a wire case bundle to a domain
//! one. Every field is checked and every violation reported with its path in
//! the request, then the bundle's cross-field rules are checked with the same
//! paths.

mod particulars;

use mediation_core::bundle::{CaseBundle, Claim, Consent, Party, ReferralKind};
use mediation_core::court::{CaseNumber, CourtCode};
use mediation_core::document::Document;
use mediation_core::identity::Identity;
use mediation_core::ids::{CourtReferralId, OrganisationId, PartyRef};
use mediation_core::text::{Line, Narrative};
use mediation_core::{Invalid, Violations};
use mediation_proto::court::v1 as pb;

use super::codes::{
    CONSENT_METHODS, DOMAINS, IDENTITY_KINDS, PARTY_ROLES, PERSON_KINDS, PROCEDURES, TRIAL_STAGES,
};
use crate::wire::read::{all, file, optional, optional_money, required_time};

/// The referral kind, with a docketed (委托) case's stage, procedure and
/// case number: each one missing or unreadable is its own violation, all in
/// one answer.
fn kind(v: &mut Violations, prefix: &str, w: &pb::CaseBundle) -> Option<ReferralKind> {
    let at = |field: &str| format!("{prefix}.{field}");
    let refused = |v: &mut Violations, rule: String| {
        v.push(at("kind"), rule);
        None
    };
    match pb::ReferralKind::try_from(w.kind) {
        Ok(pb::ReferralKind::Delegated) => Some(ReferralKind::Delegated),
        Ok(pb::ReferralKind::Entrusted) => {
            let stage = v.check(at("trial_stage"), TRIAL_STAGES.read_number(w.trial_stage));
            let procedure = v.check(at("procedure"), PROCEDURES.read_number(w.procedure));
            // Said here as well as by the bundle's own rules, which are not
            // reached while the stage or procedure cannot be read.
            if (stage.is_none() || procedure.is_none()) && w.case_number.trim().is_empty() {
                v.push(
                    at("case_number"),
                    "an entrusted (委托) referral is docketed and needs its case number",
                );
            }
            Some(ReferralKind::Entrusted {
                stage: stage?,
                procedure: procedure?,
            })
        }
        Ok(pb::ReferralKind::DirectIntake) => refused(
            v,
            "courts refer DELEGATED or ENTRUSTED disputes; a DIRECT_INTAKE application comes from the organisation that took the dispute".into(),
        ),
        _ if w.kind == 0 => refused(v, "referral kind is required".into()),
        _ => refused(
            v,
            format!(
                "{} is not a known referral kind; expected one of REFERRAL_KIND_DELEGATED, \
                 REFERRAL_KIND_ENTRUSTED",
                w.kind
            ),
        ),
    }
}

fn identity(w: Option<&pb::Identity>) -> Result<Identity, (&'static str, Invalid)> {
    let w = w.ok_or(("identity", Invalid::new("is required")))?;
    let kind = IDENTITY_KINDS
        .read_number(w.kind)
        .map_err(|e| ("identity.kind", e))?;
    Identity::parse(kind, &w.number).map_err(|e| ("identity.number", e))
}

fn party(v: &mut Violations, path: &str, w: &pb::Party) -> Option<Party> {
    let reference = v.check(format!("{path}.reference"), PartyRef::parse(&w.reference));
    let role = v.check(format!("{path}.role"), PARTY_ROLES.read_number(w.role));
    let person = v.check(format!("{path}.person"), PERSON_KINDS.read_number(w.person));
    let name = v.check(format!("{path}.name"), Line::parse(&w.name));
    let identity = match identity(w.identity.as_ref()) {
        Ok(i) => Some(i),
        Err((field, e)) => {
            v.push(format!("{path}.{field}"), e.rule);
            None
        }
    };
    let contact = v.check(format!("{path}.contact"), Line::parse(&w.contact));
    let service_address = v.check(
        format!("{path}.service_address"),
        Line::parse(&w.service_address),
    );
    let region = v.check(format!("{path}.region"), optional(&w.region, Line::parse));
    Some(Party {
        reference: reference?,
        role: role?,
        person: person?,
        name: name?,
        identity: identity?,
        contact: contact?,
        service_address: service_address?,
        resides_abroad: w.resides_abroad,
        region: region?,
    })
}

fn consent(v: &mut Violations, path: &str, w: &pb::Consent) -> Option<Consent> {
    let party = v.check(format!("{path}.party"), PartyRef::parse(&w.party));
    let given_at = required_time(v, &format!("{path}.given_at"), w.given_at.as_ref());
    let method = v.check(
        format!("{path}.method"),
        CONSENT_METHODS.read_number(w.method),
    );
    Some(Consent {
        party: party?,
        given_at: given_at?,
        method: method?,
    })
}

/// Translates `w`, reporting fields under `prefix` (e.g. `bundle` or
/// `bundles[3]`).
pub fn bundle_from_wire(prefix: &str, w: &pb::CaseBundle) -> Result<CaseBundle, Violations> {
    let mut v = Violations::new();
    let at = |field: &str| format!("{prefix}.{field}");
    let court_referral_id = v.check(
        at("court_referral_id"),
        CourtReferralId::parse(&w.court_referral_id),
    );
    let court = v.check(at("court"), CourtCode::parse(&w.court));
    let case_number = v.check(
        at("case_number"),
        optional(&w.case_number, CaseNumber::parse),
    );
    let kind = kind(&mut v, prefix, w);
    let model_case = v.check(
        at("model_case_number"),
        optional(&w.model_case_number, CaseNumber::parse),
    );
    let cause_of_action = v.check(at("cause_of_action"), Line::parse(&w.cause_of_action));
    let domain = v.check(at("domain"), DOMAINS.read_number(w.domain));
    let parties: Vec<Option<Party>> = w
        .parties
        .iter()
        .enumerate()
        .map(|(i, p)| party(&mut v, &at(&format!("parties[{i}]")), p))
        .collect();
    let claims: Vec<Option<Claim>> = w
        .claims
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let path = at(&format!("claims[{i}]"));
            let description = v.check(
                format!("{path}.description"),
                Narrative::parse(&c.description),
            );
            let amount = optional_money(&mut v, &format!("{path}.amount"), c.amount.as_ref());
            Some(Claim {
                description: description?,
                amount: amount?,
            })
        })
        .collect();
    let amount_in_dispute = optional_money(
        &mut v,
        &at("amount_in_dispute"),
        w.amount_in_dispute.as_ref(),
    );
    let documents: Vec<Option<Document>> = w
        .documents
        .iter()
        .enumerate()
        .map(|(i, d)| file(&mut v, &at(&format!("documents[{i}]")), d))
        .collect();
    let consents: Vec<Option<Consent>> = w
        .consents
        .iter()
        .enumerate()
        .map(|(i, c)| consent(&mut v, &at(&format!("consents[{i}]")), c))
        .collect();
    let language = v.check(at("language"), optional(&w.language, Line::parse));
    let designated_organisation = v.check(
        at("designated_organisation"),
        optional(&w.designated_organisation, OrganisationId::parse),
    );
    let preferred_organisation = v.check(
        at("preferred_organisation"),
        optional(&w.preferred_organisation, OrganisationId::parse),
    );
    let summary = v.check(at("summary"), optional(&w.summary, Narrative::parse));
    let particulars = particulars::from_wire(&mut v, prefix, w.particulars.as_ref());
    if !v.is_empty() {
        // The bundle's own rules across fields are checked too, on what could
        // be read, so that one answer names every problem.
        let lists = Lists {
            parties: &parties,
            claims: &claims,
            documents: &documents,
            consents: &consents,
        };
        let across = cross_field(
            &lists,
            w,
            domain.filter(|_| particulars.is_some()),
            particulars.clone().flatten(),
            amount_in_dispute.clone(),
        );
        v.nest(prefix, across);
        return Err(v);
    }
    // With no violation recorded every field parsed, so every `?` below holds.
    let bundle = (|| {
        Some(CaseBundle {
            court_referral_id: court_referral_id?,
            court: court?,
            case_number: case_number?,
            kind: kind?,
            cause_of_action: cause_of_action?,
            domain: domain?,
            parties: all(parties)?,
            claims: all(claims)?,
            amount_in_dispute: amount_in_dispute?,
            documents: all(documents)?,
            consents: all(consents)?,
            preferred_organisation: preferred_organisation?,
            designated_organisation: designated_organisation?,
            cross_border: w.cross_border,
            subject_matter_abroad: w.subject_matter_abroad,
            language: language?,
            interpreter_needed: w.interpreter_needed,
            model_case: model_case?,
            summary: summary?,
            particulars: particulars?,
            reassignment_allowed: w.reassignment_allowed,
        })
    })()
    .ok_or_else(|| {
        let mut v = Violations::new();
        v.push(prefix, "could not be read");
        v
    })?;
    if let Err(inner) = bundle.validate() {
        let mut v = Violations::new();
        v.nest(prefix, inner);
        return Err(v);
    }
    Ok(bundle)
}

/// The lists of a bundle being read, each item `None` where it could not be.
struct Lists<'a> {
    parties: &'a [Option<Party>],
    claims: &'a [Option<Claim>],
    documents: &'a [Option<Document>],
    consents: &'a [Option<Consent>],
}

/// Keeps the items that were read, remembering each one's index in the request.
fn read<T: Clone>(items: &[Option<T>]) -> (Vec<T>, Vec<usize>) {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| item.clone().map(|item| (item, i)))
        .unzip()
}

/// `field` (e.g. `parties[1].reference`) with the index into the list of
/// items read turned back into the index in the request.
fn in_request(field: &str, list: &str, indices: &[usize]) -> String {
    let Some(rest) = field.strip_prefix(&format!("{list}[")) else {
        return field.to_owned();
    };
    let Some((n, tail)) = rest.split_once(']') else {
        return field.to_owned();
    };
    match n.parse::<usize>().ok().and_then(|n| indices.get(n)) {
        Some(original) => format!("{list}[{original}]{tail}"),
        None => field.to_owned(),
    }
}

/// The bundle's rules across fields, run on the parts of a bundle with bad
/// fields that could be read (`CaseBundle::validate` is the one place those
/// rules live). A rule that could be misled by a part that could not be read
/// is left out: a consent naming a party whose entry is invalid, a missing
/// claimant when some party could not be read, the case number against a
/// court or kind that could not be read, the particulars when they or the
/// domain could not be read, currencies when the amount could not be, a
/// party's missing consent when some consent could not be read.
fn cross_field(
    lists: &Lists<'_>,
    w: &pb::CaseBundle,
    domain: Option<mediation_core::bundle::DisputeDomain>,
    particulars: Option<mediation_core::particulars::Particulars>,
    amount: Option<Option<mediation_core::money::Amount>>,
) -> Violations {
    let (parties, party_at) = read(lists.parties);
    let (claims, claim_at) = read(lists.claims);
    let (documents, document_at) = read(lists.documents);
    let (consents, consent_at) = read(lists.consents);
    let some_party_unread = parties.len() < lists.parties.len();
    let some_consent_unread = consents.len() < lists.consents.len();
    let unread_references: Vec<&str> = w
        .parties
        .iter()
        .zip(lists.parties)
        .filter(|(_, p)| p.is_none())
        .map(|(raw, _)| raw.reference.trim())
        .collect();
    // Stand-ins for the scalars, which no rule below is allowed to judge.
    let partial = (|| {
        Some(CaseBundle {
            court_referral_id: CourtReferralId::parse("partial").ok()?,
            court: CourtCode::parse(if w.court.is_empty() { "京" } else { &w.court })
                .or_else(|_| CourtCode::parse("京"))
                .ok()?,
            case_number: None,
            kind: mediation_core::bundle::ReferralKind::Delegated,
            cause_of_action: Line::parse("partial").ok()?,
            domain: domain.unwrap_or(mediation_core::bundle::DisputeDomain::Commercial),
            parties: parties.clone(),
            claims: claims.clone(),
            amount_in_dispute: amount.clone().flatten(),
            documents: documents.clone(),
            consents: consents.clone(),
            preferred_organisation: None,
            summary: None,
            particulars: particulars.clone(),
            reassignment_allowed: w.reassignment_allowed,
            designated_organisation: None,
            cross_border: false,
            subject_matter_abroad: false,
            language: None,
            interpreter_needed: false,
            model_case: None,
        })
    })();
    let Some(partial) = partial else {
        return Violations::new();
    };
    let Err(found) = partial.validate() else {
        return Violations::new();
    };
    let mut v = Violations::new();
    for e in found.0 {
        let f = e.field.as_str();
        let misled = f.starts_with("case_number")
            || f.starts_with("kind")
            || (f.starts_with("particulars") && (domain.is_none() || particulars.is_none()))
            || (f.contains(".amount.currency") && amount.is_none())
            || (f == "parties" && some_party_unread)
            || (f.starts_with("consents[")
                && f.ends_with(".party")
                && unread_references
                    .iter()
                    .any(|r| e.rule.starts_with(&format!("{r} "))))
            || (f == "consents" && some_consent_unread && e.rule.contains("has not consented"));
        if misled {
            continue;
        }
        let field = in_request(f, "parties", &party_at);
        let field = in_request(&field, "claims", &claim_at);
        let field = in_request(&field, "documents", &document_at);
        let field = in_request(&field, "consents", &consent_at);
        v.push(field, e.rule);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::court::outbound::bundle_to_wire;
    use mediation_core::fixtures::sample_bundle;

    #[test]
    fn a_bad_field_and_a_missing_consent_are_named_in_one_answer() {
        let mut wire = bundle_to_wire(&sample_bundle());
        // A bad field...
        wire.cause_of_action = "a\nb".into();
        // ...and a rule across fields: the second party's consent is gone.
        wire.consents.truncate(1);
        let fields: Vec<String> = bundle_from_wire("bundle", &wire)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert!(
            fields.contains(&"bundle.cause_of_action".to_owned()),
            "{fields:?}"
        );
        assert!(fields.contains(&"bundle.consents".to_owned()), "{fields:?}");
    }

    #[test]
    fn rules_across_fields_keep_the_request_index_and_spare_what_could_not_be_read() {
        let mut wire = bundle_to_wire(&sample_bundle());
        // The first party cannot be read; the second is named twice, so the
        // duplicate is reported at its own index in the request.
        wire.parties[0].name = String::new();
        let second = wire.parties[1].clone();
        wire.parties.push(second);
        let found = bundle_from_wire("bundle", &wire).unwrap_err();
        let fields: Vec<&str> = found.0.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"bundle.parties[0].name"), "{fields:?}");
        assert!(
            fields.contains(&"bundle.parties[2].reference"),
            "{fields:?}"
        );
        // The first party's consent names a party that could not be read:
        // not reported as a stranger, nor is a missing claimant guessed at.
        assert!(!fields.contains(&"bundle.consents[0].party"), "{fields:?}");
        assert!(!fields.contains(&"bundle.parties"), "{fields:?}");
    }

    #[test]
    fn a_bundle_survives_the_round_trip_through_the_wire() {
        let wire = bundle_to_wire(&sample_bundle());
        assert_eq!(bundle_from_wire("bundle", &wire).unwrap(), sample_bundle());
    }

    #[test]
    fn labour_and_accident_particulars_survive_the_round_trip() {
        use mediation_core::fixtures::{accident_bundle, labour_bundle};
        for bundle in [labour_bundle(), accident_bundle()] {
            let wire = bundle_to_wire(&bundle);
            assert_eq!(bundle_from_wire("bundle", &wire).unwrap(), bundle);
        }
    }

    #[test]
    fn bad_particulars_are_named_by_their_request_path() {
        use mediation_core::fixtures::accident_bundle;
        let mut wire = bundle_to_wire(&accident_bundle());
        let Some(pb::case_bundle::Particulars::RoadTraffic(a)) = &mut wire.particulars else {
            unreachable!()
        };
        a.liability[0].liability = 0;
        a.injuries[0].disability_grade = 12;
        a.compensation[1].kind = 99;
        a.occurred_at = None;
        let v = bundle_from_wire("bundle", &wire).unwrap_err();
        assert_eq!(
            v.fields().collect::<Vec<_>>(),
            [
                "bundle.road_traffic.occurred_at",
                "bundle.road_traffic.liability[0].liability",
                "bundle.road_traffic.injuries[0].disability_grade",
                "bundle.road_traffic.compensation[1].kind",
            ],
            "{v}"
        );
    }

    #[test]
    fn every_bad_field_is_named_by_its_request_path() {
        let mut wire = bundle_to_wire(&sample_bundle());
        wire.court = "X".into();
        wire.kind = 9;
        wire.parties[1].identity.as_mut().unwrap().number = "91350100M000100Y44".into();
        wire.consents[0].given_at = None;
        wire.amount_in_dispute.as_mut().unwrap().amount = "1.234".into();
        let v = bundle_from_wire("bundle", &wire).unwrap_err();
        assert_eq!(
            v.fields().collect::<Vec<_>>(),
            [
                "bundle.court",
                "bundle.kind",
                "bundle.parties[1].identity.number",
                "bundle.amount_in_dispute.amount",
                "bundle.consents[0].given_at"
            ],
            "{v}"
        );
    }

    #[test]
    fn cross_field_rules_use_the_same_paths() {
        let mut wire = bundle_to_wire(&sample_bundle());
        wire.consents.clear();
        let v = bundle_from_wire("bundles[7]", &wire).unwrap_err();
        assert_eq!(v.fields().collect::<Vec<_>>(), ["bundles[7].consents"]);
    }
}
