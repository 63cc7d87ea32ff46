//! HS256 access tokens (docs/api.md section 3.3). Several keys may be configured: the first signs, all
//! verify, so a key can be rotated without downtime. Time is a parameter; `jsonwebtoken` only
//! checks the signature and algorithm, the claims are checked here against the given `now`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::secrets::{Random, RandomUnavailable, random_hex};

/// Seconds of clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECS: i64 = 30;
pub const MIN_SECRET_BYTES: usize = 32;
pub const TOKEN_TYPE_ACCESS: &str = "access";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("expected kid:secret pairs separated by commas")]
    Malformed,
    #[error("key {kid:?} has an empty id")]
    EmptyKid { kid: String },
    #[error("the secret of key {kid:?} is {len} bytes; at least 32 are required")]
    ShortSecret { kid: String, len: usize },
    #[error("key id {kid:?} is used twice")]
    DuplicateKid { kid: String },
}

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The configured keys, in order, and the legacy verification key. Never printed.
pub struct JwtKeys {
    keys: Vec<SigningKey>,
    /// Verifies tokens without `kid`: those the replaced system issued (see `with_legacy_key`).
    legacy: Option<DecodingKey>,
}

impl Clone for JwtKeys {
    fn clone(&self) -> Self {
        JwtKeys {
            keys: self
                .keys
                .iter()
                .map(|k| SigningKey { kid: k.kid.clone(), encoding: k.encoding.clone(), decoding: k.decoding.clone() })
                .collect(),
            legacy: self.legacy.clone(),
        }
    }
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        write!(f, "JwtKeys({kids:?}, legacy: {})", self.legacy.is_some())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub token_type: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub user_id: u64,
    pub merchant_user_id: u64,
    /// Not issued by this service, but honoured when a token carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// The longest token `verify` looks at.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Why a token was refused. Callers answer the same for all of these; the reason is for logs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenRejected {
    #[error("malformed token or header")]
    Malformed,
    #[error("algorithm is not HS256")]
    Algorithm,
    #[error("unknown or missing kid")]
    UnknownKid,
    #[error("bad signature or claims")]
    Signature,
    #[error("expired")]
    Expired,
    #[error("issued in the future")]
    NotYetValid,
    #[error("not an access token")]
    WrongType,
    #[error("this function was not given the JWT keys: its route does not declare them")]
    Withheld,
}

impl JwtKeys {
    /// Parses `kid:secret,kid:secret`. Secrets shorter than 32 bytes are refused.
    pub fn parse(spec: &str) -> Result<JwtKeys, KeyError> {
        let mut pairs = Vec::new();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kid, secret) = pair.split_once(':').ok_or(KeyError::Malformed)?;
            pairs.push((kid.trim().to_string(), secret.as_bytes().to_vec()));
        }
        JwtKeys::from_pairs(pairs)
    }

    pub fn from_pairs(pairs: Vec<(String, Vec<u8>)>) -> Result<JwtKeys, KeyError> {
        if pairs.is_empty() {
            return Err(KeyError::Malformed);
        }
        let mut keys: Vec<SigningKey> = Vec::with_capacity(pairs.len());
        for (kid, secret) in pairs {
            if kid.is_empty() {
                return Err(KeyError::EmptyKid { kid });
            }
            if secret.len() < MIN_SECRET_BYTES {
                return Err(KeyError::ShortSecret { kid, len: secret.len() });
            }
            if keys.iter().any(|k| k.kid == kid) {
                return Err(KeyError::DuplicateKid { kid });
            }
            keys.push(SigningKey {
                encoding: EncodingKey::from_secret(&secret),
                decoding: DecodingKey::from_secret(&secret),
                kid,
            });
        }
        hs256::install();
        Ok(JwtKeys { keys, legacy: None })
    }

    /// Also verifies HS256 tokens whose header has no `kid` with `secret`: those of the system
    /// being replaced (djangorestframework-simplejwt signs with Django's `SECRET_KEY` and names
    /// no key), so they keep working until they expire. Any length, since that secret is
    /// whatever the old deployment had; it never signs.
    pub fn with_legacy_key(mut self, secret: &[u8]) -> JwtKeys {
        self.legacy = Some(DecodingKey::from_secret(secret));
        self
    }

    /// These keys without the legacy one: a function whose route does not declare it.
    pub fn without_legacy_key(mut self) -> JwtKeys {
        self.legacy = None;
        self
    }

    /// No keys: a function whose route does not declare them. It issues and accepts nothing.
    pub fn withheld() -> JwtKeys {
        JwtKeys { keys: Vec::new(), legacy: None }
    }

    pub fn signing_kid(&self) -> &str {
        self.keys.first().map(|k| k.kid.as_str()).unwrap_or_default()
    }

    /// Issues an access token for `merchant_id`, valid `ttl_secs` from `now`; its ID is drawn
    /// from `random`.
    pub fn issue(&self, merchant_id: u64, now: i64, ttl_secs: i64, random: &dyn Random) -> Result<String, IssueError> {
        let key = self.keys.first().ok_or(IssueError::NoKey)?;
        let claims = Claims {
            token_type: TOKEN_TYPE_ACCESS.to_string(),
            exp: now.saturating_add(ttl_secs),
            iat: now,
            jti: random_hex::<16>(random)?,
            user_id: merchant_id,
            merchant_user_id: merchant_id,
            nbf: None,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".to_string());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(|_| IssueError::Encode)
    }

    /// Verifies signature, algorithm, `kid` (none: the legacy key), `exp` (30 s leeway), `iat`
    /// and `token_type`.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenRejected> {
        if self.keys.is_empty() {
            return Err(TokenRejected::Withheld);
        }
        // Ours are about 300 bytes; anything far larger is refused before any decoding.
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenRejected::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejected::Malformed)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenRejected::Algorithm);
        }
        let key = match header.kid.as_deref() {
            Some(kid) => &self.keys.iter().find(|k| k.kid == kid).ok_or(TokenRejected::UnknownKid)?.decoding,
            // Only the replaced system's tokens have no `kid`; without its key they are refused.
            None => self.legacy.as_ref().ok_or(TokenRejected::UnknownKid)?,
        };

        let mut validation = Validation::new(Algorithm::HS256);
        // Claims are checked below against the injected clock, not the library's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        let claims =
            jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|_| TokenRejected::Signature)?.claims;

        if now > claims.exp.saturating_add(LEEWAY_SECS) {
            return Err(TokenRejected::Expired);
        }
        let not_before = claims.nbf.map_or(claims.iat, |nbf| nbf.max(claims.iat));
        if not_before > now.saturating_add(LEEWAY_SECS) {
            return Err(TokenRejected::NotYetValid);
        }
        if claims.token_type != TOKEN_TYPE_ACCESS {
            return Err(TokenRejected::WrongType);
        }
        Ok(claims)
    }
}

/// Installs jsonwebtoken's signing and verifying backend: HS256 only. Done by every `JwtKeys`
/// constructor, so before any token is signed or checked; public for code that calls
/// `jsonwebtoken` with its own keys (the integration tests).
pub fn install_hs256() {
    hs256::install();
}

/// HMAC-SHA256 for `jsonwebtoken`. Its `rust_crypto` feature would also link RSA, ECDSA and
/// EdDSA (about 1 MB of each function binary) for algorithms this service refuses anyway.
mod hs256 {
    use hmac::{Hmac, Mac};
    use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
    use jsonwebtoken::errors::{Error, ErrorKind};
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
    use signature::{Signer, Verifier};

    type HmacSha256 = Hmac<sha2::Sha256>;

    static PROVIDER: CryptoProvider =
        CryptoProvider { signer_factory: signer, verifier_factory: verifier, jwk_utils: JwkUtils::new_unimplemented() };

    pub(super) fn install() {
        // Err means a provider is already installed: ours, by an earlier call.
        let _ = PROVIDER.install_default();
    }

    fn mac(algorithm: &Algorithm, secret: Result<&[u8], Error>) -> Result<HmacSha256, Error> {
        if *algorithm != Algorithm::HS256 {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        HmacSha256::new_from_slice(secret?).map_err(|_| ErrorKind::InvalidKeyFormat.into())
    }

    fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
        Ok(Box::new(Hs256(mac(algorithm, key.try_get_hmac_secret())?)))
    }

    fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
        Ok(Box::new(Hs256(mac(algorithm, key.try_get_hmac_secret())?)))
    }

    struct Hs256(HmacSha256);

    impl Signer<Vec<u8>> for Hs256 {
        fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
            let mut mac = self.0.clone();
            mac.update(message);
            Ok(mac.finalize().into_bytes().to_vec())
        }
    }

    impl Verifier<Vec<u8>> for Hs256 {
        fn verify(&self, message: &[u8], tag: &Vec<u8>) -> Result<(), signature::Error> {
            let mut mac = self.0.clone();
            mac.update(message);
            // Constant-time comparison.
            mac.verify_slice(tag).map_err(signature::Error::from_source)
        }
    }

    impl JwtSigner for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    impl JwtVerifier for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("no signing key: this function was not given the JWT keys (its route does not declare them)")]
    NoKey,
    #[error("could not encode the token")]
    Encode,
    #[error(transparent)]
    Random(#[from] RandomUnavailable),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const SECRET_A: &str = "a-secret-of-at-least-thirty-two-bytes!!";
    const SECRET_B: &str = "b-secret-of-at-least-thirty-two-bytes!!";

    fn keys(spec: &str) -> JwtKeys {
        JwtKeys::parse(spec).expect("valid keys")
    }

    /// A token signed as given (any header), for tests of what verification refuses.
    pub(crate) fn encode_raw(header: &serde_json::Value, claims: &serde_json::Value, secret: &[u8]) -> String {
        let h = base64_url(header.to_string().as_bytes());
        let c = base64_url(claims.to_string().as_bytes());
        let mac = hmac_sha256(secret, format!("{h}.{c}").as_bytes());
        format!("{h}.{c}.{}", base64_url(&mac))
    }

    fn base64_url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    fn claims(exp: i64) -> serde_json::Value {
        json!({"token_type": "access", "exp": exp, "iat": NOW, "jti": "00", "user_id": 7, "merchant_user_id": 7})
    }

    #[test]
    fn issued_token_verifies_and_carries_the_spec_payload() {
        let keys = keys(&format!("k1:{SECRET_A}"));
        let token = keys.issue(7, NOW, 86_400, &crate::random::OsRandom).expect("issued");
        let claims = keys.verify(&token, NOW).expect("valid");
        assert_eq!(claims.token_type, "access");
        assert_eq!(claims.exp, NOW + 86_400);
        assert_eq!(claims.iat, NOW);
        assert_eq!((claims.user_id, claims.merchant_user_id), (7, 7));
        assert_eq!(claims.jti.len(), 32);
        assert!(claims.jti.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.kid.as_deref(), Some("k1"));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
    }

    #[test]
    fn expiry_has_thirty_seconds_of_leeway_and_no_more() {
        let keys = keys(&format!("k1:{SECRET_A}"));
        let token = keys.issue(7, NOW, 100, &crate::random::OsRandom).expect("issued");
        assert!(keys.verify(&token, NOW + 130).is_ok());
        assert_eq!(keys.verify(&token, NOW + 131), Err(TokenRejected::Expired));
    }

    #[test]
    fn token_from_the_future_is_refused() {
        let keys = keys(&format!("k1:{SECRET_A}"));
        let token = keys.issue(7, NOW + 3600, 100, &crate::random::OsRandom).expect("issued");
        assert_eq!(keys.verify(&token, NOW), Err(TokenRejected::NotYetValid));
    }

    #[test]
    fn rotation_second_key_still_verifies() {
        let old = keys(&format!("old:{SECRET_B}"));
        let token = old.issue(7, NOW, 100, &crate::random::OsRandom).expect("issued");
        let rotated = keys(&format!("new:{SECRET_A},old:{SECRET_B}"));
        assert!(rotated.verify(&token, NOW).is_ok());
        assert_eq!(rotated.signing_kid(), "new");
    }

    #[test]
    fn hostile_tokens_are_refused() {
        let keys = keys(&format!("k1:{SECRET_A}"));
        let exp = NOW + 100;
        let none = format!(
            "{}.{}.",
            base64_url(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
            base64_url(claims(exp).to_string().as_bytes())
        );
        assert!(keys.verify(&none, NOW).is_err());
        let hs512 = encode_raw(&json!({"alg":"HS512","typ":"JWT","kid":"k1"}), &claims(exp), SECRET_A.as_bytes());
        assert_eq!(keys.verify(&hs512, NOW), Err(TokenRejected::Algorithm));
        let rs256 = encode_raw(&json!({"alg":"RS256","typ":"JWT","kid":"k1"}), &claims(exp), SECRET_A.as_bytes());
        assert_eq!(keys.verify(&rs256, NOW), Err(TokenRejected::Algorithm));
        let unknown_kid = encode_raw(&json!({"alg":"HS256","kid":"k9"}), &claims(exp), SECRET_A.as_bytes());
        assert_eq!(keys.verify(&unknown_kid, NOW), Err(TokenRejected::UnknownKid));
        let no_kid = encode_raw(&json!({"alg":"HS256"}), &claims(exp), SECRET_A.as_bytes());
        assert_eq!(keys.verify(&no_kid, NOW), Err(TokenRejected::UnknownKid));
        let wrong_secret = encode_raw(&json!({"alg":"HS256","kid":"k1"}), &claims(exp), SECRET_B.as_bytes());
        assert_eq!(keys.verify(&wrong_secret, NOW), Err(TokenRejected::Signature));
        let mut no_exp = claims(exp);
        no_exp.as_object_mut().expect("object").remove("exp");
        let no_exp = encode_raw(&json!({"alg":"HS256","kid":"k1"}), &no_exp, SECRET_A.as_bytes());
        assert_eq!(keys.verify(&no_exp, NOW), Err(TokenRejected::Signature));
        let mut refresh = claims(exp);
        refresh["token_type"] = json!("refresh");
        let refresh = encode_raw(&json!({"alg":"HS256","kid":"k1"}), &refresh, SECRET_A.as_bytes());
        assert_eq!(keys.verify(&refresh, NOW), Err(TokenRejected::WrongType));
        let good = keys.issue(7, NOW, 100, &crate::random::OsRandom).expect("issued");
        let tampered = format!("{}x", &good[..good.len() - 1]);
        assert!(keys.verify(&tampered, NOW).is_err());
        assert!(keys.verify(&good[..good.len() / 2], NOW).is_err());
        assert!(keys.verify("", NOW).is_err());
    }

    #[test]
    fn a_token_without_kid_verifies_with_the_legacy_key_only() {
        let legacy_secret = b"short-old-secret";
        let without_kid = encode_raw(&json!({"alg":"HS256","typ":"JWT"}), &claims(NOW + 100), legacy_secret);
        let keys = keys(&format!("k1:{SECRET_A}"));
        assert_eq!(keys.verify(&without_kid, NOW), Err(TokenRejected::UnknownKid), "no legacy key configured");
        let keys = keys.with_legacy_key(legacy_secret);
        assert_eq!(keys.verify(&without_kid, NOW).map(|c| c.merchant_user_id), Ok(7));
        // The same claim checks.
        assert_eq!(keys.verify(&without_kid, NOW + 131), Err(TokenRejected::Expired));
        let mut refresh = claims(NOW + 100);
        refresh["token_type"] = json!("refresh");
        let refresh = encode_raw(&json!({"alg":"HS256","typ":"JWT"}), &refresh, legacy_secret);
        assert_eq!(keys.verify(&refresh, NOW), Err(TokenRejected::WrongType));
        // Another secret, or the legacy secret behind a kid, is refused.
        let forged = encode_raw(&json!({"alg":"HS256"}), &claims(NOW + 100), SECRET_A.as_bytes());
        assert_eq!(keys.verify(&forged, NOW), Err(TokenRejected::Signature));
        let with_kid = encode_raw(&json!({"alg":"HS256","kid":"k1"}), &claims(NOW + 100), legacy_secret);
        assert_eq!(keys.verify(&with_kid, NOW), Err(TokenRejected::Signature));
        let none =
            format!("{}.{}.", base64_url(br#"{"alg":"none"}"#), base64_url(claims(NOW + 100).to_string().as_bytes()));
        assert!(keys.verify(&none, NOW).is_err());
        // It never signs: issued tokens carry the first key's kid.
        let issued = keys.issue(7, NOW, 100, &crate::random::OsRandom).expect("issued");
        assert_eq!(jsonwebtoken::decode_header(&issued).expect("header").kid.as_deref(), Some("k1"));
    }

    #[test]
    fn short_or_malformed_key_specs_are_refused() {
        assert!(matches!(JwtKeys::parse("k1:short"), Err(KeyError::ShortSecret { .. })));
        assert_eq!(JwtKeys::parse("").err(), Some(KeyError::Malformed));
        assert_eq!(JwtKeys::parse("nocolon").err(), Some(KeyError::Malformed));
        let dup = format!("k:{SECRET_A},k:{SECRET_B}");
        assert!(matches!(JwtKeys::parse(&dup), Err(KeyError::DuplicateKid { .. })));
    }
}
