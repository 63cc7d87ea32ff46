//! `otp-dispatch`: sends the OTPs of `otp.requested` events taken from the SQS queue, email
//! through SES and SMS through SNS, each event at most once.

// One batch at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let deps = shared::lambda_sqs::deps_from_env().await?;
    shared::lambda_sqs::run(deps).await
}
