//! Token verification keys, by key id. A tenant's keys come from a JWKS file,
//! from PEM files, or both; rotating a key means adding the new one under a
//! new key id, reloading, and removing the old one once its tokens expire.
//!
//! Only asymmetric algorithms exist here: a tenant's key is public, so anyone
//! holding the verification key cannot mint tokens. Shared secrets (HS*) are
//! refused when the keys load and when a token arrives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("has no keys: give jwks, pem, or both")]
    None,
}

/// A PEM public key in the tenants file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PemKey {
    pub kid: String,
    /// RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA.
    pub algorithm: String,
    pub file: PathBuf,
}

/// One verification key and the one algorithm it verifies.
#[derive(Clone)]
pub struct VerificationKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A tenant's keys by key id.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    by_kid: BTreeMap<String, VerificationKey>,
}

/// Whether tokens may be signed with `algorithm`: asymmetric ones only.
pub fn is_accepted(algorithm: Algorithm) -> bool {
    algorithm.family() != AlgorithmFamily::Hmac
}

impl KeySet {
    pub fn load(jwks: Option<&Path>, pem: &[PemKey]) -> Result<Self, KeyError> {
        let mut set = KeySet::default();
        if let Some(path) = jwks {
            let text = read(path)?;
            set.add_jwks(path, &text)?;
        }
        for entry in pem {
            let bytes = std::fs::read(&entry.file).map_err(|source| KeyError::Read {
                path: entry.file.clone(),
                source,
            })?;
            set.add_pem(&entry.file, &entry.kid, &entry.algorithm, &bytes)?;
        }
        if set.by_kid.is_empty() {
            return Err(KeyError::None);
        }
        Ok(set)
    }

    pub fn get(&self, kid: &str) -> Option<&VerificationKey> {
        self.by_kid.get(kid)
    }

    fn add_jwks(&mut self, path: &Path, text: &str) -> Result<(), KeyError> {
        let invalid = |message: String| KeyError::Invalid {
            path: path.to_owned(),
            message,
        };
        let set: JwkSet =
            serde_json::from_str(text).map_err(|e| invalid(format!("not a JWKS: {e}")))?;
        for (i, jwk) in set.keys.iter().enumerate() {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or_else(|| invalid(format!("keys[{i}] has no kid")))?;
            let algorithm = match &jwk.common.key_algorithm {
                Some(a) => Algorithm::from_str(&a.to_string()).map_err(|_| {
                    invalid(format!("key {kid:?}: algorithm {a} is not for signatures"))
                })?,
                // An EC or Ed key's curve fixes its algorithm; an RSA key
                // must say which padding and hash it uses.
                None => match &jwk.algorithm {
                    AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                        EllipticCurve::P256 => Algorithm::ES256,
                        EllipticCurve::P384 => Algorithm::ES384,
                        _ => return Err(invalid(format!("key {kid:?}: unsupported curve"))),
                    },
                    AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                    _ => return Err(invalid(format!("key {kid:?}: give its alg"))),
                },
            };
            let key =
                DecodingKey::from_jwk(jwk).map_err(|e| invalid(format!("key {kid:?}: {e}")))?;
            self.insert(path, kid, algorithm, key)?;
        }
        Ok(())
    }

    fn add_pem(
        &mut self,
        path: &Path,
        kid: &str,
        algorithm: &str,
        bytes: &[u8],
    ) -> Result<(), KeyError> {
        let invalid = |message: String| KeyError::Invalid {
            path: path.to_owned(),
            message,
        };
        let algorithm = Algorithm::from_str(algorithm)
            .map_err(|_| invalid(format!("key {kid:?}: unknown algorithm {algorithm:?}")))?;
        let key = match algorithm.family() {
            AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(bytes),
            AlgorithmFamily::Ec => DecodingKey::from_ec_pem(bytes),
            AlgorithmFamily::Ed => DecodingKey::from_ed_pem(bytes),
            AlgorithmFamily::Hmac => {
                return Err(invalid(format!(
                    "key {kid:?}: {algorithm:?} uses a shared secret; only asymmetric keys are accepted"
                )));
            }
        }
        .map_err(|e| invalid(format!("key {kid:?}: {e}")))?;
        self.insert(path, kid.to_owned(), algorithm, key)
    }

    fn insert(
        &mut self,
        path: &Path,
        kid: String,
        algorithm: Algorithm,
        key: DecodingKey,
    ) -> Result<(), KeyError> {
        if !is_accepted(algorithm) {
            return Err(KeyError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "key {kid:?}: {algorithm:?} uses a shared secret; only asymmetric keys are accepted"
                ),
            });
        }
        if self.by_kid.contains_key(&kid) {
            return Err(KeyError::Invalid {
                path: path.to_owned(),
                message: format!("key id {kid:?} appears twice"),
            });
        }
        self.by_kid.insert(kid, VerificationKey { algorithm, key });
        Ok(())
    }
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })
}
