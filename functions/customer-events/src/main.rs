//! `POST /api/auth/customer-events`: a customer's security history, newest first.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::CUSTOMER_EVENTS).await
}
