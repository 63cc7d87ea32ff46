//! Password hashes imported from a Django deployment, checked as Django checks them so imported
//! customers log in with their old passwords. A successful check asks for a rehash, so each
//! customer moves to the project's argon2id (with pepper) on first login.
//!
//! Formats (Django's `encode()` output, stored as it is):
//! - `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`: PBKDF2-HMAC-SHA256, 32 bytes.
//! - `argon2$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>`: a PHC string behind `argon2`.
//! - `bcrypt_sha256$$2b$<cost>$<salt+hash>`: bcrypt of the hex SHA-256 of the password.

use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

const PBKDF2_PREFIX: &str = "pbkdf2_sha256$";
const ARGON2_PREFIX: &str = "argon2$";
const BCRYPT_SHA256_PREFIX: &str = "bcrypt_sha256$";

/// Imported hashes come from the operator's own export, but a corrupt line must not let one
/// login spin for minutes; Django's own default is 1,000,000 at most (6.0).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Whether `encoded` is in one of the Django formats this module checks.
pub fn is_django_hash(encoded: &str) -> bool {
    parse(encoded).is_some()
}

/// Checks `password` against a Django hash: `None` when `encoded` is not one of the formats,
/// else whether it matches.
pub fn verify_django(password: &str, encoded: &str) -> Option<bool> {
    Some(match parse(encoded)? {
        DjangoHash::Pbkdf2 { iterations, salt, hash } => {
            let mut derived = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut derived);
            bool::from(derived.ct_eq(&hash))
        }
        DjangoHash::Argon2(phc) => {
            // Django hashes without a secret; whatever the parameters, argon2 reads them from the string.
            PasswordHash::new(phc)
                .is_ok_and(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        }
        DjangoHash::BcryptSha256(bcrypt_hash) => {
            let prehashed = hex::encode(Sha256::digest(password.as_bytes()));
            bcrypt::verify(prehashed, bcrypt_hash).unwrap_or(false)
        }
    })
}

enum DjangoHash<'a> {
    Pbkdf2 { iterations: u32, salt: &'a str, hash: [u8; 32] },
    Argon2(&'a str),
    BcryptSha256(&'a str),
}

fn parse(encoded: &str) -> Option<DjangoHash<'_>> {
    if let Some(rest) = encoded.strip_prefix(PBKDF2_PREFIX) {
        let mut parts = rest.split('$');
        let (iterations, salt, hash) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || salt.is_empty() {
            return None;
        }
        let iterations: u32 = iterations.parse().ok().filter(|n| (1..=MAX_PBKDF2_ITERATIONS).contains(n))?;
        let hash: [u8; 32] = base64::engine::general_purpose::STANDARD.decode(hash).ok()?.try_into().ok()?;
        return Some(DjangoHash::Pbkdf2 { iterations, salt, hash });
    }
    if encoded.starts_with(ARGON2_PREFIX) {
        // Django keeps the PHC string's leading `$` after its own name: `argon2` + `$argon2id$...`.
        let phc = &encoded[ARGON2_PREFIX.len() - 1..];
        let parsed = PasswordHash::new(phc).ok()?;
        let known = matches!(parsed.algorithm.as_str(), "argon2id" | "argon2i");
        return (known && parsed.hash.is_some()).then_some(DjangoHash::Argon2(phc));
    }
    if let Some(bcrypt_hash) = encoded.strip_prefix(BCRYPT_SHA256_PREFIX) {
        // Django appends bcrypt's own string, which starts with `$`: `bcrypt_sha256$$2b$12$...`.
        let valid = bcrypt_hash.len() == 60 && (bcrypt_hash.starts_with("$2b$") || bcrypt_hash.starts_with("$2a$"));
        return valid.then_some(DjangoHash::BcryptSha256(bcrypt_hash));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by Django 5.1's own hashers (`PBKDF2PasswordHasher` at 1,000 iterations,
    // `Argon2PasswordHasher`, `BCryptSHA256PasswordHasher` at 4 rounds) for "correct horse battery".
    const PBKDF2: &str = "pbkdf2_sha256$1000$tJJiBYOeEfg6HlkdXYhTrw$hu9aY4QbaawLd+klAE1w7SMKQcDptObKzgwUFcYPCt4=";
    const ARGON2: &str = "argon2$argon2id$v=19$m=102400,t=2,p=8$ZmJ1TE4xNDNId0JGUTh0S1FCZndCSA$P0gI4vdNmavb9eHOfFb2T9DEHD2zvwIt9NJOFnhSkPQ";
    const BCRYPT: &str = "bcrypt_sha256$$2b$04$./SJRqw5onBTk8fqC1X8hez/zez/wjAsRueC0Yf6XLHnne1qIErnW";
    // Same hashers, password "pässwörd-ünïcode".
    const PBKDF2_UNICODE: &str =
        "pbkdf2_sha256$1000$PSGzkDQ4ei2VVxQ9A3vLRz$9jdJxfXjbqQZ8D1dOBuSHSOabEfdbMz+NyPBHzqiF+U=";
    const BCRYPT_UNICODE: &str = "bcrypt_sha256$$2b$04$QtcxWeZMpZLwfItJWLbGF.iGP.UlHZ1QBvfw0FeJwEhUmXls5qRPC";

    #[test]
    fn django_hashes_verify_with_the_right_password_only() {
        for encoded in [PBKDF2, ARGON2, BCRYPT] {
            assert!(is_django_hash(encoded), "{encoded}");
            assert_eq!(verify_django("correct horse battery", encoded), Some(true), "{encoded}");
            assert_eq!(verify_django("correct horse batterY", encoded), Some(false), "{encoded}");
        }
        for encoded in [PBKDF2_UNICODE, BCRYPT_UNICODE] {
            assert_eq!(verify_django("pässwörd-ünïcode", encoded), Some(true), "{encoded}");
            assert_eq!(verify_django("passwörd-ünïcode", encoded), Some(false), "{encoded}");
        }
    }

    #[test]
    fn other_strings_are_not_django_hashes() {
        for encoded in [
            "",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
            "pbkdf2_sha256$1000$salt",
            "pbkdf2_sha256$0$salt$hu9aY4QbaawLd+klAE1w7SMKQcDptObKzgwUFcYPCt4=",
            "pbkdf2_sha256$99999999999$salt$hu9aY4QbaawLd+klAE1w7SMKQcDptObKzgwUFcYPCt4=",
            "pbkdf2_sha256$1000$salt$not-base64!",
            "pbkdf2_sha1$1000$salt$hash",
            "md5$salt$hash",
            "argon2$nonsense",
            "bcrypt_sha256$$2b$04$short",
            "bcrypt$$2b$04$./SJRqw5onBTk8fqC1X8hez/zez/wjAsRueC0Yf6XLHnne1qIErnW",
            "!unusable",
        ] {
            assert!(!is_django_hash(encoded), "{encoded}");
            assert_eq!(verify_django("anything", encoded), None, "{encoded}");
        }
    }
}
