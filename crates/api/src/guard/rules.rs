//! Which roles may call which methods. Anything not listed is refused.

use mediation_core::access::Role;
use mediation_core::partner::Partner;

/// Who may call a method, before looking at any referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No authentication: the standard health service, for probes. It says
    /// only whether the gateway serves.
    Public,
    /// Court systems.
    Courts,
    /// Court systems, and operators for reading.
    CourtsAndOperators,
    /// The named partner platform.
    Platform(Partner),
    /// Court systems and partner platforms: case materials.
    CourtsAndPlatforms,
    /// Operators only: the operations service's reads and watches.
    Operators,
    /// Operators who are not read-only: acknowledging, replaying, moving a
    /// sandbox's clock.
    ActingOperators,
    /// Any authenticated tenant: reflection.
    Anyone,
    /// Court systems, platforms and operators, each shown only its own:
    /// statistics.
    Tenants,
    /// Nobody.
    Denied,
}

impl Access {
    pub fn allows(self, role: &Role) -> bool {
        match (self, role) {
            (Access::Public | Access::Anyone, _) => true,
            (Access::Courts, Role::CourtSystem { .. }) => true,
            (Access::Operators, Role::Operator { .. }) => true,
            (Access::ActingOperators, Role::Operator { read_only }) => !read_only,
            (
                Access::Tenants,
                Role::CourtSystem { .. } | Role::Platform { .. } | Role::Operator { .. },
            ) => true,
            (Access::CourtsAndOperators, Role::CourtSystem { .. } | Role::Operator { .. }) => true,
            (Access::Platform(p), Role::Platform { partner, .. }) => p == *partner,
            (Access::CourtsAndPlatforms, Role::CourtSystem { .. } | Role::Platform { .. }) => true,
            _ => false,
        }
    }
}

/// The access rule for a gRPC method path (`/package.Service/Method`).
pub fn access_for(path: &str) -> Access {
    let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
        return Access::Denied;
    };
    use mediation_proto::{ccpit, court, documents, labour, operations, traffic};
    use tonic_reflection::pb::{v1, v1alpha};
    match (service, method) {
        (tonic_health::pb::health_server::SERVICE_NAME, _) => Access::Public,
        (v1::server_reflection_server::SERVICE_NAME, _) => Access::Anyone,
        (v1alpha::server_reflection_server::SERVICE_NAME, _) => Access::Anyone,
        (court::v1::court_gateway_server::SERVICE_NAME, "GetReferral") => {
            Access::CourtsAndOperators
        }
        (court::v1::court_gateway_server::SERVICE_NAME, _) => Access::Courts,
        (ccpit::v1::ccpit_gateway_server::SERVICE_NAME, _) => Access::Platform(Partner::Ccpit),
        (labour::v1::labour_gateway_server::SERVICE_NAME, _) => {
            Access::Platform(Partner::LabourArbitration)
        }
        (traffic::v1::traffic_gateway_server::SERVICE_NAME, _) => {
            Access::Platform(Partner::RoadTraffic)
        }
        (documents::v1::documents_server::SERVICE_NAME, _) => Access::CourtsAndPlatforms,
        // Courts read their own referrals' figures and platforms their own
        // organisations' (seed 003 五(三)); the service filters.
        (operations::v1::operations_server::SERVICE_NAME, "GetStatistics") => Access::Tenants,
        (
            operations::v1::operations_server::SERVICE_NAME,
            "AcknowledgeAlert" | "ReplayDeadLetter" | "AdvanceClock",
        ) => Access::ActingOperators,
        (operations::v1::operations_server::SERVICE_NAME, _) => Access::Operators,
        _ => Access::Denied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_read_but_never_change_and_unknown_methods_are_denied() {
        const OPERATOR: Role = Role::Operator { read_only: false };
        assert!(access_for("/mediation.court.v1.CourtGateway/GetReferral").allows(&OPERATOR));
        assert!(!access_for("/mediation.court.v1.CourtGateway/RecallReferral").allows(&OPERATOR));
        assert!(!access_for("/mediation.ccpit.v1.CcpitGateway/AcceptCase").allows(&OPERATOR));
        assert!(!access_for("/mediation.documents.v1.Documents/Download").allows(&OPERATOR));
        let labour = Role::Platform {
            partner: Partner::LabourArbitration,
            organisations: Default::default(),
        };
        assert!(access_for("/mediation.labour.v1.LabourGateway/AcceptDispute").allows(&labour));
        assert!(!access_for("/mediation.ccpit.v1.CcpitGateway/AcceptCase").allows(&labour));
        let ops = "/mediation.operations.v1.Operations/ReplayDeadLetter";
        assert!(access_for(ops).allows(&OPERATOR));
        assert!(!access_for(ops).allows(&labour));
        // A read-only operator reads and watches, and acts on nothing.
        let auditor = Role::Operator { read_only: true };
        for acting in ["ReplayDeadLetter", "AcknowledgeAlert", "AdvanceClock"] {
            let method = format!("/mediation.operations.v1.Operations/{acting}");
            assert!(access_for(&method).allows(&OPERATOR), "{acting}");
            assert!(!access_for(&method).allows(&auditor), "{acting}");
        }
        for reading in [
            "WatchAlerts",
            "ListOpenBreaches",
            "GetReferralTimeline",
            "GetClock",
        ] {
            let method = format!("/mediation.operations.v1.Operations/{reading}");
            assert!(access_for(&method).allows(&auditor), "{reading}");
        }
        assert_eq!(access_for("/some.Other/Method"), Access::Denied);
        assert_eq!(access_for("nonsense"), Access::Denied);
        assert_eq!(access_for("/grpc.health.v1.Health/Check"), Access::Public);
    }
}
