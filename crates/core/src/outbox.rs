//! What the gateway tells whom: each event that the other side must learn of
//! becomes an outbound message to a destination, a partner platform or the
//! referring court. Messages to one destination about one referral form a lane
//! and are delivered in order.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bundle::CaseBundle;
use crate::court::CourtCode;
use crate::ids::{CourtReferralId, ReferralId};
use crate::lifecycle::{Change, Event, Referral};
use crate::particulars::Particulars;
use crate::partner::Partner;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Destination {
    Partner(Partner),
    Court(CourtCode),
}

impl Destination {
    /// A stable text form, used in storage keys and metrics labels.
    pub fn key(&self) -> String {
        match self {
            Destination::Partner(p) => format!("partner:{}", p.as_str()),
            Destination::Court(c) => format!("court:{c}"),
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// One message to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub destination: Destination,
    pub referral: ReferralId,
    /// The court's own id of the referral, so either side can match it.
    pub court_referral_id: CourtReferralId,
    /// The event the other side must learn of.
    pub event: Event,
    /// The case bundle, when the message offers the referral to an organisation,
    /// or tells a court of a dispute an organisation took directly.
    pub bundle: Option<Box<CaseBundle>>,
    /// The organisation holding the referral once the command that made the
    /// message was done; what the court is told of who has its case. Absent
    /// in messages stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<crate::ids::OrganisationId>,
}

/// The W3C trace context (a `traceparent` value) of the call whose command
/// made a message. It is kept with the message so that the message's
/// delivery, whichever gateway makes it and however much later, continues
/// the trace the call began. Opaque to the domain: only its shape is
/// checked, so that what is stored is what a propagator reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TraceContext(String);

impl TraceContext {
    /// `version-traceid-parentid-flags`: 2, 32, 16 and 2 lower-case hex
    /// digits, as W3C Trace Context writes it.
    pub fn parse(value: &str) -> Result<Self, crate::error::Invalid> {
        let parts: Vec<&str> = value.split('-').collect();
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let shaped = parts.len() == 4
            && hex(parts[0], 2)
            && hex(parts[1], 32)
            && hex(parts[2], 16)
            && hex(parts[3], 2)
            && parts[1].bytes().any(|b| b != b'0')
            && parts[2].bytes().any(|b| b != b'0');
        if shaped {
            Ok(Self(value.to_owned()))
        } else {
            Err(crate::error::Invalid::new(format!(
                "not a W3C traceparent: {value:?}"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The trace's id: the 32 hex digits every span of the trace shares.
    pub fn trace_id(&self) -> &str {
        self.0.split('-').nth(1).unwrap_or_default()
    }
}

/// Whether `referral` is a road-traffic case with an insurer to tell.
fn has_insurers(referral: &Referral) -> bool {
    referral
        .assignment()
        .is_some_and(|a| a.partner == Partner::RoadTraffic)
        && matches!(
            &referral.bundle().particulars,
            Some(Particulars::RoadTraffic(a)) if !a.insurers().is_empty()
        )
}

/// The messages `events` call for, given the referral's state after them.
pub fn messages_for(referral: &Referral, events: &[Event]) -> Vec<OutboundMessage> {
    let court = Destination::Court(referral.bundle().court.clone());
    let partner = referral
        .assignment()
        .map(|a| Destination::Partner(a.partner));
    let mut messages = Vec::new();
    for event in events {
        let message = |destination: Destination, bundle: Option<Box<CaseBundle>>| OutboundMessage {
            destination,
            referral: referral.id().clone(),
            court_referral_id: referral.bundle().court_referral_id.clone(),
            event: event.clone(),
            bundle,
            holder: referral.holder().cloned(),
        };
        match &event.change {
            // The offer goes to the platform, and the court is told who has
            // its case: on routing, as on every change after it.
            Change::Routed { assignment, .. } => {
                messages.push(message(
                    Destination::Partner(assignment.partner),
                    Some(Box::new(referral.bundle().clone())),
                ));
                messages.push(message(court.clone(), None));
            }
            // The court has never seen a dispute taken directly: it gets the
            // bundle with the first notice.
            Change::TakenDirectly { .. } => messages.push(message(
                court.clone(),
                Some(Box::new(referral.bundle().clone())),
            )),
            // An organisation that loses the referral is told, through its
            // own platform, that the case is withdrawn from it.
            Change::Withdrawn { partner, .. } => {
                messages.push(message(Destination::Partner(*partner), None));
            }
            // The organisation that declined is told its decline is recorded
            // and that it must delete what the offer gave it (PIPL Art. 47).
            Change::Declined { .. } => {
                if let Some(partner) = &partner {
                    messages.push(message(partner.clone(), None));
                }
                messages.push(message(court.clone(), None));
            }
            Change::AcceptanceOverdue {
                partner: Some(lapsed),
                ..
            } => {
                messages.push(message(Destination::Partner(*lapsed), None));
                messages.push(message(court.clone(), None));
            }
            // Both the court and the labour committee learn that the parties
            // may now go to arbitration (LDMAL Art. 14).
            Change::ArbitrationAvailable { .. } => {
                if let Some(partner) = &partner {
                    messages.push(message(partner.clone(), None));
                }
                messages.push(message(court.clone(), None));
            }
            // The court's decision on a sham-mediation report: the
            // organisation resumes, or loses the case.
            Change::ShamMediationResolved { .. } => {
                if let Some(partner) = &partner {
                    messages.push(message(partner.clone(), None));
                }
            }
            Change::RulingRecorded { .. } | Change::Recalled { .. } => {
                if let Some(partner) = &partner {
                    messages.push(message(partner.clone(), None));
                }
            }
            // The court sees when the offer reached the platform and when
            // the organisation must answer by.
            Change::OfferDelivered { .. }
            | Change::Accepted { .. }
            | Change::AcceptanceOverdue { .. }
            | Change::ReturnedToCourt { .. }
            | Change::AppraisalStarted { .. }
            | Change::AppraisalOverlong { .. }
            | Change::AppraisalEnded { .. }
            | Change::Extended { .. }
            | Change::MediationOverdue { .. }
            | Change::AgreementReached { .. }
            | Change::MediationFailed { .. }
            | Change::ShamMediationReported { .. }
            | Change::ConfirmationApplied { .. }
            | Change::PerformanceRecorded { .. } => messages.push(message(court.clone(), None)),
            // Internal bookkeeping: the court made the referral itself, and
            // warnings and recomputations are for operators.
            Change::Received { .. }
            | Change::DeadlineWarning { .. }
            | Change::DeadlineRecomputed { .. } => {}
            // The court recorded it itself; the court system has it.
            Change::CourtOutcomeRecorded { .. } => {}
            // The court is reminded of a referral awaiting its decision;
            // that it awaits one is its own to know, as the return said.
            Change::CourtDecisionOverdue { .. } => messages.push(message(court.clone(), None)),
            Change::CourtDecisionAwaited { .. } => {}
            // The gateway's own housekeeping; the court keeps its own file.
            Change::PersonalDataPurged { .. } => {}
        }
        // An insurer takes part in a road-traffic mediation whether or not
        // it is a party: the platform passes on that the room took the case
        // and what the agreement has its policies pay.
        if matches!(
            event.change,
            Change::Accepted { .. } | Change::AgreementReached { .. }
        ) && has_insurers(referral)
        {
            messages.push(message(
                Destination::Partner(Partner::RoadTraffic),
                Some(Box::new(referral.bundle().clone())),
            ));
        }
    }
    messages
}

#[cfg(test)]
mod trace_context_tests {
    use super::TraceContext;

    #[test]
    fn a_trace_context_has_the_shape_w3c_gives_it() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = TraceContext::parse(ok).unwrap();
        assert_eq!(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.as_str(), ok);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert!(TraceContext::parse(bad).is_err(), "{bad}");
        }
    }
}
