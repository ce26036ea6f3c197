//! Bearer tokens, verified at the edge as the reference DSS does (interuss/dss `pkg/auth`).
//!
//! A request's `Authorization: Bearer <JWT>` is accepted when the JWT is
//! - signed with RS256 (RSASSA-PKCS1-v1_5 over SHA-256) by one of the configured RSA public
//!   keys, each tried in turn. Only RS256: the algorithm is checked before any key is tried,
//!   so `alg: none` and HMAC keyed with the public key (the classic confusion attacks) are
//!   refused outright;
//! - for one of the configured audiences (`aud`, a string or an array of strings);
//! - about a subject (`sub`) and from an issuer (`iss`), both non-empty strings;
//! - not expired (`exp` is required; no leeway, as the reference), and expiring at most one
//!   hour from now (the reference's "Max token duration is 1 Hour": a leaked token is good
//!   for an hour at most);
//! - already valid: `nbf` and `iat`, when present, are not in the future (a few seconds of
//!   clock skew are tolerated on these two only).
//!
//! The result is who the caller is ([`Principal`]: `sub` and the space-separated `scope`
//! claim). What it may do with those scopes is the module's business, not the edge's.
//! Every refusal says which check failed ([`AuthError`]); no input panics.
//!
//! The cryptography is the RustCrypto `rsa` crate's: signatures are checked by its
//! `pkcs1v15::VerifyingKey<Sha256>` (which compares the whole PKCS#1 v1.5 encoding), keys
//! are parsed, generated and used for signing (the development side: [`generate_keys`],
//! [`mint`]) by it too, and PEM is read by the `pem` crate.
//!
//! A USS reuses one token for up to an hour, so the [`Verifier`] remembers the tokens that
//! verified: by the SHA-256 of the whole token (header, claims and signature: a token that
//! differs in one byte is another token), with who it speaks for and its times. A token seen
//! again skips the signature and the other claims, which cannot change for the same bytes,
//! but not the checks that depend on now (`exp` and the one-hour bound, `nbf`, `iat`), made
//! again in the same order: a remembered token gets the answer a token never seen would
//! get, and once expired it is dropped. Refused tokens are never remembered (junk cannot
//! fill the cache; a refusal costs a full check). The cache holds at most `CACHE_ENTRIES`
//! tokens, each taking at most `MAX_CACHED_ENTRY_BYTES`; when it is full, the expired ones
//! go first, then the ones that expire soonest (`TokenCache::insert` says why). Its lock
//! is held for a look-up or an insertion, never for a signature check.
//!
//! In a release build (`cargo bench -p wasmraft-tests --bench auth`), an RSA-2048 token
//! costs 200-300 µs the first time it is seen (`rsa`'s general `modpow`; the hand-written
//! Montgomery exponentiation this replaced took 40 µs, but was big-number code to keep
//! correct for ever) and 0.5 µs each time after (a SHA-256 of the token and a look-up).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::hazmat::PrehashVerifier;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

/// Tokens longer than this are refused unread.
const MAX_TOKEN_BYTES: usize = 16 << 10;
/// The reference's "Max token duration is 1 Hour", counted from now.
const MAX_LIFETIME_SECS: i64 = 3600;
/// Clock skew tolerated on `nbf` and `iat` (not on `exp`, as the reference).
const LEEWAY_SECS: i64 = 5;
/// RFC 7518 §3.3: RS256 keys MUST be at least 2048 bits.
const MIN_KEY_BITS: usize = 2048;
/// PEM text (a key file) longer than this is refused unread: a few keys take a few KiB.
const MAX_PEM_BYTES: usize = 1 << 20;
/// The most verified tokens a [`Verifier`] remembers. Each takes a few hundred bytes for a
/// usual token (a subject and a few scopes), so a full cache is a few MiB.
const CACHE_ENTRIES: usize = 10_000;
/// A token whose entry would take more memory than this ([`Verified::bytes`]: a very long
/// subject, or thousands of scopes) is verified every time, never remembered: with
/// [`CACHE_ENTRIES`], this bounds the cache's memory (about 45 MiB at worst) whatever an
/// issuer puts in its tokens.
const MAX_CACHED_ENTRY_BYTES: usize = 4 << 10;

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    /// The `scope` claim split at whitespace, in order, without repeats.
    pub scopes: Vec<String>,
}

/// Why a token was refused. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token (expected `Authorization: Bearer <JWT>`)")]
    NoBearer,
    #[error("the token is {0} bytes long, over the limit of {MAX_TOKEN_BYTES}")]
    TooLarge(usize),
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("alg {0} is not accepted (only RS256)")]
    Algorithm(String),
    #[error("the token's signature does not verify with {}", keys_phrase(.0))]
    Signature(usize),
    #[error("the token has no `{0}` claim")]
    MissingClaim(&'static str),
    #[error("the token's `{0}` claim is empty")]
    EmptyClaim(&'static str),
    #[error("the token expired at {} (now is {})", at(.expired_at), at(.now))]
    Expired { expired_at: i64, now: i64 },
    #[error("the token lives longer than one hour (expires at {}, now is {}): Max token duration is 1 Hour", at(.expires_at), at(.now))]
    TooLong { expires_at: i64, now: i64 },
    #[error("the token is not valid before {} (now is {})", at(.not_before), at(.now))]
    NotYetValid { not_before: i64, now: i64 },
    #[error("the token was issued in the future, at {} (now is {})", at(.issued_at), at(.now))]
    IssuedInFuture { issued_at: i64, now: i64 },
    #[error("the token's audience {found:?} is not one of {accepted:?}")]
    Audience { found: Vec<String>, accepted: Vec<String> },
}

/// Why keys could not be read, parsed, made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key file {}: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{origin}: no PEM block (`-----BEGIN ...-----`)")]
    NoPem { origin: String },
    #[error("{origin}: {reason}")]
    BadPem { origin: String, reason: String },
    #[error(
        "{origin}: a `{label}` PEM block is not an RSA public key (expected `BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`)"
    )]
    NotPublicKey { origin: String, label: String },
    #[error("{origin}: not a usable RSA public key: {reason}")]
    BadPublicKey { origin: String, reason: String },
    #[error("not an RSA private key in PEM (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`): {0}")]
    NotPrivateKey(String),
    #[error("no public key is configured")]
    NoKey,
    #[error("no audience is configured: tokens must name one (--jwt-audience)")]
    NoAudience,
    #[error("an empty audience is configured: it would match no token")]
    EmptyAudience,
    #[error("cannot make, encode or use a key: {0}")]
    Crypto(String),
}

fn keys_phrase(keys: &usize) -> String {
    match keys {
        1 => "the configured key".into(),
        n => format!("any of the {n} configured keys"),
    }
}

/// A time as RFC 3339 UTC (`2026-11-23T13:00:00Z`), for messages.
pub fn at(secs: &i64) -> String {
    // Howard Hinnant's civil_from_days; total for every i64.
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Text from a token, fit for a message: escaped and cut short.
fn shown(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut out: String = text.chars().take(MAX_CHARS).flat_map(char::escape_debug).collect();
    if text.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------
// PEM

/// The PEM blocks of `text` as (label, DER), in order, read by the `pem` crate. Text around
/// the blocks is ignored (RFC 7468 allows explanations); line breaks may be LF or CRLF,
/// lines of any width. Refused: text over [`MAX_PEM_BYTES`], a block with headers (an
/// encrypted one), and a `-----BEGIN` that no block came of (`pem` skips a block whose
/// `-----END` line is missing: here it is an error, not a key silently left out).
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    if text.len() > MAX_PEM_BYTES {
        return Err(format!("the PEM text is {} bytes long, over the limit of {MAX_PEM_BYTES}", text.len()));
    }
    let blocks = pem::parse_many(text).map_err(|e| match e {
        pem::PemError::MismatchedTags(begin, end) => {
            format!("the `{}` PEM block ends with `-----END {}-----`", shown(&begin), shown(&end))
        }
        pem::PemError::InvalidData(e) => format!("a PEM block is not base64: {e}"),
        pem::PemError::InvalidHeader(_) => "a PEM block has a malformed header (or a blank line within it)".into(),
        e => format!("not PEM: {e}"),
    })?;
    if text.matches("-----BEGIN ").count() != blocks.len() {
        return Err("a `-----BEGIN` line has no matching `-----END ...-----` line".into());
    }
    blocks
        .into_iter()
        .map(|block| match block.headers().iter().next() {
            Some(_) => Err(format!("the `{}` PEM block has headers (is it encrypted?)", shown(block.tag()))),
            None => Ok((block.tag().to_string(), block.into_contents())),
        })
        .collect()
}

fn private_key(pem: &str) -> Result<RsaPrivateKey, KeyError> {
    let blocks = pem_blocks(pem).map_err(KeyError::NotPrivateKey)?;
    let Some((label, der)) = blocks.iter().find(|(label, _)| label.ends_with("PRIVATE KEY")) else {
        return Err(KeyError::NotPrivateKey("no `PRIVATE KEY` PEM block".into()));
    };
    match label.as_str() {
        "PRIVATE KEY" => RsaPrivateKey::from_pkcs8_der(der).map_err(|e| KeyError::NotPrivateKey(e.to_string())),
        "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(der).map_err(|e| KeyError::NotPrivateKey(e.to_string())),
        "ENCRYPTED PRIVATE KEY" => Err(KeyError::NotPrivateKey("the key is encrypted: decrypt it first".into())),
        other => Err(KeyError::NotPrivateKey(format!("a `{other}` block"))),
    }
}

// ---------------------------------------------------------------------------------------
// Claims

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, AuthError> {
    // Strict base64url without padding, as RFC 7515 and the reference's jwt-go by default.
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| AuthError::Malformed(format!("the {what} is not base64url without padding: {e}")))
}

fn json_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, AuthError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AuthError::Malformed(format!("the {what} is not a JSON object"))),
        Err(e) => Err(AuthError::Malformed(format!("the {what} is not JSON: {e}"))),
    }
}

/// A claim that is absent and one that is `null` are the same (as in the reference).
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    claims.get(name).filter(|v| !v.is_null())
}

fn nonempty_string<'a>(claims: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, AuthError> {
    match claim(claims, name) {
        None => Err(AuthError::MissingClaim(name)),
        Some(Value::String(s)) if s.is_empty() => Err(AuthError::EmptyClaim(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AuthError::Malformed(format!("the `{name}` claim is not a string"))),
    }
}

/// A NumericDate claim in whole seconds: fractions are dropped (as the reference does) and
/// numbers beyond i64 saturate. Not a string, even of digits: RFC 7519 says a JSON number.
fn seconds(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, AuthError> {
    let Some(value) = claim(claims, name) else { return Ok(None) };
    let Value::Number(n) = value else {
        return Err(AuthError::Malformed(format!("the `{name}` claim is not a number of seconds")));
    };
    Ok(Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => i,
        (None, Some(_), _) => i64::MAX,
        (None, None, Some(f)) => f as i64, // truncates toward zero; saturates
        (None, None, None) => {
            return Err(AuthError::Malformed(format!("the `{name}` claim is not a number of seconds")));
        }
    }))
}

fn audiences(claims: &Map<String, Value>) -> Result<Vec<String>, AuthError> {
    let malformed = || AuthError::Malformed("the `aud` claim is not a string or an array of strings".into());
    match claim(claims, "aud") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(list)) => list.iter().map(|v| v.as_str().map(String::from).ok_or_else(malformed)).collect(),
        Some(_) => Err(malformed()),
    }
}

fn scopes(claims: &Map<String, Value>) -> Result<Vec<String>, AuthError> {
    match claim(claims, "scope") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => {
            let mut scopes: Vec<String> = Vec::new();
            for scope in s.split_whitespace() {
                if !scopes.iter().any(|known| known == scope) {
                    scopes.push(scope.to_string());
                }
            }
            Ok(scopes)
        }
        Some(_) => Err(AuthError::Malformed("the `scope` claim is not a string (space-separated scopes)".into())),
    }
}

// ---------------------------------------------------------------------------------------
// Times: the checks that depend on now, made again each time a remembered token is seen

/// A token's times, as its claims give them.
#[derive(Debug, Clone, Copy)]
struct Times {
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
}

/// Not expired (no leeway), and expiring at most an hour from now.
fn check_expiry(exp: i64, now: i64) -> Result<(), AuthError> {
    if exp <= now {
        return Err(AuthError::Expired { expired_at: exp, now });
    }
    if exp > now.saturating_add(MAX_LIFETIME_SECS) {
        return Err(AuthError::TooLong { expires_at: exp, now });
    }
    Ok(())
}

fn check_not_before(nbf: Option<i64>, now: i64) -> Result<(), AuthError> {
    match nbf {
        Some(nbf) if nbf > now.saturating_add(LEEWAY_SECS) => Err(AuthError::NotYetValid { not_before: nbf, now }),
        _ => Ok(()),
    }
}

fn check_issued_at(iat: Option<i64>, now: i64) -> Result<(), AuthError> {
    match iat {
        Some(iat) if iat > now.saturating_add(LEEWAY_SECS) => Err(AuthError::IssuedInFuture { issued_at: iat, now }),
        _ => Ok(()),
    }
}

impl Times {
    /// The checks of [`Verifier::check_claims`] that depend on now, in its order: for a
    /// token whose other checks passed, the same result as checking it whole.
    fn check(&self, now: i64) -> Result<(), AuthError> {
        check_expiry(self.exp, now)?;
        check_not_before(self.nbf, now)?;
        check_issued_at(self.iat, now)
    }
}

// ---------------------------------------------------------------------------------------
// The cache of verified tokens

/// A token that verified: who it speaks for and its times.
struct Verified {
    principal: Principal,
    times: Times,
}

impl Verified {
    /// What remembering it takes, about: the entry, its key twice (map and expiry order),
    /// and the strings on the heap, each at least one word of the allocator's.
    fn bytes(&self) -> usize {
        let Principal { subject, scopes } = &self.principal;
        let heap = |s: &String| s.len().max(8);
        size_of::<Verified>()
            + 2 * size_of::<(i64, [u8; 32])>()
            + heap(subject)
            + scopes.capacity() * size_of::<String>()
            + scopes.iter().map(heap).sum::<usize>()
    }
}

/// Verified tokens by the SHA-256 of the whole token, at most `capacity` of them.
struct TokenCache {
    capacity: usize,
    entries: HashMap<[u8; 32], Verified>,
    /// The same tokens by expiry, soonest first: dropping the expired ones, and on
    /// overflow the next to expire, is taking from the front.
    by_expiry: BTreeSet<(i64, [u8; 32])>,
    /// Look-ups answered from the cache (for the tests).
    #[cfg(test)]
    hits: u64,
}

impl TokenCache {
    fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
            #[cfg(test)]
            hits: 0,
        }
    }

    /// Drops every token expired at `now`.
    fn drop_expired(&mut self, now: i64) {
        while let Some(&(exp, id)) = self.by_expiry.first()
            && exp <= now
        {
            self.by_expiry.pop_first();
            self.entries.remove(&id);
        }
    }

    /// The answer for a remembered token: who it speaks for, if its times still pass at
    /// `now`. None: not remembered (or just expired and dropped): verify it whole.
    fn get(&mut self, id: &[u8; 32], now: i64) -> Option<Result<Principal, AuthError>> {
        self.drop_expired(now);
        let verified = self.entries.get(id)?;
        #[cfg(test)]
        {
            self.hits += 1;
        }
        Some(verified.times.check(now).map(|()| verified.principal.clone()))
    }

    /// Remembers a token that verified at `now`. When the cache is full, the tokens expired
    /// at `now` go first, then those that expire soonest, one per token inserted.
    ///
    /// Why evict rather than refuse the newcomer: a full cache that refused would keep the
    /// first tokens it saw for up to an hour, used or not (a USS that took a new token
    /// leaves its old one behind), and every newer token would cost a signature check on
    /// every request until then: the cost would rise with the number of callers, which is
    /// what the cache is for avoiding. Evicting keeps the tokens in use now. Why the soonest
    /// to expire: it has the fewest requests left to serve (for tokens of one lifetime it is
    /// also the oldest), and the same order serves the drop at expiry, with no scan. Only
    /// tokens signed by a configured key get here, so no caller without the issuer's key
    /// can make the cache churn; and a churning cache costs what no cache would.
    fn insert(&mut self, id: [u8; 32], verified: Verified, now: i64) {
        self.drop_expired(now);
        if self.capacity == 0 || self.entries.contains_key(&id) {
            return; // (Two requests verified the same token at once.)
        }
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.by_expiry.pop_first() else { break };
            self.entries.remove(&oldest);
        }
        self.by_expiry.insert((verified.times.exp, id));
        self.entries.insert(id, verified);
    }
}

// ---------------------------------------------------------------------------------------
// Verifier

/// A configured public key, ready to check RS256 signatures.
struct Key {
    verifying: VerifyingKey<Sha256>,
    bits: usize,
}

/// Verifies bearer tokens; its keys are parsed once, when it is made. It remembers the
/// tokens that verified (see the module's doc), so one is shared by every request.
pub struct Verifier {
    keys: Vec<Key>,
    audiences: Vec<String>,
    cache: Mutex<TokenCache>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self.keys.iter().map(|k| format!("RSA-{}", k.bits)).collect();
        f.debug_struct("Verifier").field("keys", &keys).field("audiences", &self.audiences).finish()
    }
}

fn prepared(key: RsaPublicKey) -> Result<Key, String> {
    let bits = key.n().bits();
    if bits < MIN_KEY_BITS {
        return Err(format!("the key has {bits} bits; RS256 needs at least {MIN_KEY_BITS}"));
    }
    Ok(Key { verifying: VerifyingKey::new(key), bits })
}

/// The keys of every PEM block of `text` (which names itself `origin` in errors).
fn public_keys(text: &str, origin: &str) -> Result<Vec<Key>, KeyError> {
    let blocks = pem_blocks(text).map_err(|reason| KeyError::BadPem { origin: origin.into(), reason })?;
    if blocks.is_empty() {
        return Err(KeyError::NoPem { origin: origin.into() });
    }
    let count = blocks.len();
    blocks
        .into_iter()
        .enumerate()
        .map(|(i, (label, der))| {
            let origin = if count == 1 { origin.to_string() } else { format!("{origin}, PEM block {}", i + 1) };
            let key = match label.as_str() {
                "PUBLIC KEY" => RsaPublicKey::from_public_key_der(&der)
                    .map_err(|e| format!("not RSA, over 4096 bits, or not valid DER ({e})")),
                "RSA PUBLIC KEY" => {
                    RsaPublicKey::from_pkcs1_der(&der).map_err(|e| format!("over 4096 bits, or not valid DER ({e})"))
                }
                _ => return Err(KeyError::NotPublicKey { origin, label }),
            };
            key.and_then(prepared).map_err(|reason| KeyError::BadPublicKey { origin, reason })
        })
        .collect()
}

impl Verifier {
    /// Keys from PEM text: one key per PEM block (PKIX `BEGIN PUBLIC KEY` or PKCS#1
    /// `BEGIN RSA PUBLIC KEY`); an entry may hold several blocks. Tokens must name one of
    /// `audiences`, of which there must be at least one.
    pub fn new(public_key_pems: &[String], audiences: Vec<String>) -> Result<Verifier, KeyError> {
        let mut keys = Vec::new();
        for (i, pem) in public_key_pems.iter().enumerate() {
            keys.extend(public_keys(pem, &format!("public key {}", i + 1))?);
        }
        Verifier::with_keys(keys, audiences)
    }

    /// Reads each file (one key, or several PEM blocks of keys, per file).
    pub fn from_files(paths: &[PathBuf], audiences: Vec<String>) -> Result<Verifier, KeyError> {
        let mut keys = Vec::new();
        for path in paths {
            let read = |source| KeyError::Read { path: path.clone(), source };
            // Bounded: one byte over the limit is enough for `pem_blocks` to refuse it. (Not
            // UTF-8 outside the blocks is no matter: PEM itself is ASCII.)
            let mut bytes = Vec::new();
            std::fs::File::open(path)
                .and_then(|file| file.take(MAX_PEM_BYTES as u64 + 1).read_to_end(&mut bytes))
                .map_err(read)?;
            keys.extend(public_keys(&String::from_utf8_lossy(&bytes), &path.display().to_string())?);
        }
        Verifier::with_keys(keys, audiences)
    }

    fn with_keys(keys: Vec<Key>, audiences: Vec<String>) -> Result<Verifier, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::NoKey);
        }
        if audiences.is_empty() {
            return Err(KeyError::NoAudience);
        }
        if audiences.iter().any(String::is_empty) {
            return Err(KeyError::EmptyAudience);
        }
        Ok(Verifier { keys, audiences, cache: Mutex::new(TokenCache::new(CACHE_ENTRIES)) })
    }

    /// Verifies an `Authorization` header's value: `Bearer <JWT>`, with "bearer" in any
    /// case and whitespace around the token ignored. `now_secs`: seconds since the epoch.
    pub fn verify_header(&self, header: &str, now_secs: u64) -> Result<Principal, AuthError> {
        let bytes = header.as_bytes();
        if bytes.len() < 7 || !bytes[..6].eq_ignore_ascii_case(b"bearer") || !matches!(bytes[6], b' ' | b'\t') {
            return Err(AuthError::NoBearer);
        }
        // The first six bytes are ASCII: 6 is a character boundary.
        let token = header[6..].trim_matches([' ', '\t']);
        if token.is_empty() {
            return Err(AuthError::NoBearer);
        }
        self.verify(token, now_secs)
    }

    /// Verifies a bare token. `now_secs`: seconds since the Unix epoch.
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge(token.len()));
        }
        let now = i64::try_from(now_secs).unwrap_or(i64::MAX);
        let id: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(answer) = self.cache().get(&id, now) {
            return answer;
        }
        // Not under the lock: other requests go on meanwhile.
        let verified = self.verify_whole(token, now)?;
        let principal = verified.principal.clone();
        if verified.bytes() <= MAX_CACHED_ENTRY_BYTES {
            self.cache().insert(id, verified, now);
        }
        Ok(principal)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, TokenCache> {
        // Nothing under the lock panics; were it to, the cache is still whole.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every check: the header, the signature, the claims.
    fn verify_whole(&self, token: &str, now: i64) -> Result<Verified, AuthError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            let dots = token.bytes().filter(|b| *b == b'.').count();
            return Err(AuthError::Malformed(format!(
                "a JWT is three parts separated by two dots, this has {dots} dots"
            )));
        };
        let head = json_object(&decode_part(header, "header")?, "header")?;
        match head.get("alg") {
            Some(Value::String(alg)) if alg == "RS256" => {}
            Some(Value::String(alg)) => return Err(AuthError::Algorithm(shown(alg))),
            Some(_) => return Err(AuthError::Malformed("the header's `alg` is not a string".into())),
            None => return Err(AuthError::Malformed("the header has no `alg`".into())),
        }
        let signature = decode_part(signature, "signature")?;
        let refused = AuthError::Signature(self.keys.len());
        // (Infallible: any bytes; the length is checked against each key's.)
        let signature = Signature::try_from(signature.as_slice()).map_err(|_| refused.clone())?;
        // Hashed once for all the keys.
        let hash = Sha256::digest(&token.as_bytes()[..header.len() + 1 + payload.len()]);
        if !self.keys.iter().any(|key| key.verifying.verify_prehash(&hash, &signature).is_ok()) {
            return Err(refused);
        }
        let claims = json_object(&decode_part(payload, "payload")?, "payload")?;
        let (principal, times) = self.check_claims(&claims, now)?;
        Ok(Verified { principal, times })
    }

    fn check_claims(&self, claims: &Map<String, Value>, now: i64) -> Result<(Principal, Times), AuthError> {
        let subject = nonempty_string(claims, "sub")?.to_string();
        nonempty_string(claims, "iss")?;
        let exp = seconds(claims, "exp")?.ok_or(AuthError::MissingClaim("exp"))?;
        check_expiry(exp, now)?;
        let nbf = seconds(claims, "nbf")?;
        check_not_before(nbf, now)?;
        let iat = seconds(claims, "iat")?;
        check_issued_at(iat, now)?;
        let found = audiences(claims)?;
        if !found.iter().any(|a| self.audiences.contains(a)) {
            return Err(AuthError::Audience { found, accepted: self.audiences.clone() });
        }
        Ok((Principal { subject, scopes: scopes(claims)? }, Times { exp, nbf, iat }))
    }

    /// The same verifier, remembering at most `capacity` tokens.
    #[cfg(test)]
    fn with_cache_capacity(mut self, capacity: usize) -> Verifier {
        self.cache = Mutex::new(TokenCache::new(capacity));
        self
    }

    /// How many tokens are remembered, and how many look-ups they answered.
    #[cfg(test)]
    fn cache_stats(&self) -> (usize, u64) {
        let cache = self.cache();
        assert_eq!(cache.entries.len(), cache.by_expiry.len());
        (cache.entries.len(), cache.hits)
    }
}

// ---------------------------------------------------------------------------------------
// The development side

/// A key pair in PEM: PKCS#8 private key, PKIX public key.
pub struct DevKeys {
    pub private_pem: String,
    pub public_pem: String,
}

/// A new RSA-2048 key pair. It takes a while: about 0.15 s in a release build with `rsa`'s
/// `u64_digit` feature (0.5 s without), and seconds in a debug build (2 s, or 6 s without).
pub fn generate_keys() -> Result<DevKeys, KeyError> {
    let crypto = |e: &dyn fmt::Display| KeyError::Crypto(e.to_string());
    let private = RsaPrivateKey::new(&mut rand_core_06::OsRng, 2048).map_err(|e| crypto(&e))?;
    let public = RsaPublicKey::from(&private);
    Ok(DevKeys {
        private_pem: private.to_pkcs8_pem(LineEnding::LF).map_err(|e| crypto(&e))?.to_string(),
        public_pem: public.to_public_key_pem(LineEnding::LF).map_err(|e| crypto(&e))?,
    })
}

/// What [`mint`] puts in a token. Times are seconds since the Unix epoch.
pub struct TokenRequest<'a> {
    pub subject: &'a str,
    pub scopes: &'a [String],
    pub audience: &'a str,
    pub issuer: &'a str,
    pub issued_at: u64,
    pub expires_at: u64,
}

/// An RS256 JWT for `request` (claims `aud`, `scope` space-joined, `iss`, `exp`, `sub`,
/// `iat`), signed with the private key in `private_pem` (PKCS#8 `BEGIN PRIVATE KEY` or
/// PKCS#1 `BEGIN RSA PRIVATE KEY`). Nothing is checked: tests mint bad tokens too.
pub fn mint(private_pem: &str, request: &TokenRequest) -> Result<String, KeyError> {
    let key = SigningKey::<Sha256>::new(private_key(private_pem)?);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "aud": request.audience,
        "scope": request.scopes.join(" "),
        "iss": request.issuer,
        "exp": request.expires_at,
        "sub": request.subject,
        "iat": request.issued_at,
    });
    let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    // With an RNG, `rsa` blinds the private-key operation: its arithmetic is not constant-time
    // (RUSTSEC-2023-0071), and blinding makes the timing tell less.
    let signature = key
        .try_sign_with_rng(&mut rand_core_06::OsRng, signed.as_bytes())
        .map_err(|e| KeyError::Crypto(e.to_string()))?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::signature::Signer as _;
    use std::sync::OnceLock;

    /// TEST-ONLY keys, published here, never to be trusted anywhere: embedded so that the
    /// tests need not generate keys (seconds each in a debug build). A is PKCS#8, B PKCS#1.
    const TEST_ONLY_PRIVATE_KEY_A: &str = r"-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQD2st6RU17CL/mP
Ia0kNSal336v/kl7j6ALNkVLFGFYQ9dTrxKcBeI+mYZUnu62NF2r7MmZX1+uFBmh
twdyy3k7knXUVFI+lr1EeBiuZHLj5pA8hR+dYsClpgXN0nZRDoo+1qDD482xyA0O
4+XyEg5J4wzHOqxOJi8lUTkLgil4zZVd8I/rMeBzkNuu6Tc2Fx0PpnfEoOd7lW5r
EjH8ngiNomiBow2ifJ7GpcfbCX3JnBHrggcreUhErTbh6BcQ24J6+Mm0JGe/RvoA
5tB8pEK674IiEystV8+PNsGvGiroZqcxwChCGFIOuJVE9cP9p/Kkb0mTImW+OjsD
UrlHd6g/AgMBAAECggEBANBsdF+haRh0wcoscIR7p0hSl00HcHvE7zkpw8dX05pn
zp8z9Wv+CJRMztHlaNZlTZJ4PianDkYbU0BuSwuwXp928LfP+aBJaGRVdry3vt1O
qSOIcRpeGVaZ+qNWoYF/4EqQuEhnyRvfYTDoWBh5Krs/6UbVCkgIOKK1iZVwhas5
lMlgZnhKJ2u2KDP+rWKu+Cy8NlLz7UNLtG8JUMtj42K1qVdNYlVufU6fexGyVgS4
feFIdt3FmjCNFwNcik8gIlK62SkZ4tJVEt1R/3iUT88otIB1qUWTpkQ8SdKhcAuf
rjbZUouOV/g63PhWiZSy2CK7cXXmi2Uj8HXCFHly03kCgYEA+scg3hGGBEhexHBG
tSvbLkF95KFRkjUmsGVzUbUX+4GViWNE4G/srKeUlFP66iyyM8vQU0j44vW5GqIG
sHdCfp88V8wYkSco/KgTJ3W3d8DieqQxFxmnicsIawwafgEtQaTcMWD6DIgU0D6t
RiAW1tjnqPJUDruKMxJwL0l6Vw0CgYEA+9X+3CqNaltNAAd8ZiwdGWTbHKeaB6Bp
QpDWDKXqFPzOaYA8PdajXtREzk3MHWAQylTfUoMhQfOcIZxZMqbPSLB8otxNYbg/
G2cXTH04CMqHJbvDfYw0rCswyxJDPr9XyuCJbeYTPyW+yeDZSEl3/V6cWDaAe6O4
BuW+jZUJ6XsCgYEAg14q1onBdZ7fnfHe6Gsn7yw5obnr/DZBpSgP596AyKySRB0v
aI7ZIXzL9YOkrmVpmH6NDAPu9R2ZsNztuiVPPPt3Zdqxh+BGtUvqdMJSsLXnLi2y
1ZIH1MP6DfGSMy20om2VN3zAoC3tEUW0CUcoD7YibLs801bkx2pCQFMydkUCgYEA
95b8ahirz9TTbyPs+caFFWJCyXk9xiG/WuJqjyTPbrLdfHvGvkU3eRPYUbvK4VaB
K2sl5ElneR+4cJL2XwYA5MYewz80FM6/vIEuNtUlMf9rv31KRTSC1IHiBsR9uEMG
XT9D3fhFE+BYIsIc3STeAwvxSgjLaMMdOirFnQzaIeECgYBdJr4DaoLQN8FS/Lxy
mVXOZ8ykvd3sXy+/zYw6tv4FR3ESwbXIBTvT3p8rZVoMVNFKa5iz5jT+fi+Az5Xk
wx4302BBv5GFL4GFBtJ9dVQXb1jI4dMzKIDcGOj1gLuZ5Yo1H1vQnvt2JiQb335w
e5f0busvuNaNtigLHz9Dxhva8w==
-----END PRIVATE KEY-----
";
    const TEST_ONLY_PRIVATE_KEY_B: &str = r"-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAqp9KVKChoPae/bBz0Q4WqVEpQ3qly/yymENvFITP+4AFg48i
IeUMwx9jSHTxVerqkQ7uZLnP2g0/l0VJZFPXVhkvmdLSIqkrH3nfYTyDLd5KR7z0
YH0kC1GktGBMySpVQjfkkAnp/TaXKnaOPE0EAGqc1jJYHKmjRODgJ0OtjiMe+Q81
JMsk7HnvW96N3kzIltcNG+TvauogBvEmxAy41PSkkeeI5jwzoxYk7/v6QroNTNVl
wMCJe8pEs6wtKI2+igGwgYfJxYjmuiEpAE/uU1qVXy2LOOZvEADfmhFz06tz96AT
aZtv8UhHJoE/hvFPRK2+vkDNKDLtq7EORVRPAwIDAQABAoIBABmthVs9HXYDB6R4
VMXGkASFUWd1YtRTQHGH3ITDBCX+e1X0SZe+R/BpneB+sP9ULl8MVzZTfIN9cO+M
HuJ5d7PecHp+7t8GhJXlGoggukFB7f3j4wdObglCDT6UK5ouw8wGa2B+DXftKkza
sMdEc/C4GshlpTsTEJ5CFZnzJoB4a7yZj3o0SYzlzUJlK1XCbWZIQ3WWHvcaRtF+
E3zVnHLZk9A27hg8RkIGi0rwXowM0x12v7mUoLqqgJkWTBUyqW5Z5GNmf+UudNDc
33BsCZoeZiJJ84N9TjQNGTtBOc0DssxzjkxorW+bBy0VGXKX+cFirQzHyl0dlfQR
OZiReJECgYEA04cznyN4XM//M35eHejrgrFg1IaA6WNfw/udD0sQ6IQvgPIgmGgV
Ggxu5ED9yOhV3trLa7RS+BDyx/DJtlj2mFnaO0L0RFwDHtFwTCb/QtxLjPOp409V
wskx5g7zAXNQu2xdp6sKrIA1J3E30DpSjdSv+sfZ9/TnDzHioBY2D9kCgYEAzn52
5vd+B7KY8SxEC7GkXTZFMpd6YglF8VIjWPygumxIRoowT6RFnGWaNvaw6Q5OS+xs
UU19UKaImfjStGQC2Tq8Ue/vCGsYxHl6r38vV5k3XH+Mvth9tRedB2UBFu24tf8X
DjoxTYSiF8nwuxJWvukQGtLzU6Hrn7lkl51S6DsCgYAYFnJbceeX8hummoJPN6Hy
DQ7wxKxTZ3yVTcbR4gN35u2d6nSpxlh40eei2H/N7B8zNIkrp6o3E38CI7pkqHbU
XI8MZpB4ZF36mXEHSv2QeJOl5m13NCaY+t5Sy2sCxEXyQeHcYQ7jG+pxpmPrs2iJ
PCoaDb4VjW7ufQjIoB7h6QKBgE/EAmJOEF0g3HutQcvSn09ye2CDqz7bni0OMaFa
VSwuT+0PzIG3TzyO8vdwa/5bDFu/xEfTyyiwa+wudhZA2+jWC5ELQibaWALtejr4
wmzwPrZ4fwHp1wVxTbNhjP4ybju/gkR4rjrnlUXjOB7Lgr7UgOgbvOr9jWtxzi3T
FAepAoGBALhW+AM+npDsBS1K4lViSGovIJ52yIkWiFssUDOoiNbwjsSP3CccjHEQ
cjItKT15pG3FvM0N9wRLmKiH4RaEXIik2U5/WMCm9igePqM9PzN92tqOlJ0tWbuh
xJhfpt3q1aIqyckD75CCZoiTCKBqibWLlNJF89/DM+9k+mtNShV5
-----END RSA PRIVATE KEY-----
";
    /// A 1024-bit public key: too small for RS256.
    const SMALL_PUBLIC_KEY: &str = r"-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCpmJav/7UQMrOcaHYjkoxsJSKi
1FwqgYaYcmv2nOnb6G8xD0xB1izP7ikyg9jGLunWoC4DVItOJrLcsVmXKouhtldW
SvZljS0GN4Tpj2tXR157tLB8vrwxtNHJZV/VBZAmCbL0r0e4Zl1Nz1XfIooE7N5P
PqTOpvW4BZC3hQXDlwIDAQAB
-----END PUBLIC KEY-----
";
    /// Signed by `openssl dgst -sha256 -sign` with key A (an independent signer): sub
    /// `uss-openssl`, aud ["other", "localhost"], iat NOW, exp NOW + 600, two scopes.
    const OPENSSL_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c3Mtb3BlbnNzbCIsImlzcyI6Im9wZW5zc2wiLCJhdWQiOlsib3RoZXIiLCJsb2NhbGhvc3QiXSwiZXhwIjoxODAwMDAwNjAwLCJpYXQiOjE4MDAwMDAwMDAsInNjb3BlIjoidXRtLnN0cmF0ZWdpY19jb29yZGluYXRpb24gdXRtLmNvbnN0cmFpbnRfbWFuYWdlbWVudCJ9.opsJ4E56hj0X4DqWjR53MWnGU8AlG_xq4Zf0FAkgiWwVOchaZH9TLXPPJkoPVVuykXW4QF01JEXe2jI3QrdiBymCSQ1qsgC1i6iHig8D_wSLfrfviUkt8-xOJEDe-VQHMAvHr7jUdYf7QTA2S5vGgAD1cY0ZraMhFYNSrSOTebYFVVhO05_2xbZ36lm3gkMD2yMfZlfOtCDmCh7zAtqITrHoshTPRL_m50g9Y1xUSDX4fT6WiSGsaj3-4qVCpNm1Vk_p4n5bzULrRvsaE_yd_spwOUBn6U6jKmTkOAWFw77-K1bPfHInAtrFvT6iqDn6AfaP5boFVkR8SelIE9P-JA";

    const NOW: u64 = 1_800_000_000;
    const NOW_I: i64 = NOW as i64;

    struct Keys {
        a: RsaPrivateKey,
        b: RsaPrivateKey,
        a_public: String,
        b_public: String,
        b_public_pkcs1: String,
    }

    fn keys() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| {
            let a = private_key(TEST_ONLY_PRIVATE_KEY_A).unwrap();
            let b = private_key(TEST_ONLY_PRIVATE_KEY_B).unwrap();
            Keys {
                a_public: RsaPublicKey::from(&a).to_public_key_pem(LineEnding::LF).unwrap(),
                b_public: RsaPublicKey::from(&b).to_public_key_pem(LineEnding::LF).unwrap(),
                b_public_pkcs1: RsaPublicKey::from(&b).to_pkcs1_pem(LineEnding::LF).unwrap(),
                a,
                b,
            }
        })
    }

    fn verifier() -> Verifier {
        Verifier::new(&[keys().a_public.clone()], vec!["localhost".into(), "dss".into()]).unwrap()
    }

    fn b64(bytes: impl AsRef<[u8]>) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token of any header and payload text, RS256-signed with `key`.
    fn signed_raw(header: &str, payload: &str, key: &RsaPrivateKey) -> String {
        let signed = format!("{}.{}", b64(header), b64(payload));
        let signature = SigningKey::<Sha256>::new(key.clone()).sign(signed.as_bytes());
        format!("{signed}.{}", b64(signature.to_bytes()))
    }

    fn signed(claims: &Value, key: &RsaPrivateKey) -> String {
        signed_raw(r#"{"alg":"RS256","typ":"JWT"}"#, &claims.to_string(), key)
    }

    fn claims() -> Value {
        serde_json::json!({"sub": "uss1", "iss": "dummyoauth", "aud": "localhost", "exp": NOW + 600, "iat": NOW, "scope": "a b"})
    }

    /// A good token's claims changed by `change`, signed with key A.
    fn with(change: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut c = claims();
        change(c.as_object_mut().unwrap());
        signed(&c, &keys().a)
    }

    fn set(name: &str, value: Value) -> String {
        with(|c| drop(c.insert(name.into(), value)))
    }

    fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let inner = Sha256::new().chain_update(block.map(|b| b ^ 0x36)).chain_update(message).finalize();
        Sha256::new().chain_update(block.map(|b| b ^ 0x5c)).chain_update(inner).finalize().into()
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn a_good_token_names_its_subject_and_scopes() {
        let scopes = [
            "utm.strategic_coordination".to_string(),
            "utm.constraint_management".into(),
            "utm.strategic_coordination".into(),
        ];
        let request = TokenRequest {
            subject: "uss1",
            scopes: &scopes,
            audience: "localhost",
            issuer: "dummyoauth",
            issued_at: NOW,
            expires_at: NOW + 600,
        };
        let token = mint(TEST_ONLY_PRIVATE_KEY_A, &request).unwrap();
        let p = verifier().verify_header(&format!("Bearer {token}"), NOW).unwrap();
        assert_eq!(
            p,
            Principal {
                subject: "uss1".into(),
                scopes: vec!["utm.strategic_coordination".into(), "utm.constraint_management".into()]
            }
        );
        assert_eq!(verifier().verify(&token, NOW), Ok(p));
        // A token without scopes is still a token: the module decides what it may do.
        let bare = with(|c| drop(c.remove("scope")));
        assert_eq!(verifier().verify(&bare, NOW).unwrap().scopes, Vec::<String>::new());
        assert_eq!(verifier().verify(&set("scope", "".into()), NOW).unwrap().scopes, Vec::<String>::new());
    }

    #[test]
    fn a_token_signed_by_openssl_verifies() {
        let p = verifier().verify(OPENSSL_TOKEN, NOW).unwrap();
        assert_eq!(p.subject, "uss-openssl");
        assert_eq!(p.scopes, ["utm.strategic_coordination", "utm.constraint_management"]);
    }

    #[test]
    fn mint_reads_pkcs1_private_keys_and_refuses_other_pem() {
        let request = TokenRequest {
            subject: "s",
            scopes: &[],
            audience: "dss",
            issuer: "i",
            issued_at: NOW,
            expires_at: NOW + 60,
        };
        let token = mint(TEST_ONLY_PRIVATE_KEY_B, &request).unwrap();
        let both =
            Verifier::new(&[keys().a_public.clone(), keys().b_public_pkcs1.clone()], vec!["dss".into()]).unwrap();
        assert_eq!(both.verify(&token, NOW).unwrap().subject, "s");
        for pem in [
            keys().a_public.as_str(),
            "",
            "not a key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            assert!(matches!(mint(pem, &request), Err(KeyError::NotPrivateKey(_))), "{pem:?}");
        }
    }

    #[test]
    fn generated_keys_work_together() {
        // The one key generation of this test binary (seconds in a debug build).
        let dev = generate_keys().unwrap();
        assert!(dev.private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{}", dev.private_pem);
        assert!(dev.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{}", dev.public_pem);
        let request = TokenRequest {
            subject: "dev",
            scopes: &["x".into()],
            audience: "localhost",
            issuer: "dev",
            issued_at: NOW,
            expires_at: NOW + 3600,
        };
        let token = mint(&dev.private_pem, &request).unwrap();
        let v = Verifier::new(std::slice::from_ref(&dev.public_pem), vec!["localhost".into()]).unwrap();
        assert_eq!(v.verify(&token, NOW).unwrap(), Principal { subject: "dev".into(), scopes: vec!["x".into()] });
        assert_eq!(verifier().verify(&token, NOW), Err(AuthError::Signature(1)));
    }

    #[test]
    fn a_token_signed_by_another_key_is_refused() {
        let other = signed(&claims(), &keys().b);
        let err = verifier().verify(&other, NOW).unwrap_err();
        assert_eq!(err, AuthError::Signature(1));
        assert_eq!(err.to_string(), "the token's signature does not verify with the configured key");
    }

    #[test]
    fn with_two_keys_each_is_tried() {
        let both =
            Verifier::new(&[keys().a_public.clone(), keys().b_public.clone()], vec!["localhost".into()]).unwrap();
        assert_eq!(both.verify(&signed(&claims(), &keys().b), NOW).unwrap().subject, "uss1");
        assert_eq!(both.verify(&signed(&claims(), &keys().a), NOW).unwrap().subject, "uss1");
        let dev_style = Verifier::new(&[keys().b_public.clone()], vec!["localhost".into()]).unwrap();
        let unknown = signed(&claims(), &keys().a);
        assert!(dev_style.verify(&unknown, NOW).is_err());
        // Two blocks in one PEM text are two keys.
        let one_text =
            Verifier::new(&[format!("{}\n{}", keys().a_public, keys().b_public_pkcs1)], vec!["localhost".into()])
                .unwrap();
        assert_eq!(one_text.keys.len(), 2);
        assert_eq!(one_text.verify(&signed(&claims(), &keys().b), NOW).unwrap().subject, "uss1");
        let forged = format!("{}.{}", unknown.rsplit_once('.').unwrap().0, b64([7u8; 256]));
        let err = one_text.verify(&forged, NOW).unwrap_err();
        assert_eq!(err.to_string(), "the token's signature does not verify with any of the 2 configured keys");
    }

    #[test]
    fn audiences() {
        let v = verifier();
        let err = v.verify(&set("aud", "x".into()), NOW).unwrap_err();
        assert_eq!(
            err,
            AuthError::Audience { found: vec!["x".into()], accepted: vec!["localhost".into(), "dss".into()] }
        );
        assert_eq!(err.to_string(), r#"the token's audience ["x"] is not one of ["localhost", "dss"]"#);
        assert_eq!(v.verify(&set("aud", serde_json::json!(["x", "dss"])), NOW).unwrap().subject, "uss1");
        assert_eq!(v.verify(&set("aud", serde_json::json!(["dss"])), NOW).unwrap().subject, "uss1");
        assert!(matches!(v.verify(&set("aud", serde_json::json!([])), NOW), Err(AuthError::Audience { .. })));
        assert!(matches!(v.verify(&set("aud", "LOCALHOST".into()), NOW), Err(AuthError::Audience { .. })));
        assert!(matches!(v.verify(&set("aud", "".into()), NOW), Err(AuthError::Audience { .. })));
        assert!(
            matches!(v.verify(&with(|c| drop(c.remove("aud"))), NOW), Err(AuthError::Audience { found, .. }) if found.is_empty())
        );
        assert!(matches!(v.verify(&set("aud", serde_json::json!(["dss", 1])), NOW), Err(AuthError::Malformed(_))));
        assert!(matches!(v.verify(&set("aud", 5.into()), NOW), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn expiry() {
        let v = verifier();
        let err = v.verify(&set("exp", (NOW - 1).into()), NOW).unwrap_err();
        assert_eq!(err, AuthError::Expired { expired_at: NOW_I - 1, now: NOW_I });
        assert_eq!(err.to_string(), "the token expired at 2027-01-15T07:59:59Z (now is 2027-01-15T08:00:00Z)");
        // No leeway on exp: expiring now is expired (the reference: valid while now < exp).
        assert!(matches!(v.verify(&set("exp", NOW.into()), NOW), Err(AuthError::Expired { .. })));
        assert!(v.verify(&set("exp", (NOW + 1).into()), NOW).is_ok());
        assert_eq!(v.verify(&with(|c| drop(c.remove("exp"))), NOW), Err(AuthError::MissingClaim("exp")));
        assert_eq!(v.verify(&set("exp", Value::Null), NOW), Err(AuthError::MissingClaim("exp")));
    }

    #[test]
    fn a_token_may_live_one_hour_from_now_not_longer() {
        let v = verifier();
        assert!(v.verify(&set("exp", (NOW + 3600).into()), NOW).is_ok());
        let err = v.verify(&set("exp", (NOW + 3601).into()), NOW).unwrap_err();
        assert_eq!(err, AuthError::TooLong { expires_at: NOW_I + 3601, now: NOW_I });
        assert!(
            err.to_string().starts_with("the token lives longer than one hour (expires at 2027-01-15T09:00:01Z"),
            "{err}"
        );
        // An hour from now, not from iat: an old token that expires soon is fine.
        assert!(v.verify(&with(|c| drop(c.insert("iat".into(), (NOW - 7200).into()))), NOW).is_ok());
        assert!(matches!(
            v.verify(&set("exp", u64::MAX.into()), NOW),
            Err(AuthError::TooLong { expires_at: i64::MAX, .. })
        ));
        assert!(matches!(v.verify(&set("exp", serde_json::json!(1e300)), NOW), Err(AuthError::TooLong { .. })));
    }

    #[test]
    fn exp_is_a_number_whole_or_not() {
        let v = verifier();
        // A fraction is dropped, as the reference does.
        assert!(v.verify(&set("exp", serde_json::json!(NOW as f64 + 10.5)), NOW).is_ok());
        assert!(matches!(
            v.verify(&set("exp", serde_json::json!(NOW as f64 + 0.5)), NOW),
            Err(AuthError::Expired { .. })
        ));
        assert!(matches!(
            v.verify(&set("exp", serde_json::json!(-5)), NOW),
            Err(AuthError::Expired { expired_at: -5, .. })
        ));
        assert!(matches!(
            v.verify(&set("exp", serde_json::json!(-1e300)), NOW),
            Err(AuthError::Expired { expired_at: i64::MIN, .. })
        ));
        for bad in [
            serde_json::json!((NOW + 60).to_string()),
            serde_json::json!(true),
            serde_json::json!([NOW + 60]),
            serde_json::json!({"t": 1}),
        ] {
            assert_eq!(
                v.verify(&set("exp", bad.clone()), NOW),
                Err(AuthError::Malformed("the `exp` claim is not a number of seconds".into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn subject_and_issuer() {
        let v = verifier();
        assert_eq!(v.verify(&with(|c| drop(c.remove("sub"))), NOW), Err(AuthError::MissingClaim("sub")));
        assert_eq!(v.verify(&set("sub", "".into()), NOW), Err(AuthError::EmptyClaim("sub")));
        assert_eq!(v.verify(&set("sub", Value::Null), NOW), Err(AuthError::MissingClaim("sub")));
        assert_eq!(
            v.verify(&set("sub", 7.into()), NOW),
            Err(AuthError::Malformed("the `sub` claim is not a string".into()))
        );
        assert_eq!(v.verify(&with(|c| drop(c.remove("iss"))), NOW), Err(AuthError::MissingClaim("iss")));
        assert_eq!(v.verify(&set("iss", "".into()), NOW), Err(AuthError::EmptyClaim("iss")));
        assert_eq!(AuthError::MissingClaim("iss").to_string(), "the token has no `iss` claim");
        assert_eq!(v.verify(&set("sub", "üss ✈".into()), NOW).unwrap().subject, "üss ✈");
    }

    #[test]
    fn not_before_and_issued_at() {
        let v = verifier();
        let err = v.verify(&set("nbf", (NOW + 60).into()), NOW).unwrap_err();
        assert_eq!(err, AuthError::NotYetValid { not_before: NOW_I + 60, now: NOW_I });
        assert_eq!(err.to_string(), "the token is not valid before 2027-01-15T08:01:00Z (now is 2027-01-15T08:00:00Z)");
        assert!(v.verify(&set("nbf", (NOW + 5).into()), NOW).is_ok(), "within the leeway");
        assert!(v.verify(&set("nbf", NOW.into()), NOW).is_ok());
        assert!(matches!(v.verify(&set("iat", (NOW + 60).into()), NOW), Err(AuthError::IssuedInFuture { .. })));
        assert!(v.verify(&set("iat", (NOW + 5).into()), NOW).is_ok(), "within the leeway");
        assert!(v.verify(&with(|c| drop(c.remove("iat"))), NOW).is_ok(), "iat is optional");
        assert!(matches!(v.verify(&set("nbf", "soon".into()), NOW), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn scope_must_be_a_string() {
        let v = verifier();
        assert_eq!(v.verify(&set("scope", " a  b\ta ".into()), NOW).unwrap().scopes, ["a", "b"]);
        assert!(matches!(v.verify(&set("scope", serde_json::json!(["a", "b"])), NOW), Err(AuthError::Malformed(_))));
        assert!(matches!(v.verify(&set("scope", 1.into()), NOW), Err(AuthError::Malformed(_))));
        // `scp` is not read: the reference and ASTM F3548 use `scope`.
        assert_eq!(
            v.verify(&with(|c| drop(c.insert("scp".into(), serde_json::json!(["x"])))), NOW).unwrap().scopes,
            ["a", "b"]
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let good = signed(&claims(), &keys().a);
        let payload = good.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
        let err = verifier().verify(&none, NOW).unwrap_err();
        assert_eq!(err, AuthError::Algorithm("none".into()));
        assert_eq!(err.to_string(), "alg none is not accepted (only RS256)");
        for header in [
            r#"{"alg":"NONE"}"#,
            r#"{"alg":"None"}"#,
            r#"{"alg":""}"#,
            r#"{"alg":"rs256"}"#,
            r#"{"alg":"RS384"}"#,
            r#"{"alg":"PS256"}"#,
            r#"{"alg":"ES256"}"#,
        ] {
            let t = format!("{}.{payload}.{}", b64(header), good.split('.').nth(2).unwrap());
            assert!(matches!(verifier().verify(&t, NOW), Err(AuthError::Algorithm(_))), "{header}");
        }
        for header in [r#"{"typ":"JWT"}"#, r#"{"alg":null}"#, r#"{"alg":256}"#, r#"{"alg":["RS256"]}"#] {
            let t = format!("{}.{payload}.", b64(header));
            assert!(matches!(verifier().verify(&t, NOW), Err(AuthError::Malformed(_))), "{header}");
        }
        let long = format!("{}.{payload}.", b64(format!(r#"{{"alg":"{}\n"}}"#, "x".repeat(100)).replace('\n', "\\n")));
        assert_eq!(verifier().verify(&long, NOW), Err(AuthError::Algorithm(format!("{}…", "x".repeat(40)))));
    }

    #[test]
    fn hs256_keyed_with_the_public_key_is_refused() {
        let signing_input = format!("{}.{}", b64(r#"{"alg":"HS256","typ":"JWT"}"#), b64(claims().to_string()));
        let public = RsaPublicKey::from(&keys().a);
        let secrets = [keys().a_public.as_bytes().to_vec(), public.to_public_key_der().unwrap().as_bytes().to_vec()];
        for secret in secrets {
            let mac = hmac_sha256(&secret, signing_input.as_bytes());
            let token = format!("{signing_input}.{}", b64(mac));
            assert_eq!(verifier().verify(&token, NOW), Err(AuthError::Algorithm("HS256".into())));
        }
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let good = signed(&claims(), &keys().a);
        let parts: Vec<&str> = good.split('.').collect();
        let mut forged = claims();
        forged["sub"] = "uss2".into();
        let tampered = format!("{}.{}.{}", parts[0], b64(forged.to_string()), parts[2]);
        assert_eq!(verifier().verify(&tampered, NOW), Err(AuthError::Signature(1)));
        // The header is signed too.
        let header = format!("{}.{}.{}", b64(r#"{"alg":"RS256"}"#), parts[1], parts[2]);
        assert_eq!(verifier().verify(&header, NOW), Err(AuthError::Signature(1)));
        // Every single-bit change of the signature.
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        for bit in (0..signature.len() * 8).step_by(61) {
            let mut s = signature.clone();
            s[bit / 8] ^= 1 << (bit % 8);
            let t = format!("{}.{}.{}", parts[0], parts[1], b64(&s));
            assert_eq!(verifier().verify(&t, NOW), Err(AuthError::Signature(1)), "bit {bit}");
        }
        // Zero, one, n - 1, n, a short and a long signature.
        let n = RsaPublicKey::from(&keys().a).n().to_bytes_be();
        let mut n_minus_1 = n.clone();
        *n_minus_1.last_mut().unwrap() -= 1;
        let mut one = vec![0u8; 256];
        one[255] = 1;
        for s in [
            vec![0u8; 256],
            one,
            n_minus_1,
            n,
            vec![0xff; 256],
            signature[1..].to_vec(),
            [&[0u8][..], &signature].concat(),
            vec![],
        ] {
            let t = format!("{}.{}.{}", parts[0], parts[1], b64(&s));
            assert_eq!(verifier().verify(&t, NOW), Err(AuthError::Signature(1)));
        }
    }

    #[test]
    fn authorization_headers() {
        let v = verifier();
        let token = signed(&claims(), &keys().a);
        for prefix in ["Bearer ", "bearer ", "BEARER ", "bEaReR ", "Bearer  ", "Bearer\t"] {
            assert_eq!(v.verify_header(&format!("{prefix}{token}"), NOW).unwrap().subject, "uss1", "{prefix:?}");
        }
        assert!(v.verify_header(&format!("Bearer {token} "), NOW).is_ok());
        let refused = [
            "",
            " ",
            "Bearer",
            "Bearer ",
            "Bearer   ",
            "Basic dXNlcjpwYXNz",
            "Token abc",
            "Bearé x",
            "Bearer€ x",
            "Bearerx y",
        ];
        for header in refused {
            assert_eq!(v.verify_header(header, NOW), Err(AuthError::NoBearer), "{header:?}");
        }
        assert_eq!(v.verify_header(&format!("Basic {token}"), NOW), Err(AuthError::NoBearer));
        assert_eq!(v.verify_header(&format!("Bearer{token}"), NOW), Err(AuthError::NoBearer));
        assert_eq!(AuthError::NoBearer.to_string(), "no bearer token (expected `Authorization: Bearer <JWT>`)");
        assert!(matches!(v.verify_header("Bearer a.b", NOW), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn malformed_tokens_say_why() {
        let v = verifier();
        let good = signed(&claims(), &keys().a);
        let (header, rest) = good.split_once('.').unwrap();
        let cases = [
            ("not.a.token", "malformed token: the header is not base64url without padding"),
            ("abc", "malformed token: a JWT is three parts separated by two dots, this has 0 dots"),
            ("a.b.c.d", "malformed token: a JWT is three parts separated by two dots, this has 3 dots"),
            ("..", "malformed token: the header is not JSON"),
            (&format!("{}.{rest}", b64("[1]")), "malformed token: the header is not a JSON object"),
            (&format!("{header}=.{rest}"), "malformed token: the header is not base64url without padding"),
            (&format!("{header}.{}", rest.replace('.', ".+")), "malformed token: the signature is not base64url"),
        ];
        for (token, start) in cases {
            let err = v.verify(token, NOW).unwrap_err();
            assert!(err.to_string().starts_with(start), "{token:?}: {err}");
        }
        // Padding is refused (strict, as the reference's jwt-go by default).
        let parts: Vec<&str> = good.split('.').collect();
        let padded_signature = format!("{}.{}.{}==", parts[0], parts[1], parts[2]);
        assert!(matches!(v.verify(&padded_signature, NOW), Err(AuthError::Malformed(_))));
        // Signed payloads that are not claims.
        for payload in ["[1,2]", r#""text""#, "null", "42", "{", "", "\u{0}", &"[".repeat(100_000)] {
            let t = signed_raw(r#"{"alg":"RS256"}"#, payload, &keys().a);
            if t.len() <= MAX_TOKEN_BYTES {
                assert!(matches!(v.verify(&t, NOW), Err(AuthError::Malformed(_))), "{payload:.20}");
            }
        }
        let huge = format!("{header}.{}.{}", "A".repeat(MAX_TOKEN_BYTES), parts[2]);
        assert_eq!(v.verify(&huge, NOW), Err(AuthError::TooLarge(huge.len())));
        assert_eq!(v.verify_header(&format!("Bearer {huge}"), NOW), Err(AuthError::TooLarge(huge.len())));
    }

    #[test]
    fn garbage_never_panics() {
        let v = verifier();
        let good = signed(&claims(), &keys().a);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
        for round in 0..4000 {
            let mut bytes = good.clone().into_bytes();
            for _ in 0..=rng.below(3) {
                let i = rng.below(bytes.len());
                match rng.below(7) {
                    0 if !bytes.is_empty() => bytes[i] ^= 1 << rng.below(8),
                    1 => bytes.truncate(i),
                    2 => bytes.insert(i.min(bytes.len()), b'.'),
                    3 if !bytes.is_empty() => bytes[i] = alphabet[rng.below(alphabet.len())],
                    4 if !bytes.is_empty() => drop(bytes.remove(i)),
                    5 => {
                        let len = rng.below(400);
                        bytes = rng.bytes(len)
                    }
                    _ => bytes = (0..rng.below(600)).map(|_| alphabet[rng.below(alphabet.len())]).collect(),
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            // Only a mutation that undid itself can pass.
            assert!(v.verify(&text, NOW).is_err() || text == good, "accepted: {text}");
            let _ = v.verify_header(&format!("Bearer {text}"), NOW.wrapping_mul(round));
        }
        // Claims of every wrong shape.
        let odd_values = [
            Value::Null,
            serde_json::json!(true),
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!(u64::MAX),
            serde_json::json!(i64::MIN),
            serde_json::json!(1e300),
            serde_json::json!(-1e300),
            serde_json::json!(""),
            serde_json::json!("1800000600"),
            serde_json::json!([]),
            serde_json::json!([1, "a", null]),
            serde_json::json!({"a": {"b": []}}),
            serde_json::json!("\u{0}\u{ffff}"),
        ];
        // (The checks after the signature, called directly: signing is slow in a debug build.)
        for name in ["sub", "iss", "aud", "exp", "nbf", "iat", "scope"] {
            for value in &odd_values {
                let mut c = claims();
                c[name] = value.clone();
                for now in [i64::MIN, 0, NOW_I, i64::MAX] {
                    let _ = v.check_claims(c.as_object().unwrap(), now).map_err(|e| e.to_string());
                }
            }
        }
        let _ = v.verify(&set("exp", serde_json::json!(-1e300)), u64::MAX);
        for now in [0, 1, NOW, i64::MAX as u64, u64::MAX] {
            let _ = v.verify(&good, now).map_err(|e| e.to_string());
        }
        for secs in [i64::MIN, -1, 0, i64::MAX] {
            let _ = at(&secs);
        }
    }

    #[test]
    fn times_read_as_rfc3339() {
        assert_eq!(at(&0), "1970-01-01T00:00:00Z");
        assert_eq!(at(&951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(&1_795_438_800), "2026-11-23T13:00:00Z");
        assert_eq!(at(&-1), "1969-12-31T23:59:59Z");
        assert_eq!(at(&253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn configuration_errors() {
        let a = keys().a_public.clone();
        assert!(matches!(Verifier::new(std::slice::from_ref(&a), vec![]), Err(KeyError::NoAudience)));
        assert!(matches!(
            Verifier::new(std::slice::from_ref(&a), vec!["dss".into(), "".into()]),
            Err(KeyError::EmptyAudience)
        ));
        assert!(matches!(Verifier::new(&[], vec!["a".into()]), Err(KeyError::NoKey)));
        assert!(matches!(Verifier::new(&["not a key".into()], vec!["a".into()]), Err(KeyError::NoPem { .. })));
        assert!(matches!(
            Verifier::new(&["-----BEGIN PUBLIC KEY-----\nAAAA".into()], vec!["a".into()]),
            Err(KeyError::BadPem { .. })
        ));
        assert!(matches!(
            Verifier::new(&["-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----".into()], vec!["a".into()]),
            Err(KeyError::BadPem { .. })
        ));
        let private = Verifier::new(&[TEST_ONLY_PRIVATE_KEY_A.into()], vec!["a".into()]).unwrap_err();
        assert!(matches!(&private, KeyError::NotPublicKey { label, .. } if label == "PRIVATE KEY"), "{private}");
        assert_eq!(
            private.to_string(),
            "public key 1: a `PRIVATE KEY` PEM block is not an RSA public key (expected `BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`)"
        );
        let mixed = Verifier::new(&[a.clone(), format!("{a}{TEST_ONLY_PRIVATE_KEY_B}")], vec!["a".into()]).unwrap_err();
        assert!(mixed.to_string().starts_with("public key 2, PEM block 2: a `RSA PRIVATE KEY` PEM block"), "{mixed}");
        let small = Verifier::new(&[SMALL_PUBLIC_KEY.into()], vec!["a".into()]).unwrap_err();
        assert_eq!(
            small.to_string(),
            "public key 1: not a usable RSA public key: the key has 1024 bits; RS256 needs at least 2048"
        );
        let garbage_der =
            format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode([0x30, 3, 1, 2, 3]));
        assert!(matches!(Verifier::new(&[garbage_der], vec!["a".into()]), Err(KeyError::BadPublicKey { .. })));
        // CRLF line ends and explanatory text around the block are fine.
        let crlf = format!("A comment\r\n{}\r\n", a.replace('\n', "\r\n"));
        assert!(Verifier::new(&[crlf], vec!["a".into()]).is_ok());
        assert!(format!("{:?}", verifier()).contains("RSA-2048"));
    }

    #[test]
    fn keys_from_files() {
        let dir = std::env::temp_dir().join(format!("wasmraft-auth-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.pem"), dir.join("b.pem"));
        std::fs::write(&a, &keys().a_public).unwrap();
        std::fs::write(&b, &keys().b_public_pkcs1).unwrap();
        let v = Verifier::from_files(&[a.clone(), b.clone()], vec!["localhost".into()]).unwrap();
        assert_eq!(v.verify(&signed(&claims(), &keys().b), NOW).unwrap().subject, "uss1");
        let missing = dir.join("missing.pem");
        let err = Verifier::from_files(&[a.clone(), missing.clone()], vec!["localhost".into()]).unwrap_err();
        assert!(matches!(&err, KeyError::Read { path, .. } if *path == missing), "{err}");
        std::fs::write(&b, "").unwrap();
        let err = Verifier::from_files(&[a, b.clone()], vec!["localhost".into()]).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: no PEM block (`-----BEGIN ...-----`)", b.display()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A token from `mint` with the dev key A (PKCS#8), for `subject`, living `[iat, exp)`.
    fn minted(subject: &str, iat: u64, exp: u64) -> String {
        let request = TokenRequest {
            subject,
            scopes: &["a".into()],
            audience: "localhost",
            issuer: "dev",
            issued_at: iat,
            expires_at: exp,
        };
        mint(TEST_ONLY_PRIVATE_KEY_A, &request).unwrap()
    }

    #[test]
    fn a_token_seen_again_is_answered_from_the_cache() {
        let v = verifier();
        let token = signed(&claims(), &keys().a);
        let first = v.verify(&token, NOW).unwrap();
        assert_eq!(v.cache_stats(), (1, 0));
        for (i, now) in [NOW, NOW + 1, NOW + 599].into_iter().enumerate() {
            assert_eq!(v.verify(&token, now), Ok(first.clone()));
            assert_eq!(v.cache_stats(), (1, i as u64 + 1));
        }
        // Through the header too, whatever the whitespace: the key is the token.
        assert_eq!(v.verify_header(&format!("bearer \t{token} "), NOW), Ok(first));
        assert_eq!(v.cache_stats(), (1, 4));
    }

    #[test]
    fn a_cached_token_is_refused_once_it_expires() {
        let v = verifier();
        let token = signed(&claims(), &keys().a); // exp NOW + 600
        assert!(v.verify(&token, NOW).is_ok());
        assert!(v.verify(&token, NOW + 599).is_ok());
        assert_eq!(v.cache_stats(), (1, 1));
        let expired = Err(AuthError::Expired { expired_at: NOW_I + 600, now: NOW_I + 600 });
        assert_eq!(v.verify(&token, NOW + 600), expired);
        // Dropped at expiry, and not remembered again while refused.
        assert_eq!(v.cache_stats(), (0, 1));
        assert!(matches!(v.verify(&token, NOW + 10_000), Err(AuthError::Expired { .. })));
        assert_eq!(v.cache_stats(), (0, 1));
    }

    #[test]
    fn a_cache_hit_answers_as_a_whole_check_would_at_every_now() {
        // The time rules are made again on a hit: with the clock going back too (nbf, iat,
        // and the one-hour rule depend on now as well as exp).
        let token = with(|c| drop(c.insert("nbf".into(), NOW.into())));
        let cached = verifier();
        assert!(cached.verify(&token, NOW).is_ok());
        let uncached = verifier().with_cache_capacity(0);
        let nows = [0, NOW - 3000, NOW - 7, NOW - 6, NOW - 5, NOW, NOW + 599, NOW + 600, NOW + 601, u64::MAX];
        for now in nows.into_iter().chain(nows) {
            assert_eq!(cached.verify(&token, now), uncached.verify(&token, now), "now = {now}");
        }
        assert_eq!(uncached.cache_stats(), (0, 0));
        let (entries, hits) = cached.cache_stats();
        assert!(entries == 0 && hits >= 5, "{entries} {hits}"); // u64::MAX expired it
        let early = cached.verify(&token, NOW - 60).unwrap_err();
        assert_eq!(early, AuthError::NotYetValid { not_before: NOW_I, now: NOW_I - 60 });
        let iat = with(|c| drop(c.remove("nbf")));
        assert!(cached.verify(&iat, NOW).is_ok());
        assert!(matches!(cached.verify(&iat, NOW - 60), Err(AuthError::IssuedInFuture { .. })));
        assert!(matches!(cached.verify(&iat, NOW - 3001), Err(AuthError::TooLong { .. })));
        assert!(cached.verify(&iat, NOW).is_ok());
        assert_eq!(cached.cache_stats().0, 1);
    }

    #[test]
    fn one_flipped_signature_byte_is_refused_after_the_genuine_token_is_cached() {
        let v = verifier();
        let good = signed(&claims(), &keys().a);
        assert!(v.verify(&good, NOW).is_ok());
        assert_eq!(v.cache_stats(), (1, 0));
        let (signed_part, signature) = good.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        for i in [0, 1, 128, 255] {
            let mut s = signature.clone();
            s[i] ^= 0x01;
            assert_eq!(v.verify(&format!("{signed_part}.{}", b64(&s)), NOW), Err(AuthError::Signature(1)), "byte {i}");
        }
        // A claim changed under the cached signature.
        let parts: Vec<&str> = good.split('.').collect();
        let mut forged = claims();
        forged["scope"] = "a b admin".into();
        assert_eq!(
            v.verify(&format!("{}.{}.{}", parts[0], b64(forged.to_string()), parts[2]), NOW),
            Err(AuthError::Signature(1))
        );
        assert_eq!(v.cache_stats(), (1, 0));
        assert!(v.verify(&good, NOW).is_ok());
        assert_eq!(v.cache_stats(), (1, 1));
    }

    #[test]
    fn the_cache_never_holds_more_than_its_bound() {
        assert_eq!(CACHE_ENTRIES, 10_000);
        const BOUND: usize = 8;
        let v = verifier().with_cache_capacity(BOUND);
        // Tokens that expire one second apart, each later than the one before.
        let tokens: Vec<String> = (0..30).map(|i| minted(&format!("uss{i}"), NOW, NOW + 100 + i)).collect();
        for (i, token) in tokens.iter().enumerate() {
            assert_eq!(v.verify(token, NOW).unwrap().subject, format!("uss{i}"));
            assert_eq!(v.cache_stats().0, (i + 1).min(BOUND));
        }
        // The ones kept are those that expire last; the others were evicted.
        for token in &tokens[30 - BOUND..] {
            assert!(v.verify(token, NOW).is_ok());
        }
        assert_eq!(v.cache_stats(), (BOUND, BOUND as u64));
        assert!(v.verify(&tokens[0], NOW).is_ok());
        assert_eq!(v.cache_stats(), (BOUND, BOUND as u64), "a miss, then in place of the soonest to expire (22)");
        assert!(v.verify(&tokens[0], NOW).is_ok());
        assert!(v.verify(&tokens[22], NOW).is_ok());
        assert_eq!(v.cache_stats(), (BOUND, BOUND as u64 + 1), "0 was kept, 22 was not: it evicted 0");
        // Expired entries go first: at NOW + 125, tokens 22-25 are expired (exp 122-125).
        let late = minted("late", NOW, NOW + 1000);
        assert!(v.verify(&late, NOW + 125).is_ok());
        assert_eq!(v.cache_stats().0, 5, "26-29 and late");
        // A token of many scopes is verified each time, never remembered; a long token that
        // is not (its other claims are not kept) is remembered.
        let many: Vec<String> = (0..200).map(|i| format!("s{i}")).collect();
        let scopes = with(|c| drop(c.insert("scope".into(), many.join(" ").into())));
        assert_eq!(v.verify(&scopes, NOW + 125).unwrap().scopes, many);
        assert_eq!(v.cache_stats().0, 5);
        let padded = with(|c| drop(c.insert("pad".into(), "x".repeat(8 << 10).into())));
        assert!(v.verify(&padded, NOW + 125).is_ok());
        assert_eq!(v.cache_stats().0, 6, "26-29, late and padded");
    }

    #[test]
    fn refused_tokens_leave_the_cache_empty() {
        let v = verifier();
        let good = signed(&claims(), &keys().a);
        let payload = good.split('.').nth(1).unwrap();
        let refused = [
            signed(&claims(), &keys().b),
            format!("{}.{payload}.", b64(r#"{"alg":"none"}"#)),
            format!("{}.{payload}.{}", b64(r#"{"alg":"HS256"}"#), good.split('.').nth(2).unwrap()),
            set("aud", "other".into()),
            set("exp", (NOW - 1).into()),
            set("exp", (NOW + 7200).into()),
            set("nbf", (NOW + 60).into()),
            set("sub", "".into()),
            with(|c| drop(c.remove("iss"))),
            set("scope", 1.into()),
            "a.b.c".into(),
            "x".repeat(MAX_TOKEN_BYTES + 1),
        ];
        for token in &refused {
            for _ in 0..2 {
                assert!(v.verify(token, NOW).is_err(), "{token:.60}");
            }
        }
        assert_eq!(v.cache_stats(), (0, 0));
        let mut rng = Rng(7);
        for _ in 0..200 {
            let len = rng.below(400);
            let _ = v.verify(&String::from_utf8_lossy(&rng.bytes(len)), NOW);
        }
        assert_eq!(v.cache_stats(), (0, 0));
    }

    #[test]
    fn many_threads_share_one_verifier() {
        let v = verifier().with_cache_capacity(3);
        let tokens: Vec<String> = (0..6).map(|i| minted(&format!("uss{i}"), NOW, NOW + 600)).collect();
        let forged = format!("{}.{}", tokens[0].rsplit_once('.').unwrap().0, b64([7u8; 256]));
        std::thread::scope(|scope| {
            for t in 0..4 {
                let (v, tokens, forged) = (&v, &tokens, &forged);
                scope.spawn(move || {
                    for round in 0..30 {
                        let i = (t + round) % tokens.len();
                        assert_eq!(v.verify(&tokens[i], NOW).unwrap().subject, format!("uss{i}"));
                        assert_eq!(v.verify(forged, NOW), Err(AuthError::Signature(1)));
                        assert!(v.cache_stats().0 <= 3);
                    }
                });
            }
        });
        assert_eq!(v.cache_stats().0, 3);
    }

    #[test]
    fn pem_through_the_pem_crate() {
        let a = keys().a_public.clone();
        let bad_pem = |text: String| match Verifier::new(&[text], vec!["a".into()]) {
            Err(KeyError::BadPem { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        // A block that does not close is an error, not a key silently left out.
        let reason = bad_pem(format!("{a}-----BEGIN PUBLIC KEY-----\nAAAA\n"));
        assert_eq!(reason, "a `-----BEGIN` line has no matching `-----END ...-----` line");
        let reason = bad_pem(a.replace("END PUBLIC KEY", "END RSA PUBLIC KEY"));
        assert_eq!(reason, "the `PUBLIC KEY` PEM block ends with `-----END RSA PUBLIC KEY-----`");
        let encrypted = a.replacen("-----\n", "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n", 1);
        assert_eq!(bad_pem(encrypted), "the `PUBLIC KEY` PEM block has headers (is it encrypted?)");
        let huge = format!("{a}{}", " ".repeat(MAX_PEM_BYTES));
        assert!(bad_pem(huge).starts_with("the PEM text is 1049"), "over the bound");
        // Two keys, PKIX and PKCS#1, with text around and between them; lines of any width.
        let rewrapped: String =
            a.lines().map(|l| if l.starts_with("-----") { format!("\n{l}\n") } else { l.to_string() }).collect();
        let text = format!("key A:\n{rewrapped}\nkey B:\r\n{}\r\nend\n", keys().b_public_pkcs1.replace('\n', "\r\n"));
        let v = Verifier::new(&[text], vec!["localhost".into()]).unwrap();
        assert_eq!(v.keys.len(), 2);
        assert!(v.verify(&signed(&claims(), &keys().a), NOW).is_ok());
        assert!(v.verify(&signed(&claims(), &keys().b), NOW).is_ok());
        // Private keys through it too, PKCS#8 and PKCS#1, and an encrypted one refused.
        assert!(private_key(TEST_ONLY_PRIVATE_KEY_A).is_ok() && private_key(TEST_ONLY_PRIVATE_KEY_B).is_ok());
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(private_key(encrypted), Err(KeyError::NotPrivateKey(m)) if m.contains("encrypted")));
    }

    #[test]
    fn a_key_file_is_read_bounded() {
        let dir = std::env::temp_dir().join(format!("wasmraft-auth-bound-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.pem");
        std::fs::write(&path, format!("{}{}", keys().a_public, "\n".repeat(3 * MAX_PEM_BYTES))).unwrap();
        let err = Verifier::from_files(std::slice::from_ref(&path), vec!["a".into()]).unwrap_err();
        assert!(
            matches!(&err, KeyError::BadPem { reason, .. } if reason.contains(&format!("{} bytes long", MAX_PEM_BYTES + 1))),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
