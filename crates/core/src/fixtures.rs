//! Ready-made valid values for tests: a calendar with the shipped notices, a
//! commercial case bundle, and a complete agreement for it. Built with the same
//! parsers as real input, so they stay valid only while the rules allow them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use jiff::Timestamp;
use jiff::civil::date;
use mediation_calendar::Calendar;

use crate::bundle::{
    CaseBundle, Claim, Consent, ConsentMethod, DisputeDomain, Party, PartyRole, PersonKind,
    ReferralKind,
};
use crate::court::{CourtCode, CourtRegistry, Courts};
use crate::document::{Document, DocumentLocation, MediaType, Sha256Digest};
use crate::identity::{Identity, IdentityKind};
use crate::ids::{CourtReferralId, MediatorId, OrganisationId, PartyRef, ReferralId};
use crate::money::{Amount, Currency};
use crate::outcome::{Agreement, AgreementParty, Signature, Signer};
use crate::particulars::{
    AccidentParticulars, CompensationItem, CompensationKind, Injury, LabourClaimItem,
    LabourClaimKind, LabourParticulars, Liability, LiabilityShare, Particulars, Vehicle,
};
use crate::text::{Line, Narrative};

/// The notices shipped in `config/calendar`.
pub fn shipped_calendar() -> Calendar {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/calendar");
    Calendar::load_dir(&dir).expect("the shipped calendar loads")
}

/// The court registry shipped in `config/courts.toml`.
pub fn shipped_courts() -> CourtRegistry {
    #[derive(serde::Deserialize)]
    struct File {
        court: Vec<crate::court::Court>,
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/courts.toml");
    let text = std::fs::read_to_string(path).expect("the shipped court registry is readable");
    let file: File = toml::from_str(&text).expect("the shipped court registry parses");
    CourtRegistry::new(file.court).expect("the shipped court registry is whole")
}

/// Routes `r` and has its offer delivered at the same instant: both events,
/// the acceptance deadline running from `at`.
pub fn route_delivered(
    r: &crate::lifecycle::Referral,
    assignment: crate::lifecycle::Assignment,
    reasons: Vec<String>,
    at: Timestamp,
    calendar: &Calendar,
    policy: &crate::deadline::DeadlinePolicy,
) -> Result<Vec<crate::lifecycle::Event>, crate::lifecycle::TransitionError> {
    let organisation = assignment.organisation.clone();
    let mut events = r.route(assignment, reasons, at)?;
    let mut after = r.clone();
    after.apply_all(&events);
    events.extend(after.offer_delivered(&organisation, at, calendar, policy)?);
    Ok(events)
}

/// The shipped registry, as the shared handle the gateway's parts hold.
pub fn courts() -> Courts {
    Courts::new(shipped_courts())
}

pub fn line(s: &str) -> Line {
    Line::parse(s).unwrap()
}

pub fn narrative(s: &str) -> Narrative {
    Narrative::parse(s).unwrap()
}

pub fn party_ref(s: &str) -> PartyRef {
    PartyRef::parse(s).unwrap()
}

pub fn organisation(s: &str) -> OrganisationId {
    OrganisationId::parse(s).unwrap()
}

pub fn mediator(s: &str) -> MediatorId {
    MediatorId::parse(s).unwrap()
}

pub fn court(s: &str) -> CourtCode {
    CourtCode::parse(s).unwrap()
}

pub fn referral_id() -> ReferralId {
    ReferralId::parse("01JD0000000000000000000000").unwrap()
}

pub fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A pre-litigation sales-contract dispute referred by a Beijing basic court:
/// a natural-person buyer (P1) against a company (P2), both consenting.
pub fn sample_bundle() -> CaseBundle {
    let consent_at = at("2025-03-01T10:00:00+08:00");
    CaseBundle {
        court_referral_id: CourtReferralId::parse("BJ0105-2025-000123").unwrap(),
        court: court("京0105"),
        case_number: None,
        kind: ReferralKind::Delegated,
        cause_of_action: line("买卖合同纠纷"),
        domain: DisputeDomain::Commercial,
        parties: vec![
            Party {
                reference: party_ref("P1"),
                role: PartyRole::Claimant,
                person: PersonKind::Natural,
                name: line("张三"),
                identity: Identity::parse(IdentityKind::ResidentIdCard, "11010519491231002X")
                    .unwrap(),
                contact: line("13800000000"),
                service_address: line("北京市朝阳区某街道1号"),
                resides_abroad: false,
                region: None,
            },
            Party {
                reference: party_ref("P2"),
                role: PartyRole::Respondent,
                person: PersonKind::Legal,
                name: line("某贸易有限公司"),
                identity: Identity::parse(
                    IdentityKind::UnifiedSocialCreditCode,
                    "91350100M000100Y43",
                )
                .unwrap(),
                contact: line("010-12345678"),
                service_address: line("福建省福州市某路2号"),
                resides_abroad: false,
                region: None,
            },
        ],
        claims: vec![Claim {
            description: narrative("支付货款及逾期付款利息"),
            amount: Some(Amount::parse("120000.00", Currency::cny()).unwrap()),
        }],
        amount_in_dispute: Some(Amount::parse("120000.00", Currency::cny()).unwrap()),
        documents: vec![Document {
            name: line("起诉状.pdf"),
            media_type: MediaType::parse("application/pdf").unwrap(),
            size_bytes: 48_213,
            sha256: Sha256Digest::parse(&"3a".repeat(32)).unwrap(),
            location: DocumentLocation::Stored,
        }],
        consents: vec![
            Consent {
                party: party_ref("P1"),
                given_at: consent_at,
                method: ConsentMethod::Online,
            },
            Consent {
                party: party_ref("P2"),
                given_at: consent_at,
                method: ConsentMethod::Written,
            },
        ],
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
    }
}

pub fn cny(amount: &str) -> Amount {
    Amount::parse(amount, Currency::cny()).unwrap()
}

/// A labour dispute referred before docketing: an employee (P1) claims unpaid
/// wages and severance from a company (P2).
pub fn labour_bundle() -> CaseBundle {
    let mut b = sample_bundle();
    b.court_referral_id = CourtReferralId::parse("BJ0105-2025-LAB-001").unwrap();
    b.cause_of_action = line("劳动争议");
    b.domain = DisputeDomain::Labour;
    b.claims = vec![Claim {
        description: narrative("支付拖欠工资及经济补偿金"),
        amount: Some(cny("36000.00")),
    }];
    b.amount_in_dispute = Some(cny("36000.00"));
    b.particulars = Some(Particulars::Labour(LabourParticulars {
        employer: party_ref("P2"),
        employee: party_ref("P1"),
        written_contract: true,
        employment_start: date(2022, 3, 1),
        employment_end: Some(date(2025, 1, 31)),
        position: Some(line("仓库管理员")),
        monthly_wage: Some(cny("8000.00")),
        arbitration_committee: Some(line("北京市朝阳区劳动人事争议仲裁委员会")),
        claim_items: vec![
            LabourClaimItem {
                kind: LabourClaimKind::UnpaidWages,
                amount: cny("12000.00"),
            },
            LabourClaimItem {
                kind: LabourClaimKind::SeveranceCompensation,
                amount: cny("24000.00"),
            },
        ],
    }));
    b
}

/// A road-traffic accident: the injured pedestrian (P1) claims against the
/// driver (P2) and the driver's insurer (P3).
pub fn accident_bundle() -> CaseBundle {
    let mut b = sample_bundle();
    b.court_referral_id = CourtReferralId::parse("BJ0105-2025-TRF-001").unwrap();
    b.cause_of_action = line("机动车交通事故责任纠纷");
    b.domain = DisputeDomain::RoadTraffic;
    b.parties[1] = Party {
        reference: party_ref("P2"),
        role: PartyRole::Respondent,
        person: PersonKind::Natural,
        name: line("李四"),
        identity: Identity::parse(IdentityKind::ResidentIdCard, "110108198503120038").unwrap(),
        contact: line("13900000000"),
        service_address: line("北京市海淀区某路3号"),
        resides_abroad: false,
        region: None,
    };
    b.parties.push(Party {
        reference: party_ref("P3"),
        role: PartyRole::Respondent,
        person: PersonKind::Legal,
        name: line("某财产保险股份有限公司北京分公司"),
        identity: Identity::parse(IdentityKind::UnifiedSocialCreditCode, "91110000100001234U")
            .unwrap(),
        contact: line("95500"),
        service_address: line("北京市西城区某街4号"),
        resides_abroad: false,
        region: None,
    });
    b.consents.push(Consent {
        party: party_ref("P3"),
        given_at: at("2025-03-01T11:00:00+08:00"),
        method: ConsentMethod::Written,
    });
    b.claims = vec![Claim {
        description: narrative("赔偿医疗费、误工费、护理费及车辆损失"),
        amount: Some(cny("58000.00")),
    }];
    b.amount_in_dispute = Some(cny("58000.00"));
    b.particulars = Some(Particulars::RoadTraffic(AccidentParticulars {
        certificate_number: line("京公交认字〔2025〕第0105001号"),
        occurred_at: at("2025-01-20T08:30:00+08:00"),
        place: line("北京市朝阳区某路与某街交叉口"),
        liability: vec![
            LiabilityShare {
                party: party_ref("P2"),
                liability: Liability::Full,
            },
            LiabilityShare {
                party: party_ref("P1"),
                liability: Liability::None,
            },
        ],
        vehicles: vec![Vehicle {
            plate: line("京A12345"),
            driver: Some(party_ref("P2")),
            insurer: Some(party_ref("P3")),
            compulsory_policy: Some(line("PDZA202511010000001")),
            commercial_policy: None,
            insurer_name: None,
        }],
        injuries: vec![Injury {
            party: party_ref("P1"),
            disability_grade: Some(10),
            deceased: false,
        }],
        compensation: vec![
            CompensationItem {
                kind: CompensationKind::MedicalExpenses,
                amount: cny("30000.00"),
            },
            CompensationItem {
                kind: CompensationKind::LostEarnings,
                amount: cny("16000.00"),
            },
            CompensationItem {
                kind: CompensationKind::NursingCare,
                amount: cny("12000.00"),
            },
        ],
    }));
    b
}

/// A complete agreement for [`sample_bundle`], mediated by `organisation` and
/// `mediator`, every signature given at `signed_at`.
pub fn sample_agreement(
    organisation: &OrganisationId,
    mediator: &MediatorId,
    signed_at: Timestamp,
) -> Agreement {
    let bundle = sample_bundle();
    let mut signatures = vec![
        Signature {
            signer: Signer::Organisation(organisation.clone()),
            signed_at,
        },
        Signature {
            signer: Signer::Mediator(mediator.clone()),
            signed_at,
        },
    ];
    signatures.extend(bundle.parties.iter().map(|p| Signature {
        signer: Signer::Party(p.reference.clone()),
        signed_at,
    }));
    Agreement {
        parties: bundle
            .parties
            .iter()
            .map(|p| AgreementParty {
                party: p.reference.clone(),
                name: p.name.clone(),
                identity: p.identity.clone(),
            })
            .collect(),
        disputed_matters: Some(narrative("货款支付及利息")),
        terms: vec![narrative("被申请人于2025年5月31日前支付货款100000元")],
        performance_method: Some(narrative("银行转账至申请人账户")),
        performance_deadline: Some(date(2025, 5, 31)),
        signatures,
        documents: Vec::new(),
        compensation: Vec::new(),
    }
}

/// A roster in a fixed order, all on the CCPIT platform: the first organisation
/// the referral has not excluded is chosen.
#[derive(Debug, Clone)]
pub struct FixedRoster(pub Vec<&'static str>);

impl crate::routing::Router for FixedRoster {
    fn route(
        &self,
        referral: &crate::lifecycle::Referral,
    ) -> Result<(crate::lifecycle::Assignment, Vec<String>), String> {
        self.0
            .iter()
            .map(|o| organisation(o))
            .find(|o| !referral.excluded().contains(o))
            .map(|o| {
                (
                    crate::lifecycle::Assignment {
                        partner: crate::partner::Partner::Ccpit,
                        organisation: o,
                        mediator: None,
                    },
                    vec!["first eligible on the roster".into()],
                )
            })
            .ok_or_else(|| "every organisation on the roster was tried".into())
    }
}

use crate::deadline::DeadlinePolicy;
use crate::lifecycle::{Assignment, Event, Referral};
use crate::outcome::{
    ConfirmationApplication, DeclineCode, DeclineReason, PerformanceReport, PerformanceStatus,
    Ruling, RulingOutcome,
};
use crate::partner::Partner;
use jiff::SignedDuration;

/// When the sample histories start.
pub const SAMPLE_T0: &str = "2025-03-03T09:00:00+08:00";

/// `n` days after [`SAMPLE_T0`].
pub fn days_after_t0(n: i64) -> Timestamp {
    at(SAMPLE_T0) + SignedDuration::from_hours(24 * n)
}

/// Sample histories through every common step: offered, accepted,
/// suspended for an appraisal, resumed, agreed, confirmed, performed;
/// offered, declined, returned to the court; and a labour and a
/// road-traffic referral received, so every kind of particulars is in one.
/// For tests of the stored format.
pub fn sample_histories() -> Vec<(Referral, Vec<Event>)> {
    let calendar = shipped_calendar();
    let policy = DeadlinePolicy::default();
    let org = organisation("ccpit-bj-01");
    let assignment = Assignment {
        partner: Partner::Ccpit,
        organisation: org.clone(),
        mediator: None,
    };
    let (mut r, received) =
        Referral::receive(referral_id(), sample_bundle(), at(SAMPLE_T0)).unwrap();
    let mut history = vec![received];
    let mut step = |r: &mut Referral, events: Vec<Event>| {
        r.apply_all(&events);
        history.extend(events);
    };
    let routed = route_delivered(
        &r,
        assignment.clone(),
        vec!["sits nearest".into()],
        at(SAMPLE_T0),
        &calendar,
        &policy,
    )
    .unwrap();
    step(&mut r, routed);
    let accepted = r
        .accept(
            &org,
            Some(mediator("m-007")),
            None,
            days_after_t0(1),
            &calendar,
            &policy,
        )
        .unwrap();
    step(&mut r, accepted);
    let suspended = r
        .start_appraisal(&org, narrative("司法鉴定"), days_after_t0(2), &policy)
        .unwrap();
    step(&mut r, suspended);
    let resumed = r
        .end_appraisal(&org, days_after_t0(5), &calendar, &policy)
        .unwrap();
    step(&mut r, resumed);
    let agreed = r
        .record_agreement(
            &org,
            sample_agreement(&org, &mediator("m-007"), days_after_t0(10)),
            days_after_t0(10),
        )
        .unwrap();
    step(&mut r, agreed);
    let applied = r
        .apply_for_confirmation(
            &org,
            ConfirmationApplication {
                applicants: r
                    .bundle()
                    .parties
                    .iter()
                    .map(|p| p.reference.clone())
                    .collect(),
                applied_at: days_after_t0(11),
            },
            days_after_t0(11),
            &calendar,
        )
        .unwrap();
    step(&mut r, applied);
    let ruled = r
        .record_ruling(
            &court("京0105"),
            Ruling {
                outcome: RulingOutcome::Confirmed,
                case_number: None,
                reasons: Some(narrative("协议合法有效")),
                ruled_at: days_after_t0(20),
            },
            days_after_t0(20),
        )
        .unwrap();
    step(&mut r, ruled);
    let performed = r
        .record_performance(
            &org,
            PerformanceReport {
                status: PerformanceStatus::PerformedVoluntarily,
                note: None,
            },
            days_after_t0(40),
        )
        .unwrap();
    step(&mut r, performed);
    let first = (r, history);

    let mut bundle = sample_bundle();
    bundle.court_referral_id = "declined-sample".parse().unwrap();
    let id = "01JD0000000000000000000777".parse().unwrap();
    let (mut r, received) = Referral::receive(id, bundle, at(SAMPLE_T0)).unwrap();
    let mut history = vec![received];
    let routed =
        route_delivered(&r, assignment, vec![], at(SAMPLE_T0), &calendar, &policy).unwrap();
    r.apply_all(&routed);
    history.extend(routed);
    let declined = r
        .decline(
            &org,
            vec![DeclineReason {
                code: DeclineCode::NoCapacity,
                explanation: narrative("本月案件已满"),
            }],
            days_after_t0(1),
        )
        .unwrap();
    r.apply_all(&declined);
    history.extend(declined);
    let returned = r
        .return_to_court(crate::lifecycle::ReturnReason::Declined, days_after_t0(1))
        .unwrap();
    r.apply_all(&returned);
    history.extend(returned);
    let second = (r, history);
    let mut out = vec![first, second];
    for (n, bundle) in [labour_bundle(), accident_bundle()].into_iter().enumerate() {
        let id = ReferralId::parse(&format!("01JD000000000000000000078{n}")).unwrap();
        let (r, received) = Referral::receive(id, bundle, at(SAMPLE_T0)).unwrap();
        out.push((r, vec![received]));
    }
    out
}
