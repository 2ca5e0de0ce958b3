//! Bearer tokens: JWTs that a tenant's issuer signs for the gateway.
//!
//! A token is accepted only when its algorithm is asymmetric and matches the
//! key its key id names, its issuer is a tenant's, its audience is the
//! gateway, its signature verifies, and the injected clock lies between its
//! not-before and its expiry, give or take the configured leeway. Time is
//! checked here rather than by the JWT library so that tests control it.

use std::collections::HashSet;

use jiff::Timestamp;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::keys::is_accepted;
use crate::tenants::{Tenant, Tenants};

/// How tokens are checked.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// The `aud` every token must carry: the gateway's name.
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
}

/// The claims the gateway reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

/// Why a token was refused. The caller is told which, never the key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token cannot be read: {0}")]
    Malformed(String),
    #[error("tokens signed with {0} are not accepted; use an asymmetric algorithm")]
    Algorithm(String),
    #[error("the token's algorithm {got} does not match key {kid:?}, which is {expected}")]
    AlgorithmMismatch {
        kid: String,
        got: String,
        expected: String,
    },
    #[error("the token has no key id (kid)")]
    NoKeyId,
    #[error("no tenant has the issuer {0:?}")]
    UnknownIssuer(String),
    #[error("the issuer has no key {0:?}")]
    UnknownKey(String),
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token is not for this gateway (aud)")]
    Audience,
    #[error("the token expired at {0}")]
    Expired(Timestamp),
    #[error("the token is not valid before {0}")]
    NotYetValid(Timestamp),
}

/// A verified token: whose it is and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub tenant: String,
    pub subject: String,
}

#[derive(Deserialize)]
struct IssuerOnly {
    iss: String,
}

/// A token whose signature, issuer, key and audience were checked: what
/// remains is its time window, which is checked at every use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedToken {
    pub tenant: String,
    pub subject: String,
    pub exp: i64,
    pub nbf: Option<i64>,
}

impl SignedToken {
    /// Whether the token is within its window at `now`, give or take the
    /// policy's leeway.
    pub fn at(&self, policy: &TokenPolicy, now: Timestamp) -> Result<VerifiedToken, TokenError> {
        let leeway = i64::try_from(policy.leeway_seconds).unwrap_or(i64::MAX);
        let now_s = now.as_second();
        if now_s > self.exp.saturating_add(leeway) {
            return Err(TokenError::Expired(at(self.exp)));
        }
        if let Some(nbf) = self.nbf
            && now_s < nbf.saturating_sub(leeway)
        {
            return Err(TokenError::NotYetValid(at(nbf)));
        }
        Ok(VerifiedToken {
            tenant: self.tenant.clone(),
            subject: self.subject.clone(),
        })
    }
}

/// Verifies `token` at `now`.
pub fn verify(
    tenants: &Tenants,
    policy: &TokenPolicy,
    token: &str,
    now: Timestamp,
) -> Result<VerifiedToken, TokenError> {
    check_signature(tenants, policy, token)?.at(policy, now)
}

/// Checks everything about `token` but its time window: the algorithm, the
/// key, the issuer, the audience and the signature.
pub fn check_signature(
    tenants: &Tenants,
    policy: &TokenPolicy,
    token: &str,
) -> Result<SignedToken, TokenError> {
    // decode_header refuses `alg: none` and any algorithm it does not know.
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
    if !is_accepted(header.alg) {
        return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
    }
    let kid = header.kid.ok_or(TokenError::NoKeyId)?;
    // The issuer picks the tenant, and so the keys; the signature is checked
    // against those keys below, so reading it unverified here is safe.
    let issuer = jsonwebtoken::dangerous::insecure_decode::<IssuerOnly>(token)
        .map_err(|e| TokenError::Malformed(e.to_string()))?
        .claims
        .iss;
    let tenant: &Tenant = tenants
        .by_issuer(&issuer)
        .ok_or(TokenError::UnknownIssuer(issuer))?;
    let key = tenant
        .keys
        .get(&kid)
        .ok_or_else(|| TokenError::UnknownKey(kid.clone()))?;
    if key.algorithm != header.alg {
        return Err(TokenError::AlgorithmMismatch {
            kid,
            got: format!("{:?}", header.alg),
            expected: format!("{:?}", key.algorithm),
        });
    }
    let mut validation = Validation::new(key.algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation.set_audience(&[&policy.audience]);
    validation.set_issuer(&[&tenant.issuer]);
    validation.required_spec_claims = HashSet::from(["exp", "sub", "aud", "iss"].map(String::from));
    let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation).map_err(|e| match e
        .kind()
    {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::InvalidAudience => TokenError::Audience,
        _ => TokenError::Malformed(e.to_string()),
    })?;
    let claims = data.claims;
    Ok(SignedToken {
        tenant: tenant.id.clone(),
        subject: claims.sub,
        exp: claims.exp,
        nbf: claims.nbf,
    })
}

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap_or(Timestamp::MAX)
}

/// Signs `claims` with a PKCS#8 PEM private key, for tenants' tooling and
/// the development commands. The gateway itself never signs tokens it
/// accepts.
pub fn sign(
    claims: &Claims,
    kid: &str,
    algorithm: Algorithm,
    private_key_pem: &[u8],
) -> Result<String, jsonwebtoken::errors::Error> {
    let key = match algorithm {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(private_key_pem)?,
        Algorithm::EdDSA => EncodingKey::from_ed_pem(private_key_pem)?,
        _ => EncodingKey::from_rsa_pem(private_key_pem)?,
    };
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key)
}
