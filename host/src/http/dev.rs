//! For local development and tests, as the reference DSS ships a dummy OAuth server: a key
//! pair to start nodes with, and tokens signed with it. Never for production: whoever holds
//! the private key can act as any USS.

use super::auth::{self, TokenRequest};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const PRIVATE_KEY_FILE: &str = "private.pem";
pub const PUBLIC_KEY_FILE: &str = "public.pem";

/// Writes a new key pair to `dir`, unless one is there already (returns the public key's path).
pub fn ensure_keys(dir: &Path) -> anyhow::Result<PathBuf> {
    let (private, public) = (dir.join(PRIVATE_KEY_FILE), dir.join(PUBLIC_KEY_FILE));
    if private.exists() && public.exists() {
        return Ok(public);
    }
    if private.exists() || public.exists() {
        bail!("{} holds half a key pair: remove it or add the missing file", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let keys = auth::generate_keys()?;
    std::fs::write(&private, keys.private_pem).with_context(|| format!("cannot write {}", private.display()))?;
    std::fs::write(&public, keys.public_pem).with_context(|| format!("cannot write {}", public.display()))?;
    Ok(public)
}

pub struct TokenArgs<'a> {
    pub key: &'a Path,
    pub subject: &'a str,
    pub scopes: &'a [String],
    pub audience: &'a str,
    pub issuer: &'a str,
    pub lifetime: Duration,
}

/// A token signed with the private key in `args.key`.
pub fn token(args: &TokenArgs) -> anyhow::Result<String> {
    let pem = std::fs::read_to_string(args.key).with_context(|| {
        format!("cannot read the private key {} (make one with `wasmraft dev-keys`)", args.key.display())
    })?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    // Scopes may come as one space- or comma-separated argument, as OAuth writes them.
    let scopes: Vec<String> =
        args.scopes.iter().flat_map(|s| s.split([' ', ','])).filter(|s| !s.is_empty()).map(String::from).collect();
    let request = TokenRequest {
        subject: args.subject,
        scopes: &scopes,
        audience: args.audience,
        issuer: args.issuer,
        issued_at: now,
        expires_at: now + args.lifetime.as_secs(),
    };
    Ok(auth::mint(&pem, &request)?)
}
