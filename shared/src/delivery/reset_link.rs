//! The v2 reset link: a single-use token `{customer id}.{32 hex}` (128 random bits) valid one
//! hour, stored the OTP way (its keyed hash, one live token per customer, a few tries) under a
//! limit of reset emails per customer of its own, and emailed with the `forgot_password`
//! template. The dispatcher issues it, away from the anonymous request (see `delivery`).

use crate::config::{Config, ConfigError};
use crate::domain::otp::OtpPurpose;
use crate::domain::secrets::{HashKey, RandomUnavailable};
use crate::random::random_hex;
use crate::store::{CounterPolicy, Counters, Customer, OtpRecord, Otps, StoreResult, keys};

/// A reset token works for one hour.
pub const RESET_TOKEN_TTL_SECS: i64 = 3_600;
/// The built-in template of the reset email (a merchant may store its own under this code).
pub const RESET_TEMPLATE: &str = "forgot_password";

/// What issuing reset tokens needs: the key of their hashes and the per-customer limit.
#[derive(Clone)]
pub struct ResetLinks {
    hash_key: HashKey,
    limit: CounterPolicy,
}

impl ResetLinks {
    pub fn new(hash_key: HashKey, limit: CounterPolicy) -> ResetLinks {
        ResetLinks { hash_key, limit }
    }

    /// From `STAMPS_HASH_KEY` and `STAMPS_V2_RESET_EMAILS_*`.
    pub fn from_config(config: &Config) -> Result<ResetLinks, ConfigError> {
        let key = config.hash_key.clone().ok_or_else(|| {
            ConfigError("STAMPS_HASH_KEY is not set: v2 reset tokens are stored by their keyed hash".into())
        })?;
        Ok(ResetLinks::new(HashKey::new(key), config.v2_reset_emails.into()))
    }

    /// A fresh token for `customer_id`: the ID finds the record, the random part is the secret.
    pub fn new_token(customer_id: u64) -> Result<String, RandomUnavailable> {
        Ok(format!("{customer_id}.{}", random_hex::<16>()?))
    }

    /// The customer a well-formed token names: `None` for anything else (no store call is
    /// worth making for it).
    pub fn customer_of(token: &str) -> Option<u64> {
        let (id, secret) = token.split_once('.')?;
        let canonical_id = !id.is_empty() && !id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit());
        let canonical_secret = secret.len() == 32 && secret.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !canonical_id || !canonical_secret {
            return None;
        }
        id.parse().ok().and_then(crate::domain::identifier::customer_id)
    }

    /// Stores `token` for `customer` until `expires_at`, replacing the live one, if the
    /// customer's reset emails of the window allow one more (one transaction). `false`: they do
    /// not, nothing was written, and the live token (the link emailed before) still works.
    pub async fn store(
        &self,
        store: &dyn Otps,
        customer: &Customer,
        token: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let purpose = OtpPurpose::PasswordResetLink;
        let record = OtpRecord::issued(&self.hash_key, customer, purpose, token, expires_at);
        store.issue_otp(&record, &keys::reset_emails(customer.merchant_id, customer.id), self.limit, now).await
    }

    /// Gives back the place a stored token took when its email could not be sent.
    pub async fn give_back(&self, store: &dyn Counters, customer: &Customer, now: i64) -> StoreResult<()> {
        store.release(&keys::reset_emails(customer.merchant_id, customer.id), now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_customer_only_when_well_formed() {
        let token = ResetLinks::new_token(42).expect("random");
        assert_eq!(ResetLinks::customer_of(&token), Some(42));
        let secret = "0123456789abcdef0123456789abcdef";
        for malformed in [
            "garbage".to_string(),
            "42".into(),
            format!(".{secret}"),
            format!("0.{secret}"),
            format!("042.{secret}"),
            format!("-1.{secret}"),
            format!("+1.{secret}"),
            format!("18446744073709551616.{secret}"),
            "42.x".into(),
            format!("42.{}", secret.to_uppercase()),
            format!("42.{secret}0"),
            format!("42.{secret}.1"),
        ] {
            assert_eq!(ResetLinks::customer_of(&malformed), None, "{malformed}");
        }
    }
}
