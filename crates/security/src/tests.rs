//! Token and tenant checks without a network: every rejection path of
//! [`tokens::verify`] and the tenants file's validation.

use mediation_core::partner::Partner;
use std::sync::Arc;

use jiff::Timestamp;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mediation_core::access::Role;
use mediation_core::clock::ManualClock;

use crate::keys::{KeySet, PemKey};
use crate::pki::{Authority, TokenKey};
use crate::tenants::{Tenant, Tenants, TenantsError};
use crate::tokens::{self, Claims, TokenError, TokenPolicy};
use crate::{AuthError, Authenticator, Credentials};

const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

struct Fixture {
    _dir: tempfile::TempDir,
    tenants: Tenants,
    key: TokenKey,
    other: TokenKey,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key = TokenKey::generate("k1").unwrap();
    let rotated = TokenKey::generate("k2").unwrap();
    let other = TokenKey::generate("k1").unwrap();
    let jwks = dir.path().join("ccpit.jwks.json");
    std::fs::write(&jwks, &key.jwks_json).unwrap();
    // The rotated key arrives as a PEM public key beside the JWKS.
    let pem = dir.path().join("k2.pub.pem");
    let public = rcgen::KeyPair::from_pem(&rotated.private_pem)
        .unwrap()
        .public_key_pem();
    std::fs::write(&pem, public).unwrap();
    let keys = KeySet::load(
        Some(&jwks),
        &[PemKey {
            kid: "k2".into(),
            algorithm: "ES256".into(),
            file: pem,
        }],
    )
    .unwrap();
    let mut tenants = Tenants::default();
    tenants
        .insert(Tenant {
            id: "ccpit".into(),
            role: Role::Operator { read_only: false },
            issuer: "https://ccpit.example/".into(),
            keys,
            rate_per_second: None,
        })
        .unwrap();
    let fixture = Fixture {
        _dir: dir,
        tenants,
        key,
        other,
    };
    // k2 signs too: rotation keeps both keys valid.
    let token = sign_with(&rotated, &claims());
    assert!(verify(&fixture, &token).is_ok());
    fixture
}

fn claims() -> Claims {
    Claims {
        iss: "https://ccpit.example/".into(),
        sub: "centre-system".into(),
        aud: "mediation-gateway".into(),
        exp: NOW + 300,
        nbf: Some(NOW - 10),
        iat: Some(NOW - 10),
    }
}

fn sign_with(key: &TokenKey, claims: &Claims) -> String {
    tokens::sign(
        claims,
        &key.kid,
        Algorithm::ES256,
        key.private_pem.as_bytes(),
    )
    .unwrap()
}

fn verify(f: &Fixture, token: &str) -> Result<tokens::VerifiedToken, TokenError> {
    verify_at(f, token, NOW)
}

fn verify_at(f: &Fixture, token: &str, now: i64) -> Result<tokens::VerifiedToken, TokenError> {
    let policy = TokenPolicy {
        audience: "mediation-gateway".into(),
        leeway_seconds: 30,
    };
    tokens::verify(
        &f.tenants,
        &policy,
        token,
        Timestamp::from_second(now).unwrap(),
    )
}

#[test]
fn a_good_token_names_its_tenant_and_subject() {
    let f = fixture();
    let verified = verify(&f, &sign_with(&f.key, &claims())).unwrap();
    assert_eq!(verified.tenant, "ccpit");
    assert_eq!(verified.subject, "centre-system");
}

#[test]
fn expiry_and_not_before_allow_only_the_leeway() {
    let f = fixture();
    let token = sign_with(&f.key, &claims());
    assert!(
        verify_at(&f, &token, NOW + 300 + 30).is_ok(),
        "within leeway"
    );
    assert!(matches!(
        verify_at(&f, &token, NOW + 300 + 31),
        Err(TokenError::Expired(_))
    ));
    assert!(verify_at(&f, &token, NOW - 40).is_ok(), "nbf minus leeway");
    assert!(matches!(
        verify_at(&f, &token, NOW - 41),
        Err(TokenError::NotYetValid(_))
    ));
}

#[test]
fn another_audience_issuer_or_key_is_refused() {
    let f = fixture();
    let mut c = claims();
    c.aud = "another-service".into();
    assert_eq!(
        verify(&f, &sign_with(&f.key, &c)),
        Err(TokenError::Audience)
    );
    let mut c = claims();
    c.iss = "https://nobody.example/".into();
    assert!(matches!(
        verify(&f, &sign_with(&f.key, &c)),
        Err(TokenError::UnknownIssuer(_))
    ));
    // Same kid, different private key: the signature fails.
    assert_eq!(
        verify(&f, &sign_with(&f.other, &claims())),
        Err(TokenError::Signature)
    );
    let unknown = TokenKey::generate("k9").unwrap();
    assert_eq!(
        verify(&f, &sign_with(&unknown, &claims())),
        Err(TokenError::UnknownKey("k9".into()))
    );
}

#[test]
fn alg_none_and_shared_secret_tokens_are_refused() {
    let f = fixture();
    let signed = sign_with(&f.key, &claims());
    let payload = signed.split('.').nth(1).unwrap();
    // {"alg":"none","typ":"JWT"}
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    assert!(matches!(verify(&f, &none), Err(TokenError::Malformed(_))));
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let hs =
        jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(b"s3cret")).unwrap();
    assert_eq!(verify(&f, &hs), Err(TokenError::Algorithm("HS256".into())));
    let mut header = Header::new(Algorithm::ES256);
    header.kid = None;
    let key = EncodingKey::from_ec_pem(f.key.private_pem.as_bytes()).unwrap();
    let no_kid = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
    assert_eq!(verify(&f, &no_kid), Err(TokenError::NoKeyId));
    assert!(matches!(
        verify(&f, "not.a.token"),
        Err(TokenError::Malformed(_))
    ));
}

/// An authenticator over the fixture's tenants, on a clock the test moves.
fn authenticator(f: &Fixture, require_certificate: bool) -> (Authenticator, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp::from_second(NOW).unwrap()));
    let policy = TokenPolicy {
        audience: "mediation-gateway".into(),
        leeway_seconds: 30,
    };
    let auth = Authenticator::new(
        f.tenants.clone(),
        policy,
        clock.clone(),
        require_certificate,
    );
    (auth, clock)
}

#[test]
fn the_authenticator_wants_a_certificate_and_a_token_of_the_same_tenant() {
    let f = fixture();
    let (auth, clock) = authenticator(&f, true);
    let token = format!("Bearer {}", sign_with(&f.key, &claims()));
    let now = Timestamp::from_second(NOW).unwrap();
    let ca = Authority::new("test CA", now).unwrap();
    let der = |cn: &str| {
        let pem = ca.issue(cn, now, -1, 30).unwrap().certificate_pem;
        rustls_pemfile_der(&pem)
    };
    let ccpit = der("ccpit");
    let (caller, _) = auth
        .authenticate(Credentials {
            certificate: Some(&ccpit),
            authorization: Some(&token),
        })
        .unwrap();
    assert_eq!(caller.tenant, "ccpit");
    assert!(caller.certificate.starts_with("CN=ccpit sha256:"));
    assert_eq!(
        auth.authenticate(Credentials {
            certificate: None,
            authorization: Some(&token),
        }),
        Err(AuthError::NoCertificate)
    );
    assert_eq!(
        auth.authenticate(Credentials {
            certificate: Some(&ccpit),
            authorization: None,
        }),
        Err(AuthError::NoToken)
    );
    let stranger = der("stranger");
    assert_eq!(
        auth.authenticate(Credentials {
            certificate: Some(&stranger),
            authorization: Some(&token),
        }),
        Err(AuthError::UnknownTenant("stranger".into()))
    );
    // The clock the authenticator reads is the injected one.
    clock.advance(jiff::SignedDuration::from_secs(331));
    assert!(matches!(
        auth.authenticate(Credentials {
            certificate: Some(&ccpit),
            authorization: Some(&token),
        }),
        Err(AuthError::Token(TokenError::Expired(_)))
    ));
}

#[test]
fn a_tokens_signature_is_checked_once_and_a_reload_forgets_it() {
    let f = fixture();
    let (auth, clock) = authenticator(&f, false);
    let signed = sign_with(&f.key, &claims());
    let token = format!("Bearer {signed}");
    let call = |authorization: &str| {
        auth.authenticate(Credentials {
            certificate: None,
            authorization: Some(authorization),
        })
    };
    for _ in 0..3 {
        assert_eq!(call(&token).unwrap().0.subject, "centre-system");
    }
    assert_eq!(auth.signatures_checked(), 1);

    // The same claims with another signature are not the token remembered.
    let (head, _) = signed.rsplit_once('.').unwrap();
    let other = sign_with(&f.other, &claims());
    let (_, foreign) = other.rsplit_once('.').unwrap();
    assert_eq!(
        call(&format!("Bearer {head}.{foreign}")),
        Err(AuthError::Token(TokenError::Signature))
    );
    assert_eq!(auth.signatures_checked(), 2);
    // A refused token is checked again each time, never remembered.
    assert!(call(&format!("Bearer {head}.{foreign}")).is_err());
    assert_eq!(auth.signatures_checked(), 3);

    // A remembered token still expires by the injected clock.
    clock.advance(jiff::SignedDuration::from_secs(331));
    assert!(matches!(
        call(&token),
        Err(AuthError::Token(TokenError::Expired(_)))
    ));
    clock.advance(jiff::SignedDuration::from_secs(-331));
    assert!(call(&token).is_ok());

    // A reload that replaces the tenant's key k1 stops the token at once.
    let jwks = f._dir.path().join("replaced.jwks.json");
    std::fs::write(&jwks, &f.other.jwks_json).unwrap();
    let mut replaced = Tenants::default();
    replaced
        .insert(Tenant {
            keys: KeySet::load(Some(&jwks), &[]).unwrap(),
            ..f.tenants.get("ccpit").unwrap().clone()
        })
        .unwrap();
    auth.reload(replaced);
    assert_eq!(auth.signatures_checked(), 0);
    assert_eq!(call(&token), Err(AuthError::Token(TokenError::Signature)));
    assert_eq!(auth.signatures_checked(), 1);
}

/// The DER inside a one-certificate PEM.
fn rustls_pemfile_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[test]
fn the_tenants_file_names_every_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let key = TokenKey::generate("k1").unwrap();
    let jwks = dir.path().join("k.json");
    std::fs::write(&jwks, &key.jwks_json).unwrap();
    let load = |body: &str| {
        let path = dir.path().join("tenants.toml");
        std::fs::write(&path, body).unwrap();
        Tenants::load(&path, &mediation_core::fixtures::shipped_courts())
    };
    let good = format!(
        "[[tenant]]\nid = \"court-bj\"\nrole = \"court_system\"\ncourts = [\"京\"]\nlower_courts = true\nissuer = \"i1\"\njwks = {jwks:?}\n"
    );
    let tenants = load(&good).unwrap();
    let Role::CourtSystem { courts } = &tenants.get("court-bj").unwrap().role else {
        panic!("a court system");
    };
    assert!(courts.contains(&mediation_core::fixtures::court("京0105")));
    assert!(courts.contains(&mediation_core::fixtures::court("京0491")));
    let e = load(&good.replace("[\"京\"]", "[\"京0199\"]")).unwrap_err();
    assert!(e.to_string().contains("not in the court registry"), "{e}");
    let e = load(&good.replace("court_system", "platform")).unwrap_err();
    assert!(e.to_string().contains("courts does not apply"), "{e}");
    let e = load(&good.replace("[\"京\"]", "[]")).unwrap_err();
    assert!(e.to_string().contains("must name its courts"), "{e}");
    let e = load(&format!("{good}{good}")).unwrap_err();
    assert!(e.to_string().contains("appears twice"), "{e}");
    let e = load(&good.replace("k.json", "missing.json")).unwrap_err();
    assert!(matches!(e, TenantsError::Keys { .. }), "{e}");
    let e = load(&good.replace("issuer", "issuerr")).unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
    // A shared-secret key in the file is refused at load.
    let secret = dir.path().join("secret.pem");
    std::fs::write(&secret, "c2VjcmV0").unwrap();
    let hs = good.replace(
        &format!("jwks = {jwks:?}\n"),
        &format!("pem = [{{ kid = \"h\", algorithm = \"HS256\", file = {secret:?} }}]\n"),
    );
    let e = load(&hs).unwrap_err();
    assert!(e.to_string().contains("only asymmetric keys"), "{e}");
    // A platform named by an old spelling is read as the platform it meant;
    // an unknown name is still refused.
    let platform = |partner: &str| {
        format!(
            "[[tenant]]\nid = \"labour\"\nrole = \"platform\"\npartner = {partner:?}\nissuer = \"i2\"\njwks = {jwks:?}\n"
        )
    };
    for (spelling, meant) in [
        ("labour_arbitration", Partner::LabourArbitration),
        ("labour", Partner::LabourArbitration),
        ("traffic", Partner::RoadTraffic),
    ] {
        let tenants = load(&platform(spelling)).unwrap();
        assert!(
            matches!(&tenants.get("labour").unwrap().role, Role::Platform { partner, .. } if *partner == meant),
            "{spelling}"
        );
    }
    let e = load(&platform("arbitration")).unwrap_err();
    assert!(e.to_string().contains("must be one of"), "{e}");
}
