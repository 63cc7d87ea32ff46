//! `delivery-events`: records SES's delivery, bounce and complaint events (from the SES
//! configuration set, through SNS and SQS) for the customers they are about, and suppresses
//! addresses that bounced hard or complained.

// One batch at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda_ses::serve(&shared::http::routes::DELIVERY_EVENTS).await
}
