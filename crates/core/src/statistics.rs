//! How each partner's organisations did over a period, computed from
//! referrals' histories: what the operator's statistics call reports.
//!
//! An event counts when it happened within the period, so a referral routed in
//! March and settled in April adds to March's referrals and April's
//! agreements. The durations belong to the period of the event that ends them:
//! the time to accept to the acceptance, the mediation's length to its
//! outcome.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use crate::ids::OrganisationId;
use crate::lifecycle::{Change, Event, ReturnReason};
use crate::outcome::{PerformanceStatus, RulingOutcome};
use crate::partner::Partner;

/// The half-open period `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Period {
    pub fn contains(&self, at: Timestamp) -> bool {
        self.from <= at && at < self.to
    }
}

/// One organisation's figures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tally {
    /// Offers: each time a referral was routed to the organisation.
    pub referrals: u64,
    pub accepted: u64,
    pub declined: u64,
    pub agreements: u64,
    /// Mediations that ended without agreement: failure reports, ends at the
    /// limit, ends before it, and those the court ended on a sham-mediation
    /// report.
    pub failures: u64,
    /// Of the failures, mediations that ended at their limit (online rules
    /// Art. 25).
    pub ended_at_limit: u64,
    /// Of the failures, mediations the organisation ended before the limit,
    /// by ground (`EarlyEnd::as_str`).
    pub ended_early: BTreeMap<&'static str, u64>,
    /// Rulings on applications for judicial confirmation, and how many
    /// confirmed the agreement.
    pub rulings: u64,
    pub confirmed: u64,
    pub acceptance_breaches: u64,
    pub mediation_breaches: u64,
    /// Agreements reported performed in full without enforcement.
    pub voluntarily_performed: u64,
    times_to_accept: Vec<SignedDuration>,
    mediation_durations: Vec<SignedDuration>,
}

impl Tally {
    /// Agreements among mediations that ended; `None` when none ended.
    pub fn success_rate(&self) -> Option<f64> {
        let ended = self.agreements + self.failures;
        (ended > 0).then(|| self.agreements as f64 / ended as f64)
    }

    /// Confirmed agreements among the rulings; `None` when there was none.
    pub fn confirmation_rate(&self) -> Option<f64> {
        (self.rulings > 0).then(|| self.confirmed as f64 / self.rulings as f64)
    }

    pub fn median_time_to_accept(&self) -> Option<SignedDuration> {
        median(&self.times_to_accept)
    }

    /// From acceptance to agreement or failure, appraisal time included.
    pub fn median_mediation_duration(&self) -> Option<SignedDuration> {
        median(&self.mediation_durations)
    }

    pub fn breaches(&self) -> u64 {
        self.acceptance_breaches + self.mediation_breaches
    }

    fn merge(&mut self, other: &Tally) {
        self.referrals += other.referrals;
        self.accepted += other.accepted;
        self.declined += other.declined;
        self.agreements += other.agreements;
        self.failures += other.failures;
        self.ended_at_limit += other.ended_at_limit;
        for (ground, n) in &other.ended_early {
            *self.ended_early.entry(ground).or_default() += n;
        }
        self.rulings += other.rulings;
        self.confirmed += other.confirmed;
        self.acceptance_breaches += other.acceptance_breaches;
        self.mediation_breaches += other.mediation_breaches;
        self.voluntarily_performed += other.voluntarily_performed;
        self.times_to_accept.extend(&other.times_to_accept);
        self.mediation_durations.extend(&other.mediation_durations);
    }
}

/// Counts one event of the period into `tally`. `routed_at` is when the
/// organisation's time to answer began, `accepted_at` when it accepted.
fn count(
    tally: &mut Tally,
    event: &Event,
    routed_at: Option<Timestamp>,
    accepted_at: Option<Timestamp>,
) {
    let mediated = |tally: &mut Tally| {
        if let Some(accepted) = accepted_at {
            tally
                .mediation_durations
                .push(event.at.duration_since(accepted));
        }
    };
    match &event.change {
        Change::Routed { .. } => tally.referrals += 1,
        Change::Accepted { .. } => {
            tally.accepted += 1;
            if let Some(routed) = routed_at {
                tally.times_to_accept.push(event.at.duration_since(routed));
            }
        }
        Change::Declined { .. } => tally.declined += 1,
        Change::AcceptanceOverdue { .. } => tally.acceptance_breaches += 1,
        Change::MediationOverdue { .. } => tally.mediation_breaches += 1,
        Change::AgreementReached { .. } => {
            tally.agreements += 1;
            mediated(tally);
        }
        // A sham-mediation report only suspends mediation; it fails when the
        // court ends it.
        Change::MediationFailed { .. } | Change::ShamMediationResolved { resume: false, .. } => {
            tally.failures += 1;
            mediated(tally);
        }
        Change::ReturnedToCourt {
            reason: ReturnReason::MediationEnded,
        } => {
            tally.failures += 1;
            tally.ended_at_limit += 1;
            mediated(tally);
        }
        Change::ReturnedToCourt {
            reason: ReturnReason::EndedEarly { ground, .. },
        } => {
            tally.failures += 1;
            *tally.ended_early.entry(ground.as_str()).or_default() += 1;
            mediated(tally);
        }
        Change::RulingRecorded { ruling } => {
            tally.rulings += 1;
            if ruling.outcome == RulingOutcome::Confirmed {
                tally.confirmed += 1;
            }
        }
        Change::PerformanceRecorded { report }
            if report.status == PerformanceStatus::PerformedVoluntarily =>
        {
            tally.voluntarily_performed += 1;
        }
        _ => {}
    }
}

/// The lower median, so that it is always a duration that occurred.
fn median(values: &[SignedDuration]) -> Option<SignedDuration> {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len().checked_sub(1)? / 2).copied()
}

/// What else figures are broken down by (seed 003 五(三); seed 001 二(二)4):
/// the mediator, the kind of dispute, the cause of action and the referring
/// court.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    Mediator,
    Domain,
    CauseOfAction,
    Court,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::Mediator,
        Dimension::Domain,
        Dimension::CauseOfAction,
        Dimension::Court,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Mediator => "mediator",
            Dimension::Domain => "domain",
            Dimension::CauseOfAction => "cause_of_action",
            Dimension::Court => "court",
        }
    }
}

/// A breakdown's key: the dimension, its value, and the organisation whose
/// referral it was (so that a platform's view can keep only its own).
type BreakdownKey = (Dimension, String, Partner, OrganisationId);

/// Figures per organisation, and broken down by [`Dimension`], built one
/// history at a time.
#[derive(Debug, Clone)]
pub struct Statistics {
    period: Period,
    by_organisation: BTreeMap<(Partner, OrganisationId), Tally>,
    breakdowns: BTreeMap<BreakdownKey, Tally>,
}

impl Statistics {
    pub fn new(period: Period) -> Self {
        Self {
            period,
            by_organisation: BTreeMap::new(),
            breakdowns: BTreeMap::new(),
        }
    }

    /// Adds one referral's history.
    pub fn add(&mut self, events: &[Event]) {
        let mut current: Option<(Partner, OrganisationId)> = None;
        let mut routed_at = None;
        let mut accepted_at = None;
        let mut mediator: Option<String> = None;
        let mut fixed: Vec<(Dimension, String)> = Vec::new();
        for event in events {
            let within = self.period.contains(event.at);
            match &event.change {
                Change::Received { bundle, .. } => {
                    fixed = vec![
                        (Dimension::Domain, bundle.domain.as_str().to_owned()),
                        (Dimension::CauseOfAction, bundle.cause_of_action.to_string()),
                        (Dimension::Court, bundle.court.to_string()),
                    ];
                }
                Change::Routed { assignment, .. } => {
                    current = Some((assignment.partner, assignment.organisation.clone()));
                    routed_at = Some(event.at);
                    accepted_at = None;
                    mediator = None;
                }
                // The organisation's time to answer runs from when its
                // platform had the offer.
                Change::OfferDelivered { .. } => routed_at = Some(event.at),
                Change::TakenDirectly { assignment } => {
                    current = Some((assignment.partner, assignment.organisation.clone()));
                    accepted_at = Some(event.at);
                    mediator = assignment.mediator.as_ref().map(ToString::to_string);
                }
                Change::Accepted {
                    mediator: Some(m), ..
                } => mediator = Some(m.to_string()),
                _ => {}
            }
            let Some(key) = current.clone() else {
                continue;
            };
            if within {
                count(
                    self.by_organisation.entry(key.clone()).or_default(),
                    event,
                    routed_at,
                    accepted_at,
                );
                let values = fixed
                    .iter()
                    .cloned()
                    .chain(mediator.clone().map(|m| (Dimension::Mediator, m)));
                for (dimension, value) in values {
                    let tally = self
                        .breakdowns
                        .entry((dimension, value, key.0, key.1.clone()))
                        .or_default();
                    count(tally, event, routed_at, accepted_at);
                }
            }
            if matches!(event.change, Change::Accepted { .. }) {
                accepted_at = Some(event.at);
            }
        }
    }

    /// Each value of `dimension` with anything in the period, all its
    /// organisations' figures together.
    pub fn breakdown(&self, dimension: Dimension) -> BTreeMap<&str, Tally> {
        let mut out: BTreeMap<&str, Tally> = BTreeMap::new();
        for ((d, value, _, _), tally) in &self.breakdowns {
            if *d == dimension {
                out.entry(value.as_str()).or_default().merge(tally);
            }
        }
        out
    }

    /// The figures of `dimension` kept apart by the organisation they were
    /// made at: a mediator's figures at each organisation that lists them.
    pub fn breakdown_by_organisation(
        &self,
        dimension: Dimension,
    ) -> BTreeMap<(&str, Partner, &OrganisationId), Tally> {
        let mut out: BTreeMap<(&str, Partner, &OrganisationId), Tally> = BTreeMap::new();
        for ((d, value, partner, organisation), tally) in &self.breakdowns {
            if *d == dimension {
                out.entry((value.as_str(), *partner, organisation))
                    .or_default()
                    .merge(tally);
            }
        }
        out
    }

    /// Each organisation with anything in the period, by partner then id.
    pub fn organisations(&self) -> impl Iterator<Item = (&Partner, &OrganisationId, &Tally)> {
        self.by_organisation.iter().map(|((p, o), t)| (p, o, t))
    }

    /// Keeps only the organisations `keep` accepts, in the figures and the
    /// breakdowns: what a platform may read of its own organisations.
    pub fn retain(&mut self, keep: impl Fn(Partner, &OrganisationId) -> bool) {
        self.by_organisation.retain(|(p, o), _| keep(*p, o));
        self.breakdowns.retain(|(_, _, p, o), _| keep(*p, o));
    }

    /// Every organisation of each partner together.
    pub fn partners(&self) -> BTreeMap<Partner, Tally> {
        let mut partners: BTreeMap<Partner, Tally> = BTreeMap::new();
        for ((partner, _), tally) in &self.by_organisation {
            partners.entry(*partner).or_default().merge(tally);
        }
        partners
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::at;

    fn period() -> Period {
        Period {
            from: at("2025-03-01T00:00:00+08:00"),
            to: at("2025-04-01T00:00:00+08:00"),
        }
    }

    fn hours(h: i64) -> SignedDuration {
        SignedDuration::from_hours(h)
    }

    #[test]
    fn median_is_the_lower_middle_and_none_when_empty() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[hours(5)]), Some(hours(5)));
        assert_eq!(median(&[hours(9), hours(1), hours(5)]), Some(hours(5)));
        assert_eq!(
            median(&[hours(9), hours(1), hours(5), hours(7)]),
            Some(hours(5))
        );
    }

    #[test]
    fn an_empty_tally_has_no_rate_and_no_medians() {
        let tally = Tally::default();
        assert_eq!(tally.success_rate(), None);
        assert_eq!(tally.median_time_to_accept(), None);
        assert!(period().contains(at("2025-03-01T00:00:00+08:00")));
        assert!(!period().contains(at("2025-04-01T00:00:00+08:00")));
    }

    #[test]
    fn time_to_accept_runs_from_delivery_and_a_resumed_sham_report_is_no_failure() {
        use crate::fixtures::{
            mediator, organisation, referral_id, sample_agreement, sample_bundle, shipped_calendar,
        };
        use crate::lifecycle::{Assignment, Referral};
        use crate::partner::Partner;
        let calendar = shipped_calendar();
        let policy = crate::deadline::DeadlinePolicy::default();
        let org = organisation("ccpit-bj-01");
        let (mut r, received) = Referral::receive(
            referral_id(),
            sample_bundle(),
            at("2025-03-03T09:00:00+08:00"),
        )
        .unwrap();
        let mut history = vec![received];
        let mut step = |r: &mut Referral, events: Vec<Event>| {
            r.apply_all(&events);
            history.extend(events);
        };
        let routed = r
            .route(
                Assignment {
                    partner: Partner::Ccpit,
                    organisation: org.clone(),
                    mediator: None,
                },
                vec![],
                at("2025-03-03T09:00:00+08:00"),
            )
            .unwrap();
        step(&mut r, routed);
        // The platform had the offer two hours later, and accepted an hour on.
        let delivered = r
            .offer_delivered(&org, at("2025-03-03T11:00:00+08:00"), &calendar, &policy)
            .unwrap();
        step(&mut r, delivered);
        let accepted = r
            .accept(
                &org,
                None,
                None,
                at("2025-03-03T12:00:00+08:00"),
                &calendar,
                &policy,
            )
            .unwrap();
        step(&mut r, accepted);
        let reported = r
            .report_sham_mediation(
                &org,
                crate::outcome::ShamMediationReport {
                    grounds: crate::fixtures::narrative("疑似串通"),
                },
                at("2025-03-05T09:00:00+08:00"),
            )
            .unwrap();
        step(&mut r, reported);
        let resumed = r
            .resolve_sham_mediation(
                &crate::fixtures::court("京0105"),
                true,
                crate::fixtures::narrative("不构成虚假调解"),
                at("2025-03-06T09:00:00+08:00"),
                &calendar,
                &policy,
            )
            .unwrap();
        step(&mut r, resumed);
        let at_agreement = at("2025-03-10T09:00:00+08:00");
        let agreed = r
            .record_agreement(
                &org,
                sample_agreement(&org, &mediator("m-007"), at_agreement),
                at_agreement,
            )
            .unwrap();
        step(&mut r, agreed);
        let mut stats = Statistics::new(period());
        stats.add(&history);
        let (_, _, tally) = stats.organisations().next().unwrap();
        assert_eq!(tally.median_time_to_accept(), Some(hours(1)));
        assert_eq!((tally.agreements, tally.failures), (1, 0));
    }

    #[test]
    fn ends_of_mediation_by_ground_and_confirmations_are_counted() {
        use crate::fixtures::*;
        use crate::lifecycle::{Assignment, Referral};
        use crate::outcome::{ConfirmationApplication, EarlyEnd, Ruling};
        let calendar = shipped_calendar();
        let policy = crate::deadline::DeadlinePolicy::default();
        let org = organisation("ccpit-bj-01");
        let start = at("2025-03-03T09:00:00+08:00");
        let accepted = |r: &mut Referral, history: &mut Vec<Event>| {
            let events = route_delivered(
                r,
                Assignment {
                    partner: crate::partner::Partner::Ccpit,
                    organisation: org.clone(),
                    mediator: None,
                },
                vec![],
                start,
                &calendar,
                &policy,
            )
            .unwrap();
            r.apply_all(&events);
            history.extend(events);
            let events = r
                .accept(
                    &org,
                    Some(mediator("m-007")),
                    None,
                    start,
                    &calendar,
                    &policy,
                )
                .unwrap();
            r.apply_all(&events);
            history.extend(events);
        };
        let mut stats = Statistics::new(period());
        // One ended early because a party withdrew.
        let (mut ended, first) = Referral::receive(referral_id(), sample_bundle(), start).unwrap();
        let mut history = vec![first];
        accepted(&mut ended, &mut history);
        let events = ended
            .end_mediation_early(
                &org,
                EarlyEnd::PartyWithdrew,
                narrative("申请人撤回调解申请"),
                at("2025-03-05T09:00:00+08:00"),
            )
            .unwrap();
        history.extend(events);
        stats.add(&history);
        // One settled and confirmed.
        let (mut settled, first) =
            Referral::receive(referral_id(), sample_bundle(), start).unwrap();
        let mut history = vec![first];
        accepted(&mut settled, &mut history);
        let signed = at("2025-03-06T09:00:00+08:00");
        for step in 0..3 {
            let events = match step {
                0 => settled.record_agreement(
                    &org,
                    sample_agreement(&org, &mediator("m-007"), signed),
                    signed,
                ),
                1 => settled.apply_for_confirmation(
                    &org,
                    ConfirmationApplication {
                        applicants: vec![party_ref("P1"), party_ref("P2")],
                        applied_at: at("2025-03-07T09:00:00+08:00"),
                    },
                    at("2025-03-07T09:00:00+08:00"),
                    &calendar,
                ),
                _ => settled.record_ruling(
                    &court("京0105"),
                    Ruling {
                        outcome: RulingOutcome::Confirmed,
                        case_number: None,
                        reasons: None,
                        ruled_at: at("2025-03-10T09:00:00+08:00"),
                    },
                    at("2025-03-10T09:00:00+08:00"),
                ),
            }
            .unwrap();
            settled.apply_all(&events);
            history.extend(events);
        }
        stats.add(&history);
        let (_, _, tally) = stats.organisations().next().unwrap();
        assert_eq!((tally.agreements, tally.failures), (1, 1));
        assert_eq!(tally.ended_early.get("party_withdrew"), Some(&1));
        assert_eq!(tally.ended_at_limit, 0);
        assert_eq!((tally.rulings, tally.confirmed), (1, 1));
        assert_eq!(tally.confirmation_rate(), Some(1.0));
        assert_eq!(tally.success_rate(), Some(0.5));
        // The same figures by mediator, kind, cause and referring court.
        // Offers go to organisations, so a mediator's figures start at
        // acceptance.
        for (dimension, value, offers) in [
            (Dimension::Mediator, "m-007", 0),
            (Dimension::Domain, "commercial", 2),
            (Dimension::CauseOfAction, "买卖合同纠纷", 2),
            (Dimension::Court, "京0105", 2),
        ] {
            let by = stats.breakdown(dimension);
            let t = by
                .get(value)
                .unwrap_or_else(|| panic!("{dimension:?} {value}: {by:?}"));
            assert_eq!(
                (t.referrals, t.accepted, t.agreements, t.failures),
                (offers, 2, 1, 1),
                "{dimension:?}"
            );
        }
        // A platform's view keeps only its own organisations.
        stats.retain(|_, o| o.as_str() != "ccpit-bj-01");
        assert!(stats.breakdown(Dimension::Court).is_empty());
    }
}
