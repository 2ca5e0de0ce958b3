//! `mediation-gateway dev pki` and `dev token`: the development PKI and
//! tokens for trying the gateway with grpcurl or a client of one's own.
//! Both refuse the production profile.

use std::io::Write;

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use jsonwebtoken::Algorithm;
use mediation_security::pki::DevelopmentPki;
use mediation_security::tenants::tenant_ids;
use mediation_security::tokens::{Claims, sign};

use crate::cli::{DevPkiArgs, DevTokenArgs};
use crate::config::{Config, Profile};
use crate::security::ensure_dev_pki;

pub(crate) fn development(config: &Config, path: &std::path::Path) -> anyhow::Result<()> {
    if config.profile != Profile::Development {
        bail!(
            "{}: profile is not \"development\"; development keys are never made for production",
            path.display()
        );
    }
    Ok(())
}

pub fn pki(args: DevPkiArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = args.config.load()?;
    development(&config, &args.config.config)?;
    let pki = DevelopmentPki::new(config.dev_pki_dir());
    let written = if args.force {
        pki.generate(&tenant_ids(&config.auth.tenants)?, Timestamp::now())?;
        true
    } else {
        ensure_dev_pki(&config, &pki, Timestamp::now())?
    };
    if written {
        writeln!(out, "development PKI written to {}", pki.dir.display())?;
    } else {
        writeln!(
            out,
            "development PKI already complete in {} (--force replaces it)",
            pki.dir.display()
        )?;
    }
    Ok(())
}

pub fn token(args: DevTokenArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = args.config.load()?;
    development(&config, &args.config.config)?;
    let token = development_token(
        &config,
        &args.tenant,
        &args.subject,
        args.ttl,
        Timestamp::now(),
    )?;
    writeln!(out, "{token}")?;
    Ok(())
}

/// A token for `tenant`, signed with its development key, valid from `now`
/// for `ttl` seconds (the demo passes its own fast clock's time).
pub fn development_token(
    config: &Config,
    tenant: &str,
    subject: &str,
    ttl: u32,
    now: Timestamp,
) -> anyhow::Result<String> {
    if subject.trim().is_empty() {
        bail!("the token's subject names who acts for the tenant and cannot be empty");
    }
    let courts = crate::config::load_courts(&config.court_registry)?;
    let tenants = mediation_security::Tenants::load(&config.auth.tenants, &courts)?;
    let tenant = tenants.get(tenant).with_context(|| {
        let known: Vec<&str> = tenants.iter().map(|t| t.id.as_str()).collect();
        format!(
            "{}: no tenant {tenant:?}; the tenants are: {}",
            config.auth.tenants.display(),
            known.join(", ")
        )
    })?;
    let pki = DevelopmentPki::new(config.dev_pki_dir());
    let key_file = pki.token_key(&tenant.id);
    let key = std::fs::read(&key_file).with_context(|| {
        format!(
            "cannot read {}; run `mediation-gateway dev pki` first",
            key_file.display()
        )
    })?;
    let now = now.as_second();
    let claims = Claims {
        iss: tenant.issuer.clone(),
        sub: subject.to_owned(),
        aud: config.auth.audience.clone(),
        exp: now + i64::from(ttl),
        nbf: Some(now),
        iat: Some(now),
    };
    Ok(sign(
        &claims,
        &DevelopmentPki::kid(&tenant.id),
        Algorithm::ES256,
        &key,
    )?)
}
