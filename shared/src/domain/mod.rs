//! Pure domain logic: no I/O, no wall clock, no environment. Time and randomness come in as
//! parameters.

pub mod identifier;
pub mod jwt;
pub mod mobile;
pub mod password;
pub mod secrets;
