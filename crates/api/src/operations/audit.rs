//! The audit trail as operators and auditors read it: the chain's entries
//! that match a filter, a page at a time, with a bound on how much of the
//! chain one page reads, so that a narrow filter over a long chain answers
//! in bounded time and says where to go on.

use jiff::Timestamp;
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
/// Tenants and subjects hold no spaces (tenant ids are identifiers, and a
/// subject is written without its spaces), so a space ends a part.
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
            && is(&self.subject, actor_part(&record.actor, "sub"))
            // A call's action is its channel and its method; the gateway's
            // own is the command's name.
            && self.method.as_deref().is_none_or(|m| {
                record.action == m || record.action.split_once(' ').is_some_and(|(_, p)| p == m)
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
/// `limit` of them, reading at most [`MAX_SCAN`] entries.
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
    loop {
        if to.is_some_and(|to| next > to) {
            return Ok(Page {
                entries,
                next_after: None,
                scanned,
            });
        }
        let want = to.map_or(BATCH, |to| (to - next + 1).min(BATCH));
        let batch = store
            .hashed_audit_entries(next, usize::try_from(want).unwrap_or(usize::MAX))
            .await?;
        let Some(last) = batch.last().map(|(e, _)| e.seq) else {
            return Ok(Page {
                entries,
                next_after: None,
                scanned,
            });
        };
        for (entry, hashed) in batch {
            if to.is_some_and(|to| entry.seq > to) {
                break;
            }
            scanned += 1;
            let seq = entry.seq;
            if filter.matches(&entry.record) {
                entries.push((entry, hashed));
            }
            // Full, or read as much as one page may: the caller goes on
            // after this entry.
            if entries.len() >= limit || scanned >= MAX_SCAN {
                let more = to.is_none_or(|to| seq < to);
                return Ok(Page {
                    entries,
                    next_after: more.then_some(seq),
                    scanned,
                });
            }
        }
        next = last.saturating_add(1);
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
}
