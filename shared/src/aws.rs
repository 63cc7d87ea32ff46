//! What every AWS client of the service shares: one SDK configuration with a total time
//! budget per call, and one reading of SDK errors (can a later retry help, or not).
//!
//! A Lambda function reads its region, credentials and endpoint from the environment variables
//! Lambda sets (`lambda_sdk_config`): no profile files, no credential chain that could probe
//! instance metadata, no STS or SSO client linked in. Every client connects through
//! `crate::https::HttpsClient` (HTTP/1.1, rustls on *ring*). The CLI, run by an operator with
//! profiles, keeps the SDK's default chain (`default_chain_sdk_config`, feature
//! `aws-default-chain`).

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// Each call gets `timeout` in total, retries included, and each attempt a little under half.
fn timeouts(timeout: Duration) -> TimeoutConfig {
    let attempt = timeout.mul_f32(0.45).max(Duration::from_millis(100));
    TimeoutConfig::builder()
        .connect_timeout(attempt.min(Duration::from_secs(1)))
        .operation_attempt_timeout(attempt)
        .operation_timeout(timeout)
        .build()
}

fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}

/// The SDK configuration of a Lambda function, from the process environment (see
/// `sdk_config_from`).
pub fn lambda_sdk_config(timeout: Duration) -> Result<SdkConfig, String> {
    // Variables that are not UTF-8 cannot be any of ours.
    let env =
        std::env::vars_os().filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
    sdk_config_from(env.collect(), timeout)
}

/// The SDK configuration from the variables Lambda sets: `AWS_REGION` (or
/// `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`;
/// and, as the SDK's own loader reads them, `AWS_ENDPOINT_URL_<SERVICE>` or `AWS_ENDPOINT_URL`
/// unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true. A missing region or key is a start-up
/// error, not a failure of every request.
pub fn sdk_config_from(env: Vec<(String, String)>, timeout: Duration) -> Result<SdkConfig, String> {
    let env = Env(env);
    let region = env
        .get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .ok_or("AWS_REGION is not set: a function needs the region of its AWS services")?;
    let (Some(key_id), Some(secret)) = (env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")) else {
        return Err("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: a function takes its \
                    credentials from the environment, as Lambda gives them"
            .into());
    };
    let credentials = Credentials::new(key_id, secret, env.get("AWS_SESSION_TOKEN"), None, "environment");
    let endpoints = if env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        Env(Vec::new())
    } else {
        Env(env.0.into_iter().filter(|(name, _)| name.starts_with(ENDPOINT_URL)).collect())
    };
    Ok(SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(crate::https::HttpsClient::new()?)
        .timeout_config(timeouts(timeout))
        .retry_config(retries())
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .service_config(endpoints)
        .build())
}

const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";

/// Environment variables, looked up by name; blank values count as unset.
#[derive(Debug)]
struct Env(Vec<(String, String)>);

impl Env {
    fn get(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty())
    }
}

/// Each client asks for `AWS_ENDPOINT_URL` with its service ID when it is built and gets
/// `AWS_ENDPOINT_URL_<SERVICE ID>` (upper case, spaces as `_`) first, then `AWS_ENDPOINT_URL`.
impl LoadServiceConfig for Env {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        self.get(&format!("{}_{service}", key.env())).or_else(|| self.get(key.env()))
    }
}

/// The SDK's default configuration chain (environment, profiles, container and instance
/// metadata) for the operator's CLI, with the same HTTPS client and time budget as the
/// functions.
#[cfg(feature = "aws-default-chain")]
pub async fn default_chain_sdk_config(timeout: Duration) -> Result<SdkConfig, String> {
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::https::HttpsClient::new()?)
        .timeout_config(timeouts(timeout))
        .retry_config(retries())
        .load()
        .await)
}

/// An SDK failure, sorted.
#[derive(Debug)]
pub enum AwsFailure {
    /// Timeout, network failure, throttling, a 5xx: a later retry can succeed.
    Unavailable(String),
    /// The service refused the request itself: `code` says why.
    Refused { code: String, message: String },
    /// Anything else (a bug on our side).
    Other(String),
}

/// Error codes that mean "slow down" or "not now" on every AWS service.
const TRANSIENT_CODES: [&str; 9] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

pub fn classify<E>(service: &str, error: &SdkError<E, HttpResponse>) -> AwsFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::TimeoutError(_) => AwsFailure::Unavailable(format!("{service} call timed out")),
        SdkError::DispatchFailure(failure) => {
            AwsFailure::Unavailable(format!("{service} unreachable: {:?}", failure.as_connector_error()))
        }
        SdkError::ResponseError(_) => AwsFailure::Unavailable(format!("{service} sent an unreadable response")),
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or("unknown");
            if TRANSIENT_CODES.contains(&code) || context.raw().status().is_server_error() {
                AwsFailure::Unavailable(format!("{service}: {code}"))
            } else {
                AwsFailure::Refused {
                    code: code.to_string(),
                    message: context.err().message().unwrap_or_default().into(),
                }
            }
        }
        other => {
            AwsFailure::Other(format!("{service}: {}", aws_smithy_types::error::display::DisplayErrorContext(other)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const LAMBDA: [(&str, &str); 4] = [
        ("AWS_REGION", "ap-southeast-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
    ];

    #[test]
    fn region_and_keys_come_from_lambda_variables() {
        let sdk = sdk_config_from(env(&LAMBDA), Duration::from_secs(3)).expect("configured");
        assert_eq!(sdk.region().map(Region::as_ref), Some("ap-southeast-1"));
        assert!(sdk.credentials_provider().is_some());
        assert!(sdk.http_client().is_some());
        assert_eq!(sdk.timeout_config().and_then(TimeoutConfig::operation_timeout), Some(Duration::from_secs(3)));

        let fallback = env(&[("AWS_DEFAULT_REGION", "eu-west-1"), LAMBDA[1], LAMBDA[2]]);
        let sdk = sdk_config_from(fallback, Duration::from_secs(3)).expect("configured");
        assert_eq!(sdk.region().map(Region::as_ref), Some("eu-west-1"));
    }

    #[test]
    fn a_missing_region_or_key_stops_the_start() {
        let no_region = sdk_config_from(env(&LAMBDA[1..]), Duration::from_secs(3)).err().unwrap_or_default();
        assert!(no_region.contains("AWS_REGION"), "{no_region}");
        let blank_secret = env(&[LAMBDA[0], LAMBDA[1], ("AWS_SECRET_ACCESS_KEY", " ")]);
        let no_key = sdk_config_from(blank_secret, Duration::from_secs(3)).err().unwrap_or_default();
        assert!(no_key.contains("AWS_SECRET_ACCESS_KEY"), "{no_key}");
    }

    fn endpoint(sdk: &SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder().service_id(service_id).env(ENDPOINT_URL).profile("endpoint_url").build();
        sdk.service_config()?.load_config(key.ok()?)
    }

    #[test]
    fn a_service_endpoint_wins_over_the_global_one_unless_ignored() {
        let mut vars = env(&LAMBDA);
        vars.extend(env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"), ("AWS_ENDPOINT_URL_SESV2", "http://ses:1")]));
        let sdk = sdk_config_from(vars.clone(), Duration::from_secs(3)).expect("configured");
        assert_eq!(endpoint(&sdk, "DynamoDB").as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(endpoint(&sdk, "SESv2").as_deref(), Some("http://ses:1"));

        vars.extend(env(&[("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")]));
        let sdk = sdk_config_from(vars, Duration::from_secs(3)).expect("configured");
        assert_eq!(endpoint(&sdk, "DynamoDB"), None);
    }
}
