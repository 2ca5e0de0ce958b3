//! The sample cases the demo and the load harness submit, as a court system
//! would: `CaseBundle` messages in the court contract's proto3 JSON, the
//! same form as the `bundle.json` of `docs/api.md`. A test keeps them equal
//! to the domain's sample bundles.

use mediation_proto::ccpit::v1 as cp;
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

/// The two parties of the commercial case as a CCPIT settlement names them.
pub fn settlement_parties() -> Vec<cp::SettlementParty> {
    let party = |reference: &str, name: &str, kind: &str, number: &str| cp::SettlementParty {
        reference: reference.into(),
        name: name.into(),
        document_type: kind.into(),
        document_number: number.into(),
    };
    vec![
        party("P1", "张三", "ID_CARD", "11010519491231002X"),
        party("P2", "某贸易有限公司", "USCC", "91350100M000100Y43"),
    ]
}

/// The commercial case settled at centre ccpit-bj-01 by mediator m-007,
/// signed by all at `signed_at`: what the CCPIT platform submits.
pub fn settlement(
    case_id: &str,
    signed_at: Option<prost_types::Timestamp>,
) -> cp::SubmitSettlementRequest {
    let sign = |kind: &str, who: &str| cp::Signature {
        signer_type: kind.into(),
        signer: who.into(),
        signed_at,
    };
    cp::SubmitSettlementRequest {
        case_id: case_id.into(),
        mediation_centre: "ccpit-bj-01".into(),
        parties: settlement_parties(),
        disputed_matters: "货款支付".into(),
        terms: vec!["被申请人于2025年5月31日前支付货款100000元".into()],
        performance_method: "银行转账".into(),
        perform_by: "2025-05-31".into(),
        signatures: vec![
            sign("CENTRE", "ccpit-bj-01"),
            sign("MEDIATOR", "m-007"),
            sign("PARTY", "P1"),
            sign("PARTY", "P2"),
        ],
        files: vec![],
    }
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
