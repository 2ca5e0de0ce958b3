//! Who may see a referral: the court that referred it, and the organisation
//! it is routed to while that organisation still holds it. An organisation
//! that declined, let the acceptance deadline pass or was passed over sees
//! nothing more of it.

use crate::court::CourtCode;
use crate::document::Sha256Digest;
use crate::ids::OrganisationId;
use crate::lifecycle::Referral;

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
            Viewer::Organisation(org) => {
                self.assignment().is_some_and(|a| &a.organisation == org)
                    && !self.excluded().contains(org)
            }
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
    use crate::deadline::DeadlinePolicy;
    use crate::fixtures::*;
    use crate::lifecycle::Assignment;
    use crate::outcome::{DeclineCode, DeclineReason};
    use crate::partner::Partner;

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
        let routed = r
            .route(
                Assignment {
                    partner: Partner::Ccpit,
                    organisation: organisation("o1"),
                    mediator: None,
                },
                vec![],
                at("2025-03-03T09:00:00+08:00"),
                &shipped_calendar(),
                &DeadlinePolicy::default(),
            )
            .unwrap();
        r.apply_all(&routed);
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
    }
}
