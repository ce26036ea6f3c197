//! Bearer tokens, verified at the edge as the reference DSS does (interuss/dss `pkg/auth`):
//! an RS256 JWT signed by one of the configured RSA keys, for one of the configured
//! audiences, with a subject and an issuer, not expired and living at most an hour from
//! now. What the caller may do (its scopes) is the module's business.
//!
//! Only RS256 is accepted, whatever the token's header says: `alg: none` or an HMAC
//! algorithm keyed with the public key (the classic confusion attacks) are refused before
//! any key is tried.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier as _};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::Value;
use sha2::Sha256;
use std::path::PathBuf;

/// Tokens larger than this are refused unread.
const MAX_TOKEN_BYTES: usize = 16 << 10;
/// The reference's "Max token duration is 1 Hour".
const MAX_LIFETIME_SECS: u64 = 3600;
/// Clock skew tolerated on `nbf` and `iat` (not on `exp`, as the reference).
const LEEWAY_SECS: u64 = 5;

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token (expected `Authorization: Bearer <JWT>`)")]
    NoBearer,
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("alg `{0}` is not accepted (only RS256)")]
    Algorithm(String),
    #[error("the token's signature does not verify with any of the {0} configured keys")]
    Signature(usize),
    #[error("the token has no `{0}` claim (or an empty one)")]
    MissingClaim(&'static str),
    #[error("the token expired {0} s ago")]
    Expired(u64),
    #[error("the token lives longer than one hour (it expires in {0} s)")]
    TooLong(u64),
    #[error("the token is not valid before {0} s from now")]
    NotYetValid(u64),
    #[error("the token's audience {found:?} is not one of {accepted:?}")]
    Audience { found: Vec<String>, accepted: Vec<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: not an RSA public key in PEM (PKIX `BEGIN PUBLIC KEY` or PKCS#1 `BEGIN RSA PUBLIC KEY`)")]
    NotPublicKey(String),
    #[error("not an RSA private key in PEM (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`)")]
    NotPrivateKey,
    #[error("no audience is configured: tokens must name one (--jwt-audience)")]
    NoAudience,
    #[error("no public key is configured")]
    NoKey,
    #[error("cannot make or encode a key: {0}")]
    Crypto(String),
}

pub struct Verifier {
    keys: Vec<VerifyingKey<Sha256>>,
    audiences: Vec<String>,
}

fn public_key(pem: &str) -> Option<RsaPublicKey> {
    RsaPublicKey::from_public_key_pem(pem.trim()).ok().or_else(|| RsaPublicKey::from_pkcs1_pem(pem.trim()).ok())
}

fn private_key(pem: &str) -> Result<RsaPrivateKey, KeyError> {
    RsaPrivateKey::from_pkcs8_pem(pem.trim())
        .ok()
        .or_else(|| RsaPrivateKey::from_pkcs1_pem(pem.trim()).ok())
        .ok_or(KeyError::NotPrivateKey)
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, AuthError> {
    // Tolerate `=` padding, which some libraries emit.
    URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|e| AuthError::Malformed(format!("the {what} is not base64url: {e}")))
}

fn json_object(bytes: &[u8], what: &str) -> Result<serde_json::Map<String, Value>, AuthError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AuthError::Malformed(format!("the {what} is not a JSON object"))),
        Err(e) => Err(AuthError::Malformed(format!("the {what} is not JSON: {e}"))),
    }
}

fn nonempty_string<'a>(claims: &'a serde_json::Map<String, Value>, name: &'static str) -> Result<&'a str, AuthError> {
    claims.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or(AuthError::MissingClaim(name))
}

/// A NumericDate claim as whole seconds; fractions are truncated (RFC 7519 allows them).
fn seconds(claims: &serde_json::Map<String, Value>, name: &str) -> Result<Option<u64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => match v.as_u64().or_else(|| v.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64)) {
            Some(s) => Ok(Some(s)),
            None => Err(AuthError::Malformed(format!("`{name}` is not a number of seconds"))),
        },
    }
}

impl Verifier {
    /// Keys from PEM text, one key per entry.
    pub fn new(public_key_pems: &[String], audiences: Vec<String>) -> Result<Verifier, KeyError> {
        if audiences.is_empty() {
            return Err(KeyError::NoAudience);
        }
        if public_key_pems.is_empty() {
            return Err(KeyError::NoKey);
        }
        let keys = public_key_pems
            .iter()
            .enumerate()
            .map(|(i, pem)| public_key(pem).map(VerifyingKey::new).ok_or_else(|| KeyError::NotPublicKey(format!("key {}", i + 1))))
            .collect::<Result<_, _>>()?;
        Ok(Verifier { keys, audiences })
    }

    /// Reads one key from each file.
    pub fn from_files(paths: &[PathBuf], audiences: Vec<String>) -> Result<Verifier, KeyError> {
        let mut pems = Vec::new();
        for path in paths {
            let pem = std::fs::read_to_string(path).map_err(|e| KeyError::Read(path.clone(), e))?;
            if public_key(&pem).is_none() {
                return Err(KeyError::NotPublicKey(path.display().to_string()));
            }
            pems.push(pem);
        }
        Verifier::new(&pems, audiences)
    }

    /// Verifies an `Authorization` header's value (`Bearer <JWT>`, any case of "bearer").
    pub fn verify_header(&self, header: &str, now_secs: u64) -> Result<Principal, AuthError> {
        let token = header
            .get(..7)
            .filter(|prefix| prefix.eq_ignore_ascii_case("bearer "))
            .and_then(|_| header.get(7..))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::NoBearer)?;
        self.verify(token, now_secs)
    }

    /// Verifies a bare token.
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed(format!("the token is {} bytes, over {MAX_TOKEN_BYTES}", token.len())));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(AuthError::Malformed("a JWT has three dot-separated parts".into()));
        };
        let head = json_object(&decode_part(header, "header")?, "header")?;
        match head.get("alg").and_then(Value::as_str) {
            Some("RS256") => {}
            Some(other) => return Err(AuthError::Algorithm(other.into())),
            None => return Err(AuthError::Malformed("the header names no `alg`".into())),
        }
        let signature = Signature::try_from(decode_part(signature, "signature")?.as_slice())
            .map_err(|_| AuthError::Malformed("the signature is not an RSA signature".into()))?;
        let signed = &token.as_bytes()[..header.len() + 1 + payload.len()];
        if !self.keys.iter().any(|key| key.verify(signed, &signature).is_ok()) {
            return Err(AuthError::Signature(self.keys.len()));
        }
        let claims = json_object(&decode_part(payload, "payload")?, "payload")?;
        self.check_claims(&claims, now_secs)
    }

    fn check_claims(&self, claims: &serde_json::Map<String, Value>, now: u64) -> Result<Principal, AuthError> {
        let subject = nonempty_string(claims, "sub")?.to_string();
        nonempty_string(claims, "iss")?;
        let exp = seconds(claims, "exp")?.ok_or(AuthError::MissingClaim("exp"))?;
        if exp <= now {
            return Err(AuthError::Expired(now - exp));
        }
        if exp > now + MAX_LIFETIME_SECS {
            return Err(AuthError::TooLong(exp - now));
        }
        if let Some(nbf) = seconds(claims, "nbf")?
            && nbf > now + LEEWAY_SECS
        {
            return Err(AuthError::NotYetValid(nbf - now));
        }
        if let Some(iat) = seconds(claims, "iat")?
            && iat > now + LEEWAY_SECS
        {
            return Err(AuthError::NotYetValid(iat - now));
        }
        let found: Vec<String> = match claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(String::from).collect(),
            _ => Vec::new(),
        };
        if !found.iter().any(|a| self.audiences.contains(a)) {
            return Err(AuthError::Audience { found, accepted: self.audiences.clone() });
        }
        let scopes = match claims.get("scope") {
            Some(Value::String(s)) => s.split_whitespace().map(String::from).collect(),
            _ => Vec::new(),
        };
        Ok(Principal { subject, scopes })
    }
}

pub struct DevKeys {
    pub private_pem: String,
    pub public_pem: String,
}

/// A new RSA-2048 key pair: PKCS#8 private key, PKIX public key.
pub fn generate_keys() -> Result<DevKeys, KeyError> {
    let private = RsaPrivateKey::new(&mut rand_core_06::OsRng, 2048).map_err(|e| KeyError::Crypto(e.to_string()))?;
    let public = RsaPublicKey::from(&private);
    Ok(DevKeys {
        private_pem: private.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeyError::Crypto(e.to_string()))?.to_string(),
        public_pem: public.to_public_key_pem(LineEnding::LF).map_err(|e| KeyError::Crypto(e.to_string()))?,
    })
}

pub struct TokenRequest<'a> {
    pub subject: &'a str,
    pub scopes: &'a [String],
    pub audience: &'a str,
    pub issuer: &'a str,
    pub issued_at: u64,
    pub expires_at: u64,
}

/// An RS256 JWT for `request`, signed with the private key in `private_pem`.
pub fn mint(private_pem: &str, request: &TokenRequest) -> Result<String, KeyError> {
    let key = SigningKey::<Sha256>::new(private_key(private_pem)?);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "aud": request.audience,
        "scope": request.scopes.join(" "),
        "iss": request.issuer,
        "sub": request.subject,
        "iat": request.issued_at,
        "exp": request.expires_at,
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{payload}");
    let signature = key.sign(signed.as_bytes());
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    const NOW: u64 = 1_800_000_000;

    /// Two key pairs per test run: generating one takes a while in a debug build.
    fn keys() -> &'static (DevKeys, DevKeys) {
        static KEYS: OnceLock<(DevKeys, DevKeys)> = OnceLock::new();
        KEYS.get_or_init(|| (generate_keys().unwrap(), generate_keys().unwrap()))
    }

    fn verifier() -> Verifier {
        Verifier::new(&[keys().0.public_pem.clone()], vec!["localhost".into(), "dss".into()]).unwrap()
    }

    fn token_with(claims: Value, key: &DevKeys) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = SigningKey::<Sha256>::new(private_key(&key.private_pem).unwrap()).sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    fn claims() -> Value {
        serde_json::json!({"sub": "uss1", "iss": "dummyoauth", "aud": "localhost", "exp": NOW + 600, "iat": NOW, "scope": "a b"})
    }

    fn with(change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut c = claims();
        change(c.as_object_mut().unwrap());
        token_with(c, &keys().0)
    }

    #[test]
    fn a_good_token_names_its_subject_and_scopes() {
        let request = TokenRequest {
            subject: "uss1",
            scopes: &["utm.strategic_coordination".into(), "utm.constraint_management".into()],
            audience: "localhost",
            issuer: "dummyoauth",
            issued_at: NOW,
            expires_at: NOW + 3600,
        };
        let token = mint(&keys().0.private_pem, &request).unwrap();
        let p = verifier().verify_header(&format!("Bearer {token}"), NOW).unwrap();
        assert_eq!(p.subject, "uss1");
        assert_eq!(p.scopes, ["utm.strategic_coordination", "utm.constraint_management"]);
        assert_eq!(verifier().verify_header(&format!("bearer {token}"), NOW).unwrap(), p);
        // Exactly one hour is the limit, inclusive.
        assert!(verifier().verify(&token, NOW).is_ok());
    }

    #[test]
    fn each_claim_check_refuses_with_its_reason() {
        let v = verifier();
        let cases: Vec<(String, AuthError)> = vec![
            (with(|c| drop(c.insert("exp".into(), (NOW - 1).into()))), AuthError::Expired(1)),
            (with(|c| drop(c.insert("exp".into(), (NOW + 3601).into()))), AuthError::TooLong(3601)),
            (with(|c| drop(c.remove("exp"))), AuthError::MissingClaim("exp")),
            (with(|c| drop(c.insert("exp".into(), "soon".into()))), AuthError::Malformed("`exp` is not a number of seconds".into())),
            (with(|c| drop(c.remove("sub"))), AuthError::MissingClaim("sub")),
            (with(|c| drop(c.insert("sub".into(), "".into()))), AuthError::MissingClaim("sub")),
            (with(|c| drop(c.insert("sub".into(), 7.into()))), AuthError::MissingClaim("sub")),
            (with(|c| drop(c.remove("iss"))), AuthError::MissingClaim("iss")),
            (with(|c| drop(c.insert("nbf".into(), (NOW + 60).into()))), AuthError::NotYetValid(60)),
            (
                with(|c| drop(c.insert("aud".into(), "elsewhere".into()))),
                AuthError::Audience { found: vec!["elsewhere".into()], accepted: vec!["localhost".into(), "dss".into()] },
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(v.verify(&token, NOW), Err(expected));
        }
        let listed = with(|c| drop(c.insert("aud".into(), serde_json::json!(["x", "dss"]))));
        assert_eq!(v.verify(&listed, NOW).unwrap().subject, "uss1");
        let fractional = with(|c| drop(c.insert("exp".into(), serde_json::json!((NOW + 10) as f64 + 0.5))));
        assert!(v.verify(&fractional, NOW).is_ok());
    }

    #[test]
    fn signatures_and_algorithms() {
        let v = verifier();
        let other = token_with(claims(), &keys().1);
        assert_eq!(v.verify(&other, NOW), Err(AuthError::Signature(1)));
        // With both keys configured, the second one's token verifies.
        let both = Verifier::new(&[keys().0.public_pem.clone(), keys().1.public_pem.clone()], vec!["localhost".into()]).unwrap();
        assert_eq!(both.verify(&other, NOW).unwrap().subject, "uss1");
        // A changed claim under the original signature.
        let good = token_with(claims(), &keys().0);
        let parts: Vec<&str> = good.split('.').collect();
        let mut forged = claims();
        forged["sub"] = "uss2".into();
        let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(forged.to_string()), parts[2]);
        assert_eq!(v.verify(&tampered, NOW), Err(AuthError::Signature(1)));
        // alg none, and HS256 keyed with the public key's PEM: refused before any key.
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), parts[1]);
        assert_eq!(v.verify(&none, NOW), Err(AuthError::Algorithm("none".into())));
        let hs = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#), parts[1], parts[2]);
        assert_eq!(v.verify(&hs, NOW), Err(AuthError::Algorithm("HS256".into())));
    }

    #[test]
    fn headers_that_are_not_bearer_tokens() {
        let v = verifier();
        for header in ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"] {
            assert_eq!(v.verify_header(header, NOW), Err(AuthError::NoBearer), "{header:?}");
        }
        assert!(matches!(v.verify_header("Bearer a.b", NOW), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn garbage_never_panics() {
        let v = verifier();
        let good = token_with(claims(), &keys().0);
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut bytes = good.clone().into_bytes();
            match next() % 4 {
                0 => {
                    let i = (next() as usize) % bytes.len();
                    bytes[i] = (next() % 128) as u8;
                }
                1 => bytes.truncate((next() as usize) % bytes.len()),
                2 => {
                    let i = (next() as usize) % bytes.len();
                    bytes.insert(i, b'.');
                }
                _ => bytes = (0..(next() % 300)).map(|_| (next() % 256) as u8).collect(),
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = v.verify(&text, NOW);
        }
        assert!(v.verify(&"a".repeat(MAX_TOKEN_BYTES + 1), NOW).is_err());
        for payload in [r#"[1,2]"#, r#""text""#, r#"{"sub": {"x": 1}}"#, "{"] {
            let t = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#), URL_SAFE_NO_PAD.encode(payload), "AAAA");
            assert!(v.verify(&t, NOW).is_err());
        }
    }

    #[test]
    fn configuration_errors() {
        assert!(matches!(Verifier::new(&[keys().0.public_pem.clone()], vec![]), Err(KeyError::NoAudience)));
        assert!(matches!(Verifier::new(&[], vec!["a".into()]), Err(KeyError::NoKey)));
        assert!(matches!(Verifier::new(&["not a key".into()], vec!["a".into()]), Err(KeyError::NotPublicKey(_))));
        assert!(matches!(Verifier::new(&[keys().0.private_pem.clone()], vec!["a".into()]), Err(KeyError::NotPublicKey(_))));
        assert!(matches!(mint(&keys().0.public_pem, &TokenRequest {
            subject: "s", scopes: &[], audience: "a", issuer: "i", issued_at: 0, expires_at: 1
        }), Err(KeyError::NotPrivateKey)));
    }
}
