//! `delivery-events`: records SES's delivery, bounce and complaint events (from the SES
//! configuration set, through SNS and SQS) for the customers they are about, and suppresses
//! addresses that bounced hard or complained.

// One batch at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let deps = shared::lambda_ses::deps_from_env().await?;
    shared::lambda_ses::run(deps).await
}
