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

/// The encoded descriptor set of every contract, for server reflection.
pub const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
