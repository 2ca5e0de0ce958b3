//! Protobuf timestamps to and from instants.

use jiff::Timestamp;
use mediation_core::Invalid;

/// The instants a case can name: from 1900 up to, not including, 2100.
/// Anything outside is a mistake or a probe, not a date of the dispute.
const EARLIEST: i64 = -2_208_988_800; // 1900-01-01T00:00:00Z
const LATEST: i64 = 4_102_444_800; // 2100-01-01T00:00:00Z

pub(crate) fn from_wire(t: &prost_types::Timestamp) -> Result<Timestamp, Invalid> {
    // google.protobuf.Timestamp: nanos run from 0 to 999,999,999, also
    // before 1970 (a negative count is not normalised, it is invalid).
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(Invalid::new(format!(
            "nanos must be from 0 to 999999999, got {}",
            t.nanos
        )));
    }
    if !(EARLIEST..LATEST).contains(&t.seconds) {
        return Err(Invalid::new("must be an instant from 1900 up to 2100"));
    }
    Timestamp::new(t.seconds, t.nanos)
        .map_err(|e| Invalid::new(format!("is not a valid instant: {e}")))
}

/// An instant as a protobuf timestamp.
pub fn to_wire(t: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: t.subsec_nanosecond(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(seconds: i64, nanos: i32) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds, nanos }
    }

    #[test]
    fn only_plausible_well_formed_instants_are_read() {
        assert!(from_wire(&wire(1_741_000_000, 5)).is_ok());
        assert!(
            from_wire(&wire(1_741_000_000, -1))
                .unwrap_err()
                .rule
                .contains("nanos")
        );
        assert!(from_wire(&wire(1_741_000_000, 1_000_000_000)).is_err());
        // 9999-01-01 and 1800-01-01.
        assert!(
            from_wire(&wire(253_370_764_800, 0))
                .unwrap_err()
                .rule
                .contains("1900")
        );
        assert!(from_wire(&wire(-5_364_662_400, 0)).is_err());
        assert_eq!(to_wire(from_wire(&wire(-1, 0)).unwrap()).seconds, -1);
    }
}
