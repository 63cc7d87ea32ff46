//! `POST /api/auth/customer-events`: a customer's security history, newest first.

use shared::http::routes;

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::logging::init();
    let app = shared::lambda::dynamodb_app().await?;
    shared::lambda::run(app, &routes::CUSTOMER_EVENTS).await
}
