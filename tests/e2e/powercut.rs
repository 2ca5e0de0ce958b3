//! The power-cut test. SIGKILL cannot show what a power cut loses, because
//! the page cache survives a killed process; this test models the cut.
//!
//! The child process (this test binary, re-run on the ignored
//! `powercut::child_process`) submits and accepts referrals with bundles of
//! about 230 KB, while a relay delivers their messages. On sled's default
//! 512 KiB segments such pages went to blob files of their own, and this
//! test found them unsafe (a recovery that panicked on a blob of the wrong
//! kind, about one cut in a hundred); a store now keeps them in its 16 MiB
//! segments, and the test checks that no blob file is written. It runs with
//! `durable_image.c` preloaded, which keeps a copy of the data directory
//! holding only what was synced: file contents as of their last
//! `fsync`/`fdatasync`, directory entries as of the directory's last `fsync`.
//! After each SIGKILL the data directory is replaced by the tree rebuilt from
//! that copy, exactly what a machine would find after losing power at that
//! moment, and then:
//!
//! - the store must open, and every acknowledged command must be in it, with
//!   every message it made still pending or delivered, its timers in step and
//!   the audit chain intact (the crash test's checks);
//! - no message may have been delivered for a referral the cut undid: nothing
//!   leaves the gateway before the commit that made it is durable.
//!
//! Set `MG_POWERCUT_ROUNDS` for a longer run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mediation_core::fixtures::{narrative, sample_bundle};
use mediation_core::ids::ReferralId;
use mediation_store::{SledStore, StoreOptions};

use crate::crash::{check, put_load};

const DIR: &str = "MG_POWERCUT_DIR";
const ACKS: &str = "MG_POWERCUT_ACKS";
const DELIVERED: &str = "MG_POWERCUT_DELIVERED";

/// A bundle of about 230 KB: a long summary and three long claims.
fn large_bundle(id: &str) -> mediation_core::bundle::CaseBundle {
    let mut bundle = sample_bundle();
    bundle.court_referral_id = id.parse().unwrap();
    let long = |seed: char| -> String {
        std::iter::repeat_n("双方就货款支付发生争议，", 1_500)
            .collect::<String>()
            .replace('双', &seed.to_string())
    };
    bundle.summary = Some(narrative(&long('甲')));
    for (i, claim) in bundle.claims.iter_mut().enumerate() {
        claim.description = narrative(&long(['乙', '丙', '丁'][i % 3]));
    }
    while bundle.claims.len() < 3 {
        let mut extra = bundle.claims[0].clone();
        extra.description = narrative(&long('戊'));
        bundle.claims.push(extra);
    }
    bundle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the power-cut test's child process; run by powercut::a_power_cut_loses_nothing_acknowledged"]
async fn child_process() {
    std::env::var(DIR).expect("run by the power-cut test");
    put_load([DIR, ACKS, DELIVERED], 8, "cut", large_bundle, store_open).await;
}

/// Tells the parent the store is open: its clock for this round starts now.
fn store_open() {
    use std::io::Write as _;
    let mut out = std::io::stdout();
    // On a line of its own: the test harness has already written the
    // test's name without a newline.
    let _ = writeln!(out, "\npowercut: store open");
    let _ = out.flush();
}

/// Builds the preloaded model from its C source, with the machine's `cc`.
fn build_model(work: &Path) -> PathBuf {
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/powercut/durable_image.c");
    let library = work.join("libdurable_image.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("a C compiler (cc) builds the power-cut model");
    assert!(status.success(), "building {} failed", source.display());
    library
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

/// Rebuilds, at `target`, the directory whose synced entries the image keeps
/// under `dirs/<inode>`; a directory never synced comes back empty, and a file
/// never synced comes back empty.
fn rebuild(image: &Path, dir_inode: u64, target: &Path) {
    std::fs::create_dir_all(target).unwrap();
    let listing =
        std::fs::read_to_string(image.join("dirs").join(dir_inode.to_string())).unwrap_or_default();
    for line in listing.lines() {
        let mut parts = line.splitn(3, ' ');
        let (kind, ino, name) = (
            parts.next().unwrap(),
            parts.next().unwrap().parse::<u64>().unwrap(),
            parts.next().unwrap(),
        );
        let path = target.join(name);
        if kind == "d" {
            rebuild(image, ino, &path);
        } else {
            let synced = image.join("files").join(ino.to_string());
            match std::fs::read(&synced) {
                Ok(bytes) => std::fs::write(&path, bytes).unwrap(),
                Err(_) => std::fs::write(&path, b"").unwrap(),
            }
        }
    }
}

/// Starts a fresh image of `tree` as it now is on disk: everything in it
/// counts as synced, as after a reboot.
fn fresh_image(tree: &Path, image: &Path) {
    if image.exists() {
        std::fs::remove_dir_all(image).unwrap();
    }
    std::fs::create_dir_all(image.join("files")).unwrap();
    std::fs::create_dir_all(image.join("dirs")).unwrap();
    fn walk(dir: &Path, image: &Path) {
        let mut listing = String::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let ino = inode(&path);
            let name = entry.file_name().into_string().unwrap();
            if path.is_dir() {
                listing.push_str(&format!("d {ino} {name}\n"));
                walk(&path, image);
            } else {
                listing.push_str(&format!("f {ino} {name}\n"));
                std::fs::copy(&path, image.join("files").join(ino.to_string())).unwrap();
            }
        }
        std::fs::write(image.join("dirs").join(inode(dir).to_string()), listing).unwrap();
    }
    walk(tree, image);
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count())
}

#[test]
fn a_power_cut_loses_nothing_acknowledged() {
    let rounds: usize = std::env::var("MG_POWERCUT_ROUNDS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(5);
    let work = tempfile::tempdir().unwrap();
    let model = build_model(work.path());
    // The modelled tree holds the store; the logs stay outside it.
    let root = work.path().join("data");
    let dir = root.join("store");
    let image = work.path().join("image");
    let acks = work.path().join("acks.log");
    let delivered = work.path().join("delivered.log");
    std::fs::create_dir_all(&root).unwrap();
    fresh_image(&root, &image);
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d ^ u64::from(std::process::id());
    let mut most_blobs = 0;
    let started = Instant::now();
    for round in 0..rounds {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let lifetime = Duration::from_millis(700 + seed % 800);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "powercut::child_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR, &dir)
            .env(ACKS, &acks)
            .env(DELIVERED, &delivered)
            .env("LD_PRELOAD", &model)
            .env("POWERCUT_ROOT", &root)
            .env("POWERCUT_IMAGE", &image)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The cut comes `lifetime` after the store opened, however long the
        // opening took (it syncs every file once, which the model copies).
        {
            use std::io::BufRead as _;
            let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
            let ready = lines.any(|l| l.is_ok_and(|l| l.contains("powercut: store open")));
            assert!(ready, "round {round}: the child did not open its store");
        }
        std::thread::sleep(lifetime);
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            panic!(
                "round {round}: the child exited on its own ({status}): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        child.kill().unwrap();
        child.wait().unwrap();
        most_blobs = most_blobs.max(count_files(&dir.join("blobs")));

        // The power goes: only what was synced is on disk.
        let after = work.path().join("after-cut");
        rebuild(&image, inode(&root), &after);
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::rename(&after, &root).unwrap();
        fresh_image(&root, &image);

        let (referrals, messages) = check(&dir, &acks, &delivered);
        // Nothing reached the destination for a referral the cut undid.
        let store = SledStore::open(StoreOptions::new(&dir)).unwrap();
        let delivered_for: BTreeSet<String> = std::fs::read_to_string(&delivered)
            .unwrap_or_default()
            .lines()
            .filter_map(|m| m.rsplit_once('-').map(|(referral, _)| referral.to_owned()))
            .collect();
        for referral in &delivered_for {
            let id: ReferralId = referral.parse().unwrap();
            assert!(
                store.history(&id).unwrap().is_some(),
                "round {round}: a message of {referral} was delivered, but the power cut undid the referral"
            );
        }
        drop(store);
        eprintln!(
            "power-cut test: cut {}/{rounds} after {lifetime:?}: {referrals} acknowledged referrals and {messages} messages intact, {} referrals delivered to",
            round + 1,
            delivered_for.len()
        );
    }
    let (referrals, _) = check(&dir, &acks, &delivered);
    assert!(
        referrals > 0,
        "the child acknowledged nothing: the test would prove nothing"
    );
    assert_eq!(
        most_blobs, 0,
        "sled wrote blob files, which a power cut can leave unreadable"
    );
    eprintln!(
        "power-cut test: {rounds} cuts, {referrals} acknowledged referrals intact, {most_blobs} blob files, in {:?}",
        started.elapsed()
    );
}
