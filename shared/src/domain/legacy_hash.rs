//! TEMPORARY STUB written by the lead so the crate compiles while the Django-hash work is in
//! progress; the helper replaces this whole file.

pub fn verify_django(_password: &str, _encoded: &str) -> Option<bool> {
    None
}

pub fn is_django_hash(encoded: &str) -> bool {
    encoded.starts_with("pbkdf2_sha256$") || encoded.starts_with("argon2$") || encoded.starts_with("bcrypt_sha256$")
}
