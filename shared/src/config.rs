//! Typed configuration, read once from the environment at start-up. Every figure marked
//! *(config)* in docs/api.md has its default here and an environment variable to change it.

use std::time::Duration;

use crate::domain::jwt::{JwtKeys, KeyError};
use crate::domain::mobile::Region;
use crate::facebook::{FacebookApp, check_graph_url};
use crate::needs::Secret;

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
    /// The replaced system's token secret (`STAMPS_JWT_LEGACY_KEY`, raw, any length): verifies
    /// tokens without `kid`, never signs. `None`: such tokens are refused.
    pub jwt_legacy_key: Option<Vec<u8>>,
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
    /// Reset emails `forgot_password` may send one customer per window: a limit of its own,
    /// never the merchant's OTP request limit (`STAMPS_V2_RESET_EMAILS_PER_WINDOW`, 3;
    /// `STAMPS_V2_RESET_EMAIL_WINDOW_SECS`, 3600).
    pub v2_reset_emails: Limit,
    /// Per source IP (IPv6 by /64): failed v2 logins (`STAMPS_V2_IP_LOGIN_FAILURES_PER_WINDOW`,
    /// 100; `STAMPS_V2_IP_LOGIN_FAILURE_WINDOW_SECS`, 900), v2 registrations
    /// (`STAMPS_V2_IP_REGISTRATIONS_PER_WINDOW`, 20; `..._REGISTRATION_WINDOW_SECS`, 3600) and
    /// `forgot_password` requests (`STAMPS_V2_IP_RESET_REQUESTS_PER_WINDOW`, 20;
    /// `..._RESET_REQUEST_WINDOW_SECS`, 3600). Generous: a carrier's NAT puts many phones
    /// behind one address.
    pub v2_ip_login_failures: Limit,
    pub v2_ip_registrations: Limit,
    pub v2_ip_reset_requests: Limit,
    /// Base URL of Facebook's Graph API (`STAMPS_FACEBOOK_GRAPH_URL`): https, or http to a
    /// loopback address (tests); anything else stops start-up.
    pub facebook_graph_url: String,
    /// The Facebook app whose tokens sign in (`STAMPS_FACEBOOK_APP_ID` and
    /// `STAMPS_FACEBOOK_APP_SECRET`, both or neither); `None`: Facebook sign-in answers 503.
    pub facebook_app: Option<FacebookApp>,
    /// How long a support-console sign-in lasts (`STAMPS_CONSOLE_SESSION_SECS`, 8 hours).
    pub console_session_secs: i64,
    /// Wrong API keys at the console's sign-in per client network
    /// (`STAMPS_CONSOLE_SIGN_IN_FAILURES_PER_WINDOW`, 10; `STAMPS_CONSOLE_SIGN_IN_WINDOW_SECS`, 900).
    pub console_sign_in_failures: Limit,
}

/// A number of events per fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub window_secs: i64,
}

pub const DEFAULT_STORE: &str = "sqlite:stamps-auth.db";
/// How long a customer's security events are kept unless `STAMPS_HISTORY_RETENTION_DAYS` says.
pub const DEFAULT_HISTORY_RETENTION_DAYS: i64 = 90;
pub const DEFAULT_FACEBOOK_GRAPH_URL: &str = "https://graph.facebook.com";

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// The configuration of a function given only `secrets`: the other secrets' variables are
    /// not read, even where the environment has them.
    pub fn from_env_given(secrets: &[Secret]) -> Result<Config, ConfigError> {
        Config::from_lookup_given(secrets, |name| std::env::var(name).ok())
    }

    /// `from_env_given` through `lookup`.
    pub fn from_lookup_given(
        secrets: &[Secret],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| match Secret::from_env_var(name) {
            Some(secret) if !secrets.contains(&secret) => None,
            _ => lookup(name),
        })
    }

    /// Whether `secret` has a value.
    pub fn has(&self, secret: Secret) -> bool {
        match secret {
            Secret::JwtKeys => self.jwt_keys.is_some(),
            Secret::JwtLegacyKey => self.jwt_legacy_key.is_some(),
            Secret::HashKey => self.hash_key.is_some(),
            Secret::PasswordPepper => self.password_pepper.is_some(),
            Secret::FacebookAppSecret => self.facebook_app.is_some(),
        }
    }

    /// Forgets `secret`'s value (for a route that does not declare it).
    pub fn withhold(&mut self, secret: Secret) {
        match secret {
            Secret::JwtKeys => self.jwt_keys = None,
            Secret::JwtLegacyKey => self.jwt_legacy_key = None,
            Secret::HashKey => self.hash_key = None,
            Secret::PasswordPepper => self.password_pepper = None,
            Secret::FacebookAppSecret => self.facebook_app = None,
        }
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
        // Raw: a secret's spaces are part of it. All blank counts as unset.
        let jwt_legacy_key =
            lookup("STAMPS_JWT_LEGACY_KEY").filter(|key| !key.trim().is_empty()).map(String::into_bytes);
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
        let facebook_graph_url = check_graph_url(
            &get("STAMPS_FACEBOOK_GRAPH_URL").unwrap_or_else(|| DEFAULT_FACEBOOK_GRAPH_URL.to_string()),
        )
        .map_err(ConfigError)?;
        let facebook_app = match (get("STAMPS_FACEBOOK_APP_ID"), get("STAMPS_FACEBOOK_APP_SECRET")) {
            (None, None) => None,
            (Some(id), Some(secret)) => Some(FacebookApp::new(&id, &secret).map_err(ConfigError)?),
            (Some(_), None) => {
                return Err(ConfigError("STAMPS_FACEBOOK_APP_ID is set but STAMPS_FACEBOOK_APP_SECRET is not".into()));
            }
            (None, Some(_)) => {
                return Err(ConfigError("STAMPS_FACEBOOK_APP_SECRET is set but STAMPS_FACEBOOK_APP_ID is not".into()));
            }
        };
        let limit = |count_name: &str, count_default: u32, window_name: &str, window_default: i64| {
            Ok::<_, ConfigError>(Limit {
                count: count(count_name, count_default)?,
                window_secs: number(window_name, window_default)?,
            })
        };

        Ok(Config {
            store_url: get("STAMPS_STORE").unwrap_or_else(|| DEFAULT_STORE.to_string()),
            jwt_keys,
            jwt_legacy_key,
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
            history_retention_secs: number("STAMPS_HISTORY_RETENTION_DAYS", DEFAULT_HISTORY_RETENTION_DAYS)?
                .saturating_mul(86_400),
            v2_reset_emails: limit("STAMPS_V2_RESET_EMAILS_PER_WINDOW", 3, "STAMPS_V2_RESET_EMAIL_WINDOW_SECS", 3_600)?,
            v2_ip_login_failures: limit(
                "STAMPS_V2_IP_LOGIN_FAILURES_PER_WINDOW",
                100,
                "STAMPS_V2_IP_LOGIN_FAILURE_WINDOW_SECS",
                900,
            )?,
            v2_ip_registrations: limit(
                "STAMPS_V2_IP_REGISTRATIONS_PER_WINDOW",
                20,
                "STAMPS_V2_IP_REGISTRATION_WINDOW_SECS",
                3_600,
            )?,
            v2_ip_reset_requests: limit(
                "STAMPS_V2_IP_RESET_REQUESTS_PER_WINDOW",
                20,
                "STAMPS_V2_IP_RESET_REQUEST_WINDOW_SECS",
                3_600,
            )?,
            facebook_graph_url,
            facebook_app,
            console_session_secs: number("STAMPS_CONSOLE_SESSION_SECS", 28_800)?,
            console_sign_in_failures: limit(
                "STAMPS_CONSOLE_SIGN_IN_FAILURES_PER_WINDOW",
                10,
                "STAMPS_CONSOLE_SIGN_IN_WINDOW_SECS",
                900,
            )?,
        })
    }
}

impl Config {
    /// What start-up should warn about: settings that work but are weak.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(key) = &self.jwt_legacy_key
            && key.len() < crate::domain::jwt::MIN_SECRET_BYTES
        {
            warnings.push(format!(
                "STAMPS_JWT_LEGACY_KEY is {} bytes (under {}): tokens signed with it are easier to forge; \
                 unset it once the old system's tokens have expired",
                key.len(),
                crate::domain::jwt::MIN_SECRET_BYTES
            ));
        }
        warnings
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
        assert_eq!(config.v2_reset_emails, Limit { count: 3, window_secs: 3_600 });
        assert_eq!(config.v2_ip_login_failures, Limit { count: 100, window_secs: 900 });
        assert_eq!(config.v2_ip_registrations, Limit { count: 20, window_secs: 3_600 });
        assert_eq!(config.v2_ip_reset_requests, Limit { count: 20, window_secs: 3_600 });
    }

    #[test]
    fn short_jwt_secret_stops_start_up_with_a_clear_message() {
        let error = config(&[("STAMPS_JWT_KEYS", "k1:tooshort")]).err().expect("refused");
        assert!(error.to_string().contains("at least 32"), "{error}");
    }

    #[test]
    fn a_legacy_jwt_key_of_any_length_is_taken_raw_and_a_short_one_warned_about() {
        let config = config(&[("STAMPS_JWT_LEGACY_KEY", " old-short-secret")]).expect("any length");
        assert_eq!(config.jwt_legacy_key.as_deref(), Some(&b" old-short-secret"[..]));
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("STAMPS_JWT_LEGACY_KEY is 17 bytes"), "{warnings:?}");
        let long = "django-insecure-7r$w!x0q@c2m#v9k^p3z&b5n*h8j(l1d)f4g";
        let config = self::config(&[("STAMPS_JWT_LEGACY_KEY", long)]).expect("valid");
        assert!(config.warnings().is_empty());
        assert!(self::config(&[("STAMPS_JWT_LEGACY_KEY", "  ")]).expect("blank").jwt_legacy_key.is_none());
        assert!(self::config(&[]).expect("unset").jwt_legacy_key.is_none());
    }

    #[test]
    fn short_hash_key_is_refused() {
        assert!(config(&[("STAMPS_HASH_KEY", "short")]).is_err());
    }

    #[test]
    fn a_secret_not_given_is_not_read_and_can_be_withheld() {
        let hash_key = "k".repeat(40);
        let vars =
            [("STAMPS_HASH_KEY", hash_key.as_str()), ("STAMPS_PASSWORD_PEPPER", "p"), ("STAMPS_JWT_KEYS", "bad")];
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        // The malformed JWT keys are not even parsed: they are not this function's.
        let mut config = Config::from_lookup_given(&[Secret::HashKey, Secret::PasswordPepper], lookup).expect("valid");
        assert!(!config.has(Secret::JwtKeys));
        assert!(config.has(Secret::HashKey) && config.has(Secret::PasswordPepper));
        config.withhold(Secret::PasswordPepper);
        assert!(!config.has(Secret::PasswordPepper) && config.has(Secret::HashKey));
        assert!(Config::from_lookup_given(Secret::ALL, lookup).is_err());
    }

    #[test]
    fn bad_numbers_are_refused() {
        assert!(config(&[("STAMPS_OTP_TTL_SECS", "ten")]).is_err());
        assert!(config(&[("STAMPS_OTP_TTL_SECS", "-5")]).is_err());
        assert!(config(&[("STAMPS_DEFAULT_REGION", "XX")]).is_err());
    }

    #[test]
    fn a_graph_url_that_is_not_https_stops_start_up() {
        let error = config(&[("STAMPS_FACEBOOK_GRAPH_URL", "http://graph.facebook.com")]).err().expect("refused");
        assert!(error.to_string().contains("https://"), "{error}");
        let local = config(&[("STAMPS_FACEBOOK_GRAPH_URL", "http://127.0.0.1:9/")]).expect("loopback is for tests");
        assert_eq!(local.facebook_graph_url, "http://127.0.0.1:9");
        assert_eq!(config(&[]).expect("default").facebook_graph_url, "https://graph.facebook.com");
    }

    #[test]
    fn the_facebook_app_is_both_id_and_secret_or_neither() {
        assert!(config(&[]).expect("neither").facebook_app.is_none());
        let both = config(&[("STAMPS_FACEBOOK_APP_ID", "4242"), ("STAMPS_FACEBOOK_APP_SECRET", "app-secret-value")])
            .expect("both");
        assert_eq!(both.facebook_app.as_ref().map(|app| app.id.as_str()), Some("4242"));
        let error = config(&[("STAMPS_FACEBOOK_APP_ID", "4242")]).err().expect("refused");
        assert!(error.to_string().contains("STAMPS_FACEBOOK_APP_SECRET is not"), "{error}");
        let error = config(&[("STAMPS_FACEBOOK_APP_SECRET", "app-secret-value")]).err().expect("refused");
        assert!(error.to_string().contains("STAMPS_FACEBOOK_APP_ID is not"), "{error}");
        let error = config(&[("STAMPS_FACEBOOK_APP_ID", "my-app"), ("STAMPS_FACEBOOK_APP_SECRET", "app-secret-value")])
            .err()
            .expect("refused");
        assert!(!error.to_string().contains("app-secret-value"), "{error}");
    }
}
