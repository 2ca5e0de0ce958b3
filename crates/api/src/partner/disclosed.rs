//! What an offer or the particulars of a case are written from, and how much
//! of it a platform may see: an offer leaves out what deciding does not need
//! (PIPL Art. 6; seed 003 二(一)); the particulars, read once the
//! organisation accepted, hold everything.

use mediation_core::access::Disclosure;
use mediation_core::bundle::CaseBundle;
use mediation_core::deadline::Deadline;
use mediation_core::lifecycle::{Assignment, Change, Referral};
use mediation_core::store::PendingDelivery;

/// A case as one message discloses it.
pub(crate) struct Disclosed<'a> {
    /// Empty in the answer to a particulars call, which is not a message.
    pub(crate) message_id: String,
    pub(crate) case_id: String,
    pub(crate) bundle: &'a CaseBundle,
    pub(crate) assignment: &'a Assignment,
    pub(crate) reasons: &'a [String],
    pub(crate) deadline: Option<&'a Deadline>,
    full: bool,
}

impl<'a> Disclosed<'a> {
    /// The offer a routing delivery carries; `None` for any other delivery.
    pub(crate) fn offer(d: &'a PendingDelivery) -> Option<Self> {
        let Change::Routed {
            assignment,
            reasons,
            acceptance_deadline,
        } = &d.message.event.change
        else {
            return None;
        };
        Some(Self {
            message_id: d.id.to_string(),
            case_id: d.message.referral.to_string(),
            bundle: d.message.bundle.as_deref()?,
            assignment,
            reasons,
            deadline: acceptance_deadline.as_ref(),
            full: false,
        })
    }

    /// Everything, for an organisation the referral discloses it to in full
    /// ([`Referral::disclosure_to`]); `None` otherwise.
    pub(crate) fn particulars(r: &'a Referral) -> Option<Self> {
        let assignment = r.assignment()?;
        (r.disclosure_to(&assignment.organisation) == Disclosure::Full).then(|| Self {
            message_id: String::new(),
            case_id: r.id().to_string(),
            bundle: r.bundle(),
            assignment,
            reasons: &[],
            deadline: None,
            full: true,
        })
    }

    pub(crate) fn is_full(&self) -> bool {
        self.full
    }

    /// `value` in the particulars; empty in an offer.
    pub(crate) fn personal(&self, value: impl FnOnce() -> String) -> String {
        if self.full { value() } else { String::new() }
    }

    /// `value` in the particulars; `None` in an offer.
    pub(crate) fn personal_opt<T>(&self, value: impl FnOnce() -> Option<T>) -> Option<T> {
        if self.full { value() } else { None }
    }
}
