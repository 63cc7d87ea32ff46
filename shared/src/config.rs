//! Typed configuration, read once from the environment at start-up. Every figure marked
//! *(config)* in docs/api.md has its default here and an environment variable to change it.

use std::time::Duration;

use crate::domain::jwt::{JwtKeys, KeyError};
use crate::domain::mobile::Region;

/// What went wrong reading the configuration: start-up stops with this message.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

#[derive(Clone)]
pub struct Config {
    /// `sqlite:PATH` or `dynamodb:TABLE` (`STAMPS_STORE`).
    pub store_url: String,
    /// Signing keys (`STAMPS_JWT_KEYS=kid:secret,...`); `None` when not configured.
    pub jwt_keys: Option<JwtKeys>,
    /// Key of the keyed hashes of API keys, OTPs and tokens (`STAMPS_HASH_KEY`, >= 32 bytes).
    pub hash_key: Option<Vec<u8>>,
    /// Optional server-side pepper mixed into password hashes (`STAMPS_PASSWORD_PEPPER`).
    pub password_pepper: Option<Vec<u8>>,
    pub jwt_ttl_secs: i64,
    pub default_region: Region,
    /// Total time budget of one AWS call, retries included.
    pub aws_timeout: Duration,
    pub pin_max_failures: u32,
    pub pin_failure_reset_secs: i64,
    pub otp_ttl_secs: i64,
    pub otp_max_tries: u32,
    pub otp_requests_per_window: u32,
    pub otp_request_window_secs: i64,
    pub password_max_failures: u32,
    pub password_failure_window_secs: i64,
    pub v2_merchant: Option<u64>,
    /// How long a customer's security events are kept (`STAMPS_HISTORY_RETENTION_DAYS`).
    pub history_retention_secs: i64,
    /// Base URL of Facebook's Graph API (`STAMPS_FACEBOOK_GRAPH_URL`).
    pub facebook_graph_url: String,
}

pub const DEFAULT_STORE: &str = "sqlite:stamps-auth.db";
/// How long a customer's security events are kept unless `STAMPS_HISTORY_RETENTION_DAYS` says.
pub const DEFAULT_HISTORY_RETENTION_DAYS: i64 = 90;
pub const DEFAULT_FACEBOOK_GRAPH_URL: &str = "https://graph.facebook.com";

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let number = |name: &str, default: i64| -> Result<i64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(text) => text
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError(format!("{name} must be a positive integer, got {text:?}"))),
            }
        };
        let count = |name: &str, default: u32| -> Result<u32, ConfigError> {
            let value = number(name, i64::from(default))?;
            u32::try_from(value).map_err(|_| ConfigError(format!("{name} is too large")))
        };

        let jwt_keys = match get("STAMPS_JWT_KEYS") {
            None => None,
            Some(spec) => {
                Some(JwtKeys::parse(&spec).map_err(|e: KeyError| ConfigError(format!("STAMPS_JWT_KEYS: {e}")))?)
            }
        };
        let hash_key = match get("STAMPS_HASH_KEY") {
            None => None,
            Some(key) if key.len() < 32 => {
                return Err(ConfigError(format!("STAMPS_HASH_KEY is {} bytes; at least 32 are required", key.len())));
            }
            Some(key) => Some(key.into_bytes()),
        };
        let region_code = get("STAMPS_DEFAULT_REGION").unwrap_or_else(|| "ID".to_string());
        let default_region = Region::parse(&region_code)
            .ok_or_else(|| ConfigError(format!("STAMPS_DEFAULT_REGION: {region_code:?} is not a known region code")))?;
        let v2_merchant = match get("STAMPS_V2_MERCHANT") {
            None => None,
            Some(text) => Some(
                text.parse::<u64>()
                    .map_err(|_| ConfigError(format!("STAMPS_V2_MERCHANT must be a merchant ID, got {text:?}")))?,
            ),
        };
        let aws_timeout_ms = number("STAMPS_AWS_TIMEOUT_MS", 3000)?;

        Ok(Config {
            store_url: get("STAMPS_STORE").unwrap_or_else(|| DEFAULT_STORE.to_string()),
            jwt_keys,
            hash_key,
            password_pepper: get("STAMPS_PASSWORD_PEPPER").map(String::into_bytes),
            jwt_ttl_secs: number("STAMPS_JWT_TTL_SECS", 86_400)?,
            default_region,
            aws_timeout: Duration::from_millis(aws_timeout_ms.unsigned_abs()),
            pin_max_failures: count("STAMPS_PIN_MAX_FAILURES", 3)?,
            pin_failure_reset_secs: number("STAMPS_PIN_FAILURE_RESET_SECS", 604_800)?,
            otp_ttl_secs: number("STAMPS_OTP_TTL_SECS", 600)?,
            otp_max_tries: count("STAMPS_OTP_MAX_TRIES", 5)?,
            otp_requests_per_window: count("STAMPS_OTP_REQUESTS_PER_WINDOW", 5)?,
            otp_request_window_secs: number("STAMPS_OTP_REQUEST_WINDOW_SECS", 86_400)?,
            password_max_failures: count("STAMPS_PASSWORD_MAX_FAILURES", 10)?,
            password_failure_window_secs: number("STAMPS_PASSWORD_FAILURE_WINDOW_SECS", 900)?,
            v2_merchant,
            history_retention_secs: number("STAMPS_HISTORY_RETENTION_DAYS", DEFAULT_HISTORY_RETENTION_DAYS)?.saturating_mul(86_400),
            facebook_graph_url: get("STAMPS_FACEBOOK_GRAPH_URL")
                .unwrap_or_else(|| DEFAULT_FACEBOOK_GRAPH_URL.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_match_the_spec() {
        let config = config(&[]).expect("defaults are valid");
        assert_eq!(config.store_url, "sqlite:stamps-auth.db");
        assert_eq!(config.jwt_ttl_secs, 86_400);
        assert_eq!(config.aws_timeout, Duration::from_secs(3));
        assert_eq!(config.pin_max_failures, 3);
        assert_eq!(config.pin_failure_reset_secs, 604_800);
        assert_eq!(config.otp_ttl_secs, 600);
        assert_eq!(config.otp_requests_per_window, 5);
        assert_eq!(config.history_retention_secs, 90 * 86_400);
        assert!(config.jwt_keys.is_none());
    }

    #[test]
    fn short_jwt_secret_stops_start_up_with_a_clear_message() {
        let error = config(&[("STAMPS_JWT_KEYS", "k1:tooshort")]).err().expect("refused");
        assert!(error.to_string().contains("at least 32"), "{error}");
    }

    #[test]
    fn short_hash_key_is_refused() {
        assert!(config(&[("STAMPS_HASH_KEY", "short")]).is_err());
    }

    #[test]
    fn bad_numbers_are_refused() {
        assert!(config(&[("STAMPS_OTP_TTL_SECS", "ten")]).is_err());
        assert!(config(&[("STAMPS_OTP_TTL_SECS", "-5")]).is_err());
        assert!(config(&[("STAMPS_DEFAULT_REGION", "XX")]).is_err());
    }
}
