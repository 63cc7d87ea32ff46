//! Randomness is a parameter of the domain (`domain::secrets::Random`), as time is (`clock`):
//! this is the operating system's source, which production passes, and shorthands for code
//! outside the domain.

use crate::domain::secrets::{Random, RandomUnavailable};

/// The operating system's CSPRNG.
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomUnavailable> {
        getrandom::fill(buf).map_err(|error| RandomUnavailable(error.to_string()))
    }
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomUnavailable> {
    crate::domain::secrets::random_bytes(&OsRandom)
}

/// `N` bytes from the operating system's CSPRNG, as lowercase hex.
pub fn random_hex<const N: usize>() -> Result<String, RandomUnavailable> {
    crate::domain::secrets::random_hex::<N>(&OsRandom)
}
