//! Generated code for the gateway's gRPC contracts. The contracts themselves,
//! with their documentation, are the `.proto` files in `proto/`.
#![allow(
    clippy::all,
    clippy::pedantic,
    unreachable_pub,
    missing_debug_implementations
)]

pub mod ccpit {
    pub mod v1 {
        tonic::include_proto!("mediation.ccpit.v1");
    }
}

pub mod documents {
    pub mod v1 {
        tonic::include_proto!("mediation.documents.v1");
    }
}

pub mod operations {
    pub mod v1 {
        tonic::include_proto!("mediation.operations.v1");
    }
}

pub mod labour {
    pub mod v1 {
        tonic::include_proto!("mediation.labour.v1");
    }
}

pub mod traffic {
    pub mod v1 {
        tonic::include_proto!("mediation.traffic.v1");
    }
}

pub mod court {
    pub mod v1 {
        tonic::include_proto!("mediation.court.v1");
    }
}

pub mod json;

/// The encoded descriptor set of every contract, for server reflection.
pub const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));

/// The services the gateway serves itself. The other services in `proto/`
/// (a court's `CourtReceiver`, each platform's own service) are served by the
/// gateway's counterparts and called by the gateway.
pub const SERVED_SERVICES: [&str; 6] = [
    court::v1::court_gateway_server::SERVICE_NAME,
    ccpit::v1::ccpit_gateway_server::SERVICE_NAME,
    labour::v1::labour_gateway_server::SERVICE_NAME,
    traffic::v1::traffic_gateway_server::SERVICE_NAME,
    documents::v1::documents_server::SERVICE_NAME,
    operations::v1::operations_server::SERVICE_NAME,
];

/// Every method of [`SERVED_SERVICES`], as gRPC paths (`/package.Service/Method`),
/// read from the descriptor set.
pub fn served_methods() -> &'static std::collections::BTreeSet<String> {
    static METHODS: std::sync::OnceLock<std::collections::BTreeSet<String>> =
        std::sync::OnceLock::new();
    METHODS.get_or_init(|| {
        use prost::Message as _;
        let set = prost_types::FileDescriptorSet::decode(DESCRIPTORS).unwrap_or_default();
        let mut methods = std::collections::BTreeSet::new();
        for file in &set.file {
            for service in &file.service {
                let name = format!("{}.{}", file.package(), service.name());
                if SERVED_SERVICES.contains(&name.as_str()) {
                    for method in &service.method {
                        methods.insert(format!("/{name}/{}", method.name()));
                    }
                }
            }
        }
        methods
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_served_methods_come_from_the_contracts() {
        let methods = super::served_methods();
        assert!(methods.contains("/mediation.court.v1.CourtGateway/SubmitReferral"));
        assert!(methods.contains("/mediation.ccpit.v1.CcpitGateway/AcceptCase"));
        assert!(!methods.iter().any(|m| m.contains("CourtReceiver")));
        assert!(methods.len() > 30, "{methods:?}");
    }
}
