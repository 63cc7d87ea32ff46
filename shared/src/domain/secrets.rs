//! Randomness and keyed hashing. Secrets that are stored (API keys, OTPs, v2 keys, reset tokens)
//! are stored only as HMAC-SHA256 under a server key, never in plaintext.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Whether two secrets (hashes, tokens) are equal, in time that does not depend on where they
/// first differ.
pub fn secrets_match(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Where randomness comes from: a parameter, like the time. Production passes the operating
/// system's CSPRNG (`crate::random::OsRandom`); tests may pass a seeded source.
pub trait Random: Send + Sync {
    /// Fills `buf` with uniformly random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomUnavailable>;
}

/// The random source failed: the request gets a 500, the process lives on.
#[derive(Debug, thiserror::Error)]
#[error("operating system random source failed: {0}")]
pub struct RandomUnavailable(pub String);

/// `N` random bytes.
pub fn random_bytes<const N: usize>(random: &dyn Random) -> Result<[u8; N], RandomUnavailable> {
    let mut buf = [0u8; N];
    random.fill(&mut buf)?;
    Ok(buf)
}

/// `N` random bytes as lowercase hex.
pub fn random_hex<const N: usize>(random: &dyn Random) -> Result<String, RandomUnavailable> {
    Ok(hex::encode(random_bytes::<N>(random)?))
}

/// A uniformly random decimal code of `digits` digits (leading zeros kept), by rejection
/// sampling so no code is likelier than another.
pub fn random_digits(random: &dyn Random, digits: u32) -> Result<String, RandomUnavailable> {
    let modulus = 10u64.pow(digits);
    let limit = u64::MAX - (u64::MAX % modulus);
    loop {
        let value = u64::from_le_bytes(random_bytes::<8>(random)?);
        if value < limit {
            return Ok(format!("{:0width$}", value % modulus, width = digits as usize));
        }
    }
}

/// The server key behind every keyed hash.
#[derive(Clone)]
pub struct HashKey {
    key: Vec<u8>,
    /// A stand-in for a function that was not given the key (see `withheld`).
    withheld: bool,
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(<redacted>)")
    }
}

/// What a keyed hash is for: the same secret hashed for two purposes gives two unrelated values.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    ApiKey,
    ApiKeyTag,
    Otp,
    V2Key,
    ResetToken,
    /// An identifier that named no customer (the key of its failure counter).
    UnknownIdentifier,
    /// A client's network (the key of its per-source-IP counters): addresses are personal
    /// data, so the store keeps none.
    SourceNetwork,
    /// A support-console session's ID (the store keeps only this hash of it).
    ConsoleSession,
    /// The stand-in key of a route that does not declare the hash key.
    Withheld,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::ApiKey => b"stamps-auth/api-key\0",
            Purpose::ApiKeyTag => b"stamps-auth/api-key-tag\0",
            Purpose::Otp => b"stamps-auth/otp\0",
            Purpose::V2Key => b"stamps-auth/v2-key\0",
            Purpose::ResetToken => b"stamps-auth/reset-token\0",
            Purpose::UnknownIdentifier => b"stamps-auth/unknown-identifier\0",
            Purpose::SourceNetwork => b"stamps-auth/source-network\0",
            Purpose::ConsoleSession => b"stamps-auth/console-session\0",
            Purpose::Withheld => b"stamps-auth/withheld\0",
        }
    }
}

impl HashKey {
    pub fn new(key: Vec<u8>) -> Self {
        HashKey { key, withheld: false }
    }

    /// The stand-in for the key in a function whose route does not declare it: a random key of
    /// its own, so that whatever a handler hashes with it matches nothing any other function
    /// stored or checks, and nobody can forge it. Every use is logged as an error.
    pub fn withheld(random: &dyn Random) -> Result<HashKey, RandomUnavailable> {
        Ok(HashKey { key: random_bytes::<32>(random)?.to_vec(), withheld: true })
    }

    /// `withheld`, derived from this key (for a process that holds the real key but runs a
    /// route that does not declare it: the local server).
    pub fn withheld_here(&self) -> HashKey {
        HashKey { key: self.mac(Purpose::Withheld, &[]).to_vec(), withheld: true }
    }

    fn mac(&self, purpose: Purpose, parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail.
        if self.withheld {
            tracing::error!("the hash key is used by a function that was not given it: its route does not declare it");
        }
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(purpose.label());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Keyed hash of a secret, as hex: what the store keeps instead of the secret.
    pub fn hash(&self, purpose: Purpose, parts: &[&[u8]]) -> String {
        hex::encode(self.mac(purpose, parts))
    }
}

/// The longest API key looked at: ours are 85 characters, an imported REST-framework token 40.
pub const MAX_API_KEY_BYTES: usize = 256;

/// An API key: `<merchant id>.<32 hex nonce>.<32 hex tag>`. The tag is a MAC of the merchant ID
/// and the nonce, so a forged key of this shape is refused before any storage is read; every
/// key, of this shape or imported from the old system, must also have its keyed hash on record
/// (revocation, rotation).
pub struct ApiKey;

impl ApiKey {
    pub fn generate(random: &dyn Random, key: &HashKey, merchant_id: u64) -> Result<String, RandomUnavailable> {
        let nonce = random_hex::<16>(random)?;
        let tag = Self::tag(key, merchant_id, &nonce);
        Ok(format!("{merchant_id}.{nonce}.{tag}"))
    }

    fn tag(key: &HashKey, merchant_id: u64, nonce: &str) -> String {
        let mac = key.mac(Purpose::ApiKeyTag, &[merchant_id.to_string().as_bytes(), nonce.as_bytes()]);
        hex::encode(&mac[..16])
    }

    /// Whether `api_key` has this service's shape (three dot-separated parts, the last two of
    /// 32 hex digits): such a key is checked by its tag.
    pub fn is_tagged(api_key: &str) -> bool {
        let mut parts = api_key.split('.');
        let (Some(merchant), Some(nonce), Some(tag), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let hex32 = |part: &str| part.len() == 32 && part.bytes().all(|b| b.is_ascii_hexdigit());
        !merchant.is_empty() && hex32(nonce) && hex32(tag)
    }

    /// The merchant this key was issued to, if the key is well formed and its tag checks out.
    /// The merchant ID must be written as it was issued: a leading zero (or sign) would name
    /// the same merchant with a different key string, one the store has never seen.
    pub fn verify(key: &HashKey, api_key: &str) -> Option<u64> {
        let mut parts = api_key.split('.');
        let (merchant, nonce, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || nonce.len() != 32 || tag.len() != 32 {
            return None;
        }
        let canonical = merchant.bytes().all(|b| b.is_ascii_digit()) && !merchant.starts_with('0');
        if !canonical || merchant.len() > 19 {
            return None;
        }
        let merchant_id: u64 = merchant.parse().ok()?;
        let expected = Self::tag(key, merchant_id, nonce);
        bool::from(expected.as_bytes().ct_eq(tag.as_bytes())).then_some(merchant_id)
    }

    /// The keyed hash under which the store keeps this key.
    pub fn stored_hash(key: &HashKey, api_key: &str) -> String {
        key.hash(Purpose::ApiKey, &[api_key.as_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::random::OsRandom;

    fn key() -> HashKey {
        HashKey::new(b"0123456789abcdef0123456789abcdef".to_vec())
    }

    /// A deterministic source for tests: HMAC-SHA256 of a seed and a counter, with `rejects`
    /// draws of all-ones bytes first (values that rejection sampling must refuse).
    struct Seeded {
        seed: u64,
        drawn: std::sync::Mutex<(u64, usize)>,
    }

    impl Seeded {
        fn new(seed: u64, rejects: usize) -> Seeded {
            Seeded { seed, drawn: std::sync::Mutex::new((0, rejects)) }
        }
    }

    impl Random for Seeded {
        fn fill(&self, buf: &mut [u8]) -> Result<(), RandomUnavailable> {
            let mut drawn = self.drawn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if drawn.1 > 0 {
                drawn.1 -= 1;
                buf.fill(0xff);
                return Ok(());
            }
            for chunk in buf.chunks_mut(32) {
                drawn.0 += 1;
                let block = HashKey::new(self.seed.to_be_bytes().to_vec()).mac(Purpose::Otp, &[&drawn.0.to_be_bytes()]);
                chunk.copy_from_slice(&block[..chunk.len()]);
            }
            Ok(())
        }
    }

    #[test]
    fn random_digits_have_the_asked_length() {
        for _ in 0..200 {
            let code = random_digits(&OsRandom, 6).expect("random");
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn a_seeded_source_gives_the_same_secrets_every_time() {
        let draw = |seed| {
            let random = Seeded::new(seed, 0);
            let digits = random_digits(&random, 6).expect("random");
            let api_key = ApiKey::generate(&random, &key(), 42).expect("random");
            (digits, api_key, random_hex::<16>(&random).expect("random"))
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert_eq!(ApiKey::verify(&key(), &draw(7).1), Some(42));
    }

    #[test]
    fn random_digits_reject_the_values_that_would_bias_them() {
        // All-ones bytes are u64::MAX, past the last whole multiple of 10^6: drawn again.
        assert_eq!(random_digits(&Seeded::new(7, 3), 6).ok(), random_digits(&Seeded::new(7, 0), 6).ok());
    }

    #[test]
    fn api_key_round_trip_names_its_merchant() {
        let api_key = ApiKey::generate(&OsRandom, &key(), 42).expect("random");
        assert_eq!(ApiKey::verify(&key(), &api_key), Some(42));
    }

    #[test]
    fn api_key_with_changed_merchant_or_tag_is_refused() {
        let api_key = ApiKey::generate(&OsRandom, &key(), 42).expect("random");
        let forged = api_key.replacen("42.", "43.", 1);
        assert_eq!(ApiKey::verify(&key(), &forged), None);
        let mut tampered = api_key.clone();
        let last = tampered.pop().map(|c| if c == '0' { '1' } else { '0' });
        tampered.extend(last);
        assert_eq!(ApiKey::verify(&key(), &tampered), None);
        let other_key = HashKey::new(b"another-key-another-key-another-".to_vec());
        assert_eq!(ApiKey::verify(&other_key, &api_key), None);
        assert_eq!(ApiKey::verify(&key(), "garbage"), None);
        assert_eq!(ApiKey::verify(&key(), ""), None);
    }

    #[test]
    fn an_api_key_with_its_merchant_id_zero_padded_is_refused() {
        let api_key = ApiKey::generate(&OsRandom, &key(), 42).expect("random");
        assert_eq!(ApiKey::verify(&key(), &format!("0{api_key}")), None);
        assert_eq!(ApiKey::verify(&key(), &format!("000{api_key}")), None);
        assert_eq!(ApiKey::verify(&key(), &format!("+{api_key}")), None);
        assert!(ApiKey::is_tagged(&format!("0{api_key}")), "still checked as one of ours, and refused");
    }

    #[test]
    fn only_keys_of_this_shape_are_tagged() {
        let api_key = ApiKey::generate(&OsRandom, &key(), 42).expect("random");
        assert!(ApiKey::is_tagged(&api_key));
        for other in ["9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b", "", "a.b.c", &format!("{api_key}.x"), ".x.y"] {
            assert!(!ApiKey::is_tagged(other), "{other}");
        }
    }

    #[test]
    fn keyed_hashes_depend_on_purpose() {
        let a = key().hash(Purpose::Otp, &[b"123456"]);
        let b = key().hash(Purpose::V2Key, &[b"123456"]);
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }
}
