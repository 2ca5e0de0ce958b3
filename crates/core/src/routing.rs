//! Choosing the mediation organisation.
//!
//! Only organisations on the roster of specially invited organisations
//! (特邀调解组织名册) may receive referrals, and a roster confirmed by a higher
//! court may be used by the courts below it (seed 000 §(十)), below as the
//! court registry has it. Among those, the parties' own
//! choice is taken when it is eligible; otherwise an organisation is chosen by
//! the nature of the dispute (domain and cause of action against the
//! organisation's accepted scope), its region relative to the referring court,
//! its specialities, and its spare capacity. An organisation that declined or
//! let the acceptance deadline pass is not offered the referral again. Every
//! decision records its reasons; when nothing is eligible the answer says why.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::bundle::DisputeDomain;
use crate::court::{CourtCode, CourtRegistry, Courts};
use crate::ids::{MediatorId, OrganisationId};
use crate::lifecycle::{Assignment, Referral};
use crate::mediators::{MediatorRefusal, RosteredMediator, check_listed};
use crate::partner::Partner;
use crate::text::Line;

/// Picks the next organisation for a referral.
pub trait Router: Send + Sync + std::fmt::Debug {
    /// The organisation to offer `referral` to next, with the reasons for the
    /// choice, or the reason no organisation is eligible. Organisations in
    /// [`Referral::excluded`] must not be chosen.
    fn route(&self, referral: &Referral) -> Result<(Assignment, Vec<String>), String>;

    /// The platform `organisation` works on, if the roster lists it.
    fn partner_of(&self, _organisation: &OrganisationId) -> Option<Partner> {
        None
    }

    /// Whether the court may give `referral` to `organisation`, which it
    /// names itself: the organisation must be on a roster serving the court,
    /// take the kind of dispute and have room. One that declined or let the
    /// time pass may be named again: that is the court's call.
    fn check_named(
        &self,
        _referral: &Referral,
        organisation: &OrganisationId,
    ) -> Result<Assignment, String> {
        Err(format!("{organisation} is on no roster"))
    }

    /// Applies committed changes to organisations' loads
    /// ([`load_changes`]).
    fn adjust_loads(&self, _changes: &[LoadChange]) {}

    /// Whether `mediator` may act for `organisation` on day `on` (CST; see
    /// [`crate::calendar::cst::date_of`]): listed by it, active and within
    /// the days of the listing ([`crate::mediators`]). An organisation that
    /// lists no mediators, or is on no roster, takes any mediator; so does
    /// a router without a roster.
    fn check_mediator(
        &self,
        _organisation: &OrganisationId,
        _mediator: &MediatorId,
        _on: Date,
    ) -> Result<(), MediatorRefusal> {
        Ok(())
    }

    /// The mediators `organisation` lists on the roster, in the roster's
    /// order, whatever their standing (for operators' reads).
    fn mediators_of(&self, _organisation: &OrganisationId) -> Vec<RosteredMediator> {
        Vec::new()
    }

    /// The name under which `organisation` lists `mediator`, if it does.
    fn mediator_name(
        &self,
        _organisation: &OrganisationId,
        _mediator: &MediatorId,
    ) -> Option<Line> {
        None
    }
}

/// One organisation's open referrals going up or down by one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadChange {
    pub organisation: OrganisationId,
    /// +1 or -1.
    pub delta: i64,
}

/// The organisation whose capacity `referral` takes up: its holder while the
/// offer waits for an answer or mediation runs (suspended for an appraisal
/// or a sham-mediation report included). Once mediation ends, is declined,
/// lapses or is recalled, the referral takes up no one's capacity.
pub fn occupies(referral: &Referral) -> Option<&OrganisationId> {
    use crate::lifecycle::Status;
    match referral.status() {
        Status::AwaitingAcceptance
        | Status::InMediation
        | Status::SuspendedForAppraisal
        | Status::MediationOverdue
        | Status::ShamMediationReported => referral.assignment().map(|a| &a.organisation),
        _ => None,
    }
}

/// How a command moved organisations' loads: from the organisation `before`
/// occupied (none for a new referral) to the one `after` occupies.
pub fn load_changes(before: Option<&Referral>, after: &Referral) -> Vec<LoadChange> {
    let was = before.and_then(occupies);
    let is = occupies(after);
    if was == is {
        return Vec::new();
    }
    was.map(|o| LoadChange {
        organisation: o.clone(),
        delta: -1,
    })
    .into_iter()
    .chain(is.map(|o| LoadChange {
        organisation: o.clone(),
        delta: 1,
    }))
    .collect()
}

/// A router with no roster: nothing is ever eligible, so a referral goes back
/// to the court.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRoster;

impl Router for NoRoster {
    fn route(&self, _: &Referral) -> Result<(Assignment, Vec<String>), String> {
        Err("no roster of mediation organisations is configured".into())
    }
}

/// One organisation on a roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterEntry {
    pub id: OrganisationId,
    pub name: Line,
    /// The partner platform it works on.
    pub partner: Partner,
    /// The court that confirmed it onto its roster; that court and the courts
    /// below it may refer to it.
    pub confirmed_by: CourtCode,
    /// Where it sits, as the court code of its area.
    pub region: CourtCode,
    /// The kinds of dispute it accepts.
    pub domains: BTreeSet<DisputeDomain>,
    /// The causes of action it accepts; empty means every cause in its domains.
    #[serde(default)]
    pub causes: BTreeSet<Line>,
    /// Fields it is known for, matched against the cause of action.
    #[serde(default)]
    pub specialities: BTreeSet<Line>,
    /// How many referrals it can have open at once.
    pub capacity: u32,
    /// Its mediators on the court's roster of invited mediators (特邀调解员
    /// 名册), `[[organisation.mediator]]` in the roster file. None listed
    /// means any mediator id is taken ([`crate::mediators`]).
    #[serde(default, rename = "mediator", skip_serializing_if = "Vec::is_empty")]
    pub mediators: Vec<RosteredMediator>,
}

impl RosterEntry {
    /// Whether `mediator` may act for this organisation on day `on` (CST).
    pub fn check_mediator(&self, mediator: &MediatorId, on: Date) -> Result<(), MediatorRefusal> {
        check_listed(&self.mediators, &self.id, mediator, on)
    }

    /// The mediator `id` as this organisation lists it.
    pub fn mediator(&self, id: &MediatorId) -> Option<&RosteredMediator> {
        self.mediators.iter().find(|m| &m.id == id)
    }

    /// The offer to this organisation, before any mediator is named.
    fn assignment(&self) -> Assignment {
        Assignment {
            partner: self.partner,
            organisation: self.id.clone(),
            mediator: None,
        }
    }
}

/// The roster, how many referrals each organisation has open, and the court
/// registry that says which courts sit below the confirming ones.
#[derive(Debug)]
pub struct Roster {
    entries: RwLock<Vec<RosterEntry>>,
    load: RwLock<BTreeMap<OrganisationId, u32>>,
    courts: Courts,
}

impl Roster {
    pub fn new(entries: Vec<RosterEntry>, courts: Courts) -> Self {
        Self {
            entries: RwLock::new(entries),
            load: RwLock::default(),
            courts,
        }
    }

    /// Replaces the roster (a reload); loads are kept.
    pub fn replace(&self, entries: Vec<RosterEntry>) {
        *self.entries.write().unwrap_or_else(|p| p.into_inner()) = entries;
    }

    /// Sets an organisation's open referrals, e.g. when rebuilt at start-up.
    pub fn set_load(&self, organisation: OrganisationId, open: u32) {
        self.load
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(organisation, open);
    }

    pub fn load_of(&self, organisation: &OrganisationId) -> u32 {
        self.load
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(organisation)
            .copied()
            .unwrap_or(0)
    }

    fn adjust(&self, organisation: &OrganisationId, up: bool) {
        let mut load = self.load.write().unwrap_or_else(|p| p.into_inner());
        let n = load.entry(organisation.clone()).or_insert(0);
        *n = if up {
            n.saturating_add(1)
        } else {
            n.saturating_sub(1)
        };
    }

    /// The entry of `id` when it can take `referral`, or why not, worded to
    /// follow "… `id`, which".
    fn named<'e>(
        &self,
        courts: &CourtRegistry,
        entries: &'e [RosterEntry],
        id: &OrganisationId,
        referral: &Referral,
    ) -> Result<&'e RosterEntry, String> {
        let entry = entries
            .iter()
            .find(|e| &e.id == id)
            .ok_or_else(|| "is on no roster".to_owned())?;
        self.ineligible(courts, entry, referral)
            .map_or(Ok(entry), Err)
    }

    /// Why `entry` cannot take `referral`, or `None` when it can.
    fn ineligible(
        &self,
        courts: &CourtRegistry,
        entry: &RosterEntry,
        referral: &Referral,
    ) -> Option<String> {
        if referral.excluded().contains(&entry.id) {
            return Some(
                "already declined, let the acceptance deadline pass or was passed over".into(),
            );
        }
        self.unfit(courts, entry, referral)
    }

    /// Why `entry` cannot take `referral` whatever happened to it before.
    fn unfit(
        &self,
        courts: &CourtRegistry,
        entry: &RosterEntry,
        referral: &Referral,
    ) -> Option<String> {
        let bundle = referral.bundle();
        if !courts.is_within(&bundle.court, &entry.confirmed_by) {
            return Some(format!(
                "not on the roster of court {} (confirmed by {})",
                bundle.court, entry.confirmed_by
            ));
        }
        if !entry.domains.contains(&bundle.domain) {
            return Some(format!("does not take {:?} disputes", bundle.domain));
        }
        if !entry.causes.is_empty() && !entry.causes.contains(&bundle.cause_of_action) {
            return Some(format!("does not take {}", bundle.cause_of_action));
        }
        let load = self.load_of(&entry.id);
        if load >= entry.capacity {
            return Some(format!("at capacity ({load} of {})", entry.capacity));
        }
        None
    }
}

impl Router for Roster {
    fn check_named(
        &self,
        referral: &Referral,
        organisation: &OrganisationId,
    ) -> Result<Assignment, String> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let entry = entries
            .iter()
            .find(|e| &e.id == organisation)
            .ok_or_else(|| format!("{organisation} is on no roster"))?;
        match self.unfit(&self.courts.current(), entry, referral) {
            Some(why) => Err(format!("{organisation}: {why}")),
            None => Ok(entry.assignment()),
        }
    }

    fn partner_of(&self, organisation: &OrganisationId) -> Option<Partner> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .find(|e| &e.id == organisation)
            .map(|e| e.partner)
    }

    fn route(&self, referral: &Referral) -> Result<(Assignment, Vec<String>), String> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let courts = self.courts.current();
        let bundle = referral.bundle();
        let mut reasons = Vec::new();
        // The court's own choice decides: offered to it, or back to the
        // court with the reason, never to someone the court did not name.
        if let Some(named) = &bundle.designated_organisation {
            return match self.named(&courts, &entries, named, referral) {
                Ok(entry) => Ok((
                    entry.assignment(),
                    vec![format!("named by the court: {} ({})", entry.name, entry.id)],
                )),
                Err(why) => Err(format!("the court named {named}, which {why}")),
            };
        }
        if let Some(chosen) = &bundle.preferred_organisation {
            match self.named(&courts, &entries, chosen, referral) {
                Ok(entry) => {
                    reasons.push(format!(
                        "chosen by the parties: {} ({})",
                        entry.name, entry.id
                    ));
                    return Ok((entry.assignment(), reasons));
                }
                Err(why) => reasons.push(format!("the parties chose {chosen}, which {why}")),
            }
        }
        let mut refusals = Vec::new();
        let mut best: Option<(&RosterEntry, (usize, bool, u32))> = None;
        for entry in entries.iter() {
            if let Some(why) = self.ineligible(&courts, entry, referral) {
                refusals.push(format!("{}: {why}", entry.id));
                continue;
            }
            // The nearer the regions, the deeper the court above both.
            let near = courts.shared_depth(&entry.region, &bundle.court);
            let special = entry
                .specialities
                .iter()
                .any(|s| bundle.cause_of_action.as_str().contains(s.as_str()));
            let spare = entry.capacity - self.load_of(&entry.id);
            let score = (near, special, spare);
            // Ties go to the roster's order, which keeps the choice stable.
            if best.as_ref().is_none_or(|(_, b)| score > *b) {
                best = Some((entry, score));
            }
        }
        match best {
            Some((entry, (_, special, spare))) => {
                reasons.push(format!(
                    "{} ({}) takes {:?} disputes of {}",
                    entry.name, entry.id, bundle.domain, bundle.cause_of_action
                ));
                reasons.push(format!(
                    "sits in {}, the nearest eligible to court {}",
                    entry.region, bundle.court
                ));
                if special {
                    reasons.push("its specialities match the cause of action".into());
                }
                reasons.push(format!("spare capacity {spare} of {}", entry.capacity));
                Ok((entry.assignment(), reasons))
            }
            None => {
                let mut why = format!(
                    "no organisation on the roster can take this referral of court {}",
                    bundle.court
                );
                if !refusals.is_empty() {
                    why.push_str(": ");
                    why.push_str(&refusals.join("; "));
                }
                Err(why)
            }
        }
    }

    fn adjust_loads(&self, changes: &[LoadChange]) {
        for change in changes {
            self.adjust(&change.organisation, change.delta > 0);
        }
    }

    fn check_mediator(
        &self,
        organisation: &OrganisationId,
        mediator: &MediatorId,
        on: Date,
    ) -> Result<(), MediatorRefusal> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        match entries.iter().find(|e| &e.id == organisation) {
            Some(entry) => entry.check_mediator(mediator, on),
            // On no roster (e.g. taken off by a reload while it holds a
            // case): it lists no mediators. Whether it may act at all is
            // the referral's concern.
            None => Ok(()),
        }
    }

    fn mediators_of(&self, organisation: &OrganisationId) -> Vec<RosteredMediator> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .find(|e| &e.id == organisation)
            .map(|e| e.mediators.clone())
            .unwrap_or_default()
    }

    fn mediator_name(&self, organisation: &OrganisationId, mediator: &MediatorId) -> Option<Line> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .find(|e| &e.id == organisation)
            .and_then(|e| e.mediator(mediator))
            .map(|m| m.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::DeadlinePolicy;
    use crate::fixtures::*;
    use crate::outcome::{DeclineCode, DeclineReason};

    fn entry(id: &str, confirmed_by: &str, region: &str, capacity: u32) -> RosterEntry {
        RosterEntry {
            id: organisation(id),
            name: line(&format!("{id} 调解中心")),
            partner: Partner::Ccpit,
            confirmed_by: court(confirmed_by),
            region: court(region),
            domains: [DisputeDomain::Commercial].into(),
            causes: BTreeSet::new(),
            specialities: BTreeSet::new(),
            capacity,
            mediators: Vec::new(),
        }
    }

    fn referral() -> Referral {
        Referral::receive(
            referral_id(),
            sample_bundle(),
            at("2025-03-03T09:00:00+08:00"),
        )
        .unwrap()
        .0
    }

    #[test]
    fn the_nearest_eligible_organisation_is_chosen_with_reasons() {
        let roster = Roster::new(
            vec![
                entry("far", "京", "京02", 10),
                entry("near", "京", "京0105", 10),
                entry("other-province", "沪", "沪01", 10),
            ],
            courts(),
        );
        let (a, reasons) = roster.route(&referral()).unwrap();
        assert_eq!(a.organisation, organisation("near"));
        assert!(
            reasons.iter().any(|r| r.contains("nearest eligible")),
            "{reasons:?}"
        );
    }

    #[test]
    fn a_higher_courts_roster_serves_the_courts_below_but_not_others() {
        let roster = Roster::new(vec![entry("shanghai", "沪", "沪01", 10)], courts());
        let why = roster.route(&referral()).unwrap_err();
        assert!(why.contains("not on the roster of court 京0105"), "{why}");
        // 朝阳 (京0105) sits under the third intermediate court, whatever
        // its code's prefix suggests.
        let roster = Roster::new(vec![entry("first", "京01", "京01", 10)], courts());
        let why = roster.route(&referral()).unwrap_err();
        assert!(why.contains("not on the roster of court 京0105"), "{why}");
        let roster = Roster::new(vec![entry("third", "京03", "京03", 10)], courts());
        assert!(roster.route(&referral()).is_ok(), "京0105 sits below 京03");
    }

    #[test]
    fn the_parties_choice_wins_when_eligible_and_is_explained_when_not() {
        let mut bundle = sample_bundle();
        bundle.preferred_organisation = Some(organisation("chosen"));
        let r = Referral::receive(referral_id(), bundle, at("2025-03-03T09:00:00+08:00"))
            .unwrap()
            .0;
        let roster = Roster::new(
            vec![
                entry("near", "京", "京0105", 10),
                entry("chosen", "京", "京02", 10),
            ],
            courts(),
        );
        let (a, reasons) = roster.route(&r).unwrap();
        assert_eq!(a.organisation, organisation("chosen"));
        assert!(reasons[0].contains("chosen by the parties"));
        roster.set_load(organisation("chosen"), 10);
        let (a, reasons) = roster.route(&r).unwrap();
        assert_eq!(a.organisation, organisation("near"));
        assert!(reasons[0].contains("at capacity (10 of 10)"), "{reasons:?}");
    }

    #[test]
    fn scope_speciality_and_capacity_decide_and_declined_organisations_are_skipped() {
        let mut labour = entry("labour-only", "京", "京0105", 10);
        labour.domains = [DisputeDomain::Labour].into();
        let mut narrow = entry("loans-only", "京", "京0105", 10);
        narrow.causes = [line("借款合同纠纷")].into();
        let mut special = entry("sales", "京", "京01", 10);
        special.specialities = [line("买卖合同")].into();
        let plain = entry("plain", "京", "京01", 10);
        let roster = Roster::new(vec![labour, narrow, plain, special], courts());
        let (a, reasons) = roster.route(&referral()).unwrap();
        assert_eq!(a.organisation, organisation("sales"));
        assert!(
            reasons.iter().any(|r| r.contains("specialities")),
            "{reasons:?}"
        );

        let calendar = shipped_calendar();
        let mut r = referral();
        let routed = route_delivered(
            &r,
            a,
            reasons,
            at("2025-03-03T10:00:00+08:00"),
            &calendar,
            &DeadlinePolicy::default(),
        )
        .unwrap();
        let before = r.clone();
        r.apply_all(&routed);
        roster.adjust_loads(&load_changes(Some(&before), &r));
        assert_eq!(roster.load_of(&organisation("sales")), 1);
        let reason = DeclineReason {
            code: DeclineCode::NoCapacity,
            explanation: narrative("满负荷"),
        };
        let declined = r
            .decline(
                &organisation("sales"),
                vec![reason],
                at("2025-03-03T11:00:00+08:00"),
            )
            .unwrap();
        let before = r.clone();
        r.apply_all(&declined);
        roster.adjust_loads(&load_changes(Some(&before), &r));
        assert_eq!(roster.load_of(&organisation("sales")), 0);
        let (next, _) = roster.route(&r).unwrap();
        assert_eq!(next.organisation, organisation("plain"));

        roster.set_load(organisation("plain"), 10);
        let why = roster.route(&r).unwrap_err();
        assert!(
            why.contains("labour-only: does not take Commercial disputes"),
            "{why}"
        );
        assert!(
            why.contains("loans-only: does not take 买卖合同纠纷"),
            "{why}"
        );
        assert!(why.contains("sales: already declined"), "{why}");
        assert!(why.contains("plain: at capacity (10 of 10)"), "{why}");
    }

    #[test]
    fn a_roster_entry_reads_from_toml_like_data() {
        let json = r#"{"id":"ccpit-bj","name":"北京调解中心","partner":"ccpit","confirmed_by":"京","region":"京01",
            "domains":["commercial"],"capacity":5}"#;
        let e: RosterEntry = serde_json::from_str(json).unwrap();
        assert_eq!(e.capacity, 5);
        let bad = json.replace("\"京\"", "\"X\"");
        assert!(
            serde_json::from_str::<RosterEntry>(&bad)
                .unwrap_err()
                .to_string()
                .contains("province")
        );
    }
}
