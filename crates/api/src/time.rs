//! Protobuf timestamps to and from instants.

use jiff::Timestamp;
use mediation_core::Invalid;

pub(crate) fn from_wire(t: &prost_types::Timestamp) -> Result<Timestamp, Invalid> {
    Timestamp::new(t.seconds, t.nanos)
        .map_err(|e| Invalid::new(format!("is not a valid instant: {e}")))
}

pub(crate) fn to_wire(t: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: t.subsec_nanosecond(),
    }
}
