//! What Django and djangorestframework-simplejwt made (tests/fixtures/django/, with the script
//! that made them and the versions).

use serde::Deserialize;

/// One `make_password` output.
#[derive(Debug, Clone, Deserialize)]
pub struct DjangoHash {
    /// `pbkdf2_sha256`, `argon2id`, `argon2i`, `bcrypt`, `scrypt`, `md5`, `sha1`...
    pub hasher: String,
    /// `default` (Django's own parameters) or `cheap` (the same hasher at low cost).
    pub variant: String,
    /// `password` or `pin`.
    pub kind: String,
    pub secret: String,
    pub encoded: String,
    pub django: String,
}

pub fn django_hashes() -> Vec<DjangoHash> {
    serde_json::from_str(include_str!("../fixtures/django/hashes.json")).expect("hashes.json")
}

/// The cheap variant (or the only one) of every hasher, for `kind`.
pub fn cheap_hashes(kind: &str) -> Vec<DjangoHash> {
    let all = django_hashes();
    let mut chosen: Vec<DjangoHash> = Vec::new();
    for hash in all.iter().filter(|h| h.kind == kind) {
        let has_cheap = all.iter().any(|h| h.hasher == hash.hasher && h.variant == "cheap");
        let wanted = hash.variant == "cheap" || !has_cheap;
        // One of each hasher (the first password is ASCII, the second Unicode).
        if wanted && !chosen.iter().any(|c| c.hasher == hash.hasher) {
            chosen.push(hash.clone());
        }
    }
    chosen
}

/// Access tokens djangorestframework-simplejwt issued, and the keys it signed them with.
#[derive(Debug, Clone, Deserialize)]
pub struct SimpleJwt {
    pub simplejwt: String,
    pub django: String,
    pub secret_key: String,
    pub short_secret_key: String,
    pub tokens: std::collections::BTreeMap<String, String>,
}

impl SimpleJwt {
    pub fn token(&self, name: &str) -> &str {
        self.tokens.get(name).unwrap_or_else(|| panic!("no token {name}"))
    }
}

pub fn simplejwt() -> SimpleJwt {
    serde_json::from_str(include_str!("../fixtures/django/simplejwt_tokens.json")).expect("simplejwt_tokens.json")
}
