//! The court system's steps: submitting (a bundle anew or again), and
//! acting on a case that waits on it or on any: recalling, reassigning,
//! rerouting, finding on a sham report, ruling on a confirmation,
//! docketing.

use super::*;

impl Sim {
    pub(super) async fn submit(&mut self) {
        // Now and then the court sends a bundle again, as a court system
        // that did not hear the answer does.
        let again = !self.cases.is_empty() && self.rng.random_range(0..5) == 0;
        let reference = if again {
            let i = self.rng.random_range(0..self.cases.len());
            self.cases[i].0.clone()
        } else if self.submitted < MAX_CASES {
            self.submitted += 1;
            format!("SIM-{}", self.submitted)
        } else {
            return self.time_passes().await;
        };
        // A third of the cases are labour disputes, which go to the labour
        // committee and its own limits (15 days, then arbitration).
        let labour = reference.ends_with(['0', '3', '6', '9']);
        let mut bundle = bundle_to_wire(&if labour {
            labour_bundle()
        } else {
            sample_bundle()
        });
        bundle.court_referral_id = reference.clone();
        bundle.documents.clear();
        let r = self.replica();
        let replica = &self.world.replicas[r];
        let caller = self.caller("court-sim", self.court_role.clone());
        let subject = caller.subject.clone();
        let result = guarded!(
            keep replica,
            court.submit_referral,
            COURT,
            "SubmitReferral",
            caller,
            pb::SubmitReferralRequest {
                bundle: Some(bundle),
            }
        );
        match result {
            Ok(answer) => {
                let answer = answer.into_inner();
                let Ok(id) = ReferralId::parse(&answer.referral_id) else {
                    self.violations.push(format!(
                        "step {}: submit answered with id {:?}",
                        self.step, answer.referral_id
                    ));
                    return;
                };
                self.acknowledged.note(&self.world.store, &id).await;
                self.calls.push((subject, answer.created));
                if !self.cases.iter().any(|(c, _)| *c == reference) {
                    self.cases.push((reference.clone(), id.clone()));
                }
                self.note(format!(
                    "court submits {reference} via {r}: {id} created={}",
                    answer.created
                ));
            }
            Err(status) => {
                self.calls.push((subject, false));
                self.note(format!(
                    "court submits {reference} via {r}: {:?}",
                    status.code()
                ));
            }
        }
    }

    pub(super) async fn court_acts(&mut self) {
        if self.cases.is_empty() {
            return self.submit().await;
        }
        // Mostly a case that waits on the court; now and then any.
        let mut waiting = Vec::new();
        for (_, id) in &self.cases {
            if let Ok(Some(referral)) = self.world.store.referral(id).await
                && matches!(
                    referral.status(),
                    Status::ShamMediationReported
                        | Status::ConfirmationRequested
                        | Status::ConfirmationRefused
                        | Status::MediationFailed
                        | Status::ReturnedToCourt
                )
            {
                waiting.push(id.clone());
            }
        }
        let id = if !waiting.is_empty() && self.rng.random_range(0..10) < 7 {
            waiting[self.rng.random_range(0..waiting.len())].clone()
        } else {
            self.cases[self.rng.random_range(0..self.cases.len())]
                .1
                .clone()
        };
        let (status, holder) = match self.world.store.referral(&id).await {
            Ok(Some(referral)) => (referral.status(), referral.holder().map(|o| o.to_string())),
            _ => return,
        };
        let r = self.replica();
        let before = self.history_len(&id).await;
        let replica = &self.world.replicas[r];
        let caller = self.caller("court-sim", self.court_role.clone());
        let subject = caller.subject.clone();
        let referral_id = id.to_string();
        let code = "京0105".to_owned();
        let ruled_at = self.timestamp();
        let roll = self.rng.random_range(0..100);
        let pass_on = self.rng.random_range(0..100);
        let (what, result) = match status {
            Status::ShamMediationReported => {
                let finding = if roll < 50 {
                    pb::ShamMediationFinding::NotSham
                } else {
                    pb::ShamMediationFinding::Sham
                };
                (
                    "finds on the sham report",
                    guarded!(
                        replica,
                        court.resolve_sham_mediation,
                        COURT,
                        "ResolveShamMediation",
                        caller,
                        pb::ResolveShamMediationRequest {
                            referral_id,
                            court: code,
                            finding: finding.into(),
                            note: "经审查".into(),
                        },
                    ),
                )
            }
            Status::ConfirmationRequested => {
                let outcome = if roll < 60 {
                    pb::RulingOutcome::Confirmed
                } else {
                    pb::RulingOutcome::Dismissed
                };
                (
                    "rules on the confirmation",
                    guarded!(
                        replica,
                        court.record_ruling,
                        COURT,
                        "RecordRuling",
                        caller,
                        pb::RecordRulingRequest {
                            referral_id,
                            court: code,
                            outcome: outcome.into(),
                            case_number: "（2026）京0105民特1号".into(),
                            reasons: "经审查".into(),
                            ruled_at,
                        },
                    ),
                )
            }
            Status::ReturnedToCourt | Status::ConfirmationRefused | Status::MediationFailed
                if roll < 70 =>
            {
                (
                    "dockets the case",
                    guarded!(
                        replica,
                        court.record_court_outcome,
                        COURT,
                        "RecordCourtOutcome",
                        caller,
                        pb::RecordCourtOutcomeRequest {
                            referral_id,
                            court: code,
                            outcome: pb::CourtOutcome::Docketed.into(),
                            case_number: "（2026）京0105民初1号".into(),
                            ..Default::default()
                        },
                    ),
                )
            }
            _ if pass_on < 30 => {
                // To the centre that does not hold it now.
                let organisation = match holder.as_deref() {
                    Some("ccpit-bj-01") => SECOND_CENTRE,
                    _ => "ccpit-bj-01",
                };
                (
                    "reassigns",
                    guarded!(
                        replica,
                        court.reassign_referral,
                        COURT,
                        "ReassignReferral",
                        caller,
                        pb::ReassignReferralRequest {
                            referral_id,
                            court: code,
                            organisation: organisation.into(),
                            reason: "当事人申请更换调解组织".into(),
                        },
                    ),
                )
            }
            _ if pass_on < 55 => (
                "reroutes",
                guarded!(
                    replica,
                    court.reroute_referral,
                    COURT,
                    "RerouteReferral",
                    caller,
                    pb::RerouteReferralRequest {
                        referral_id,
                        court: code,
                        reason: "原调解组织无法继续".into(),
                    },
                ),
            ),
            _ => (
                "recalls",
                guarded!(
                    replica,
                    court.recall_referral,
                    COURT,
                    "RecallReferral",
                    caller,
                    pb::RecallReferralRequest {
                        referral_id,
                        court: code,
                        reason: "当事人已和解".into(),
                    },
                ),
            ),
        };
        self.answered(
            (what, status),
            (subject, before),
            format!("court {what} {id} ({}) via {r}", status.as_str()),
            &id,
            result,
        )
        .await;
    }
}
