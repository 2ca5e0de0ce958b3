//! The proto3 JSON mapping of the contracts' messages: field names in
//! lowerCamelCase, enums by name, timestamps in RFC 3339, fields at their
//! default value left out. It is read from the contracts' own descriptor set,
//! so a JSON body and a gRPC message can never disagree.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage};

/// Why a message could not be written as JSON. Only a contract that does
/// not know the message, or a build with a broken descriptor set, fails.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(String);

fn pool() -> Result<&'static DescriptorPool, JsonError> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(crate::DESCRIPTORS).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| JsonError(format!("the contracts' descriptor set cannot be read: {e}")))
}

/// `message`, whose full protobuf name is `full_name`
/// (`mediation.court.v1.CourtNotice`), as proto3 JSON.
pub fn to_json(message: &impl prost::Message, full_name: &str) -> Result<Vec<u8>, JsonError> {
    let descriptor = pool()?
        .get_message_by_name(full_name)
        .ok_or_else(|| JsonError(format!("no message {full_name} in the contracts")))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| JsonError(format!("{full_name} does not match its contract: {e}")))?;
    serde_json::to_vec(&dynamic).map_err(|e| JsonError(format!("{full_name}: {e}")))
}

/// The proto3 JSON of `full_name` back to the message, as a receiver reads it.
pub fn from_json<M: prost::Message + Default>(
    json: &[u8],
    full_name: &str,
) -> Result<M, JsonError> {
    let descriptor = pool()?
        .get_message_by_name(full_name)
        .ok_or_else(|| JsonError(format!("no message {full_name} in the contracts")))?;
    let mut de = serde_json::Deserializer::from_slice(json);
    let dynamic = DynamicMessage::deserialize(descriptor, &mut de)
        .map_err(|e| JsonError(format!("{full_name}: {e}")))?;
    dynamic
        .transcode_to::<M>()
        .map_err(|e| JsonError(format!("{full_name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::court::v1 as pb;

    #[test]
    fn a_notice_reads_back_from_its_json() {
        let notice = pb::CourtNotice {
            message_id: "m1".into(),
            referral_id: "r1".into(),
            event: "accepted".into(),
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_767_225_600,
                nanos: 0,
            }),
            detail: Some(pb::court_notice::Detail::Accepted(pb::Acceptance {
                mediator: "M-1".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let json = to_json(&notice, "mediation.court.v1.CourtNotice").unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["messageId"], "m1");
        assert_eq!(value["occurredAt"], "2026-01-01T00:00:00Z");
        assert_eq!(value["accepted"]["mediator"], "M-1");
        assert!(value.get("summary").is_none(), "defaults are left out");
        let back: pb::CourtNotice = from_json(&json, "mediation.court.v1.CourtNotice").unwrap();
        assert_eq!(back, notice);
    }

    #[test]
    fn an_unknown_message_is_an_error() {
        let e = to_json(&pb::CourtNotice::default(), "mediation.court.v1.Nothing").unwrap_err();
        assert!(
            e.to_string()
                .contains("no message mediation.court.v1.Nothing")
        );
    }
}
