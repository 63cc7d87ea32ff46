//! The hashing policy for passwords and PINs: argon2id at the parameters of docs/api.md
//! section 4, PHC strings, an optional server-side pepper, and what a check decides (match,
//! mismatch, or match with weaker parameters: rehash). The machinery that runs a hash (the
//! blocking pool, the working memory, timing) is the adapter's (`crate::hashing`): it lends
//! the memory through `WorkingMemory` and draws the salts.

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use crate::domain::legacy_hash;
use crate::domain::secrets::RandomUnavailable;

/// The minimum parameters of docs/api.md section 4 (OWASP's argon2id recommendation).
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// The length of a new hash's salt.
pub const SALT_BYTES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error(transparent)]
    Random(#[from] RandomUnavailable),
    #[error("hashing task failed")]
    Task,
    #[error("this function was not given the password pepper: its route does not declare it")]
    Withheld,
}

/// The outcome of checking a secret against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Mismatch,
    Match,
    /// Right, but stored with weaker parameters than today's: store a fresh hash.
    MatchNeedsRehash,
}

impl Verdict {
    pub fn matched(self) -> bool {
        self != Verdict::Mismatch
    }
}

/// The port to argon2's working memory: `run` gets `blocks` blocks to hash in. Where they come
/// from (kept between hashes, mapped in huge pages) is the adapter's business.
pub trait WorkingMemory {
    fn with_blocks(
        &self,
        blocks: usize,
        run: &mut dyn FnMut(&mut [Block]) -> Result<(), argon2::Error>,
    ) -> Result<(), argon2::Error>;
}

/// What hashing and checking decide, at given parameters and pepper.
#[derive(Clone)]
pub struct HashPolicy {
    pepper: Option<std::sync::Arc<[u8]>>,
    params: Params,
}

impl std::fmt::Debug for HashPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPolicy").field("params", &self.params).finish_non_exhaustive()
    }
}

/// What `verify` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub verdict: Verdict,
    /// A salted digest answered in microseconds: an argon2 check of a dummy hash must spend
    /// the time a real one would, or the speed of a wrong password would tell an imported
    /// customer apart.
    pub pad_with_dummy: bool,
}

impl HashPolicy {
    pub fn new(pepper: Option<Vec<u8>>, m: u32, t: u32, p: u32) -> Result<HashPolicy, HashError> {
        let params = Params::new(m, t, p, None).map_err(|e| HashError::Argon2(e.to_string()))?;
        Ok(HashPolicy { pepper: pepper.map(std::sync::Arc::from), params })
    }

    fn argon2(&self, algorithm: Algorithm, version: Version, params: Params) -> Result<Argon2<'_>, HashError> {
        match &self.pepper {
            Some(pepper) => Argon2::new_with_secret(pepper, algorithm, version, params)
                .map_err(|e| HashError::Argon2(e.to_string())),
            None => Ok(Argon2::new(algorithm, version, params)),
        }
    }

    /// The PHC string of `secret` under `salt`, at this policy's parameters.
    pub fn hash(&self, secret: &str, salt: &[u8; SALT_BYTES], memory: &dyn WorkingMemory) -> Result<String, HashError> {
        let argon2 = self.argon2(Algorithm::Argon2id, Version::V0x13, self.params.clone())?;
        let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
        memory
            .with_blocks(self.params.block_count(), &mut |blocks| {
                argon2.hash_password_into_with_memory(secret.as_bytes(), salt, &mut output, blocks)
            })
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        // The PHC string format, as the argon2 crate writes it (B64: no padding).
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        Ok(format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost(),
            b64.encode(salt),
            b64.encode(output)
        ))
    }

    /// Checks `secret` against a PHC string, or a hash imported from Django (which always asks
    /// for a rehash when it matches). An unparseable stored hash never matches.
    pub fn verify(&self, secret: &str, stored: &str, memory: &dyn WorkingMemory) -> Checked {
        if let Some(matched) = legacy_hash::verify_django(secret, stored) {
            let verdict = if matched { Verdict::MatchNeedsRehash } else { Verdict::Mismatch };
            return Checked { verdict, pad_with_dummy: legacy_hash::is_unparameterised(stored) };
        }
        Checked { verdict: self.check(secret, stored, memory), pad_with_dummy: false }
    }

    /// The argon2 check of `verify`.
    pub fn check(&self, secret: &str, stored: &str, memory: &dyn WorkingMemory) -> Verdict {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verdict::Mismatch;
        };
        // Parameters beyond what an import accepts never come from this service: refused
        // unchecked, so no stored string can stall a login.
        if !legacy_hash::argon2_within_bounds(&parsed) {
            tracing::warn!("a stored argon2 hash is beyond the accepted costs: refused unchecked");
            return Verdict::Mismatch;
        }
        let Ok(params) = Params::try_from(&parsed) else {
            return Verdict::Mismatch;
        };
        let weaker = parsed.algorithm.as_str() != "argon2id"
            || params.m_cost() < self.params.m_cost()
            || params.t_cost() < self.params.t_cost()
            || params.p_cost() < self.params.p_cost();
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Verdict::Mismatch;
        };
        let mut salt_buffer = [0u8; 64];
        let (Ok(salt), Ok(algorithm)) = (salt.decode_b64(&mut salt_buffer), Algorithm::try_from(parsed.algorithm))
        else {
            return Verdict::Mismatch;
        };
        let version = match parsed.version.map(Version::try_from) {
            None => Version::V0x13,
            Some(Ok(version)) => version,
            Some(Err(_)) => return Verdict::Mismatch,
        };
        let blocks = params.block_count();
        let Ok(argon2) = self.argon2(algorithm, version, params) else {
            return Verdict::Mismatch;
        };
        let mut output = vec![0u8; expected.len()];
        let computed = memory.with_blocks(blocks, &mut |blocks| {
            argon2.hash_password_into_with_memory(secret.as_bytes(), salt, &mut output, blocks)
        });
        match computed {
            Ok(()) if bool::from(output.as_slice().ct_eq(expected.as_bytes())) => {
                if weaker {
                    Verdict::MatchNeedsRehash
                } else {
                    Verdict::Match
                }
            }
            _ => Verdict::Mismatch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fresh memory for every hash: the policy does not care where it comes from.
    struct Fresh;

    impl WorkingMemory for Fresh {
        fn with_blocks(
            &self,
            blocks: usize,
            run: &mut dyn FnMut(&mut [Block]) -> Result<(), argon2::Error>,
        ) -> Result<(), argon2::Error> {
            run(&mut vec![Block::default(); blocks])
        }
    }

    #[test]
    fn the_same_salt_gives_the_same_hash_and_weaker_parameters_ask_for_a_rehash() {
        let policy = HashPolicy::new(None, 64, 2, 1).expect("policy");
        let hash = policy.hash("pw", b"0123456789abcdef", &Fresh).expect("hash");
        assert_eq!(hash, policy.hash("pw", b"0123456789abcdef", &Fresh).expect("hash"));
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"), "{hash}");
        assert_eq!(policy.check("pw", &hash, &Fresh), Verdict::Match);
        assert_eq!(policy.check("pW", &hash, &Fresh), Verdict::Mismatch);
        let stronger = HashPolicy::new(None, 64, 3, 1).expect("policy");
        assert_eq!(stronger.check("pw", &hash, &Fresh), Verdict::MatchNeedsRehash);
    }

    #[test]
    fn only_an_unparameterised_digest_is_padded_with_a_dummy_check() {
        let policy = HashPolicy::new(None, 8, 1, 1).expect("policy");
        let md5 = "md5$0PxfM7FS0dOxtjvhrA2e1n$29d1d27cfd6ece0c2323698fc46dd7e2";
        let padded = Checked { verdict: Verdict::MatchNeedsRehash, pad_with_dummy: true };
        assert_eq!(policy.verify("correct horse battery", md5, &Fresh), padded);
        let pbkdf2 = "pbkdf2_sha256$1000$tJJiBYOeEfg6HlkdXYhTrw$hu9aY4QbaawLd+klAE1w7SMKQcDptObKzgwUFcYPCt4=";
        let unpadded = Checked { verdict: Verdict::MatchNeedsRehash, pad_with_dummy: false };
        assert_eq!(policy.verify("correct horse battery", pbkdf2, &Fresh), unpadded);
    }
}
