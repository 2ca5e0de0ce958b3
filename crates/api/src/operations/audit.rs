//! The audit trail as operators and auditors read it: the chain's entries
//! that match a filter, a page at a time, with a bound on how much of the
//! chain one page reads, so that a narrow filter over a long chain answers
//! in bounded time and says where to go on.

use jiff::Timestamp;
use mediation_core::access::actor_subject;
use mediation_core::audit::{AuditEntry, AuditRecord};
use mediation_core::ids::ReferralId;
use mediation_core::store::{AuditLog, StoreError};

/// Entries a page holds when the caller names no limit, and at most.
pub(super) const DEFAULT_LIMIT: usize = 100;
pub(super) const MAX_LIMIT: usize = 1_000;
/// Entries of the chain one page reads at most.
pub(super) const MAX_SCAN: u64 = 100_000;
/// Entries read from the store at a time.
const BATCH: u64 = 1_000;

/// What an entry must match; every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct AuditFilter {
    pub(super) referral: Option<ReferralId>,
    pub(super) tenant: Option<String>,
    pub(super) subject: Option<String>,
    /// A method path, or one of the gateway's own actions.
    pub(super) method: Option<String>,
    /// A prefix of the outcome.
    pub(super) outcome: Option<String>,
    pub(super) from: Option<Timestamp>,
    pub(super) until: Option<Timestamp>,
}

/// One part of an actor (`tenant=… sub=… cert=…`): the value after `key=`.
/// Tenant ids are identifiers, and a subject is written with its spaces
/// escaped (`mediation_core::access::actor_subject`), so a space ends a part
/// and the first `tenant=` and `sub=` are the caller's.
fn actor_part<'a>(actor: &'a str, key: &str) -> Option<&'a str> {
    actor
        .split(' ')
        .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
}

impl AuditFilter {
    pub(super) fn matches(&self, record: &AuditRecord) -> bool {
        let is = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|w| got == Some(w))
        };
        self.referral
            .as_ref()
            .is_none_or(|r| record.referral.as_ref() == Some(r))
            && is(&self.tenant, actor_part(&record.actor, "tenant"))
            && self.subject.as_deref().is_none_or(|want| {
                actor_part(&record.actor, "sub") == Some(actor_subject(want).as_str())
            })
            // A call's action is its channel and its method; the gateway's
            // own is the command's name.
            && self.method.as_deref().is_none_or(|m| {
                record.action == m
                    || record.action.split_once(' ').is_some_and(|(_, p)| p == m)
                    // The gateway's own action with its particulars after
                    // it (`rechain_audit: …`, `purge_audit_details: …`).
                    || record.action.split_once(": ").is_some_and(|(a, _)| a == m)
                    // Timers that fired in one commit
                    // (`acceptance_warning+acceptance_breach`).
                    || (!record.action.contains(' ')
                        && record.action.split('+').any(|a| a == m))
            })
            && self
                .outcome
                .as_deref()
                .is_none_or(|o| record.outcome.starts_with(o))
            && self.from.is_none_or(|from| record.at >= from)
            && self.until.is_none_or(|until| record.at < until)
    }
}

/// A page of the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Page {
    /// Each entry with the bytes its hash covers.
    pub(super) entries: Vec<(AuditEntry, Vec<u8>)>,
    /// Where the next page starts, unless the range was read to its end.
    pub(super) next_after: Option<u64>,
    pub(super) scanned: u64,
}

/// Reads the entries after `after` (from the first when `None`) up to `to`
/// (inclusive; the chain's end when `None`) that match `filter`: at most
/// `limit` of them, reading at most [`MAX_SCAN`] entries, except that a
/// page never ends inside a group of entries sharing a number.
///
/// Several chains share numbers on PostgreSQL (entries come in number
/// order, then chain order), and the next page starts after a number: a
/// page that stopped inside a group would lose the rest of it. So a batch
/// from the store whose last group may be cut short is read again from
/// that group's number, and a page stops only at a group's end.
pub(super) async fn page<S: AuditLog>(
    store: &S,
    filter: &AuditFilter,
    after: Option<u64>,
    to: Option<u64>,
    limit: usize,
) -> Result<Page, StoreError> {
    let mut next = after.map_or(0, |a| a.saturating_add(1));
    let mut entries = Vec::new();
    let mut scanned = 0u64;
    let end = |entries, next_after, scanned| {
        Ok(Page {
            entries,
            next_after,
            scanned,
        })
    };
    loop {
        if to.is_some_and(|to| next > to) {
            return end(entries, None, scanned);
        }
        let want = usize::try_from(BATCH).unwrap_or(usize::MAX);
        let mut batch = store.hashed_audit_entries(next, want).await?;
        let Some(last) = batch.last().map(|(e, _)| e.seq) else {
            return end(entries, None, scanned);
        };
        // A full batch may have cut its last group short: leave that group
        // to the next read, unless the batch is that group alone.
        let full = batch.len() >= want;
        if full && batch.first().is_some_and(|(e, _)| e.seq < last) {
            batch.retain(|(e, _)| e.seq < last);
        }
        let read_to = batch.last().map_or(last, |(e, _)| e.seq);
        let mut group: Option<u64> = None;
        for (entry, hashed) in batch {
            let seq = entry.seq;
            // The page is full and its last group is done: stop before
            // this one.
            if group.is_some_and(|g| g != seq) && (entries.len() >= limit || scanned >= MAX_SCAN) {
                return end(entries, group, scanned);
            }
            if to.is_some_and(|to| seq > to) {
                return end(entries, None, scanned);
            }
            group = Some(seq);
            scanned += 1;
            if filter.matches(&entry.record) {
                entries.push((entry, hashed));
            }
        }
        if entries.len() >= limit || scanned >= MAX_SCAN {
            let more = to.is_none_or(|to| read_to < to);
            return end(entries, more.then_some(read_to), scanned);
        }
        next = read_to.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        at: &str,
        actor: &str,
        action: &str,
        referral: Option<&str>,
        outcome: &str,
    ) -> AuditRecord {
        AuditRecord {
            at: at.parse().unwrap(),
            actor: actor.into(),
            action: action.into(),
            referral: referral.map(|r| ReferralId::parse(r).unwrap()),
            outcome: outcome.into(),
        }
    }

    const R1: &str = "01JABCDEFGHJKMNPQRSTVWXYZ0";

    #[test]
    fn a_filter_matches_the_parts_of_a_record_it_names() {
        let call = record(
            "2026-12-07T08:00:00Z",
            "tenant=court-bj sub=clerk-7 cert=CN=court-bj",
            "call /mediation.court.v1.CourtGateway/SubmitReferral",
            Some(R1),
            "ok",
        );
        let matches = |f: AuditFilter| f.matches(&call);
        assert!(matches(AuditFilter::default()));
        assert!(matches(AuditFilter {
            referral: Some(ReferralId::parse(R1).unwrap()),
            tenant: Some("court-bj".into()),
            subject: Some("clerk-7".into()),
            method: Some("/mediation.court.v1.CourtGateway/SubmitReferral".into()),
            outcome: Some("ok".into()),
            from: Some("2026-12-07T08:00:00Z".parse().unwrap()),
            until: Some("2026-12-07T08:00:01Z".parse().unwrap()),
        }));
        // Each part that differs excludes it.
        assert!(!matches(AuditFilter {
            tenant: Some("court-bj2".into()),
            ..Default::default()
        }));
        assert!(!matches(AuditFilter {
            tenant: Some("court".into()),
            ..Default::default()
        }));
        assert!(!matches(AuditFilter {
            subject: Some("clerk".into()),
            ..Default::default()
        }));
        assert!(!matches(AuditFilter {
            method: Some("SubmitReferral".into()),
            ..Default::default()
        }));
        assert!(!matches(AuditFilter {
            outcome: Some("rejected".into()),
            ..Default::default()
        }));
        assert!(!matches(AuditFilter {
            until: Some("2026-12-07T08:00:00Z".parse().unwrap()),
            ..Default::default()
        }));
        assert!(!matches(AuditFilter {
            from: Some("2026-12-07T08:00:00.000000001Z".parse().unwrap()),
            ..Default::default()
        }));
        // A subject with a space is written escaped: it matches only
        // itself, and never the subject its first word spells.
        let spaced = record(
            "2026-12-07T08:00:00Z",
            "tenant=court-bj sub=clerk-7%20sub=clerk-9 cert=none",
            "call /x",
            None,
            "ok",
        );
        let by = |subject: &str| AuditFilter {
            subject: Some(subject.into()),
            ..Default::default()
        };
        assert!(by("clerk-7 sub=clerk-9").matches(&spaced));
        assert!(!by("clerk-7").matches(&spaced));
        assert!(!by("clerk-9").matches(&spaced));
        // The gateway's own actions are matched by their name.
        let own = record(
            "2026-12-07T08:00:00Z",
            "gateway",
            "acceptance_breach",
            Some(R1),
            "ok",
        );
        assert!(
            AuditFilter {
                method: Some("acceptance_breach".into()),
                ..Default::default()
            }
            .matches(&own)
        );
        // Timers that fired together are each found.
        let together = record(
            "2026-12-07T08:00:00Z",
            "gateway",
            "acceptance_warning+acceptance_breach",
            Some(R1),
            "ok",
        );
        let by_method = |m: &str| AuditFilter {
            method: Some(m.into()),
            ..Default::default()
        };
        assert!(by_method("acceptance_warning").matches(&together));
        assert!(by_method("acceptance_breach").matches(&together));
        assert!(!by_method("acceptance").matches(&together));
    }

    /// A chain of `n` entries in memory: entry `i` concerns the referral
    /// only when `i` is a multiple of 3.
    struct Chain(Vec<AuditEntry>);

    impl AuditLog for Chain {
        async fn append_audit(&self, _: Vec<AuditRecord>) -> Result<(), StoreError> {
            Ok(())
        }
        async fn audit_entries(
            &self,
            from: u64,
            limit: usize,
        ) -> Result<Vec<AuditEntry>, StoreError> {
            Ok(self
                .0
                .iter()
                .filter(|e| e.seq >= from)
                .take(limit)
                .cloned()
                .collect())
        }
        async fn hashed_audit_entries(
            &self,
            from: u64,
            limit: usize,
        ) -> Result<Vec<(AuditEntry, Vec<u8>)>, StoreError> {
            let entries = self.audit_entries(from, limit).await?;
            Ok(entries.into_iter().map(|e| (e, Vec::new())).collect())
        }
        async fn verify_audit(
            &self,
        ) -> Result<mediation_core::audit::AuditVerification, StoreError> {
            Ok(mediation_core::audit::AuditVerification::Intact { entries: 0 })
        }
        async fn purge_audit_details(
            &self,
            _: mediation_core::store::DetailCut,
        ) -> Result<mediation_core::store::AuditDetailsPurged, StoreError> {
            Ok(mediation_core::store::AuditDetailsPurged::default())
        }
    }

    fn chain(n: u64) -> Chain {
        Chain(
            (0..n)
                .map(|seq| AuditEntry {
                    seq,
                    record: record(
                        "2026-12-07T08:00:00Z",
                        "gateway",
                        "fire",
                        (seq % 3 == 0).then_some(R1),
                        "ok",
                    ),
                    prev_hash: String::new(),
                    hash: String::new(),
                    detail_purged: false,
                })
                .collect(),
        )
    }

    #[tokio::test]
    async fn pages_go_on_where_the_last_ended_and_end_with_the_range() {
        let store = chain(2_500);
        let all = AuditFilter::default();
        let first = page(&store, &all, None, None, 100).await.unwrap();
        assert_eq!(first.entries.first().map(|(e, _)| e.seq), Some(0));
        assert_eq!(first.entries.len(), 100);
        assert_eq!(first.next_after, Some(99));
        let second = page(&store, &all, first.next_after, None, 100)
            .await
            .unwrap();
        assert_eq!(second.entries.first().map(|(e, _)| e.seq), Some(100));
        // A range that ends inside the chain ends there, with no next page.
        let ranged = page(&store, &all, Some(1_990), Some(2_004), 100)
            .await
            .unwrap();
        let seqs: Vec<u64> = ranged.entries.iter().map(|(e, _)| e.seq).collect();
        assert_eq!(seqs, (1_991..=2_004).collect::<Vec<_>>());
        assert_eq!(ranged.next_after, None);
        // A filter reads across batches and keeps only what matches.
        let about = AuditFilter {
            referral: Some(ReferralId::parse(R1).unwrap()),
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let p = page(&store, &about, after, None, 300).await.unwrap();
            seen.extend(p.entries.iter().map(|(e, _)| e.seq));
            match p.next_after {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        assert_eq!(seen, (0..2_500).filter(|s| s % 3 == 0).collect::<Vec<_>>());
    }

    /// Three chains numbered alike, as PostgreSQL keeps them: entries in
    /// number order, then chain order.
    fn chains(n: u64) -> Chain {
        Chain(
            (0..n)
                .flat_map(|seq| {
                    (0..3).map(move |chain| AuditEntry {
                        seq,
                        record: record("2026-12-07T08:00:00Z", "gateway", "fire", None, "ok"),
                        prev_hash: String::new(),
                        hash: format!("{chain}:{seq}"),
                        detail_purged: false,
                    })
                })
                .collect(),
        )
    }

    #[tokio::test]
    async fn pages_over_chains_that_share_numbers_lose_and_repeat_nothing() {
        // 3 chains of 700: 2,100 entries, read in batches of 1,000 rows
        // (which end inside a group of three) and pages of 100 entries
        // (which do too).
        let store = chains(700);
        let all = AuditFilter::default();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let p = page(&store, &all, after, None, 100).await.unwrap();
            // A page ends at the end of a group.
            assert_eq!(p.entries.len() % 3, 0, "{}", p.entries.len());
            seen.extend(p.entries.into_iter().map(|(e, _)| e.hash));
            match p.next_after {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        let expected: Vec<String> = store.0.iter().map(|e| e.hash.clone()).collect();
        assert_eq!(seen, expected);
        // A range up to a number reads every chain's entry of it.
        let ranged = page(&store, &all, Some(9), Some(12), 1_000).await.unwrap();
        assert_eq!(ranged.entries.len(), 9);
        assert_eq!(ranged.next_after, None);
        // The largest bound is no overflow.
        let open = page(&store, &all, None, Some(u64::MAX), 1_000)
            .await
            .unwrap();
        assert_eq!(open.entries.len(), 1_002);
    }
}
