//! The sample cases the demo and the load harness submit, as a court system
//! would: `CaseBundle` messages in the court contract's proto3 JSON, the
//! same form as the `bundle.json` of `docs/api.md`. A test keeps them equal
//! to the domain's sample bundles.

use mediation_proto::court::v1 as pb;
use mediation_proto::json::{JsonError, from_json};

const BUNDLE: &str = "mediation.court.v1.CaseBundle";

/// A sales-contract dispute, delegated before docketing (委派).
pub fn commercial() -> Result<pb::CaseBundle, JsonError> {
    from_json(include_bytes!("cases/commercial.json"), BUNDLE)
}

/// A labour dispute over unpaid wages.
pub fn labour() -> Result<pb::CaseBundle, JsonError> {
    from_json(include_bytes!("cases/labour.json"), BUNDLE)
}

/// A road-traffic accident claim.
pub fn accident() -> Result<pb::CaseBundle, JsonError> {
    from_json(include_bytes!("cases/accident.json"), BUNDLE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediation_api::court::bundle_to_wire;
    use mediation_core::fixtures::{accident_bundle, labour_bundle, sample_bundle};

    /// The domain's sample bundle as a court sends it, without its files
    /// (which a court uploads first).
    fn wire(bundle: &mediation_core::bundle::CaseBundle) -> pb::CaseBundle {
        let mut wire = bundle_to_wire(bundle);
        wire.documents.clear();
        wire
    }

    #[test]
    fn the_cases_are_the_domains_sample_bundles() {
        assert_eq!(commercial().unwrap(), wire(&sample_bundle()));
        assert_eq!(labour().unwrap(), wire(&labour_bundle()));
        assert_eq!(accident().unwrap(), wire(&accident_bundle()));
    }
}
