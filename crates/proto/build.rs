//! Compiles the contracts in `proto/` without a system `protoc`: protox parses
//! them into a descriptor set, tonic-prost-build generates the code from it.

use std::path::PathBuf;

use prost::Message;

const FILES: &[&str] = &[
    "mediation/court/v1/court.proto",
    "mediation/ccpit/v1/ccpit.proto",
    "mediation/labour/v1/labour.proto",
    "mediation/traffic/v1/traffic.proto",
    "mediation/documents/v1/documents.proto",
    "mediation/operations/v1/operations.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files: Vec<PathBuf> = FILES.iter().map(|f| root.join(f)).collect();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // Kept for gRPC server reflection.
    std::fs::write(out.join("descriptors.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
