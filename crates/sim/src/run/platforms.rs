//! The platforms' steps: the CCPIT platform and the labour committee act
//! on the cases offered to them, by where each case stands, now and then
//! out of turn.

use super::*;

impl Sim {
    /// The referrals offered to an organisation, as its platform took them.
    pub(super) fn offers(&self) -> Vec<(ReferralId, OrganisationId)> {
        let mut offers: Vec<(ReferralId, OrganisationId)> = self
            .world
            .network
            .received()
            .into_iter()
            .filter_map(|r| r.offered_to.map(|o| (r.referral, o)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        offers.sort();
        offers
    }

    /// A mediator the roster lists for `organisation`, or any id where it
    /// lists none (then any is taken).
    pub(super) fn mediator_of(&self, organisation: &OrganisationId) -> String {
        self.mediators
            .get(organisation)
            .cloned()
            .unwrap_or_else(|| "m-sim".into())
    }

    pub(super) async fn platform_acts(&mut self) {
        let offers = self.offers();
        if offers.is_empty() {
            return self.relay_pass().await;
        }
        let (id, organisation) = offers[self.rng.random_range(0..offers.len())].clone();
        let status = match self.world.store.referral(&id).await {
            Ok(Some(referral)) => referral.status(),
            _ => return,
        };
        if organisation.as_str().starts_with("labour") {
            return self.committee_acts(id, organisation, status).await;
        }
        let case_id = id.to_string();
        let centre = organisation.to_string();
        let r = self.replica();
        // What a platform does next depends on where the case stands, and
        // now and then it does something out of turn (late, twice, or not
        // its to do): the gateway must refuse that cleanly.
        let action = self.next_action(status);
        let before = self.history_len(&id).await;
        let replica = &self.world.replicas[r];
        let caller = self.caller("ccpit-sim", Self::platform_role());
        let subject = caller.subject.clone();
        let progress = |p: cp::report_progress_request::Progress| cp::ReportProgressRequest {
            case_id: case_id.clone(),
            mediation_centre: centre.clone(),
            progress: Some(p),
        };
        let sign = |kind: &str, who: &str, at| cp::Signature {
            signer_type: kind.into(),
            signer: who.into(),
            signed_at: at,
        };
        let mediator = self.mediator_of(&organisation);
        let now = self.timestamp();
        let days = self.rng.random_range(5..40u32);
        let (what, result) = match action {
            0 => (
                "accepts",
                guarded!(
                    replica,
                    ccpit.accept_case,
                    CCPIT,
                    "AcceptCase",
                    caller,
                    cp::AcceptCaseRequest {
                        case_id: case_id.clone(),
                        mediation_centre: centre.clone(),
                        mediator: mediator.clone(),
                        centre_case_number: String::new(),
                    }
                )
                .map(drop),
            ),
            1 => (
                "declines",
                guarded!(
                    replica,
                    ccpit.decline_case,
                    CCPIT,
                    "DeclineCase",
                    caller,
                    cp::DeclineCaseRequest {
                        case_id: case_id.clone(),
                        mediation_centre: centre.clone(),
                        reason_code: "NO_CAPACITY".into(),
                        explanation: "本中心调解员档期已满".into(),
                    },
                ),
            ),
            2 => (
                "starts an appraisal",
                guarded!(
                    replica,
                    ccpit.report_progress,
                    CCPIT,
                    "ReportProgress",
                    caller,
                    progress(cp::report_progress_request::Progress::AppraisalStarted(
                        "委托司法鉴定".into(),
                    )),
                ),
            ),
            3 => (
                "ends the appraisal",
                guarded!(
                    replica,
                    ccpit.report_progress,
                    CCPIT,
                    "ReportProgress",
                    caller,
                    progress(cp::report_progress_request::Progress::AppraisalEnded(true)),
                ),
            ),
            4 => (
                "extends by agreement",
                guarded!(
                    replica,
                    ccpit.report_progress,
                    CCPIT,
                    "ReportProgress",
                    caller,
                    progress(cp::report_progress_request::Progress::Extension(
                        cp::Extension {
                            until: String::new(),
                            agreed_by: vec!["P1".into(), "P2".into()],
                            days,
                        },
                    )),
                ),
            ),
            5 => {
                let perform_by = (self.world.now() + SignedDuration::from_hours(24 * 90))
                    .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
                    .date()
                    .to_string();
                (
                    "submits a settlement",
                    guarded!(
                        replica,
                        ccpit.submit_settlement,
                        CCPIT,
                        "SubmitSettlement",
                        caller,
                        cp::SubmitSettlementRequest {
                            case_id: case_id.clone(),
                            mediation_centre: centre.clone(),
                            parties: settlement_parties(),
                            disputed_matters: "货款支付".into(),
                            terms: vec!["被申请人支付货款100000元".into()],
                            performance_method: "银行转账".into(),
                            perform_by,
                            signatures: vec![
                                sign("CENTRE", &centre, now),
                                sign("MEDIATOR", &mediator, now),
                                sign("PARTY", "P1", now),
                                sign("PARTY", "P2", now),
                            ],
                            files: vec![],
                        },
                    ),
                )
            }
            6 => (
                "reports a failure",
                guarded!(
                    replica,
                    ccpit.report_failure,
                    CCPIT,
                    "ReportFailure",
                    caller,
                    cp::ReportFailureRequest {
                        case_id: case_id.clone(),
                        mediation_centre: centre.clone(),
                        course: "两次组织调解".into(),
                        reasons: "双方分歧过大".into(),
                        ..Default::default()
                    },
                ),
            ),
            7 => (
                "reports sham mediation",
                guarded!(
                    replica,
                    ccpit.report_sham_mediation,
                    CCPIT,
                    "ReportShamMediation",
                    caller,
                    cp::ReportShamMediationRequest {
                        case_id: case_id.clone(),
                        mediation_centre: centre.clone(),
                        grounds: "当事人恶意串通".into(),
                    },
                ),
            ),
            _ => (
                "applies for confirmation",
                guarded!(
                    replica,
                    ccpit.apply_for_confirmation,
                    CCPIT,
                    "ApplyForConfirmation",
                    caller,
                    cp::ApplyForConfirmationRequest {
                        case_id: case_id.clone(),
                        mediation_centre: centre.clone(),
                        applicants: vec!["P1".into(), "P2".into()],
                        applied_at: now,
                    },
                ),
            ),
        };
        self.answered(
            (what, status),
            (subject, before),
            format!("{centre} {what} {id} ({}) via {r}", status.as_str()),
            &id,
            result,
        )
        .await;
    }

    /// The next step a platform takes, by where the case stands: mostly
    /// in turn, now and then out of it. The same numbering on every
    /// platform: 0 accept, 1 decline, 2 start an appraisal, 3 end it, 4
    /// extend, 5 agree, 6 report a failure, 7 report sham mediation, 8
    /// apply for confirmation.
    pub(super) fn next_action(&mut self, status: Status) -> u32 {
        let roll = self.rng.random_range(0..100);
        match (status, roll) {
            (_, 0..10) => self.rng.random_range(0..9),
            (Status::AwaitingAcceptance, 10..75) => 0,
            (Status::AwaitingAcceptance, _) => 1,
            (Status::InMediation, 10..30) => 2,
            (Status::InMediation, 30..45) => 4,
            (Status::InMediation, 45..70) => 5,
            (Status::InMediation, 70..85) => 6,
            (Status::InMediation, _) => 7,
            (Status::SuspendedForAppraisal, 10..60) => 3,
            (Status::SuspendedForAppraisal, _) => 7,
            (Status::Agreed, _) => 8,
            _ => self.rng.random_range(0..9),
        }
    }

    /// The labour arbitration platform's committee acts on a dispute.
    pub(super) async fn committee_acts(
        &mut self,
        id: ReferralId,
        organisation: OrganisationId,
        status: Status,
    ) {
        let action = self.next_action(status);
        let r = self.replica();
        let before = self.history_len(&id).await;
        let replica = &self.world.replicas[r];
        let caller = self.caller(
            "labour-sim",
            Role::Platform {
                partner: Partner::LabourArbitration,
                organisations: Default::default(),
            },
        );
        let subject = caller.subject.clone();
        let dispute_id = id.to_string();
        let committee = organisation.to_string();
        let mediator = self.mediator_of(&organisation);
        let now = self.timestamp();
        let days = self.rng.random_range(5..20u32);
        let pay_by = (self.world.now() + SignedDuration::from_hours(24 * 60))
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
            .date()
            .to_string();
        let progress = |p: lp::report_progress_request::Progress| lp::ReportProgressRequest {
            dispute_id: dispute_id.clone(),
            committee: committee.clone(),
            progress: Some(p),
        };
        let (what, result) = match action {
            0 => (
                "accepts",
                guarded!(
                    replica,
                    labour.accept_dispute,
                    LABOUR,
                    "AcceptDispute",
                    caller,
                    lp::AcceptDisputeRequest {
                        dispute_id: dispute_id.clone(),
                        committee: committee.clone(),
                        mediator: mediator.clone(),
                        file_number: String::new(),
                    },
                ),
            ),
            1 => (
                "declines",
                guarded!(
                    replica,
                    labour.decline_dispute,
                    LABOUR,
                    "DeclineDispute",
                    caller,
                    lp::DeclineDisputeRequest {
                        dispute_id: dispute_id.clone(),
                        committee: committee.clone(),
                        reason: lp::DeclineReason::NoCapacity.into(),
                        explanation: "调解员档期已满".into(),
                    },
                ),
            ),
            2 => (
                "starts an appraisal",
                guarded!(
                    replica,
                    labour.report_progress,
                    LABOUR,
                    "ReportProgress",
                    caller,
                    progress(lp::report_progress_request::Progress::AppraisalStarted(
                        "劳动能力鉴定".into(),
                    )),
                ),
            ),
            3 => (
                "ends the appraisal",
                guarded!(
                    replica,
                    labour.report_progress,
                    LABOUR,
                    "ReportProgress",
                    caller,
                    progress(lp::report_progress_request::Progress::AppraisalEnded(true)),
                ),
            ),
            4 => (
                "extends by agreement",
                guarded!(
                    replica,
                    labour.report_progress,
                    LABOUR,
                    "ReportProgress",
                    caller,
                    progress(lp::report_progress_request::Progress::Extension(
                        lp::Extension {
                            until: String::new(),
                            days,
                            agreed_by: vec!["P1".into(), "P2".into()],
                        },
                    )),
                ),
            ),
            5 => (
                "submits a settlement",
                guarded!(
                    replica,
                    labour.submit_mediation_agreement,
                    LABOUR,
                    "SubmitMediationAgreement",
                    caller,
                    lp::SubmitMediationAgreementRequest {
                        dispute_id: dispute_id.clone(),
                        committee: committee.clone(),
                        payments: vec![lp::Payment {
                            kind: lp::ClaimKind::UnpaidWages.into(),
                            amount: "12000.00".into(),
                        }],
                        other_terms: vec!["用人单位出具解除劳动合同证明".into()],
                        payment_method: "银行转账".into(),
                        pay_by,
                        employer_signed_at: now,
                        worker_signed_at: now,
                        mediator: mediator.clone(),
                        mediator_signed_at: now,
                        committee_sealed_at: now,
                        ..Default::default()
                    },
                ),
            ),
            6 => (
                "reports a failure",
                guarded!(
                    replica,
                    labour.report_mediation_failure,
                    LABOUR,
                    "ReportMediationFailure",
                    caller,
                    lp::ReportMediationFailureRequest {
                        dispute_id: dispute_id.clone(),
                        committee: committee.clone(),
                        course: "两次组织调解".into(),
                        reasons: "双方对工资数额分歧过大".into(),
                        ..Default::default()
                    },
                ),
            ),
            7 => (
                "reports sham mediation",
                guarded!(
                    replica,
                    labour.report_sham_mediation,
                    LABOUR,
                    "ReportShamMediation",
                    caller,
                    lp::ReportShamMediationRequest {
                        dispute_id: dispute_id.clone(),
                        committee: committee.clone(),
                        grounds: "当事人恶意串通".into(),
                    },
                ),
            ),
            _ => (
                "applies for confirmation",
                guarded!(
                    replica,
                    labour.apply_for_confirmation,
                    LABOUR,
                    "ApplyForConfirmation",
                    caller,
                    lp::ApplyForConfirmationRequest {
                        dispute_id: dispute_id.clone(),
                        committee: committee.clone(),
                        applied_at: now,
                    },
                ),
            ),
        };
        self.answered(
            (&format!("labour {what}"), status),
            (subject, before),
            format!("{committee} {what} {id} ({}) via {r}", status.as_str()),
            &id,
            result,
        )
        .await;
    }
}

/// The parties of the sample bundle, as a settlement names them.
fn settlement_parties() -> Vec<cp::SettlementParty> {
    let party = |reference: &str, name: &str, kind: &str, number: &str| cp::SettlementParty {
        reference: reference.into(),
        name: name.into(),
        document_type: kind.into(),
        document_number: number.into(),
    };
    vec![
        party("P1", "张三", "ID_CARD", "11010519491231002X"),
        party("P2", "某贸易有限公司", "USCC", "91350100M000100Y43"),
    ]
}
