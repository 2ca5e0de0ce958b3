//! Who may see and act on a referral.
//!
//! A referral belongs to the court that referred it and, while it holds the
//! case, to the organisation it is routed to. An organisation that declined,
//! let the acceptance deadline pass or was passed over sees nothing more of it.
//!
//! Callers are tenants: a court system acting for its courts (and, where
//! configured, the courts the registry puts below them), a partner platform acting for its
//! organisations, or operators, who may read but never change a referral.
//! Everything here is deny by default: a caller may do only what a rule below
//! grants.

use std::collections::BTreeSet;

use crate::court::{CourtCode, CourtRegistry};
use crate::document::Sha256Digest;
use crate::error::Invalid;
use crate::ids::OrganisationId;
use crate::lifecycle::{Referral, Status};
use crate::partner::Partner;

/// What a tenant is, and so what it may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A court system. It acts for each of `courts`, named one by one: a
    /// tenants file's `lower_courts` is expanded through the court registry
    /// when the file is read, so the hierarchy is never guessed here.
    CourtSystem { courts: BTreeSet<CourtCode> },
    /// A partner platform. It acts for its organisations: those listed, or
    /// when none are listed every organisation the roster gives the platform.
    Platform {
        partner: Partner,
        organisations: BTreeSet<OrganisationId>,
    },
    /// Operators: read, acknowledge alerts and replay, never change a
    /// referral. A `read_only` operator (an auditor, a trainee) reads and
    /// watches only.
    Operator { read_only: bool },
}

/// An authenticated caller: the tenant, and what identified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The tenant's id, as its certificate and its token name it.
    pub tenant: String,
    pub role: Role,
    /// The client certificate that identified the tenant: subject and
    /// fingerprint. Empty only on a plaintext loopback listener.
    pub certificate: String,
    /// The token's subject: the account or system acting for the tenant.
    pub subject: String,
}

impl Role {
    /// A court system acting for `courts`, and with `lower_courts` for every
    /// court the registry puts below them. A court the registry does not
    /// know is refused: acting for it could only be a typing mistake or a
    /// guess at the hierarchy.
    pub fn court_system(
        courts: impl IntoIterator<Item = CourtCode>,
        lower_courts: bool,
        registry: &CourtRegistry,
    ) -> Result<Role, Invalid> {
        let mut all = BTreeSet::new();
        for court in courts {
            registry.require(&court)?;
            if lower_courts {
                all.extend(registry.with_lower(&court));
            } else {
                all.insert(court);
            }
        }
        Ok(Role::CourtSystem { courts: all })
    }

    /// Whether a court system acts for `court`.
    pub fn acts_for_court(&self, court: &CourtCode) -> bool {
        match self {
            Role::CourtSystem { courts } => courts.contains(court),
            Role::Platform { .. } | Role::Operator { .. } => false,
        }
    }

    /// Whether a platform acts for `organisation` of `partner`.
    pub fn acts_for_organisation(&self, partner: Partner, organisation: &OrganisationId) -> bool {
        match self {
            Role::Platform {
                partner: own,
                organisations,
            } => {
                *own == partner
                    && (organisations.is_empty() || organisations.contains(organisation))
            }
            Role::CourtSystem { .. } | Role::Operator { .. } => false,
        }
    }

    /// Whether the caller may change anything at all.
    pub fn may_change(&self) -> bool {
        !matches!(self, Role::Operator { .. })
    }
}

impl Caller {
    /// Whether the caller may read `referral`: the court system of its court,
    /// the platform of the organisation holding it, or an operator.
    pub fn may_read(&self, referral: &Referral) -> bool {
        match &self.role {
            Role::CourtSystem { .. } => self.role.acts_for_court(&referral.bundle().court),
            Role::Platform { .. } => referral.assignment().is_some_and(|a| {
                self.role.acts_for_organisation(a.partner, &a.organisation)
                    && referral.may_view(&Viewer::Organisation(a.organisation.clone()))
            }),
            Role::Operator { .. } => true,
        }
    }

    /// Whether the caller may download the referral's materials: the
    /// referring court, and the organisation holding the case once it
    /// accepted it ([`Disclosure::Full`]). Operators keep the gateway
    /// running and never read case materials.
    pub fn may_read_materials(&self, referral: &Referral) -> bool {
        match &self.role {
            Role::CourtSystem { .. } => self.role.acts_for_court(&referral.bundle().court),
            Role::Platform { .. } => referral.assignment().is_some_and(|a| {
                self.role.acts_for_organisation(a.partner, &a.organisation)
                    && referral.disclosure_to(&a.organisation) == Disclosure::Full
            }),
            Role::Operator { .. } => false,
        }
    }

    /// Whether the caller's platform holds an offer of `referral` it has not
    /// yet accepted.
    pub fn entitled_to_offer(&self, referral: &Referral) -> bool {
        matches!(self.role, Role::Platform { .. })
            && referral.assignment().is_some_and(|a| {
                self.role.acts_for_organisation(a.partner, &a.organisation)
                    && referral.disclosure_to(&a.organisation) == Disclosure::Offer
            })
    }

    /// Whether the caller may act on `referral` as `acting`, the court or
    /// organisation its call names. This is decided before anything about
    /// the referral's state is looked at, so a caller that is not entitled
    /// learns nothing of it: not even that it exists.
    ///
    /// - A court system acts as the referring court, and only for a court it
    ///   acts for.
    /// - A platform acts as the organisation holding the referral: its own
    ///   platform's, one it acts for, and not one that declined, let the
    ///   acceptance deadline pass or was passed over.
    pub fn entitled(&self, referral: &Referral, acting: Acting<'_>) -> bool {
        match acting {
            Acting::Court(court) => {
                self.role.acts_for_court(court) && court == &referral.bundle().court
            }
            Acting::Organisation(partner, organisation) => {
                self.role.acts_for_organisation(partner, organisation)
                    && referral
                        .assignment()
                        .is_some_and(|a| a.partner == partner && &a.organisation == organisation)
                    && referral.may_view(&Viewer::Organisation(organisation.clone()))
            }
        }
    }

    /// The name the domain's actor fields record.
    pub fn actor(&self) -> String {
        format!("{}/{}", self.tenant, self.subject)
    }

    /// Who made a call, as its audit record says: tenant, token subject and
    /// the certificate that identified them. The subject is the token's own
    /// text, so it is written with its spaces and `%` escaped
    /// ([`actor_subject`]): a subject cannot pass for another part.
    pub fn audit_actor(&self) -> String {
        let certificate = if self.certificate.is_empty() {
            "none"
        } else {
            &self.certificate
        };
        format!(
            "tenant={} sub={} cert={certificate}",
            self.tenant,
            actor_subject(&self.subject)
        )
    }
}

/// A token subject as an audit record's actor writes it: `%` as `%25` and
/// a space as `%20`, so that a space always ends the part. What a query by
/// subject compares with.
pub fn actor_subject(subject: &str) -> String {
    subject.replace('%', "%25").replace(' ', "%20")
}

/// The court or organisation a call acts as, as the call names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acting<'a> {
    Court(&'a CourtCode),
    Organisation(Partner, &'a OrganisationId),
}

/// How much of a referral's bundle an organisation may see
/// ([`Referral::disclosure_to`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Disclosure {
    /// The referral is not, or no longer, the organisation's.
    Nothing,
    /// What deciding whether to accept needs: names, roles and regions of
    /// the parties, the cause of action, the claims, the amount in dispute
    /// and the list of documents.
    Offer,
    /// The whole bundle, documents included: the organisation accepted.
    Full,
}

/// Someone asking to see a referral or its materials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    Court(CourtCode),
    Organisation(OrganisationId),
}

impl Referral {
    /// Whether `viewer` is entitled to this referral.
    pub fn may_view(&self, viewer: &Viewer) -> bool {
        match viewer {
            Viewer::Court(court) => court == &self.bundle().court,
            // An organisation whose case was recalled, or that otherwise
            // lost it, learns nothing more of it, not even its state
            // (minimum disclosure, PIPL Art. 6; docs/security.md).
            Viewer::Organisation(org) => {
                self.assignment().is_some_and(|a| &a.organisation == org)
                    && !self.excluded().contains(org)
                    && self.status() != Status::Recalled
            }
        }
    }

    /// How much of the bundle `organisation` may see now. Personal data is
    /// disclosed no further than the purpose needs (PIPL Art. 6; seed 003
    /// 二(一)): an organisation deciding whether to accept sees an offer
    /// without identity numbers, contacts, addresses or document downloads;
    /// one that accepted sees the whole bundle; one that declined, let the
    /// period lapse, was passed over or whose case was recalled sees
    /// nothing, and has been told to delete what it received.
    pub fn disclosure_to(&self, organisation: &OrganisationId) -> Disclosure {
        if !self.may_view(&Viewer::Organisation(organisation.clone())) {
            return Disclosure::Nothing;
        }
        match self.status() {
            Status::Recalled => Disclosure::Nothing,
            Status::Received | Status::AwaitingAcceptance | Status::AcceptanceOverdue => {
                Disclosure::Offer
            }
            _ if self.accepted_at().is_some() => Disclosure::Full,
            _ => Disclosure::Offer,
        }
    }

    /// Whether the referral's bundle or agreement lists the document.
    pub fn lists_document(&self, digest: &Sha256Digest) -> bool {
        self.bundle().documents.iter().any(|d| &d.sha256 == digest)
            || self
                .agreement()
                .is_some_and(|a| a.documents.iter().any(|d| &d.sha256 == digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_cannot_pass_for_another_part_of_the_actor() {
        let caller = Caller {
            tenant: "court-bj".into(),
            role: Role::Operator { read_only: true },
            certificate: String::new(),
            subject: "clerk-7 sub=clerk-9 100%".into(),
        };
        assert_eq!(
            caller.audit_actor(),
            "tenant=court-bj sub=clerk-7%20sub=clerk-9%20100%25 cert=none"
        );
    }
    use crate::deadline::DeadlinePolicy;
    use crate::fixtures::*;
    use crate::lifecycle::Assignment;
    use crate::outcome::{DeclineCode, DeclineReason};
    use crate::partner::Partner;

    /// Routes `r` to the CCPIT organisation `org`.
    fn route_to(r: &mut Referral, org: &str) {
        let routed = route_delivered(
            r,
            Assignment {
                partner: Partner::Ccpit,
                organisation: organisation(org),
                mediator: None,
            },
            vec![],
            at("2025-03-03T09:00:00+08:00"),
            &shipped_calendar(),
            &DeadlinePolicy::default(),
        )
        .unwrap();
        r.apply_all(&routed);
    }

    #[test]
    fn the_court_and_the_holding_organisation_may_view_and_no_one_else() {
        let (mut r, _) = Referral::receive(
            referral_id(),
            sample_bundle(),
            at("2025-03-03T09:00:00+08:00"),
        )
        .unwrap();
        let o1 = Viewer::Organisation(organisation("o1"));
        assert!(r.may_view(&Viewer::Court(court("京0105"))));
        assert!(!r.may_view(&Viewer::Court(court("京0106"))));
        assert!(!r.may_view(&o1), "not routed yet");
        route_to(&mut r, "o1");
        assert!(r.may_view(&o1));
        assert!(!r.may_view(&Viewer::Organisation(organisation("o2"))));
        let declined = r
            .decline(
                &organisation("o1"),
                vec![DeclineReason {
                    code: DeclineCode::NoCapacity,
                    explanation: narrative("满员"),
                }],
                at("2025-03-03T10:00:00+08:00"),
            )
            .unwrap();
        r.apply_all(&declined);
        assert!(!r.may_view(&o1), "a declining organisation loses access");
        assert!(r.lists_document(&sample_bundle().documents[0].sha256));
        let platform = Caller {
            tenant: "ccpit".into(),
            role: Role::Platform {
                partner: Partner::Ccpit,
                organisations: BTreeSet::new(),
            },
            certificate: String::new(),
            subject: "svc".into(),
        };
        assert!(!platform.may_read(&r), "the platform loses access with it");
    }

    #[test]
    fn an_organisation_sees_the_offer_then_the_bundle_then_nothing() {
        let (mut r, _) = Referral::receive(
            referral_id(),
            sample_bundle(),
            at("2025-03-03T09:00:00+08:00"),
        )
        .unwrap();
        let o1 = organisation("o1");
        assert_eq!(r.disclosure_to(&o1), Disclosure::Nothing, "not routed");
        route_to(&mut r, "o1");
        assert_eq!(r.disclosure_to(&o1), Disclosure::Offer);
        assert_eq!(r.disclosure_to(&organisation("o2")), Disclosure::Nothing);
        let accepted = r
            .accept(
                &o1,
                None,
                None,
                at("2025-03-03T10:00:00+08:00"),
                &shipped_calendar(),
                &DeadlinePolicy::default(),
            )
            .unwrap();
        r.apply_all(&accepted);
        assert_eq!(r.disclosure_to(&o1), Disclosure::Full);
        let recalled = r
            .recall(
                &court("京0105"),
                narrative("当事人已和解"),
                at("2025-03-04T10:00:00+08:00"),
            )
            .unwrap();
        r.apply_all(&recalled);
        assert_eq!(r.disclosure_to(&o1), Disclosure::Nothing, "recalled");
    }

    fn court_system(courts: &[&str], lower_courts: bool) -> Role {
        Role::court_system(
            courts.iter().map(|c| court(c)),
            lower_courts,
            &shipped_courts(),
        )
        .unwrap()
    }

    #[test]
    fn a_court_system_acts_for_its_courts_and_below_only_when_configured() {
        let beijing = court_system(&["京"], true);
        assert!(beijing.acts_for_court(&court("京")));
        assert!(beijing.acts_for_court(&court("京0105")));
        assert!(
            beijing.acts_for_court(&court("京0491")),
            "the internet court"
        );
        assert!(!beijing.acts_for_court(&court("沪")));
        assert!(
            !beijing.acts_for_court(&court("京0199")),
            "a court the registry does not know"
        );
        let high_court_only = court_system(&["京"], false);
        assert!(high_court_only.acts_for_court(&court("京")));
        assert!(!high_court_only.acts_for_court(&court("京0105")));
        // 朝阳 sits under the third intermediate court, not the first.
        let third = court_system(&["京03"], true);
        assert!(third.acts_for_court(&court("京0105")));
        assert!(!court_system(&["京01"], true).acts_for_court(&court("京0105")));
        let unknown = Role::court_system([court("京0199")], true, &shipped_courts());
        assert!(
            unknown
                .unwrap_err()
                .rule
                .contains("not in the court registry")
        );
        assert!(!Role::Operator { read_only: false }.acts_for_court(&court("京")));
        assert!(!Role::Operator { read_only: false }.may_change());
        assert!(beijing.may_change());
    }

    #[test]
    fn a_platform_acts_for_its_own_organisations_of_its_own_platform() {
        let all = Role::Platform {
            partner: Partner::Ccpit,
            organisations: BTreeSet::new(),
        };
        assert!(all.acts_for_organisation(Partner::Ccpit, &organisation("o1")));
        assert!(!all.acts_for_organisation(Partner::LabourArbitration, &organisation("o1")));
        let listed = Role::Platform {
            partner: Partner::Ccpit,
            organisations: [organisation("o1")].into(),
        };
        assert!(listed.acts_for_organisation(Partner::Ccpit, &organisation("o1")));
        assert!(!listed.acts_for_organisation(Partner::Ccpit, &organisation("o2")));
        assert!(
            !court_system(&["京"], true).acts_for_organisation(Partner::Ccpit, &organisation("o1"))
        );
    }

    #[test]
    fn entitlement_names_the_referring_court_or_the_holding_organisation_only() {
        let (mut r, _) = Referral::receive(
            referral_id(),
            sample_bundle(),
            at("2025-03-03T09:00:00+08:00"),
        )
        .unwrap();
        let platform = |partner, orgs: &[&str]| Caller {
            tenant: "t".into(),
            role: Role::Platform {
                partner,
                organisations: orgs.iter().map(|o| organisation(o)).collect(),
            },
            certificate: String::new(),
            subject: "svc".into(),
        };
        let court_caller = |courts: &[&str]| Caller {
            tenant: "c".into(),
            role: court_system(courts, true),
            certificate: String::new(),
            subject: "svc".into(),
        };
        let o1 = organisation("o1");
        let ccpit = platform(Partner::Ccpit, &[]);
        assert!(
            !ccpit.entitled(&r, Acting::Organisation(Partner::Ccpit, &o1)),
            "an unrouted referral belongs to no organisation"
        );
        route_to(&mut r, "o1");
        assert!(ccpit.entitled(&r, Acting::Organisation(Partner::Ccpit, &o1)));
        assert!(!ccpit.entitled(
            &r,
            Acting::Organisation(Partner::Ccpit, &organisation("o2"))
        ));
        assert!(
            !platform(Partner::LabourArbitration, &[])
                .entitled(&r, Acting::Organisation(Partner::LabourArbitration, &o1)),
            "the same organisation id on another platform is another organisation"
        );
        assert!(
            !platform(Partner::Ccpit, &["o9"])
                .entitled(&r, Acting::Organisation(Partner::Ccpit, &o1)),
            "a tenant limited to other organisations"
        );
        let referring = court("京0105");
        assert!(court_caller(&["京"]).entitled(&r, Acting::Court(&referring)));
        assert!(
            !court_caller(&["京"]).entitled(&r, Acting::Court(&court("京0106"))),
            "a court it acts for, but not the referring court"
        );
        assert!(
            !court_caller(&["沪"]).entitled(&r, Acting::Court(&referring)),
            "a court it does not act for"
        );
        assert!(!ccpit.entitled(&r, Acting::Court(&referring)));
        let declined = r
            .decline(
                &o1,
                vec![DeclineReason {
                    code: DeclineCode::NoCapacity,
                    explanation: narrative("满员"),
                }],
                at("2025-03-03T10:00:00+08:00"),
            )
            .unwrap();
        r.apply_all(&declined);
        assert!(
            !ccpit.entitled(&r, Acting::Organisation(Partner::Ccpit, &o1)),
            "a declining organisation is no longer entitled"
        );
    }
}
