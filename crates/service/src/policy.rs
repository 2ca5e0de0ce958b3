//! Per-partner policy: deadline rules and what an acceptance breach does.

use std::collections::{BTreeMap, BTreeSet};

use mediation_core::bundle::CaseBundle;
use mediation_core::court::{CourtCode, CourtRegistry};

use mediation_core::deadline::{DeadlinePolicy, MediationLimits};
use mediation_core::lifecycle::Referral;
use mediation_core::partner::Partner;

/// What happens when an organisation neither accepts nor declines in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BreachAction {
    /// The referral goes back to the court.
    #[default]
    ReturnToCourt,
    /// The referral is offered to the next eligible organisation; back to the
    /// court when there is none.
    Reroute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartnerPolicy {
    pub deadlines: DeadlinePolicy,
    pub acceptance_breach: BreachAction,
}

/// Policies by partner, with a default for a referral not yet routed.
#[derive(Debug, Clone)]
pub struct Policies {
    pub default: PartnerPolicy,
    pub partners: BTreeMap<Partner, PartnerPolicy>,
    /// Courts that let the gateway pass every referral of theirs, and of the
    /// courts under them, on to another organisation.
    pub reassignment_courts: BTreeSet<CourtCode>,
}

impl Default for Policies {
    /// Each partner with its own mediation limits
    /// ([`MediationLimits::default_for`]) and the default acceptance rules.
    fn default() -> Self {
        let partners = Partner::ALL
            .into_iter()
            .map(|partner| {
                let deadlines = DeadlinePolicy {
                    mediation: MediationLimits::default_for(partner),
                    ..DeadlinePolicy::default()
                };
                let policy = PartnerPolicy {
                    deadlines,
                    ..PartnerPolicy::default()
                };
                (partner, policy)
            })
            .collect();
        Self {
            default: PartnerPolicy::default(),
            partners,
            reassignment_courts: BTreeSet::new(),
        }
    }
}

impl Policies {
    /// The policy that governs `referral`: its partner's once it is routed.
    pub fn for_referral(&self, referral: &Referral) -> &PartnerPolicy {
        referral
            .assignment()
            .and_then(|a| self.partners.get(&a.partner))
            .unwrap_or(&self.default)
    }

    /// Whether the referring court lets the gateway pass `bundle`'s referral
    /// on: the bundle says so, or the court or one the registry puts above it
    /// allows it for all its referrals.
    pub fn reassignment_allowed(&self, bundle: &CaseBundle, courts: &CourtRegistry) -> bool {
        bundle.reassignment_allowed
            || courts
                .ancestry(&bundle.court)
                .any(|c| self.reassignment_courts.contains(&c.code))
    }

    pub fn for_partner(&self, partner: Partner) -> &PartnerPolicy {
        self.partners.get(&partner).unwrap_or(&self.default)
    }
}
