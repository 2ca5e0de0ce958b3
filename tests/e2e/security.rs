//! Every refusal path of the security layer, over real mutual TLS on
//! loopback against the gateway as `serve` assembles it; and for each, that
//! nothing about any referral was written.

use jiff::SignedDuration;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mediation_api::court::bundle_to_wire;
use mediation_core::clock::Clock;
use mediation_core::fixtures::sample_bundle;
use mediation_core::ids::ReferralId;
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_gateway_client::CcpitGatewayClient;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;
use mediation_proto::documents::v1 as dp;
use mediation_proto::documents::v1::documents_client::DocumentsClient;
use mediation_security::pki::{Authority, TokenKey};
use tonic::Code;
use tonic_types::StatusExt;

use crate::field_paths::named_fields;
use crate::tls::{Authed, Bearer, bearer, channel, claims};
use crate::world::{World, digest, scanned_file};

/// A bundle whose files the court system hosts itself (by url), so no
/// upload is needed first.
fn wire_bundle(court_referral_id: &str) -> pb::CaseBundle {
    let mut b = bundle_to_wire(&sample_bundle());
    b.court_referral_id = court_referral_id.into();
    for (i, d) in b.documents.iter_mut().enumerate() {
        d.url = format!("https://court-bj.example/files/{i}");
    }
    b
}

fn bundle(court_referral_id: &str) -> pb::SubmitReferralRequest {
    pb::SubmitReferralRequest {
        bundle: Some(wire_bundle(court_referral_id)),
    }
}

/// A court client presenting `cert`'s certificate (none when `None`) and
/// `token`; `Err` when the TLS handshake itself is refused.
async fn court_client(
    w: &World,
    cert: Option<&str>,
    token: Option<String>,
) -> Result<CourtGatewayClient<Authed>, tonic::transport::Error> {
    let ch = channel(w.gateway_addr, &w.pki, cert).await?;
    let bearer = token.map_or_else(Bearer::none, |t| bearer(&t));
    Ok(CourtGatewayClient::new(Authed::new(ch, bearer)))
}

/// Submits with `cert` and `token` and returns the refusal.
async fn refused_submit(w: &World, cert: Option<&str>, token: Option<String>) -> tonic::Status {
    let before = w.written();
    let status = match court_client(w, cert, token).await {
        Ok(mut client) => client
            .submit_referral(bundle("SEC-REFUSED"))
            .await
            .expect_err("the call must be refused"),
        Err(e) => tonic::Status::unavailable(format!("handshake refused: {e}")),
    };
    assert_eq!(w.written(), before, "a refused call writes nothing");
    status
}

fn court_token(w: &World) -> String {
    w.pki.token("court-bj", w.clock.now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_without_a_trusted_client_certificate_gets_nowhere() {
    let w = World::start().await;
    // No client certificate at all: the TLS handshake or the first call fails.
    let status = refused_submit(&w, None, Some(court_token(&w))).await;
    assert_ne!(status.code(), Code::Ok);
    assert_ne!(status.code(), Code::InvalidArgument, "{status:?}");

    // A certificate for "court-bj" from a CA the gateway does not trust.
    let now = jiff::Timestamp::now();
    let rogue = Authority::new("rogue CA", now).unwrap();
    let issued = rogue.issue("court-bj", now, -1, 30).unwrap();
    let ch = tonic::transport::Endpoint::from_shared(format!("https://{}", w.gateway_addr))
        .unwrap()
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(w.pki.ca_pem()))
                .identity(tonic::transport::Identity::from_pem(
                    issued.certificate_pem,
                    issued.key_pem,
                )),
        )
        .unwrap()
        .connect()
        .await;
    let before = w.written();
    if let Ok(ch) = ch {
        let mut client = CourtGatewayClient::new(Authed::new(ch, bearer(&court_token(&w))));
        let err = client
            .submit_referral(bundle("SEC-ROGUE"))
            .await
            .unwrap_err();
        assert_ne!(err.code(), Code::Ok);
    }
    assert_eq!(w.written(), before);

    // The same call with the right certificate and token goes through.
    let mut client = court_client(&w, Some("court-bj"), Some(court_token(&w)))
        .await
        .unwrap();
    client.submit_referral(bundle("SEC-OK")).await.unwrap();
    assert_eq!(w.written().len(), before.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_unauthenticated() {
    let w = World::start().await;
    let now = w.clock.now();
    let hour = SignedDuration::from_hours(1);
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "bearer token is required"),
        (
            "expired",
            Some(w.pki.sign(
                "court-bj",
                &claims("court-bj", now - SignedDuration::from_hours(3), hour),
            )),
            "expired",
        ),
        (
            "another audience",
            Some(w.pki.sign("court-bj", &{
                let mut c = claims("court-bj", now, hour);
                c.aud = "some-other-service".into();
                c
            })),
            "not for this gateway",
        ),
        (
            "unknown key",
            Some({
                let stranger = TokenKey::generate("court-bj-dev-1").unwrap();
                mediation_security::tokens::sign(
                    &claims("court-bj", now, hour),
                    &stranger.kid,
                    Algorithm::ES256,
                    stranger.private_pem.as_bytes(),
                )
                .unwrap()
            }),
            "signature does not verify",
        ),
        (
            "alg none",
            Some({
                let signed = w.pki.sign("court-bj", &claims("court-bj", now, hour));
                let payload = signed.split('.').nth(1).unwrap().to_owned();
                format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
            }),
            "cannot be read",
        ),
        (
            "HS256",
            Some({
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some("court-bj-dev-1".into());
                jsonwebtoken::encode(
                    &header,
                    &claims("court-bj", now, hour),
                    &EncodingKey::from_secret(b"guessable"),
                )
                .unwrap()
            }),
            "HS256 are not accepted",
        ),
        (
            "another tenant's token",
            Some(w.pki.token("ccpit", now)),
            "the token is \"ccpit\"'s but the client certificate is \"court-bj\"'s",
        ),
    ];
    for (case, token, expected) in cases {
        let status = refused_submit(&w, Some("court-bj"), token).await;
        assert_eq!(status.code(), Code::Unauthenticated, "{case}: {status:?}");
        assert!(status.message().contains(expected), "{case}: {status:?}");
    }
    // Every refusal is in the audit log, with the certificate that made it.
    w.assembly.audit.settled().await;
    let audit = w
        .assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .audit_entries(0, 1_000)
        .unwrap();
    let refusals = audit
        .iter()
        .filter(|e| e.record.outcome.starts_with("Unauthenticated"))
        .filter(|e| e.record.actor.contains("cert=CN=court-bj"))
        .count();
    assert_eq!(refusals, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_see_only_their_own_referrals() {
    let mut w = World::start().await;
    let submitted = w
        .court_api
        .submit_referral(bundle("SEC-TENANCY"))
        .await
        .unwrap()
        .into_inner();
    let id = submitted.referral_id;
    let referral = w
        .assembly
        .gateway
        .referral(&ReferralId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let centre = referral.assignment().unwrap().organisation.to_string();
    let before = w.written();

    // Another court system: the referral does not exist for it.
    let mut shanghai = w.sh_court_api.clone();
    let err = shanghai
        .get_referral(pb::GetReferralRequest {
            referral_id: id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = shanghai
        .recall_referral(pb::RecallReferralRequest {
            referral_id: id.clone(),
            court: "京0105".into(),
            reason: "不是我的".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    // Nor may it refer for a court it does not act for.
    let err = shanghai
        .submit_referral(bundle("SEC-NOT-MINE"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let info = err
        .get_details_error_info()
        .expect("the refused field, as ErrorInfo");
    assert_eq!(info.reason, "NOT_ENTITLED");
    assert_eq!(info.metadata["field"], "bundle.court");

    // A CCPIT tenant that acts only for the Shanghai centre.
    let mut sh_centre = CcpitGatewayClient::new(w.connect_as("ccpit-sh").await);
    for named in [centre.as_str(), "ccpit-sh-01"] {
        let err = sh_centre
            .accept_case(cp::AcceptCaseRequest {
                case_id: id.clone(),
                mediation_centre: named.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{named}: {err:?}");
    }

    // Another platform asking for the case's materials.
    let file = &sample_bundle().documents[0];
    let mut labour = DocumentsClient::new(w.connect_as("labour").await);
    let err = labour
        .download(dp::DownloadRequest {
            referral_id: id.clone(),
            sha256: file.sha256.to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    // ... or calling another platform's service at all.
    let mut labour_as_ccpit = CcpitGatewayClient::new(w.connect_as("labour").await);
    let err = labour_as_ccpit
        .accept_case(cp::AcceptCaseRequest {
            case_id: id.clone(),
            mediation_centre: centre.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_eq!(w.written(), before, "nothing was written by any of them");

    // The right platform acts; the audit log says who and on which referral.
    w.ccpit_api
        .accept_case(cp::AcceptCaseRequest {
            case_id: id.clone(),
            mediation_centre: centre.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    w.assembly.audit.settled().await;
    let audit = w
        .assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .audit_entries(0, 1_000)
        .unwrap();
    let accepted = audit
        .iter()
        .find(|e| {
            e.record.action == "call /mediation.ccpit.v1.CcpitGateway/AcceptCase"
                && e.record.outcome == "ok"
        })
        .expect("the accepted call is audited");
    assert_eq!(
        accepted.record.referral.as_ref().map(|r| r.to_string()),
        Some(id.clone())
    );
    assert!(
        accepted
            .record
            .actor
            .starts_with("tenant=ccpit sub=ccpit-system cert=CN=ccpit sha256:")
    );
    let denied = audit
        .iter()
        .filter(|e| e.record.outcome.starts_with("NotFound"))
        .filter(|e| e.record.referral.as_ref().map(|r| r.to_string()) == Some(id.clone()))
        .count();
    assert!(
        denied >= 4,
        "the refused attempts are audited too: {denied}"
    );
    assert!(matches!(
        w.assembly
            .gateway
            .store()
            .sled()
            .unwrap()
            .verify_audit()
            .unwrap(),
        mediation_core::audit::AuditVerification::Intact { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_read_but_cannot_change_a_referral() {
    let mut w = World::start().await;
    let id = w
        .court_api
        .submit_referral(bundle("SEC-OPS"))
        .await
        .unwrap()
        .into_inner()
        .referral_id;
    let before = w.written();
    let mut ops = CourtGatewayClient::new(w.connect_as("operators").await);
    let view = ops
        .get_referral(pb::GetReferralRequest {
            referral_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.court_referral_id, "SEC-OPS");
    let err = ops
        .recall_referral(pb::RecallReferralRequest {
            referral_id: id.clone(),
            court: "京0105".into(),
            reason: "operator attempt".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = ops.submit_referral(bundle("SEC-OPS-2")).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // Nor may operators read the case materials.
    let scan = scanned_file(10_000, 1);
    let err = w
        .upload("operators", &scan, &digest(&scan), 4096)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_eq!(w.written(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_batches_and_bursts_are_refused() {
    let mut w = World::start().await;
    let before = w.written();
    // A message over the configured 4 MiB is refused before it is decoded.
    let mut huge = wire_bundle("SEC-HUGE");
    huge.summary = "调".repeat(2 * 1024 * 1024);
    let err = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest { bundle: Some(huge) })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert!(
        err.message().contains("the limit is: 4194304 bytes"),
        "{err:?}"
    );
    // A batch over max_batch.
    let bundles = (0..1_001)
        .map(|i| wire_bundle(&format!("SEC-BATCH-{i}")))
        .collect();
    let err = w
        .court_api
        .submit_batch(pb::SubmitBatchRequest {
            bundles,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("at most 1000 bundles, got 1001"),
        "{err:?}"
    );
    // Too many parties in one bundle.
    let mut crowded = wire_bundle("SEC-CROWDED");
    let party = crowded.parties[0].clone();
    crowded.parties = vec![party; 51];
    let err = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(crowded),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(named_fields(&err), ["bundle.parties"], "{err:?}");
    assert_eq!(w.written(), before, "nothing over a limit is written");

    // A tenant whose own rate is 3 per second: the fourth call at once is
    // refused, and only the three admitted ones wrote anything.
    let mut slow = CourtGatewayClient::new(w.connect_as("court-bj-slow").await);
    let mut codes = Vec::new();
    for i in 0..4 {
        let result = slow.submit_referral(bundle(&format!("SEC-RATE-{i}"))).await;
        codes.push(result.map(|_| Code::Ok).unwrap_or_else(|e| e.code()));
    }
    assert_eq!(
        codes,
        [Code::Ok, Code::Ok, Code::Ok, Code::ResourceExhausted],
        "{codes:?}"
    );
    assert_eq!(w.written().len(), before.len() + 3);
    // Over its rate, it is refused by its certificate before its token is
    // even checked: a bad token gets the same answer, at no signature's cost.
    let ch = channel(w.gateway_addr, &w.pki, Some("court-bj-slow"))
        .await
        .unwrap();
    let mut unchecked = CourtGatewayClient::new(Authed::new(ch, bearer("not.a.token")));
    let err = unchecked
        .submit_referral(bundle("SEC-RATE-BADTOKEN"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    // Other tenants are not slowed by it.
    w.court_api
        .submit_referral(bundle("SEC-RATE-OTHER"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_accepted_after_a_reload() {
    let w = World::start().await;
    let now = w.clock.now();
    // The CCPIT issuer rotates to a new key: both are in its JWKS.
    let rotated = TokenKey::generate("ccpit-2").unwrap();
    let jwks_path = w.pki.path("ccpit.jwks.json");
    let mut set: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&jwks_path).unwrap()).unwrap();
    let new: serde_json::Value = serde_json::from_str(&rotated.jwks_json).unwrap();
    set["keys"]
        .as_array_mut()
        .unwrap()
        .push(new["keys"][0].clone());
    let token = mediation_security::tokens::sign(
        &claims("ccpit", now, SignedDuration::from_hours(1)),
        "ccpit-2",
        Algorithm::ES256,
        rotated.private_pem.as_bytes(),
    )
    .unwrap();
    let call = |token: String| {
        let w = &w;
        async move {
            let ch = channel(w.gateway_addr, &w.pki, Some("ccpit"))
                .await
                .unwrap();
            CcpitGatewayClient::new(Authed::new(ch, bearer(&token)))
                .accept_case(cp::AcceptCaseRequest {
                    case_id: "01JNQ0000000000000000000AB".into(),
                    mediation_centre: "ccpit-bj-01".into(),
                    ..Default::default()
                })
                .await
                .unwrap_err()
                .code()
        }
    };
    assert_eq!(
        call(token.clone()).await,
        Code::Unauthenticated,
        "not yet known"
    );
    std::fs::write(&jwks_path, serde_json::to_string(&set).unwrap()).unwrap();
    w.assembly.reload().unwrap();
    // Authenticated now: the case simply does not exist.
    assert_eq!(call(token).await, Code::NotFound);
    assert_eq!(
        call(w.pki.token("ccpit", now)).await,
        Code::NotFound,
        "the old key still works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_partners_identity_receives_nothing_and_is_alerted() {
    use mediation_core::alert::AlertKind;
    // The CCPIT address is answered by a server whose certificate (from the
    // trusted CA) is not CCPIT's: here the expected identity is another
    // partner's, which is the same mismatch seen from the other side.
    let mut w = World::start_with_overlay("[partners.server_names]\nccpit = \"labour\"\n").await;
    let id = w
        .court_api
        .submit_referral(bundle("SEC-IDENTITY"))
        .await
        .unwrap()
        .into_inner()
        .referral_id;
    w.deliver().await;
    w.advance(SignedDuration::from_mins(2));
    w.deliver().await;
    assert!(
        w.ccpit.offers.all().is_empty(),
        "the offer, with names and ID numbers, reached a server without CCPIT's identity"
    );
    let pending = w
        .assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .pending_messages(&ReferralId::parse(&id).unwrap())
        .unwrap();
    let error = pending
        .iter()
        .find_map(|p| p.last_error.clone())
        .expect("the failed delivery says why");
    assert!(!error.is_empty());
    let unreachable: Vec<String> = w
        .assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .alerts_after(0, 100)
        .unwrap()
        .into_iter()
        .filter(|a| a.record.kind == AlertKind::DestinationUnreachable)
        .map(|a| a.record.detail)
        .collect();
    assert_eq!(unreachable.len(), 1, "{unreachable:?}");
    assert!(unreachable[0].contains("ccpit"), "{unreachable:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partners_own_identity_is_delivered_to() {
    // The control: with the right identity, the same offer arrives.
    let mut w = World::start().await;
    w.court_api
        .submit_referral(bundle("SEC-IDENTITY-OK"))
        .await
        .unwrap();
    w.deliver().await;
    assert_eq!(w.ccpit.offers.all().len(), 1);
}
