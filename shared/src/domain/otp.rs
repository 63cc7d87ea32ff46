//! One-time codes (docs/api.md section 6.1): six digits from the OS CSPRNG, stored only as a keyed hash,
//! one live code per customer and purpose.

use serde::{Deserialize, Serialize};

use crate::domain::secrets::{HashKey, Purpose, Random, RandomUnavailable, random_digits};

pub const OTP_DIGITS: u32 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtpPurpose {
    PinReset,
    PasswordReset,
    /// The single-use token of the mobile app API v2 `forgot_password` email.
    PasswordResetLink,
}

impl OtpPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            OtpPurpose::PinReset => "pin_reset",
            OtpPurpose::PasswordReset => "password_reset",
            OtpPurpose::PasswordResetLink => "password_reset_link",
        }
    }

    /// The records a new password makes worthless.
    pub const PASSWORD_RESETS: [OtpPurpose; 2] = [OtpPurpose::PasswordReset, OtpPurpose::PasswordResetLink];

    pub fn parse(text: &str) -> Option<OtpPurpose> {
        [OtpPurpose::PinReset, OtpPurpose::PasswordReset, OtpPurpose::PasswordResetLink]
            .into_iter()
            .find(|purpose| purpose.as_str() == text)
    }
}

pub fn generate(random: &dyn Random) -> Result<String, RandomUnavailable> {
    random_digits(random, OTP_DIGITS)
}

/// The keyed hash an OTP is stored under; bound to its merchant, customer and purpose so a
/// code can never be replayed for another.
pub fn hash(key: &HashKey, merchant_id: u64, customer_id: u64, purpose: OtpPurpose, otp: &str) -> String {
    key.hash(
        Purpose::Otp,
        &[
            merchant_id.to_string().as_bytes(),
            customer_id.to_string().as_bytes(),
            purpose.as_str().as_bytes(),
            otp.as_bytes(),
        ],
    )
}

/// Why a one-time code was refused. The edge words it (`ApiError::from_otp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpError {
    /// Wrong, expired, used or worn out: all answered alike.
    Invalid,
    /// The customer's requests for codes are used up for now.
    LimitExceeded,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_binds_customer_and_purpose() {
        let key = HashKey::new(b"0123456789abcdef0123456789abcdef".to_vec());
        let a = hash(&key, 1, 2, OtpPurpose::PinReset, "123456");
        assert_eq!(a, hash(&key, 1, 2, OtpPurpose::PinReset, "123456"));
        assert_ne!(a, hash(&key, 1, 3, OtpPurpose::PinReset, "123456"));
        assert_ne!(a, hash(&key, 1, 2, OtpPurpose::PasswordReset, "123456"));
        assert!(crate::domain::secrets::secrets_match(&a, &a.clone()));
    }
}
