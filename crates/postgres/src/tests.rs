//! The conformance suite and the replica-specific promises, against a
//! throwaway cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use crate::cluster::Cluster;
use crate::{PgOptions, PgStore};

static DATABASES: AtomicU32 = AtomicU32::new(0);

fn cluster() -> &'static Cluster {
    static CLUSTER: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(|| {
        Cluster::start(&std::env::temp_dir()).expect("a throwaway PostgreSQL cluster")
    })
}

/// A store on a database of its own, migrated.
async fn fresh() -> PgStore {
    let name = format!("conformance_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
    let url = cluster().create_database(&name).unwrap();
    PgStore::open(&PgOptions::new(url)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    mediation_store::conformance::run_all(fresh).await;
}
