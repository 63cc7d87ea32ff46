//! `POST /api/auth/reset-otp-limit`: clears a customer's OTP request count.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::RESET_OTP_LIMIT).await
}
