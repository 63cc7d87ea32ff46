//! `POST /api/auth/customer-status`: a customer's PIN, password, OTP and delivery state.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::CUSTOMER_STATUS).await
}
