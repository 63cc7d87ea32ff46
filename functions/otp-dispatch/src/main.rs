//! `otp-dispatch`: sends the OTPs of `otp.requested` events taken from the SQS queue, email
//! through SES and SMS through SNS, each event at most once.

// One batch at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda_sqs::serve(&shared::http::routes::OTP_DISPATCH).await
}
