//! The partner platforms the gateway docks with.

use serde::{Deserialize, Serialize};

use crate::bundle::DisputeDomain;
use crate::error::Invalid;

/// A national partner platform; each runs many mediation organisations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partner {
    /// The trade-promotion council's commercial mediation platform (CCPIT).
    Ccpit,
    /// Labour-dispute mediation and arbitration.
    LabourArbitration,
    /// The road-traffic-accident damages platform.
    RoadTraffic,
}

impl Partner {
    pub const ALL: [Partner; 3] = [
        Partner::Ccpit,
        Partner::LabourArbitration,
        Partner::RoadTraffic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Partner::Ccpit => "ccpit",
            Partner::LabourArbitration => "labour_arbitration",
            Partner::RoadTraffic => "road_traffic",
        }
    }

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == value)
            .ok_or_else(|| {
                Invalid::new(format!(
                    "must be one of ccpit, labour_arbitration, road_traffic; got {value:?}"
                ))
            })
    }

    /// The platform an old spelling of its name meant (`labour`, `traffic`),
    /// for files written before each platform had one name. Callers read it
    /// with a warning that names the current one.
    pub fn old_spelling(value: &str) -> Option<Self> {
        match value {
            "labour" => Some(Partner::LabourArbitration),
            "traffic" => Some(Partner::RoadTraffic),
            _ => None,
        }
    }

    /// The dispute domain the platform serves.
    pub fn domain(self) -> DisputeDomain {
        match self {
            Partner::Ccpit => DisputeDomain::Commercial,
            Partner::LabourArbitration => DisputeDomain::Labour,
            Partner::RoadTraffic => DisputeDomain::RoadTraffic,
        }
    }
}

impl std::fmt::Display for Partner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
