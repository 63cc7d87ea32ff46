//! Pure domain logic: no I/O, no wall clock, no environment. Time and randomness come in as
//! parameters.

pub mod identifier;
pub mod jwt;
pub mod legacy_hash;
pub mod mobile;
pub mod name;
pub mod network;
pub mod otp;
pub mod password;
pub mod pin;
pub mod policy;
pub mod rules;
pub mod secrets;
pub mod sms;
