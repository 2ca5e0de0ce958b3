//! The purge of personal data past its retention (PIPL Art. 47; the rules
//! are `mediation_core::retention`'s): a background pass over every
//! referral, in bounded batches with a pause between them so that calls
//! never wait behind it.
//!
//! A referral that rests, has no timer and no message still in the outbox,
//! and whose last event is older than its outcome's period, is purged: one
//! commit appends the `personal_data_purged` event and writes the redacted
//! history and bundle over the stored ones ([`ReferralStore::purge`]). The
//! commit carries the version the pass read, so of two replicas purging one
//! referral one succeeds and the other is refused and counts it as moved on.
//!
//! The case files a purged referral listed are removed from disk once no
//! referral lists them; the store keeps the list until then, so a crash
//! between the purge and the removal only delays it to the next pass.

use std::collections::BTreeSet;

use futures_util::StreamExt as _;
use std::sync::Arc;
use std::time::Duration;

use mediation_core::audit::AuditRecord;
use mediation_core::document::Sha256Digest;
use mediation_core::ids::ReferralId;
use mediation_core::lifecycle::{Change, Referral};
use mediation_core::retention::{self, RetentionPolicy, Verdict};
use mediation_core::store::DetailCut;
use mediation_core::store::{
    AuditLog, Commit, DeliveryOutcome, DocumentFiles, MessageId, OutboxStore, Purge, ReferralStore,
    StoreError,
};

use crate::commands::Commands;
use crate::error::ServiceError;

/// What a pass found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Referrals read.
    pub examined: u64,
    /// Purged by this pass.
    pub purged: u64,
    /// Not ended, nor resting.
    pub open: u64,
    /// Resting, but with a timer or a message still to deliver.
    pub busy: u64,
    /// Resting, within their period.
    pub kept: u64,
    /// Purged before, with nothing since that needs purging.
    pub already_purged: u64,
    /// Changed while the pass decided (another replica purged it, or a
    /// command came in): left for the next pass.
    pub moved_on: u64,
    /// Could not be read or purged (logged).
    pub failed: u64,
    /// Dead letters of purged referrals, discarded with them.
    pub dead_letters_discarded: u64,
    /// Case files removed from disk.
    pub files_removed: u64,
    /// Case files kept because another referral lists them.
    pub files_kept: u64,
    /// Audit entries walked past for their outcome details.
    pub audit_entries_examined: u64,
    /// Audit entries whose outcome detail was purged.
    pub audit_details_purged: u64,
}

/// How a pass goes.
#[derive(Debug, Clone)]
pub struct RetentionOptions {
    pub policy: RetentionPolicy,
    /// Referrals read per batch.
    pub batch: usize,
    /// The pause after each batch.
    pub pause: Duration,
    /// The time between passes.
    pub every: Duration,
    /// The time from the start to the first pass.
    pub first_after: Duration,
    /// A progress line every this many referrals read.
    pub progress_every: u64,
    /// Referrals of a batch examined and purged at once, so that their
    /// commits share the store's synced writes.
    pub concurrency: usize,
    /// Days an audit entry's outcome detail (a refusal's message, which
    /// may quote what a caller sent: a name, an identity number) is kept
    /// after the call; `None` keeps it. The entry itself, with who, what,
    /// which referral, when and the outcome's code, is kept.
    pub audit_detail_days: Option<u32>,
}

impl Default for RetentionOptions {
    fn default() -> Self {
        Self {
            policy: RetentionPolicy::default(),
            batch: 500,
            pause: Duration::from_millis(20),
            every: Duration::from_secs(3600),
            first_after: Duration::from_secs(300),
            progress_every: 100_000,
            concurrency: 16,
            audit_detail_days: Some(180),
        }
    }
}

/// The actor a purge's audit record names.
pub const RETENTION_ACTOR: &str = "gateway:retention";

/// The purge of personal data past its retention.
pub struct Retention<S> {
    gateway: Arc<Commands<S>>,
    files: Option<Arc<dyn DocumentFiles>>,
    options: RetentionOptions,
}

impl<S> std::fmt::Debug for Retention<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retention")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<S: ReferralStore + OutboxStore + AuditLog> Retention<S> {
    /// `files` is where the case files are kept; `None` where the gateway
    /// keeps none.
    pub fn new(
        gateway: Arc<Commands<S>>,
        files: Option<Arc<dyn DocumentFiles>>,
        options: RetentionOptions,
    ) -> Self {
        Self {
            gateway,
            files,
            options,
        }
    }

    pub fn policy(&self) -> &RetentionPolicy {
        &self.options.policy
    }

    /// One pass over every referral, then the files waiting for removal.
    pub async fn pass(&self) -> Result<PurgeReport, ServiceError> {
        let started = std::time::Instant::now();
        let mut report = PurgeReport::default();
        let mut after: Option<ReferralId> = None;
        let mut next_progress = self.options.progress_every.max(1);
        loop {
            let ids = self
                .gateway
                .store()
                .referral_ids(after.as_ref(), self.options.batch.max(1))
                .await?;
            let Some(last) = ids.last().cloned() else {
                break;
            };
            // The futures are made first: a stream mapping over borrowed
            // ids would not be `Send` for every lifetime, as `spawn` needs.
            let examined: Vec<_> = ids.iter().map(|id| self.examine(id)).collect();
            let outcomes: Vec<Outcome> = futures_util::stream::iter(examined)
                .buffer_unordered(self.options.concurrency.max(1))
                .collect()
                .await;
            for outcome in outcomes {
                report.tally(outcome);
            }
            after = Some(last);
            if report.examined >= next_progress {
                next_progress += self.options.progress_every.max(1);
                tracing::info!(
                    examined = report.examined,
                    purged = report.purged,
                    millis = started.elapsed().as_millis() as u64,
                    "retention pass: progress"
                );
            }
            self.rest().await;
        }
        self.remove_files(&mut report).await?;
        self.purge_audit_details(&mut report).await?;
        metrics::counter!("gateway_retention_purged_total").increment(report.purged);
        metrics::counter!("gateway_retention_audit_details_purged_total")
            .increment(report.audit_details_purged);
        metrics::counter!("gateway_retention_files_removed_total").increment(report.files_removed);
        metrics::histogram!("gateway_retention_pass_seconds")
            .record(started.elapsed().as_secs_f64());
        tracing::info!(
            examined = report.examined,
            purged = report.purged,
            kept = report.kept,
            busy = report.busy,
            already_purged = report.already_purged,
            moved_on = report.moved_on,
            failed = report.failed,
            dead_letters_discarded = report.dead_letters_discarded,
            files_removed = report.files_removed,
            files_kept = report.files_kept,
            audit_entries_examined = report.audit_entries_examined,
            audit_details_purged = report.audit_details_purged,
            millis = started.elapsed().as_millis() as u64,
            "retention pass"
        );
        Ok(report)
    }

    /// Passes until `shutdown` completes: the first `first_after` from now,
    /// then one every `every`. A pass under way when it does is dropped
    /// between two purges (each is one atomic commit); the next start
    /// begins again.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        // Not at once: a pass reads every referral, and a start has its
        // own reads to make (the first sweep, the waiting offers).
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(self.options.first_after) => {}
        }
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                result = self.pass() => if let Err(error) = result {
                    tracing::warn!(%error, "retention pass failed; the next one tries again");
                },
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.options.every) => {}
            }
        }
    }

    /// Purges the outcome details of audit entries older than their
    /// period, a bounded run of entries at a time with the pass's pause
    /// between runs; the store keeps where the last run stopped.
    async fn purge_audit_details(&self, report: &mut PurgeReport) -> Result<(), ServiceError> {
        let Some(days) = self.options.audit_detail_days else {
            return Ok(());
        };
        let now = self.gateway.clock().now();
        let before = now - jiff::SignedDuration::from_hours(i64::from(days) * 24);
        let cut = DetailCut {
            before,
            now,
            limit: self.options.batch.max(1) * 20,
        };
        let purged_before = report.audit_details_purged;
        loop {
            let run = self.gateway.store().purge_audit_details(cut).await?;
            report.audit_entries_examined += run.examined;
            report.audit_details_purged += run.purged;
            if run.dated_ahead > 0 {
                tracing::warn!(
                    entries = run.dated_ahead,
                    "audit entries dated more than a day ahead of the gateway's clock: their details were purged at once (a replica's clock was wrong when it wrote them)"
                );
            }
            // A run that moved nothing (another purge went first) leaves
            // the rest to the next pass rather than spin.
            if run.done || run.examined + run.purged == 0 {
                break;
            }
            self.rest().await;
        }
        let purged = report.audit_details_purged - purged_before;
        if purged > 0 {
            // The trail says when details were purged and by which policy.
            self.gateway
                .store()
                .append_audit(vec![AuditRecord {
                    at: self.gateway.clock().now(),
                    actor: RETENTION_ACTOR.into(),
                    // In the action, which stays: an outcome's detail would
                    // be purged in its turn.
                    action: format!(
                        "purge_audit_details: policy audit_details ({days} days): the details of {purged} entries recorded before {before}"
                    ),
                    referral: None,
                    outcome: "ok".into(),
                }])
                .await?;
        }
        Ok(())
    }

    async fn rest(&self) {
        if self.options.pause.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(self.options.pause).await;
        }
    }

    async fn examine(&self, id: &ReferralId) -> Outcome {
        let decided = match self.decide(id).await {
            Ok(decided) => decided,
            Err(error) => {
                tracing::error!(referral = %id, %error, "referral could not be read for retention");
                return Outcome::Failed;
            }
        };
        match decided {
            Decision::Open => Outcome::Open,
            Decision::Busy => Outcome::Busy,
            Decision::Kept => Outcome::Kept,
            Decision::AlreadyPurged => Outcome::AlreadyPurged,
            Decision::MovedOn => Outcome::MovedOn,
            Decision::Purge {
                referral,
                history,
                policy,
                dead,
            } => match self.purge(&referral, history, policy, &dead).await {
                Ok(Some(discarded)) => Outcome::Purged { discarded },
                Ok(None) => Outcome::MovedOn,
                Err(ServiceError::Store(StoreError::VersionConflict { .. })) => Outcome::MovedOn,
                Err(error) => {
                    tracing::error!(referral = %id, %error, "referral could not be purged");
                    Outcome::Failed
                }
            },
        }
    }

    /// What the pass does with one referral: reads its snapshot, and only
    /// for a resting one its history and outbox.
    async fn decide(&self, id: &ReferralId) -> Result<Decision, ServiceError> {
        let store = self.gateway.store();
        let Some(referral) = store.referral(id).await? else {
            return Ok(Decision::Open);
        };
        if !retention::rests(referral.status()) {
            return Ok(Decision::Open);
        }
        let history = store
            .history(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(id.clone()))?;
        let Some(last) = history.last() else {
            return Ok(Decision::Open);
        };
        // A command committed between the two reads: the next pass decides.
        if history.len() as u64 != referral.version() {
            return Ok(Decision::MovedOn);
        }
        if matches!(last.change, Change::PersonalDataPurged { .. }) {
            return Ok(Decision::AlreadyPurged);
        }
        // A message still to deliver keeps the referral; a dead letter
        // (one given up on, its referral at rest since) goes with the purge.
        let outbox = store.pending_messages(id).await?;
        let pending = outbox.iter().any(|m| m.dead_at.is_none());
        let dead: Vec<MessageId> = outbox
            .into_iter()
            .filter(|m| m.dead_at.is_some())
            .map(|m| m.id)
            .collect();
        let now = self.gateway.clock().now();
        Ok(
            match retention::verdict(&referral, last.at, pending, &self.options.policy, now) {
                Verdict::Open => Decision::Open,
                Verdict::Busy => Decision::Busy,
                Verdict::KeptUntil(_) => Decision::Kept,
                Verdict::Due { policy } => Decision::Purge {
                    referral: Box::new(referral),
                    history,
                    policy,
                    dead,
                },
            },
        )
    }

    /// Purges `referral`, whose stored history is `history`, under `policy`,
    /// discarding its dead letters `dead` first (their events and offers
    /// carry the personal data too); returns how many were discarded, or
    /// `None` when one of them is no longer a dead letter (an operator
    /// replayed it, or another replica discarded it): the next pass
    /// decides again. A crash between the discards and the purge leaves the
    /// referral unpurged and without them, and the next pass purges it.
    async fn purge(
        &self,
        referral: &Referral,
        history: Vec<mediation_core::lifecycle::Event>,
        policy: String,
        dead: &[MessageId],
    ) -> Result<Option<u64>, ServiceError> {
        for id in dead {
            match self
                .gateway
                .store()
                .record_delivery(id, DeliveryOutcome::Discarded)
                .await
            {
                Ok(()) => {}
                Err(StoreError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        let now = self.gateway.clock().now();
        let event = mediation_core::lifecycle::Event {
            at: now,
            change: Change::PersonalDataPurged {
                policy: policy.clone(),
            },
        };
        let mut after = referral.clone();
        after.apply(&event);
        let commit = Commit {
            referral: referral.id().clone(),
            expected_version: referral.version(),
            at: now,
            events: vec![event],
            court_key: None,
            messages: Vec::new(),
            timers: after.timers(),
            alerts: Vec::new(),
            audit: vec![AuditRecord {
                at: now,
                actor: RETENTION_ACTOR.into(),
                action: "purge_personal_data".into(),
                referral: Some(referral.id().clone()),
                outcome: format!("ok: policy {policy}"),
            }],
            loads: Vec::new(),
            state: after.state(),
            delivered: None,
            trace: None,
        };
        let purge = Purge {
            commit,
            redacted: retention::redact(&history),
            files: retention::stored_files(&history).into_iter().collect(),
        };
        self.gateway.store().purge(purge).await?;
        tracing::debug!(referral = %referral.id(), policy, dead_letters = dead.len(), "personal data purged");
        Ok(Some(dead.len() as u64))
    }

    /// Removes the files purged referrals listed, unless a referral still
    /// lists them; each purged referral's list is cleared once its files
    /// are dealt with. Reads every referral once, and only when files wait.
    async fn remove_files(&self, report: &mut PurgeReport) -> Result<(), ServiceError> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let store = self.gateway.store();
        let waiting = store.files_to_remove(10_000).await?;
        if waiting.is_empty() {
            return Ok(());
        }
        let candidates: BTreeSet<Sha256Digest> = waiting
            .iter()
            .flat_map(|(_, digests)| digests.iter().cloned())
            .collect();
        // Who uploaded them is forgotten first: from then on a referral can
        // list one only by uploading it anew, so a referral made after the
        // look below cannot list a file the pass then removes.
        for digest in &candidates {
            files.forget_uploaders(digest).map_err(|e| {
                ServiceError::Store(StoreError::Unavailable(format!("case file {digest}: {e}")))
            })?;
        }
        let listed = self.still_listed(&candidates).await?;
        for (referral, digests) in waiting {
            let mut failed = false;
            for digest in digests {
                if listed.contains(&digest) {
                    report.files_kept += 1;
                    continue;
                }
                match files.remove(&digest) {
                    Ok(_) => report.files_removed += 1,
                    Err(error) => {
                        failed = true;
                        report.failed += 1;
                        tracing::error!(%referral, digest = %digest, %error, "case file could not be removed; the next pass tries again");
                    }
                }
            }
            if !failed {
                store.files_removed(&referral).await?;
            }
        }
        Ok(())
    }

    /// Which of `candidates` some referral lists.
    async fn still_listed(
        &self,
        candidates: &BTreeSet<Sha256Digest>,
    ) -> Result<BTreeSet<Sha256Digest>, ServiceError> {
        let store = self.gateway.store();
        let mut listed = BTreeSet::new();
        let mut after: Option<ReferralId> = None;
        loop {
            let ids = store
                .referral_ids(after.as_ref(), self.options.batch.max(1))
                .await?;
            let Some(last) = ids.last().cloned() else {
                return Ok(listed);
            };
            for id in &ids {
                if let Some(referral) = store.referral(id).await? {
                    listed.extend(
                        candidates
                            .iter()
                            .filter(|d| referral.lists_document(d))
                            .cloned(),
                    );
                }
            }
            after = Some(last);
            self.rest().await;
        }
    }
}

/// What became of one referral in a pass.
enum Outcome {
    Open,
    Busy,
    Kept,
    AlreadyPurged,
    Purged { discarded: u64 },
    MovedOn,
    Failed,
}

impl PurgeReport {
    fn tally(&mut self, outcome: Outcome) {
        self.examined += 1;
        let count = match outcome {
            Outcome::Open => &mut self.open,
            Outcome::Busy => &mut self.busy,
            Outcome::Kept => &mut self.kept,
            Outcome::AlreadyPurged => &mut self.already_purged,
            Outcome::Purged { discarded } => {
                self.dead_letters_discarded += discarded;
                &mut self.purged
            }
            Outcome::MovedOn => &mut self.moved_on,
            Outcome::Failed => &mut self.failed,
        };
        *count += 1;
    }
}

/// What the pass does with one referral.
enum Decision {
    Open,
    Busy,
    Kept,
    AlreadyPurged,
    MovedOn,
    Purge {
        referral: Box<Referral>,
        history: Vec<mediation_core::lifecycle::Event>,
        policy: String,
        /// Its dead letters, discarded with it.
        dead: Vec<MessageId>,
    },
}
