//! What every AWS client of the service shares: one SDK configuration with a total time
//! budget per call, and one reading of SDK errors (can a later retry help, or not).

use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The SDK configuration of every AWS client: region, endpoint (`AWS_ENDPOINT_URL`) and
/// credentials from the standard environment; each call gets `timeout` in total, retries
/// included, and each attempt a little under half of it.
pub async fn sdk_config(timeout: Duration) -> aws_config::SdkConfig {
    let attempt = timeout.mul_f32(0.45).max(Duration::from_millis(100));
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(attempt.min(Duration::from_secs(1)))
        .operation_attempt_timeout(attempt)
        .operation_timeout(timeout)
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
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
