//! Realistic referrals for the load: the three partners' kinds of dispute,
//! with summaries sized so that the encoded bundles spread evenly over 2–4 KiB.

use mediation_api::court::{bundle_from_wire, bundle_to_wire};
use mediation_core::bundle::CaseBundle;
use mediation_core::fixtures::{accident_bundle, labour_bundle, sample_bundle};
use mediation_proto::court::v1 as pb;
use prost::Message;

/// How many distinct templates: a size step of 2 KiB / 48 ≈ 43 bytes.
const VARIANTS: usize = 48;

/// Filler for the summary, three bytes a character in UTF-8.
const FILLER: &str = "双方当事人就合同履行及损失赔偿事项陈述了事实与理由";

#[derive(Debug, Clone)]
pub struct Templates(Vec<pb::CaseBundle>);

impl Templates {
    /// `VARIANTS` bundles cycling commercial (CCPIT), labour and road-traffic
    /// disputes, from 2 KiB to 4 KiB encoded.
    pub fn new() -> Self {
        Self::sized(|v| 2048 + v * 2048 / VARIANTS)
    }

    /// The same mix with every bundle about 2 KiB (for the million-referral
    /// store, to keep its disk use in bounds).
    pub fn small() -> Self {
        Self::sized(|_| 2048)
    }

    fn sized(target: impl Fn(usize) -> usize) -> Self {
        let mut all = Vec::new();
        for v in 0..VARIANTS {
            let base = match v % 3 {
                0 => sample_bundle(),
                1 => labour_bundle(),
                _ => accident_bundle(),
            };
            let mut wire = bundle_to_wire(&base);
            // Documents are uploaded separately; a load of referrals without
            // them measures the referral path itself.
            wire.documents.clear();
            wire.summary.clear();
            let missing = target(v).saturating_sub(wire.encoded_len() + 3);
            wire.summary = FILLER.chars().cycle().take(missing / 3).collect();
            all.push(wire);
        }
        Self(all)
    }

    /// The wire bundle number `n` (cycling), with the court's id `id`.
    pub fn wire(&self, n: u64, id: &str) -> pb::CaseBundle {
        let mut b = self.0[n as usize % self.0.len()].clone();
        b.court_referral_id = id.to_owned();
        b
    }

    pub fn request(&self, n: u64, id: &str) -> pb::SubmitReferralRequest {
        pb::SubmitReferralRequest {
            bundle: Some(self.wire(n, id)),
        }
    }

    /// The same bundle as the gateway holds it after validation.
    pub fn domain(&self, n: u64, id: &str) -> CaseBundle {
        bundle_from_wire("bundle", &self.wire(n, id)).unwrap()
    }

    /// How many distinct bundles it cycles through.
    pub fn variants(&self) -> usize {
        self.0.len()
    }

    /// The smallest and largest encoded size.
    pub fn size_range(&self) -> (usize, usize) {
        let sizes = self.0.iter().map(Message::encoded_len);
        (sizes.clone().min().unwrap(), sizes.max().unwrap())
    }
}
