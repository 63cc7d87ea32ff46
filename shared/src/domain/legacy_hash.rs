//! Password and PIN hashes imported from a Django deployment, checked as Django checks them so
//! imported customers keep their passwords and PINs. A successful check asks for a rehash, so
//! each customer moves to the project's argon2id (with pepper) at the first right answer.
//!
//! The formats are Django's `encode()` output, stored as it is:
//! - `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` and `pbkdf2_sha1$...`: PBKDF2-HMAC.
//! - `argon2$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>` (and `argon2i`): a PHC string.
//! - `bcrypt_sha256$$2b$<cost>$<salt+hash>`: bcrypt of the hex SHA-256 of the password;
//!   `bcrypt$$2b$...`: bcrypt of the password itself.
//! - `scrypt$<N>$<salt>$<r>$<p>$<base64 hash>`: scrypt, 64 bytes.
//! - `md5$<salt>$<hex>` and `sha1$<salt>$<hex>`: one digest of salt and password.
//!
//! Every check runs a maintained crate (`pbkdf2`, `argon2`, `bcrypt`, `scrypt`, `sha1`, `md-5`).
//! A hash whose parameters would make one check cost far more than Django's own default is
//! refused, at import with the reason and at login as a mismatch, so a corrupt or hostile line
//! cannot stall a login.

use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Django 5.2's defaults, the yardstick of the bounds below.
const DJANGO_PBKDF2_ITERATIONS: u32 = 1_000_000;
const DJANGO_BCRYPT_COST: u32 = 12;
const DJANGO_ARGON2_MEMORY_KIB: u32 = 102_400;
const DJANGO_ARGON2_PASSES: u32 = 2;
const DJANGO_SCRYPT_WORK: u64 = (1 << 14) * 8 * 5;

/// At most twice the work of Django's default: more than any deployment that kept Django's
/// settings has, far less than what would stall a Lambda function for seconds.
pub const MAX_PBKDF2_ITERATIONS: u32 = 2 * DJANGO_PBKDF2_ITERATIONS;
/// bcrypt's cost is a power of two: one more doubles the work.
pub const MAX_BCRYPT_COST: u32 = DJANGO_BCRYPT_COST + 1;
/// Memory of one argon2 check; a function has 256 MB.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 128 * 1024;
/// Memory times passes: the work of one argon2 check.
pub const MAX_ARGON2_WORK: u64 = 2 * DJANGO_ARGON2_MEMORY_KIB as u64 * DJANGO_ARGON2_PASSES as u64;
pub const MAX_ARGON2_LANES: u32 = 64;
/// scrypt needs 128·N·r bytes: at most 64 MiB.
pub const MAX_SCRYPT_MEMORY_BYTES: u64 = 64 << 20;
/// N·r·p: the work of one scrypt check.
pub const MAX_SCRYPT_WORK: u64 = 2 * DJANGO_SCRYPT_WORK;

/// Why a stored hash cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "not a supported hash format (Django's pbkdf2_sha256, pbkdf2_sha1, argon2, bcrypt_sha256, bcrypt, \
         scrypt, md5 or sha1, or an argon2id PHC string)"
    )]
    UnknownFormat,
    #[error("malformed {format} hash: {reason}")]
    Malformed { format: &'static str, reason: &'static str },
    #[error("{format} hash with {parameters}: above the limit of {limit}, a check would take too long")]
    TooCostly { format: &'static str, parameters: String, limit: String },
}

fn malformed(format: &'static str, reason: &'static str) -> Refused {
    Refused::Malformed { format, reason }
}

/// A Django hash, parsed and within bounds.
#[derive(Debug)]
enum DjangoHash<'a> {
    Pbkdf2 { sha1: bool, iterations: u32, salt: &'a str, hash: Vec<u8> },
    Argon2(PasswordHash<'a>),
    Bcrypt { prehashed: bool, hash: &'a str },
    Scrypt { log_n: u8, r: u32, p: u32, salt: &'a str, hash: Vec<u8> },
    SaltedDigest { sha1: bool, salt: &'a str, hash: Vec<u8> },
}

/// Whether `encoded` is Django's mark of an unusable password (`!` and random characters, as
/// `set_unusable_password` stores): the customer has no password to import.
pub fn is_unusable(encoded: &str) -> bool {
    encoded.starts_with('!')
}

/// Whether `encoded` is a hash in one of the Django formats this module checks, within bounds.
pub fn is_django_hash(encoded: &str) -> bool {
    parse(encoded).is_ok()
}

/// Whether checking `encoded` costs next to nothing (a single digest): such a check also
/// spends an argon2 check's time, or its speed would tell an imported customer from an
/// unknown one.
pub fn is_unparameterised(encoded: &str) -> bool {
    matches!(parse(encoded), Ok(DjangoHash::SaltedDigest { .. }))
}

/// Whether `encoded` can be imported as a password or PIN hash: a Django hash or an argon2id
/// PHC string (this service's own, as `customer export` writes them), within bounds.
pub fn check_importable(encoded: &str) -> Result<(), Refused> {
    if encoded.starts_with("$argon2id$") {
        let parsed = PasswordHash::new(encoded).map_err(|_| malformed("argon2id", "not a PHC string"))?;
        return check_argon2(&parsed, "argon2id");
    }
    parse(encoded).map(|_| ())
}

/// Whether the parameters of an argon2 PHC string are within bounds.
pub fn argon2_within_bounds(parsed: &PasswordHash<'_>) -> bool {
    check_argon2(parsed, "argon2").is_ok()
}

fn check_argon2(parsed: &PasswordHash<'_>, format: &'static str) -> Result<(), Refused> {
    let params =
        argon2::Params::try_from(parsed).map_err(|_| malformed(format, "parameters m, t and p are required"))?;
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err(malformed(format, "no salt or no hash"));
    }
    let (memory, passes, lanes) = (params.m_cost(), params.t_cost(), params.p_cost());
    let too_costly = |limit: String| Refused::TooCostly {
        format,
        parameters: format!("m={memory} KiB, t={passes}, p={lanes}"),
        limit,
    };
    if memory > MAX_ARGON2_MEMORY_KIB {
        return Err(too_costly(format!("m={MAX_ARGON2_MEMORY_KIB} KiB")));
    }
    if u64::from(memory) * u64::from(passes) > MAX_ARGON2_WORK {
        return Err(too_costly(format!("m×t={MAX_ARGON2_WORK}")));
    }
    if lanes > MAX_ARGON2_LANES {
        return Err(too_costly(format!("p={MAX_ARGON2_LANES}")));
    }
    Ok(())
}

/// Checks `password` against a Django hash: `None` when `encoded` is not one of the formats
/// (or is beyond the bounds), else whether it matches.
pub fn verify_django(password: &str, encoded: &str) -> Option<bool> {
    Some(match parse(encoded).ok()? {
        DjangoHash::Pbkdf2 { sha1, iterations, salt, hash } => {
            let mut derived = vec![0u8; hash.len()];
            if sha1 {
                pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), salt.as_bytes(), iterations, &mut derived);
            } else {
                pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut derived);
            }
            bool::from(derived.ct_eq(&hash))
        }
        // Django hashes without a secret; argon2 reads the variant, version and parameters from
        // the string.
        DjangoHash::Argon2(parsed) => argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        DjangoHash::Bcrypt { prehashed: true, hash } => {
            bcrypt::verify(hex::encode(Sha256::digest(password.as_bytes())), hash).unwrap_or(false)
        }
        // Truncated at 72 bytes, as bcrypt always did (Python's bcrypt 5 refuses longer ones
        // when hashing, so no newer hash depends on more).
        DjangoHash::Bcrypt { prehashed: false, hash } => bcrypt::verify(password.as_bytes(), hash).unwrap_or(false),
        DjangoHash::Scrypt { log_n, r, p, salt, hash } => {
            let Ok(params) = scrypt::Params::new(log_n, r, p, hash.len()) else {
                return Some(false);
            };
            let mut derived = vec![0u8; hash.len()];
            if scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut derived).is_err() {
                return Some(false);
            }
            bool::from(derived.ct_eq(&hash))
        }
        DjangoHash::SaltedDigest { sha1, salt, hash } => {
            let digest: Vec<u8> = if sha1 {
                sha1::Sha1::new().chain_update(salt).chain_update(password).finalize().to_vec()
            } else {
                md5::Md5::new().chain_update(salt).chain_update(password).finalize().to_vec()
            };
            bool::from(digest.ct_eq(&hash))
        }
    })
}

/// A Django salt: what `encode()` was given, split out of the string on `$`.
fn salt<'a>(format: &'static str, salt: Option<&'a str>) -> Result<&'a str, Refused> {
    salt.filter(|s| !s.is_empty()).ok_or_else(|| malformed(format, "no salt"))
}

fn base64_hash(format: &'static str, text: Option<&str>, len: usize) -> Result<Vec<u8>, Refused> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.ok_or_else(|| malformed(format, "no hash"))?)
        .map_err(|_| malformed(format, "the hash is not base64"))?;
    if bytes.len() != len {
        return Err(malformed(format, "the hash has the wrong length"));
    }
    Ok(bytes)
}

fn number<T: std::str::FromStr>(format: &'static str, text: Option<&str>, what: &'static str) -> Result<T, Refused> {
    text.and_then(|t| t.parse().ok()).ok_or_else(|| malformed(format, what))
}

fn parse(encoded: &str) -> Result<DjangoHash<'_>, Refused> {
    let (algorithm, rest) = encoded.split_once('$').ok_or(Refused::UnknownFormat)?;
    match algorithm {
        "pbkdf2_sha256" | "pbkdf2_sha1" => {
            let format = if algorithm == "pbkdf2_sha1" { "pbkdf2_sha1" } else { "pbkdf2_sha256" };
            let sha1 = format == "pbkdf2_sha1";
            let mut parts = rest.split('$');
            let iterations: u32 = number(format, parts.next(), "the iteration count is not a number")?;
            let salt = salt(format, parts.next())?;
            let hash = base64_hash(format, parts.next(), if sha1 { 20 } else { 32 })?;
            if parts.next().is_some() {
                return Err(malformed(format, "too many fields"));
            }
            if iterations == 0 {
                return Err(malformed(format, "zero iterations"));
            }
            if iterations > MAX_PBKDF2_ITERATIONS {
                return Err(Refused::TooCostly {
                    format,
                    parameters: format!("{iterations} iterations"),
                    limit: format!("{MAX_PBKDF2_ITERATIONS}"),
                });
            }
            Ok(DjangoHash::Pbkdf2 { sha1, iterations, salt, hash })
        }
        "argon2" => {
            // Django keeps the PHC string's leading `$` after its own name: `argon2` + `$argon2id$...`.
            let phc = &encoded[algorithm.len()..];
            let parsed = PasswordHash::new(phc).map_err(|_| malformed("argon2", "not a PHC string"))?;
            if !matches!(parsed.algorithm.as_str(), "argon2id" | "argon2i") {
                return Err(malformed("argon2", "only argon2id and argon2i are Django's"));
            }
            check_argon2(&parsed, "argon2")?;
            Ok(DjangoHash::Argon2(parsed))
        }
        "bcrypt_sha256" | "bcrypt" => {
            let format = if algorithm == "bcrypt" { "bcrypt" } else { "bcrypt_sha256" };
            // Django appends bcrypt's own string, which starts with `$`: `bcrypt$$2b$12$...`.
            let hash = &encoded[algorithm.len() + 1..];
            let mut parts = hash.splitn(4, '$');
            let (empty, variant, cost, data) = (parts.next(), parts.next(), parts.next(), parts.next());
            let well_formed = empty == Some("")
                && matches!(variant, Some("2a" | "2b" | "2y"))
                && data.is_some_and(|d| d.len() == 53)
                && hash.len() == 60;
            if !well_formed {
                return Err(malformed(format, "not a bcrypt string ($2b$<cost>$<53 characters>)"));
            }
            let cost: u32 = number(format, cost, "the cost is not a number")?;
            if !(4..=31).contains(&cost) {
                return Err(malformed(format, "the cost is outside 4-31"));
            }
            if cost > MAX_BCRYPT_COST {
                return Err(Refused::TooCostly {
                    format,
                    parameters: format!("cost {cost}"),
                    limit: format!("cost {MAX_BCRYPT_COST}"),
                });
            }
            Ok(DjangoHash::Bcrypt { prehashed: format == "bcrypt_sha256", hash })
        }
        "scrypt" => {
            let format = "scrypt";
            let mut parts = rest.split('$');
            let n: u64 = number(format, parts.next(), "the work factor is not a number")?;
            let salt = salt(format, parts.next())?;
            let r: u32 = number(format, parts.next(), "the block size is not a number")?;
            let p: u32 = number(format, parts.next(), "the parallelism is not a number")?;
            let hash = base64_hash(format, parts.next(), 64)?;
            if parts.next().is_some() {
                return Err(malformed(format, "too many fields"));
            }
            if n < 2 || !n.is_power_of_two() || r == 0 || p == 0 {
                return Err(malformed(format, "N must be a power of two above 1, r and p positive"));
            }
            let too_costly =
                |limit: String| Refused::TooCostly { format, parameters: format!("N={n}, r={r}, p={p}"), limit };
            let memory = 128 * n.saturating_mul(u64::from(r));
            if memory > MAX_SCRYPT_MEMORY_BYTES {
                return Err(too_costly(format!("128·N·r = {} MiB", MAX_SCRYPT_MEMORY_BYTES >> 20)));
            }
            if n.saturating_mul(u64::from(r)).saturating_mul(u64::from(p)) > MAX_SCRYPT_WORK {
                return Err(too_costly(format!("N·r·p = {MAX_SCRYPT_WORK}")));
            }
            Ok(DjangoHash::Scrypt { log_n: n.trailing_zeros() as u8, r, p, salt, hash })
        }
        "md5" | "sha1" => {
            let format = if algorithm == "md5" { "md5" } else { "sha1" };
            let (salt, hash) = rest.split_once('$').ok_or_else(|| malformed(format, "no hash"))?;
            let salt = self::salt(format, Some(salt))?;
            let hash = hex::decode(hash).map_err(|_| malformed(format, "the hash is not hex"))?;
            let len = if format == "md5" { 16 } else { 20 };
            if hash.len() != len {
                return Err(malformed(format, "the hash has the wrong length"));
            }
            Ok(DjangoHash::SaltedDigest { sha1: format == "sha1", salt, hash })
        }
        _ => Err(Refused::UnknownFormat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by Django's own `make_password` (tests/fixtures/django/make_fixtures.py): Django
    /// 5.2.19 for every hasher but `sha1`, which Django 5.1 removed (4.2.30 made those).
    const FIXTURES: &str = include_str!("../../../tests/fixtures/django/hashes.json");

    #[derive(serde::Deserialize)]
    struct Fixture {
        hasher: String,
        variant: String,
        secret: String,
        encoded: String,
    }

    fn fixtures() -> Vec<Fixture> {
        serde_json::from_str(FIXTURES).expect("hashes.json")
    }

    /// Cheap parameters: every secret, right and wrong. Django's default costs: each hasher once,
    /// with the right secret (in a debug build a check at those costs takes seconds: PBKDF2's
    /// generic loop is compiled at the debug level of this crate).
    #[test]
    fn every_django_hasher_verifies_the_right_secret_only() {
        let fixtures = fixtures();
        let hashers: std::collections::BTreeSet<&str> = fixtures.iter().map(|f| f.hasher.as_str()).collect();
        assert_eq!(
            hashers.into_iter().collect::<Vec<_>>(),
            ["argon2i", "argon2id", "bcrypt", "bcrypt_sha256", "md5", "pbkdf2_sha1", "pbkdf2_sha256", "scrypt", "sha1"]
        );
        let mut defaults_checked = std::collections::BTreeSet::new();
        for fixture in &fixtures {
            let label = format!("{} {}: {}", fixture.hasher, fixture.variant, fixture.encoded);
            assert_eq!(check_importable(&fixture.encoded), Ok(()), "{label}");
            let cheap = fixture.variant == "cheap" || ["md5", "sha1"].contains(&fixture.hasher.as_str());
            if !cheap && !defaults_checked.insert(fixture.hasher.as_str()) {
                continue;
            }
            assert_eq!(verify_django(&fixture.secret, &fixture.encoded), Some(true), "{label}");
            if cheap {
                let mut changed = fixture.secret.clone();
                changed.pop();
                assert_eq!(verify_django(&changed, &fixture.encoded), Some(false), "{label}");
                let longer = format!("{}x", fixture.secret);
                assert_eq!(verify_django(&longer, &fixture.encoded), Some(false), "{label}");
            }
        }
    }

    #[test]
    fn only_the_digest_formats_are_unparameterised() {
        for fixture in fixtures() {
            assert_eq!(is_unparameterised(&fixture.encoded), ["md5", "sha1"].contains(&fixture.hasher.as_str()));
        }
    }

    fn of(hasher: &str, variant: &str) -> String {
        fixtures().into_iter().find(|f| f.hasher == hasher && f.variant == variant).map(|f| f.encoded).expect("fixture")
    }

    #[test]
    fn absurd_parameters_are_refused_with_the_reason() {
        let pbkdf2 = of("pbkdf2_sha256", "default").replacen("$1000000$", "$50000000$", 1);
        let bcrypt = of("bcrypt_sha256", "default").replacen("$2b$12$", "$2b$16$", 1);
        let argon2_memory = of("argon2id", "default").replacen("m=102400", "m=4194304", 1);
        let argon2_passes = of("argon2id", "default").replacen("t=2", "t=100", 1);
        let scrypt_memory = of("scrypt", "default").replacen("scrypt$16384$", "scrypt$1048576$", 1);
        let scrypt_work = {
            let default = of("scrypt", "default");
            default.replacen("$8$5$", "$8$100$", 1)
        };
        for (hash, says) in [
            (pbkdf2, "50000000 iterations"),
            (bcrypt, "cost 16"),
            (argon2_memory, "m=4194304 KiB"),
            (argon2_passes, "t=100"),
            (scrypt_memory, "N=1048576"),
            (scrypt_work, "p=100"),
        ] {
            let refused = check_importable(&hash).expect_err(&hash);
            assert!(matches!(refused, Refused::TooCostly { .. }), "{hash}: {refused}");
            assert!(refused.to_string().contains(says), "{refused}");
            // And at a login, a mismatch without running it.
            assert_eq!(verify_django("anything", &hash), None, "{hash}");
        }
        let ours = "$argon2id$v=19$m=2000000,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(matches!(check_importable(ours), Err(Refused::TooCostly { .. })));
    }

    #[test]
    fn other_strings_are_refused_with_a_reason() {
        for (encoded, says) in [
            ("", "not a supported hash format"),
            ("plaintext-password", "not a supported hash format"),
            ("unsalted_md5$$5f4dcc3b5aa765d61d8327deb882cf99", "not a supported hash format"),
            ("crypt$$abN0jzLLsHnbE", "not a supported hash format"),
            ("pbkdf2_sha256$1000$salt", "no hash"),
            ("pbkdf2_sha256$0$salt$hu9aY4QbaawLd+klAE1w7SMKQcDptObKzgwUFcYPCt4=", "zero iterations"),
            ("pbkdf2_sha256$many$salt$hu9aY4QbaawLd+klAE1w7SMKQcDptObKzgwUFcYPCt4=", "not a number"),
            ("pbkdf2_sha256$1000$salt$not-base64!", "not base64"),
            ("pbkdf2_sha1$1000$salt$hu9aY4QbaawLd+klAE1w7SMKQcDptObKzgwUFcYPCt4=", "wrong length"),
            ("md5$salt$zz", "not hex"),
            ("md5$$5f4dcc3b5aa765d61d8327deb882cf99", "no salt"),
            ("sha1$salt$5f4dcc3b5aa765d61d8327deb882cf99", "wrong length"),
            ("argon2$nonsense", "argon2id and argon2i"),
            ("argon2$argon2id$v=19$m=x,t=1,p=1$$", "not a PHC string"),
            ("argon2$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ", "no salt or no hash"),
            ("argon2$argon2d$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "argon2id and argon2i"),
            ("bcrypt_sha256$$2b$04$short", "not a bcrypt string"),
            ("bcrypt$$2x$04$./SJRqw5onBTk8fqC1X8hez/zez/wjAsRueC0Yf6XLHnne1qIErnW", "not a bcrypt string"),
            ("scrypt$1000$salt$8$1$aGFzaA==", "wrong length"),
            ("$argon2i$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "not a supported hash format"),
        ] {
            let refused = check_importable(encoded).expect_err(encoded);
            assert!(refused.to_string().contains(says), "{encoded}: {refused}");
            assert_eq!(verify_django("anything", encoded), None, "{encoded}");
        }
        assert!(is_unusable("!kEq6dR3m1sMe9uV0eBx4PmN2cQ8"));
        assert!(!is_unusable("md5$salt$5f4dcc3b5aa765d61d8327deb882cf99"));
    }
}
